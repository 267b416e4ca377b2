/*
 * The sender's initial synchronisation (live pre-copy rounds of the guest's
 * RAM, the page-hash offer of a backup that holds a replica, the disk's
 * resync beside them, checkpoint 1 in the pause) and a run resumed after a
 * live update (no pre-copy: the backup holds checkpoint N).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt/fault_impl.h"
#include "ckpt/sender_impl.h"
#include "diskrep/diskrep.h"
#include "netbuf/netbuf.h"
#include "util/checked.h"

/* Round 1 over a backup that holds a replica: keep only the copied pages
 * whose hash differs from the one it offered (compacted in s->pages, their
 * pfns in keep[]); returns how many are kept. */
static size_t drop_known(struct ckpt_sender *s, const uint64_t *pfns, size_t n, uint64_t *keep)
{
	size_t j = 0;

	for (size_t k = 0; k < n; k++) {
		const uint8_t *pg = s->pages + k * STREAM_PAGE_SIZE;
		if (pagehash_of_page(pg) == s->offer.hash[pfns[k]])
			continue;
		if (j != k)
			memcpy(s->pages + j * STREAM_PAGE_SIZE, pg, STREAM_PAGE_SIZE);
		keep[j++] = pfns[k];
	}
	return j;
}

/* Wait until the link's queue is empty (as long as the link lives: rnet's
 * heartbeat timeout judges a dead backup, as when the queue is full), so
 * the next live frame goes from guest RAM to the socket (rnet's direct
 * write) instead of being copied into the queue behind the ones before: a
 * sender faster than the link otherwise copied nearly every page once more
 * (a fifth of a 1 GiB sync's CPU in perf, memmove under send_streamv).
 * The kernel's socket buffer still holds the frames before, so the link
 * does not idle meanwhile.  Only on an uncompressed link: rnet writes
 * compressed frames from its queue anyway, and compressing the next one
 * while the queue drains is worth keeping. */
static int wait_link_empty(struct ckpt_sender *s, struct remus_err *err)
{
	int rc;

	if (s->cfg.conn == NULL || rnet_conn_compress(s->cfg.conn) != RNET_COMPRESS_NONE)
		return 0;
	while (rnet_conn_want_write(s->cfg.conn))
		if ((rc = sender_pump(s, -1, 100, err)) < 0)
			return rc;
	return 0;
}

/* One live pre-copy pass straight from the driver's view of guest RAM:
 * no pause at all (the dirty log was cleared before, so a page changed
 * while it is read goes again next round), one record per frame. */
static int precopy_live(struct ckpt_sender *s, const uint64_t *pfns, size_t n, bool known,
                        uint64_t *sent, struct remus_err *err)
{
	uint64_t keep[CKPT_RECORD_PAGES];
	int rc;

	for (size_t i = 0; i < n; i += CKPT_RECORD_PAGES) {
		size_t cnt = n - i < CKPT_RECORD_PAGES ? n - i : CKPT_RECORD_PAGES, kept = 0;
		const uint64_t *batch = pfns + i;
		if (known) {
			for (size_t k = 0; k < cnt; k++)
				if (pagehash_of_page(s->live + batch[k] * STREAM_PAGE_SIZE) !=
				    s->offer.hash[batch[k]])
					keep[kept++] = batch[k];
			batch = keep;
			cnt = kept;
		}
		if ((rc = wait_link_empty(s, err)) ||
		    (rc = sender_put_pages_from(s, batch, cnt, true, err)) || (rc = sender_send_out(s, err)))
			return rc;
		*sent += cnt;
		sender_lock(s);
		s->prog.pages_sent = i + (n - i < CKPT_RECORD_PAGES ? n - i : CKPT_RECORD_PAGES);
		s->prog.bytes_sent = s->st.wire_bytes;
		sender_unlock(s);
		if ((i / CKPT_RECORD_PAGES) % 4 == 3 || i + CKPT_RECORD_PAGES >= n)
			sender_report(s);
	}
	return 0;
}

/* One pre-copy pass over pfns[0..n): live from the driver's RAM view when
 * it has one, else short pauses of at most one batch each, the guest
 * running in between.  With `known`, pages the backup's replica already
 * holds (same hash) are not sent. */
static int precopy_pass(struct ckpt_sender *s, const uint64_t *pfns, size_t n, bool known,
                        struct remus_err *err)
{
	uint64_t keep[STREAM_DEFAULT_MAX_PAGES];
	uint64_t sent = 0;
	int rc;

	sender_lock(s);
	s->prog.pages_total = n;
	s->prog.pages_sent = 0;
	sender_unlock(s);
	if (s->live) {
		if ((rc = precopy_live(s, pfns, n, known, &sent, err)))
			return rc;
		n = 0;
		sender_lock(s);
		s->st.precopy_pages += sent;
		s->st.precopy_skipped += s->prog.pages_total - sent;
		sender_unlock(s);
		return 0;
	}
	for (size_t i = 0; i < n; i += STREAM_DEFAULT_MAX_PAGES) {
		size_t cnt = n - i < STREAM_DEFAULT_MAX_PAGES ? n - i : STREAM_DEFAULT_MAX_PAGES;
		if ((rc = s->cfg.hv->suspend(s->cfg.guest, err)) < 0)
			return remus_err_wrap(err, "pre-copy suspend");
		rc = sender_copy_paused(s, pfns + i, cnt, err);
		if (s->cfg.hv->resume(s->cfg.guest, rc ? &(struct remus_err){ 0 } : err) < 0 && !rc)
			return remus_err_wrap(err, "pre-copy resume");
		if (rc)
			return rc;
		if (known) {
			size_t kept = drop_known(s, pfns + i, cnt, keep);
			rc = sender_put_pages(s, keep, kept, err);
			sent += kept;
		} else {
			rc = sender_put_pages(s, pfns + i, cnt, err);
			sent += cnt;
		}
		if (rc || (rc = sender_send_out(s, err)))
			return rc;
		sender_lock(s);
		s->prog.pages_sent += cnt;
		s->prog.bytes_sent = s->st.wire_bytes;
		sender_unlock(s);
		sender_report(s);
	}
	sender_lock(s);
	s->st.precopy_pages += sent;
	s->st.precopy_skipped += n - sent;
	sender_unlock(s);
	return 0;
}

/* Read-and-clear the dirty log with a short pause (pre-copy bookkeeping). */
static int read_dirty(struct ckpt_sender *s, struct remus_err *err)
{
	int rc;

	if ((rc = s->cfg.hv->suspend(s->cfg.guest, err)) < 0)
		return remus_err_wrap(err, "pre-copy suspend");
	rc = s->cfg.hv->dirty_log(s->cfg.guest, &s->dirty, err);
	if (s->cfg.hv->resume(s->cfg.guest, rc < 0 ? &(struct remus_err){ 0 } : err) < 0 && rc >= 0)
		return remus_err_wrap(err, "pre-copy resume");
	return rc < 0 ? rc : 0;
}

/* Start RAM round `round` (progress). */
static void begin_round(struct ckpt_sender *s, unsigned round)
{
	sender_lock(s);
	s->prog.round = round;
	s->st.precopy_rounds = round;
	sender_unlock(s);
}

/* One more round: the pages dirtied since the last one. */
static int precopy_round(struct ckpt_sender *s, struct remus_err *err)
{
	int rc;

	if ((rc = read_dirty(s, err)))
		return rc;
	begin_round(s, s->prog.round + 1);
	/* the pages just read must go out: the log is clear now */
	return precopy_pass(s, s->dirty.pfns, s->dirty.count, false, err);
}

/* The backup's page-hash offer comes first on a new link (bounded wait). */
static int wait_offer(struct ckpt_sender *s, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + CKPT_FIRST_ACK_MS;
	int rc;

	while (!s->offer.done) {
		uint64_t now = rnet_now_ms();
		if (now >= deadline)
			return remus_err_set(err, CKPT_EPEER, "no page-hash offer from the backup within "
			                     "%u ms", CKPT_FIRST_ACK_MS);
		if ((rc = sender_pump(s, -1, (int)(deadline - now), err)) < 0)
			return rc;
	}
	return 0;
}

/* The stream's headers, on the wire. */
static int put_headers(struct ckpt_sender *s, struct remus_err *err)
{
	int rc;

	if ((rc = stream_put_libxl_header(&s->out)) < 0 || (rc = stream_put_libxc_context(&s->out)) < 0 ||
	    (rc = stream_put_libxc_image_header(&s->out)) < 0 ||
	    (rc = stream_put_libxc_domain_header(&s->out, s->info.domain_type ? s->info.domain_type
	                                         : STREAM_DOM_X86_HVM, 4, 17)) < 0 ||
	    (rc = stream_put_static_data_end(&s->out)) < 0)
		return remus_err_set(err, rc, "stream headers: %s", stream_strerror(rc));
	return sender_send_out(s, err);
}

/* Stream headers, then rounds of live pre-copy (all RAM, then what the
 * guest dirtied meanwhile) until few pages change or the round limit. */
static int precopy(struct ckpt_sender *s, struct remus_err *err)
{
	uint64_t *all;
	int rc;

	if ((rc = put_headers(s, err)) || (rc = wait_offer(s, err)) || (rc = read_dirty(s, err)))
		return rc;
	if ((all = malloc(s->info.nr_pfns * sizeof(*all))) == NULL)
		return remus_err_sys(err, ENOMEM, "pfn list of %" PRIu64 " pages", s->info.nr_pfns);
	for (uint64_t i = 0; i < s->info.nr_pfns; i++)
		all[i] = i;
	begin_round(s, 1);
	rc = precopy_pass(s, all, s->info.nr_pfns, s->offer.have, err);
	free(all);
	while (rc == 0 && s->prog.round < s->max_rounds)
		if ((rc = precopy_round(s, err)) || s->dirty.count <= s->stop_pages)
			break;
	return rc;
}

/* Hand the progress so far to the caller's callback (from the engine or
 * the disk resync thread; prog_lock keeps the snapshots in order). */
void sender_report(struct ckpt_sender *s)
{
	struct ckpt_progress p;

	if (s->cfg.progress == NULL)
		return;
	pthread_mutex_lock(&s->prog_lock);
	sender_lock(s);
	p = s->prog;
	sender_unlock(s);
	s->cfg.progress(s->cfg.progress_arg, &p);
	pthread_mutex_unlock(&s->prog_lock);
}

/* diskrep's resync progress (resync thread). */
static void on_disk_progress(void *arg, const struct diskrep_progress *dp)
{
	struct ckpt_sender *s = arg;

	sender_lock(s);
	s->prog.disk_done_bytes = dp->done_bytes;
	s->prog.disk_total_bytes = dp->total_bytes;
	s->prog.disk_blocks_sent = dp->blocks_sent;
	sender_unlock(s);
	sender_report(s);
}

/* Helper thread: diskrep's blocking resync over the disk channel. */
static void *resync_main(void *arg)
{
	struct ckpt_sender *s = arg;
	struct resync_job *j = &s->rs;

	j->rc = s->cfg.dr->resync(s->cfg.disk, DISKREP_RESYNC_FULL, on_disk_progress, s, &j->err);
	__atomic_store_n(&j->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Start bringing the backup's disk to ours (full compare by block hashes)
 * on a helper thread while the guest runs: a new run restarts diskrep's
 * numbering at 0 like ours, and the guest's writes from the resync's start
 * on travel as disk epoch 1, applied on the backup with checkpoint 1. */
static int disk_resync_start(struct ckpt_sender *s, struct remus_err *err)
{
	int rc;

	if (s->cfg.dr->restart && (rc = s->cfg.dr->restart(s->cfg.disk, 0, err)) < 0)
		return remus_err_wrap(err, "disk: new run");
	if ((rc = pthread_create(&s->rs.th, NULL, resync_main, s)) != 0)
		return remus_err_sys(err, rc, "disk resync thread");
	s->rs.running = true;
	return 0;
}

/* Wait for the resync while the engine carries the channel both ways; on
 * an error (ours: prc) diskrep is unblocked by shutting its channel. */
static int disk_resync_finish(struct ckpt_sender *s, int prc, struct remus_err *err)
{
	struct resync_job *j = &s->rs;

	if (!j->running)
		return prc;
	while (prc == 0 && !__atomic_load_n(&j->done, __ATOMIC_ACQUIRE))
		if ((prc = sender_pump(s, -1, 5, err)) > 0)
			prc = 0;
	if (prc < 0)
		shutdown(s->dl.fd, SHUT_RDWR);
	pthread_join(j->th, NULL);
	j->running = false;
	if (prc < 0)
		return prc;
	if (j->rc < 0) {
		*err = j->err;
		return j->rc;
	}
	sender_lock(s);
	s->prog.disk_done = true;
	sender_unlock(s);
	sender_report(s);
	return 0;
}

static int sender_sync(struct ckpt_sender *s, struct remus_err *err)
{
	uint64_t t0 = rnet_now_ms();
	bool caught_up;
	int rc = 0;

	if (s->epoch != 0)
		return remus_err_set(err, CKPT_ECONFIG, "sync: already synchronised (epoch %" PRIu64 ")",
		                     s->epoch);
	if (s->cfg.dr && (rc = disk_resync_start(s, err)))
		return sender_lost(s, rc, err);
	rc = precopy(s, err);
	/* a disk resync that outlasted pre-copy: one more RAM round after it,
	 * so that checkpoint 1 (a pause) stays small */
	caught_up = !s->rs.running || __atomic_load_n(&s->rs.done, __ATOMIC_ACQUIRE);
	if ((rc = disk_resync_finish(s, rc, err)) == 0 && !caught_up)
		rc = precopy_round(s, err);
	if (rc || (rc = sender_take_checkpoint(s, err)))
		return sender_lost(s, rc, err);
	if ((rc = sender_wait_ack(s, 1, s->ack_timeout_ms > CKPT_FIRST_ACK_MS ? s->ack_timeout_ms
	                                                                  : CKPT_FIRST_ACK_MS, err)))
		return rc;
	sender_lock(s);
	s->st.sync_ms = rnet_now_ms() - t0;
	s->st.sync_bytes = s->st.wire_bytes;
	sender_unlock(s);
	return 0;
}

/* Runs with the connection's keepalive on: while a batch is copied or
 * compressed, the backup still hears from us (see rnet_conn_keepalive). */
int ckpt_sender_sync(struct ckpt_sender *s, struct remus_err *err)
{
	int rc = rnet_conn_keepalive(s->cfg.conn, true, err);

	if (rc < 0)
		return rc;
	rc = sender_sync(s, err);
	rnet_conn_keepalive(s->cfg.conn, false, NULL);
	return rc;
}

/* A run that carries on an earlier one from checkpoint n (a live update of
 * the primary's daemon): the backup's replica holds n and nothing after it
 * left here, so there is nothing to pre-copy; the backup names the
 * checkpoint it holds (its ACK after the offer) and only n will do. */
static int sender_resume_paused(struct ckpt_sender *s, uint64_t n, struct remus_err *err)
{
	uint64_t t0 = rnet_now_ms(), deadline = t0 + CKPT_FIRST_ACK_MS;
	int rc;

	if (s->epoch != 0 || n == 0 || s->cfg.blackhole || s->cfg.conn == NULL)
		return remus_err_set(err, CKPT_ECONFIG, "resume from checkpoint %" PRIu64 ": needs a "
		                     "new sender with a backup", n);
	if (s->cfg.dr && s->cfg.dr->restart && (rc = s->cfg.dr->restart(s->cfg.disk, n, err)) < 0)
		return sender_lost(s, remus_err_wrap(err, "disk: resume"), err);
	/* numbered on before anything is heard: the ACK may come with the offer */
	s->epoch = s->acked = n;
	sender_lock(s);
	s->st.epoch = s->st.acked = n;
	sender_unlock(s);
	if ((rc = put_headers(s, err)) || (rc = wait_offer(s, err)))
		return sender_lost(s, rc, err);
	while (s->peer_acked == 0) {
		uint64_t now = rnet_now_ms();
		if (now >= deadline)
			return sender_lost(s, remus_err_set(err, CKPT_EPEER, "resume: the backup did not "
			                                    "name its checkpoint within %u ms",
			                                    CKPT_FIRST_ACK_MS), err);
		if ((rc = sender_pump(s, -1, (int)(deadline - now), err)) < 0)
			return sender_lost(s, rc, err);
	}
	if (s->peer_acked != n)
		return sender_lost(s, remus_err_set(err, CKPT_ENOREPLICA, "resume: the backup's replica "
		                                    "holds checkpoint %" PRIu64 ", not %" PRIu64,
		                                    s->peer_acked, n), err);
	s->resumed_ms = t0;
	return 0;
}

/* Carried on or not, the guest left paused at n runs again: protected
 * (its output held from n + 1), or unprotected with the backup told
 * BYE(END) as after any loss (it keeps its replica, never fails over). */
static int sender_resume(struct ckpt_sender *s, uint64_t n, struct remus_err *err)
{
	int rc = sender_resume_paused(s, n, err), rc2;
	struct remus_err e2 = { 0 };
	struct hv_info in;

	if (rc == CKPT_ESTOPPED || rc == CKPT_EGUEST)
		return rc;
	if (s->cfg.hv->info(s->cfg.guest, &in) == 0 && in.state == HV_PAUSED &&
	    (rc2 = s->cfg.hv->resume(s->cfg.guest, rc ? &e2 : err)) < 0 && rc == 0)
		return sender_lost(s, remus_err_wrap(err, "resume after checkpoint %" PRIu64, n), err);
	if (rc)
		return rc;
	/* checkpoint n + 1 at once (what the guest dirtied since n): the time
	 * from the resume to its ACK is the run's sync_ms (nothing to sync) */
	if ((rc = sender_take_checkpoint(s, err)) ||
	    (rc = sender_wait_ack(s, n + 1, s->ack_timeout_ms, err)))
		return sender_lost(s, rc, err);
	sender_lock(s);
	s->st.sync_ms = rnet_now_ms() - s->resumed_ms;
	sender_unlock(s);
	return 0;
}

int ckpt_sender_resume(struct ckpt_sender *s, uint64_t n, struct remus_err *err)
{
	int rc = rnet_conn_keepalive(s->cfg.conn, true, err);

	if (rc < 0)
		return rc;
	rc = sender_resume(s, n, err);
	rnet_conn_keepalive(s->cfg.conn, false, NULL);
	return rc;
}
