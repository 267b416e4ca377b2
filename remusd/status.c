/* JSON status of one session (remusctl status --json, stats). */
#include <json-c/json.h>

#include "diskrep/nbd_device.h"
#include "remusd/session.h"

/* Add a u64 member. */
static void put_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_int64((int64_t)v));
}

/* The engine counters of whichever end this session is. */
static void put_stats(struct json_object *o, const struct ckpt_stats *st)
{
	put_u64(o, "epoch", st->epoch);
	put_u64(o, "acked", st->acked);
	put_u64(o, "checkpoints", st->checkpoints);
	put_u64(o, "discarded", st->discarded);
	put_u64(o, "stretched", st->stretched);
	put_u64(o, "pages", st->pages);
	put_u64(o, "bytes", st->bytes);
	put_u64(o, "wire_bytes", st->wire_bytes);
	put_u64(o, "last_dirty", st->last_dirty);
	put_u64(o, "precopy_rounds", st->precopy_rounds);
	put_u64(o, "precopy_pages", st->precopy_pages);
	put_u64(o, "precopy_skipped", st->precopy_skipped);
	put_u64(o, "last_pause_us", st->last_pause_us);
	put_u64(o, "max_pause_us", st->max_pause_us);
	put_u64(o, "avg_pause_us", st->checkpoints ? st->total_pause_us / st->checkpoints : 0);
	put_u64(o, "uptime_ms", rnet_now_ms() - st->started_ms);
	put_u64(o, "sync_ms", st->sync_ms);
	put_u64(o, "sync_bytes", st->sync_bytes);
}

/* What this guest costs the daemon in memory: the replica it holds (a
 * backup) and the engine's buffers (both ends), against the guest's RAM. */
static void put_memory(struct json_object *o, const struct ckpt_stats *st, uint64_t ram)
{
	struct json_object *m = json_object_new_object();

	put_u64(m, "guest_bytes", ram);
	put_u64(m, "replica_bytes", st->mem_replica_bytes);
	put_u64(m, "buffers_bytes", st->mem_buffers_bytes);
	json_object_object_add(m, "ratio", json_object_new_double(
	    ram ? (double)(st->mem_replica_bytes + st->mem_buffers_bytes) / (double)ram : 0.0));
	json_object_object_add(o, "memory", m);
	put_u64(o, "keepalive_heartbeats", st->keepalive_heartbeats);
}

/* A backend that adopts the operator's device reports on it (a tool run:
 * not under the session lock), under its own name, with its own fields;
 * around a hand-over also its dual-primary window. */
static struct json_object *status_adopted_disk(struct remusd_session *s)
{
	struct diskrep_config dc = { .role = s->primary ? DISKREP_PRIMARY : DISKREP_BACKUP,
	                             .peer_fd = -1, .image = s->gc.disk,
	                             .resource = s->gc.drbd_resource };
	struct diskrep_status ds;
	struct remus_err err = { 0 };
	struct json_object *o;
	bool around_handover;
	int rc;

	if (!s->gc.disk[0] || s->dr == NULL || !s->dr->adopts_device || s->dr->status == NULL)
		return NULL;
	pthread_mutex_lock(&s->lock);
	around_handover = s->state == RS_EVACUATING || s->state == RS_IN_DOUBT ||
	                  s->state == RS_ACTIVE || s->state == RS_EVACUATED;
	pthread_mutex_unlock(&s->lock);
	rc = s->dr->status(&dc, around_handover, &ds, &err);
	o = json_object_new_object();
	for (unsigned i = 0; i < ds.n; i++)
		json_object_object_add(o, ds.f[i].key, ds.f[i].is_bool ?
		                       json_object_new_boolean(ds.f[i].b) :
		                       json_object_new_string(ds.f[i].text));
	if (rc < 0)
		json_object_object_add(o, "error", json_object_new_string(err.msg));
	return o;
}

/* A disk served to this host's kernel (Xen + builtin): where its I/O goes
 * and what the kernel asked of it. */
static struct json_object *status_served_disk(struct remusd_session *s)
{
	struct json_object *o = json_object_new_object();
	struct nbd_device_status ns;

	nbd_device_status(s->nbd, &ns);
	json_object_object_add(o, "device", json_object_new_string(s->gc.nbd_device));
	json_object_object_add(o, "route", json_object_new_string(nbd_device_mode_name(ns.mode)));
	json_object_object_add(o, "bound", json_object_new_boolean(ns.bound));
	put_u64(o, "size", ns.size);
	put_u64(o, "reads", ns.st.reads);
	put_u64(o, "writes", ns.st.writes);
	put_u64(o, "write_bytes", ns.st.write_bytes);
	put_u64(o, "flushes", ns.st.flushes);
	put_u64(o, "refused", ns.st.refused);
	put_u64(o, "connections_ended", ns.clients);
	if (ns.last_error[0])
		json_object_object_add(o, "last_error", json_object_new_string(ns.last_error));
	return o;
}

struct json_object *remusd_session_json(struct remusd_session *s)
{
	struct json_object *o = json_object_new_object(), *fo;
	struct ckpt_stats st;
	enum remusd_state state;
	struct json_object *adopted = status_adopted_disk(s);

	remusd_session_refresh(s);
	pthread_mutex_lock(&s->lock);
	state = remusd_session_stats_locked(s, &st);
	json_object_object_add(o, "name", json_object_new_string(s->name));
	json_object_object_add(o, "role", json_object_new_string(s->primary ? "primary" : "backup"));
	json_object_object_add(o, "state", json_object_new_string(remusd_state_name(state)));
	put_u64(o, "state_ms", rnet_now_ms() - s->state_since_ms);
	json_object_object_add(o, "peer", json_object_new_string(s->peer));
	json_object_object_add(o, "message", json_object_new_string(s->error));
	put_u64(o, "interval_ms", s->gc.interval_ms);
	put_stats(o, &st);
	put_memory(o, &st, (uint64_t)s->gc.mem_mb << 20);
	put_u64(o, "sync_round", s->progress.round);
	put_u64(o, "sync_done", s->progress.pages_sent);
	put_u64(o, "sync_total", s->progress.pages_total);
	put_u64(o, "sync_bytes_sent", s->progress.bytes_sent);
	put_u64(o, "sync_disk_done", s->progress.disk_done_bytes);
	put_u64(o, "sync_disk_total", s->progress.disk_total_bytes);
	put_u64(o, "sync_disk_blocks", s->progress.disk_blocks_sent);
	if (s->guest) {
		static const char *const gs[] = { "created", "running", "paused", "crashed", "exited" };
		struct hv_info in;
		s->hv->info(s->guest, &in);
		json_object_object_add(o, "guest_state", json_object_new_string(
		    (unsigned)in.state < 5 ? gs[in.state] : "?"));
		if (in.state == HV_EXITED)
			put_u64(o, "guest_exit_code", (uint64_t)in.exit_code);
	}
	if (s->disk) {
		struct diskrep_counters dc;
		struct json_object *d = json_object_new_object();
		s->dr->counters(s->disk, &dc);
		put_u64(d, "writes", dc.writes);
		put_u64(d, "epochs_marked", dc.epochs_marked);
		put_u64(d, "epochs_acked", dc.epochs_acked);
		put_u64(d, "staged_writes", dc.staged_writes);
		put_u64(d, "epochs_committed", dc.epochs_committed);
		put_u64(d, "committed_epoch", dc.committed_epoch);
		put_u64(d, "resync_blocks_sent", dc.resync_blocks_sent);
		put_u64(d, "resync_bytes_sent", dc.resync_bytes_sent);
		json_object_object_add(d, "consistent", json_object_new_boolean(dc.consistent));
		json_object_object_add(o, "disk", d);
	}
	if (adopted != NULL)
		json_object_object_add(o, s->dr->name, adopted);
	if (s->nbd != NULL)
		json_object_object_add(o, "nbd", status_served_disk(s));
	if (s->failover_done) {
		fo = json_object_new_object();
		put_u64(fo, "checkpoint", s->fo.checkpoint);
		put_u64(fo, "restore_us", s->fo.restore_us);
		put_u64(fo, "announce_us", s->fo.announce_us);
		put_u64(fo, "total_us", s->fo.total_us);
		if (s->fo_nsteps > 0) {
			struct json_object *steps = json_object_new_array();

			for (unsigned i = 0; i < s->fo_nsteps; i++) {
				struct json_object *st = json_object_new_object();

				json_object_object_add(st, "step", json_object_new_string(s->fo_steps[i].step));
				put_u64(st, "end_ms", s->fo_steps[i].end_ms);
				json_object_array_add(steps, st);
			}
			json_object_object_add(fo, "steps", steps);
		}
		json_object_object_add(o, "failover", fo);
	}
	if (s->rp.armed) {      /* the daemon protects it again by itself */
		struct json_object *rp = json_object_new_object();
		uint64_t now = rnet_now_ms();

		json_object_object_add(rp, "peer", json_object_new_string(s->rp.peer));
		json_object_object_add(rp, "why", json_object_new_string(s->rp.why));
		put_u64(rp, "tries", s->rp.tries);
		if (s->rp.due_ms != UINT64_MAX)
			put_u64(rp, "next_ms", s->rp.due_ms > now ? s->rp.due_ms - now : 0);
		json_object_object_add(o, "reprotect", rp);
	}
	pthread_mutex_unlock(&s->lock);
	return o;
}
