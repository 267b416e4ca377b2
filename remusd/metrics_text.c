/*
 * The Prometheus text exposition of remusd's sessions: a copy of each
 * session's counters taken under its locks (the same fields as `remusctl
 * status --json`), then one family at a time with its HELP and TYPE.
 * Names carry the remus_ prefix and their unit; counters end in _total.
 */
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/metrics.h"

#define NSTATES RS_COUNT

/* What one scrape shows of a session. */
struct snap {
	char name[REMUSD_NAME_MAX];
	bool primary;
	bool blackhole;                 /* protected with no backup: no link */
	enum remusd_state state;
	uint64_t state_ms;
	struct ckpt_stats st;
	struct ckpt_progress pr;
	bool has_nb;
	struct netbuf_stats nb;
	bool has_disk;
	struct diskrep_counters dc;
	bool has_fo;
	struct ckpt_failover_times fo;
	struct { char step[24]; uint32_t end_ms; } steps[16];
	unsigned nsteps;
};

/* Copy a session's counters: s->lock for the engine and state, then
 * s->net_lock for its netbuf (never both at once). */
static void take_snap(struct remusd_session *s, struct snap *sn)
{
	snprintf(sn->name, sizeof(sn->name), "%s", s->name);
	sn->primary = s->primary;
	pthread_mutex_lock(&s->lock);
	/* as status shows it, without changing it (a scrape only reads) */
	sn->state = remusd_session_stats_locked(s, &sn->st);
	sn->state_ms = rnet_now_ms() - s->state_since_ms;
	sn->blackhole = strcmp(s->peer, "(blackhole)") == 0;
	sn->pr = s->progress;
	if (s->disk) {
		s->dr->counters(s->disk, &sn->dc);
		sn->has_disk = true;
	}
	if (s->failover_done) {
		sn->has_fo = true;
		sn->fo = s->fo;
		sn->nsteps = s->fo_nsteps < 16 ? s->fo_nsteps : 16;
		memcpy(sn->steps, s->fo_steps, sizeof(sn->steps));
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&s->net_lock);
	if (s->nb_open) {
		netbuf_get_stats(&s->nb, &sn->nb);
		sn->has_nb = true;
	}
	pthread_mutex_unlock(&s->net_lock);
}

static void family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value: guest and step names are [A-Za-z0-9_.-] already, but a
 * label is escaped anyway ("\\", "\"", newline). */
static void label(FILE *f, const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		if (*v == '\n')
			fputs("\\n", f);
		else
			fputc(*v, f);
	}
}

static void series_u64(FILE *f, const char *name, const struct snap *sn, uint64_t v)
{
	fprintf(f, "%s{guest=\"", name);
	label(f, sn->name);
	fprintf(f, "\"} %" PRIu64 "\n", v);
}

static void series_sec(FILE *f, const char *name, const struct snap *sn, const char *lk,
                       const char *lv, uint64_t us)
{
	fprintf(f, "%s{guest=\"", name);
	label(f, sn->name);
	if (lk != NULL) {
		fprintf(f, "\",%s=\"", lk);
		label(f, lv);
	}
	fprintf(f, "\"} %" PRIu64 ".%06" PRIu64 "\n", us / 1000000u, us % 1000000u);
}

/* A per-guest family of one u64 field, the value picked by `get`. */
#define U64_FAMILY(f, sn, n, name, type, help, expr)                   \
	do {                                                           \
		family(f, name, type, help);                           \
		for (size_t i_ = 0; i_ < (n); i_++) {                  \
			const struct snap *x = &(sn)[i_];              \
			series_u64(f, name, x, (expr));                \
		}                                                      \
	} while (0)

/* The pause histogram (Prometheus wants cumulative buckets). */
static void render_pauses(FILE *f, const struct snap *sn, size_t n)
{
	family(f, "remus_pause_seconds", "histogram",
	       "Guest pause per checkpoint (suspend to running again).");
	for (size_t i = 0; i < n; i++) {
		const struct ckpt_stats *st = &sn[i].st;
		uint64_t cum = 0;
		for (unsigned b = 0; b <= CKPT_PAUSE_BUCKETS; b++) {
			cum += st->pause_hist[b];
			fprintf(f, "remus_pause_seconds_bucket{guest=\"");
			label(f, sn[i].name);
			if (b < CKPT_PAUSE_BUCKETS) {
				uint64_t us = ckpt_pause_bounds_us[b];
				fprintf(f, "\",le=\"%" PRIu64 ".%06" PRIu64 "\"} %" PRIu64 "\n",
				        us / 1000000u, us % 1000000u, cum);
			} else {
				fprintf(f, "\",le=\"+Inf\"} %" PRIu64 "\n", cum);
			}
		}
		series_sec(f, "remus_pause_seconds_sum", &sn[i], NULL, NULL, st->total_pause_us);
		series_u64(f, "remus_pause_seconds_count", &sn[i], cum);
	}
}

/* One series per state, 1 for the session's state, 0 for the others. */
static void render_state(FILE *f, const struct snap *sn, size_t n)
{
	family(f, "remus_guest_state", "gauge",
	       "Session state (one series per state, 1 for the current one).");
	for (size_t i = 0; i < n; i++)
		for (int st = 0; st < NSTATES; st++) {
			fprintf(f, "remus_guest_state{guest=\"");
			label(f, sn[i].name);
			fprintf(f, "\",role=\"%s\",state=\"%s\"} %d\n",
			        sn[i].primary ? "primary" : "backup",
			        remusd_state_name((enum remusd_state)st), sn[i].state == (enum remusd_state)st);
		}
	U64_FAMILY(f, sn, n, "remus_guest_state_seconds", "gauge",
	           "Seconds since the session entered its state.", x->state_ms / 1000u);
}

/* After a failover: the engine's phases, and the driver's steps (Xen). */
static void render_failover(FILE *f, const struct snap *sn, size_t n)
{
	static const char *const phase[] = { "detect", "restore", "announce", "total" };

	family(f, "remus_failover_seconds", "gauge",
	       "Last failover on this host, per phase (detect = stream stop to restore).");
	for (size_t i = 0; i < n; i++) {
		if (!sn[i].has_fo)
			continue;
		const uint64_t v[] = { sn[i].fo.detect_to_restore_us, sn[i].fo.restore_us,
		                       sn[i].fo.announce_us, sn[i].fo.total_us };
		for (unsigned p = 0; p < 4; p++)
			series_sec(f, "remus_failover_seconds", &sn[i], "phase", phase[p], v[p]);
	}
	family(f, "remus_failover_step_seconds", "gauge",
	       "Last failover of a driver-owned loop (Xen): each step's duration.");
	for (size_t i = 0; i < n; i++) {
		uint32_t prev = 0;
		for (unsigned k = 0; sn[i].has_fo && k < sn[i].nsteps; k++) {
			uint32_t end = sn[i].steps[k].end_ms;
			series_sec(f, "remus_failover_step_seconds", &sn[i], "step", sn[i].steps[k].step,
			           (uint64_t)(end >= prev ? end - prev : 0) * 1000u);
			prev = end;
		}
	}
	U64_FAMILY(f, sn, n, "remus_failover_checkpoint", "gauge",
	           "Checkpoint the last failover restored (0: none).", x->has_fo ? x->fo.checkpoint : 0);
}

static void render_engine(FILE *f, const struct snap *sn, size_t n)
{
	U64_FAMILY(f, sn, n, "remus_checkpoints_total", "counter",
	           "Checkpoints taken (primary) or applied (backup) in this run.", x->st.checkpoints);
	U64_FAMILY(f, sn, n, "remus_checkpoints_discarded_total", "counter",
	           "Backup: partial checkpoints dropped.", x->st.discarded);
	U64_FAMILY(f, sn, n, "remus_ticks_stretched_total", "counter",
	           "Primary: epoch ticks skipped while a checkpoint was still sending.",
	           x->st.stretched);
	U64_FAMILY(f, sn, n, "remus_epoch", "gauge", "Last checkpoint taken.", x->st.epoch);
	U64_FAMILY(f, sn, n, "remus_acked_epoch", "gauge", "Last checkpoint acknowledged.",
	           x->st.acked);
	render_pauses(f, sn, n);
	U64_FAMILY(f, sn, n, "remus_stream_bytes_total", "counter",
	           "Migration-stream bytes sent (primary) or received (backup).", x->st.bytes);
	U64_FAMILY(f, sn, n, "remus_wire_bytes_total", "counter",
	           "Primary: bytes queued on the link after compression.", x->st.wire_bytes);
	U64_FAMILY(f, sn, n, "remus_checkpoint_pages_total", "counter",
	           "Pages sent (primary) or applied (backup) in checkpoints.", x->st.pages);
	U64_FAMILY(f, sn, n, "remus_dirty_pages", "gauge", "Pages in the last checkpoint.",
	           x->st.last_dirty);
}

static void render_sync(FILE *f, const struct snap *sn, size_t n)
{
	U64_FAMILY(f, sn, n, "remus_sync_round", "gauge",
	           "Initial sync: RAM pre-copy round (0 before the sync).", x->pr.round);
	U64_FAMILY(f, sn, n, "remus_sync_round_done_pages", "gauge",
	           "Initial sync: pages sent of the current round.", x->pr.pages_sent);
	U64_FAMILY(f, sn, n, "remus_sync_round_pages", "gauge",
	           "Initial sync: pages of the current round.", x->pr.pages_total);
	U64_FAMILY(f, sn, n, "remus_sync_sent_bytes", "gauge",
	           "Initial sync: bytes on the link, all rounds so far.", x->pr.bytes_sent);
	U64_FAMILY(f, sn, n, "remus_sync_disk_compared_bytes", "gauge",
	           "Initial sync: disk bytes compared with the backup's.", x->pr.disk_done_bytes);
	U64_FAMILY(f, sn, n, "remus_sync_disk_bytes", "gauge",
	           "Initial sync: disk bytes to compare.", x->pr.disk_total_bytes);
	U64_FAMILY(f, sn, n, "remus_sync_disk_sent_blocks", "gauge",
	           "Initial sync: disk blocks that differed and were sent.", x->pr.disk_blocks_sent);
	family(f, "remus_sync_duration_seconds", "gauge",
	       "Start of the sync to checkpoint 1 acknowledged (0 until then).");
	for (size_t i = 0; i < n; i++)
		series_sec(f, "remus_sync_duration_seconds", &sn[i], NULL, NULL, sn[i].st.sync_ms * 1000u);
}

/* Netbuf and disk families: only the sessions that have one. */
static void render_io(FILE *f, const struct snap *sn, size_t n)
{
	static const struct { const char *name, *type, *help; size_t off; } nb[] = {
		{ "remus_netbuf_held_frames", "gauge", "Output frames held until their checkpoint is acknowledged.", offsetof(struct netbuf_stats, held_packets) },
		{ "remus_netbuf_held_bytes", "gauge", "Output bytes held until their checkpoint is acknowledged.", offsetof(struct netbuf_stats, held_bytes) },
		{ "remus_netbuf_released_frames_total", "counter", "Held frames released after their acknowledgement.", offsetof(struct netbuf_stats, released_packets) },
		{ "remus_netbuf_released_bytes_total", "counter", "Held bytes released after their acknowledgement.", offsetof(struct netbuf_stats, released_bytes) },
		{ "remus_netbuf_dropped_frames_total", "counter", "Held frames dropped (discard, hold limit).", offsetof(struct netbuf_stats, dropped_packets) },
	};
	static const struct { const char *name, *type, *help; size_t off; } dk[] = {
		{ "remus_disk_staged_writes", "gauge", "Backup: disk writes staged for uncommitted epochs.", offsetof(struct diskrep_counters, staged_writes) },
		{ "remus_disk_staged_bytes", "gauge", "Backup: disk bytes staged for uncommitted epochs.", offsetof(struct diskrep_counters, staged_bytes) },
		{ "remus_disk_writes_total", "counter", "Guest disk writes replicated (primary) or received (backup).", offsetof(struct diskrep_counters, writes) },
		{ "remus_disk_epochs_committed_total", "counter", "Backup: disk epochs committed.", offsetof(struct diskrep_counters, epochs_committed) },
		{ "remus_disk_dirty_blocks", "gauge", "Primary: blocks marked in the resync bitmap.", offsetof(struct diskrep_counters, dirty_blocks) },
	};

	for (size_t k = 0; k < sizeof(nb) / sizeof(nb[0]); k++) {
		family(f, nb[k].name, nb[k].type, nb[k].help);
		for (size_t i = 0; i < n; i++)
			if (sn[i].has_nb)
				series_u64(f, nb[k].name, &sn[i],
				           *(const uint64_t *)((const char *)&sn[i].nb + nb[k].off));
	}
	for (size_t k = 0; k < sizeof(dk) / sizeof(dk[0]); k++) {
		family(f, dk[k].name, dk[k].type, dk[k].help);
		for (size_t i = 0; i < n; i++)
			if (sn[i].has_disk)
				series_u64(f, dk[k].name, &sn[i],
				           *(const uint64_t *)((const char *)&sn[i].dc + dk[k].off));
	}
}

/* The daemon's own: replication peers now and handshakes so far. */
static void render_daemon(FILE *f, const struct snap *sn, size_t n, const uint64_t *ev)
{
	unsigned peers = 0;

	for (size_t i = 0; i < n; i++) {   /* a run is on: syncing, protected, evacuating */
		enum remusd_phase ph = remusd_state_phase(sn[i].state);
		peers += !sn[i].blackhole && ph >= PHASE_SYNCING && ph <= PHASE_EVACUATING;
	}
	family(f, "remus_peers", "gauge", "Replication links up now (one per protected or received guest).");
	fprintf(f, "remus_peers %u\n", peers);
	family(f, "remus_handshakes_accepted_total", "counter",
	       "Replication peers whose handshake succeeded.");
	fprintf(f, "remus_handshakes_accepted_total %" PRIu64 "\n", ev[REMUSD_M_HS_ACCEPTED]);
	family(f, "remus_handshake_refusals_total", "counter",
	       "Replication peers refused (key, version, capabilities, garbage, limits).");
	fprintf(f, "remus_handshake_refusals_total %" PRIu64 "\n", ev[REMUSD_M_HS_REFUSED]);
	family(f, "remus_sessions", "gauge", "Guest sessions this daemon holds.");
	fprintf(f, "remus_sessions %zu\n", n);
}

int remusd_metrics_render(FILE *f, struct remusd_session *const *sessions, size_t n,
                          const uint64_t events[REMUSD_M_EVENTS])
{
	struct snap *sn = calloc(n ? n : 1, sizeof(*sn));

	if (sn == NULL)
		return -1;
	for (size_t i = 0; i < n; i++)
		take_snap(sessions[i], &sn[i]);
	render_daemon(f, sn, n, events);
	render_state(f, sn, n);
	render_engine(f, sn, n);
	render_sync(f, sn, n);
	render_io(f, sn, n);
	render_failover(f, sn, n);
	free(sn);
	return ferror(f) ? -1 : 0;
}
