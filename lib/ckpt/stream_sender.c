/*
 * Primary side of a driver-owned checkpoint loop (stream_link.h): the
 * driver writes the migration stream into a socketpair, the pump thread
 * forwards it as RNET_MSG_STREAM frames and collects ACKs
 * (stream_sender_pump.c); the hooks run on the engine thread inside the
 * driver's loop (this file).  With delta compression negotiated the pump
 * sends the driver's pages as deltas (stream_delta.c).
 */
#include "ckpt/fault_impl.h"
#include "ckpt/handover_impl.h"
#include "ckpt/stream_link.h"
#include "ckpt/stream_link_impl.h"
#include "ckpt/stream_sender_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "netbuf/netbuf.h"
#include "stream/stream.h"

int ckpt_stream_sender_new(const struct ckpt_stream_sender_cfg *cfg,
                           struct ckpt_stream_sender **out, struct remus_err *err)
{
	struct ckpt_stream_sender *s;

	if (cfg->hv == NULL || cfg->hv->save_stream == NULL || cfg->guest == NULL || cfg->conn == NULL)
		return remus_err_set(err, CKPT_ECONFIG,
		                     "stream sender: needs a driver with save_stream, a guest and a link");
	if ((s = calloc(1, sizeof(*s))) == NULL || (s->chunk = malloc(SEND_CHUNK)) == NULL) {
		free(s);
		return remus_err_sys(err, ENOMEM, "stream sender");
	}
	s->cfg = *cfg;
	s->cfg.preamble = NULL;
	if (cfg->preamble_len > 0) {
		void *copy = malloc(cfg->preamble_len);

		if (copy == NULL) {
			free(s->chunk);
			free(s);
			return remus_err_sys(err, ENOMEM, "stream sender: preamble");
		}
		memcpy(copy, cfg->preamble, cfg->preamble_len);
		s->cfg.preamble = copy;
	}
	if (s->cfg.interval_ms == 0)
		s->cfg.interval_ms = 25;
	if (s->cfg.ack_timeout_ms == 0)
		s->cfg.ack_timeout_ms = 2000;
	if (s->cfg.confirm_ms == 0)
		s->cfg.confirm_ms = 5000;
	s->sp[0] = s->sp[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	cond_init_monotonic(&s->cond);
	*out = s;
	return 0;
}

void ckpt_stream_sender_free(struct ckpt_stream_sender *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	free((void *)s->cfg.preamble);
	free(s->chunk);
	stream_delta_free(&s->dtx);
	free(s);
}

int ckpt_stream_sender_set_interval(struct ckpt_stream_sender *s, uint32_t ms,
                                    struct remus_err *err)
{
	if (ms < 1 || ms > 10000)
		return remus_err_set(err, -EINVAL, "interval %" PRIu32 " ms out of range 1..10000", ms);
	__atomic_store_n(&s->cfg.interval_ms, ms, __ATOMIC_RELAXED);
	return 0;
}

void ckpt_stream_sender_stats(struct ckpt_stream_sender *s, struct ckpt_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->stats;
	pthread_mutex_unlock(&s->lock);
}


/* The guest is suspended for checkpoint N: every disk write of epoch N must
 * be on the backup before N can be acknowledged (drbd: a flush). */
static int stream_disk_mark(struct ckpt_stream_sender *s)
{
	struct remus_err e = { 0 };
	int rc;

	if (s->cfg.dr_ops == NULL)
		return 0;
	if ((rc = s->cfg.dr_ops->epoch_mark(s->cfg.dr, s->epoch, &e)) < 0)
		return remus_err_set(&s->hook_err, rc, "diskrep %s: marking epoch %" PRIu64
		                     " failed: %.400s", s->cfg.dr_ops->name, s->epoch, e.msg);
	return 0;
}

/* ACK(N) arrived: the backup has checkpoint N. */
static int stream_disk_acked(struct ckpt_stream_sender *s, uint64_t n)
{
	struct remus_err e = { 0 };
	int rc;

	if (s->cfg.dr_ops == NULL)
		return 0;
	if ((rc = s->cfg.dr_ops->epoch_acked(s->cfg.dr, n, &e)) < 0)
		return remus_err_set(&s->hook_err, rc, "diskrep %s: epoch %" PRIu64
		                     " acknowledged, but: %.400s", s->cfg.dr_ops->name, n, e.msg);
	return 0;
}

/* The disk channel (builtin backend): wait until every frame diskrep wrote
 * so far, epoch N's marker with them, is queued on the link ahead of the
 * bytes the driver writes next (the rest of checkpoint N). */
static int stream_disk_flush(struct ckpt_stream_sender *s)
{
	uint64_t deadline = ckpt_now_us() + (uint64_t)s->cfg.ack_timeout_ms * 1000u;
	int unread = 1;
	bool flushed = false;

	if (!s->cfg.disk_channel)
		return 0;
	pthread_mutex_lock(&s->lock);
	while (!s->pump_done && !s->peer_lost && ckpt_now_us() < deadline) {
		/* under the lock: the pump reads and queues under it too */
		if (ioctl(s->dl.fd, FIONREAD, &unread) < 0)
			break;
		if ((flushed = unread == 0 && s->dl.pend_len == 0))
			break;
		cond_wait_until(&s->cond, &s->lock, ckpt_now_us() + 1000u);
	}
	pthread_mutex_unlock(&s->lock);
	if (flushed)
		return 0;
	return remus_err_set(&s->hook_err, CKPT_EPEER, "diskrep %s: epoch %" PRIu64 "'s disk frames "
	                     "did not reach the link within %" PRIu32 " ms", s->cfg.dr_ops->name,
	                     s->epoch, s->cfg.ack_timeout_ms);
}

/* diskrep's resync progress, as the engine's (disk fields only). */
static void on_disk_progress(void *arg, const struct diskrep_progress *dp)
{
	struct ckpt_stream_sender *s = arg;
	struct ckpt_progress p = { .disk_done_bytes = dp->done_bytes,
	                           .disk_total_bytes = dp->total_bytes,
	                           .disk_blocks_sent = dp->blocks_sent,
	                           .disk_done = dp->done_bytes >= dp->total_bytes };

	s->cfg.progress(s->cfg.progress_arg, &p);
}

/* Before the driver's first byte: the backup's disk made equal to ours
 * (diskrep's blocking resync, carried by the pump), the guest running; its
 * writes from the restart on travel as disk epoch 1. */
static int stream_disk_resync(struct ckpt_stream_sender *s, struct remus_err *err)
{
	struct remus_err e = { 0 };
	int rc;

	if (!s->cfg.disk_channel)
		return 0;
	if ((s->cfg.dr_ops->restart && (rc = s->cfg.dr_ops->restart(s->cfg.dr, 0, &e)) < 0) ||
	    (rc = s->cfg.dr_ops->resync(s->cfg.dr, DISKREP_RESYNC_FULL,
	                                s->cfg.progress ? on_disk_progress : NULL, s, &e)) < 0) {
		pthread_mutex_lock(&s->lock);
		if (s->peer_lost)
			e = s->peer_err;
		pthread_mutex_unlock(&s->lock);
		return remus_err_set(err, s->peer_lost ? CKPT_EPEER : rc, "diskrep %s: bringing the "
		                     "backup's disk to ours failed: %.400s", s->cfg.dr_ops->name, e.msg);
	}
	return 0;
}

/* The hand-over's dual-primary window of the disk (diskrep dual_primary:
 * drbd 8.4 has one writer at a time, and the suspended copy here holds its
 * device until it is destroyed).  Opened before the final checkpoint, so
 * the backup can promote once it holds it; closed again on every cancel. */
static int stream_disk_window(struct ckpt_stream_sender *s, bool open, struct remus_err *err)
{
	struct remus_err e = { 0 };
	int rc;

	if (s->cfg.dr_ops == NULL || s->cfg.dr_ops->dual_primary == NULL || s->window == open)
		return 0;
	if ((rc = s->cfg.dr_ops->dual_primary(s->cfg.dr, open, &e)) < 0)
		return remus_err_set(err, rc, "diskrep %s: %s the dual-primary window failed: %.400s",
		                     s->cfg.dr_ops->name, open ? "opening" : "closing", e.msg);
	s->window = open;
	return 0;
}

/* Cancel with the window closed first: the backup (which refused, or never
 * held the final checkpoint) must not promote while the guest runs here. */
static int cancel_closing_window(struct ckpt_stream_sender *s, int rc, const char *phase,
                                 struct remus_err *err)
{
	struct remus_err e = { 0 };
	bool closed = stream_disk_window(s, false, &e) == 0;

	rc = handover_cancel(s->cfg.hv, s->cfg.guest, s->cfg.nb, rc, phase, err);
	if (!closed)
		remus_err_wrap(err, "%.300s", e.msg);
	return rc;
}

/* Test builds: wait (bounded by the ACK timeout) until every byte the
 * driver wrote so far is on the link, so that a fault point sees what it
 * names on the wire and not queued (as sender_drain does for pvm). */
static void stream_drain(struct ckpt_stream_sender *s)
{
	uint64_t deadline = ckpt_now_us() + (uint64_t)s->cfg.ack_timeout_ms * 1000u;
	int unread = 1;

	pthread_mutex_lock(&s->lock);
	while (!s->pump_done && ckpt_now_us() < deadline) {
		/* under the lock: a read the pump made is already noted */
		if (ioctl(s->sp[1], FIONREAD, &unread) < 0)
			break;
		if (unread == 0 && s->drained)
			break;
		cond_wait_until(&s->cond, &s->lock, unread > 0 ? ckpt_now_us() + 1000u : deadline);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Fault point `point` of checkpoint N (test builds): a stop ends the run
 * as if the primary were killed here (run_fault_result). */
static int stream_fault(struct ckpt_stream_sender *s, const char *point, bool drain)
{
	if (s->cfg.fault.hit == NULL)
		return 0;
	if (drain)
		stream_drain(s);
	if (ckpt_fault(&s->cfg.fault, point, s->epoch, &s->hook_err) == 0)
		return 0;
	s->fault_stopped = true;
	pthread_mutex_lock(&s->lock);
	s->killed = true;       /* the pump sends nothing more */
	pthread_mutex_unlock(&s->lock);
	return CKPT_ESTOPPED;
}

/* Hook (test builds): libxc wrote CHECKPOINT and the driver the device
 * records; the fault point, then the checkpoint's CHECKPOINT_END (the
 * driver leaves it to a hook it has). */
static int hook_postcopy(void *arg, int fd)
{
	struct ckpt_stream_sender *s = arg;
	struct stream_buf b;
	int rc;

	if ((rc = stream_fault(s, CKPT_FAULT_SENT_CHECKPOINT, true)) < 0)
		return rc;
	stream_buf_init(&b);
	if ((rc = stream_put_checkpoint_end(&b)) == 0 && (rc = stream_buf_flush(&b, fd)) < 0)
		remus_err_sys(&s->hook_err, -rc, "writing CHECKPOINT_END of checkpoint %" PRIu64,
		              s->epoch);
	stream_buf_free(&b);
	return rc;
}

/* Hook: the guest is suspended, checkpoint N begins: close its output epoch. */
static int hook_suspended(void *arg)
{
	struct ckpt_stream_sender *s = arg;
	int rc;

	s->t_suspended_us = ckpt_now_us();
	s->epoch++;
	if (s->cfg.nb != NULL && (rc = netbuf_epoch_close(s->cfg.nb, s->epoch)) < 0)
		return remus_err_set(&s->hook_err, rc, "netbuf: closing epoch %" PRIu64 " failed",
		                     s->epoch);
	if ((rc = stream_fault(s, CKPT_FAULT_PAUSED, false)) < 0 || (rc = stream_disk_mark(s)) < 0 ||
	    (rc = stream_disk_flush(s)) < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	s->stats.epoch = s->epoch;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Hook: the guest runs again; the pause is from the suspend request (the
 * end of the previous wait) to now. */
static void hook_resumed(void *arg)
{
	struct ckpt_stream_sender *s = arg;
	uint64_t pause = ckpt_now_us() - (s->epoch > 1 ? s->t_epoch_us : s->t_suspended_us);

	pthread_mutex_lock(&s->lock);
	ckpt_stats_add_pause(&s->stats, pause);
	pthread_mutex_unlock(&s->lock);
}

/* Hook: checkpoint N is written.  Wait for ACK(N), release its output,
 * then for the next tick.  >0 go on, 0 stop, <0 error. */
static int hook_wait(void *arg)
{
	struct ckpt_stream_sender *s = arg;
	uint64_t n = s->epoch, deadline;
	int rc;

	if ((rc = stream_fault(s, CKPT_FAULT_SENT, true)) < 0)
		return rc;
	deadline = ckpt_now_us() + (uint64_t)s->cfg.ack_timeout_ms * 1000u;
	pthread_mutex_lock(&s->lock);
	/* a hand-over needs every checkpoint acknowledged: a stop does not cut the wait */
	while (s->acked < n && !s->peer_lost && !s->pump_done &&
	       (!s->stop_requested || s->handover) && ckpt_now_us() < deadline)
		cond_wait_until(&s->cond, &s->lock, deadline);
	if (s->acked < n && s->stop_requested && !s->handover && !s->peer_lost) {
		s->stopped = true;      /* unprotect: do not wait for this one */
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->acked < n) {
		if (s->peer_lost)
			remus_err_set(&s->hook_err, CKPT_EPEER, "%s", s->peer_err.msg);
		else
			remus_err_set(&s->hook_err, CKPT_EPEER, "no ACK for checkpoint %" PRIu64
			              " within %" PRIu32 " ms", n, s->cfg.ack_timeout_ms);
		pthread_mutex_unlock(&s->lock);
		/* no final ACK: the hand-over is cancelled; close the window while
		 * the guest is still suspended (the driver resumes it next) */
		if (s->final)
			stream_disk_window(s, false, &(struct remus_err){ 0 });
		return CKPT_EPEER;
	}
	s->stats.acked = n;
	s->stats.checkpoints++;
	s->stats.last_ckpt_ms = rnet_now_ms();
	pthread_mutex_unlock(&s->lock);
	if (s->final) {
		/* the backup holds the final checkpoint: it may run the guest from
		 * here on, so the output of the epoch before it may leave */
		s->handed = true;
		if (s->cfg.nb != NULL)
			netbuf_release(s->cfg.nb, n);
		/* a stop here still says "handed over": the driver must never
		 * resume the guest now (its END records are not sent) */
		stream_fault(s, CKPT_FAULT_FINAL_ACKED, false);
		return HV_STREAM_HANDED_OVER;
	}
	if (s->cfg.nb != NULL && (rc = netbuf_release(s->cfg.nb, n)) < 0)
		return remus_err_set(&s->hook_err, rc, "netbuf: releasing epoch %" PRIu64 " failed", n);
	if ((rc = stream_disk_acked(s, n)) < 0)
		return rc;
	if (s->max_epochs != 0 && n >= s->max_epochs) {
		s->reached_max = true;
		return 0;
	}
	/* the next epoch starts one interval after this one started */
	deadline = s->t_suspended_us +
	           (uint64_t)__atomic_load_n(&s->cfg.interval_ms, __ATOMIC_RELAXED) * 1000u;
	pthread_mutex_lock(&s->lock);
	while (!s->stop_requested && !s->peer_lost && ckpt_now_us() < deadline)
		cond_wait_until(&s->cond, &s->lock, deadline);
	if (s->stop_requested && s->handover && !s->peer_lost) {
		/* prepare done (all acknowledged): take the final checkpoint now,
		 * with the disk's dual-primary window open for the backup */
		pthread_mutex_unlock(&s->lock);
		if ((rc = stream_disk_window(s, true, &s->hook_err)) < 0)
			return rc;
		s->final = true;
		return 1;
	}
	if (s->stop_requested)
		s->stopped = true;
	rc = s->stop_requested ? 0 : s->peer_lost ? CKPT_EPEER : 1;
	if (rc == CKPT_EPEER)
		remus_err_set(&s->hook_err, CKPT_EPEER, "%s", s->peer_err.msg);
	pthread_mutex_unlock(&s->lock);
	s->t_epoch_us = ckpt_now_us();
	return rc;
}

/* Hook: the checkpoint just taken is the final one, leave the guest suspended. */
static bool hook_final(void *arg)
{
	const struct ckpt_stream_sender *s = arg;

	return s->final;
}

/* Blocking write of all of buf (the pump drains the other end). */
static int stream_write_all(int fd, const void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	return 0;
}

/* Map the driver's result and the link's state to the engine's codes. */
static int run_result(struct ckpt_stream_sender *s, int rc, struct remus_err *err)
{
	if (s->peer_lost || s->hook_err.code == CKPT_EPEER) {
		if (s->cfg.nb != NULL && !s->cfg.hold_on_loss)
			netbuf_release_all(s->cfg.nb);  /* unprotected: let output flow */
		return remus_err_set(err, CKPT_EPEER, "backup lost after checkpoint %" PRIu64 ": %.400s",
		                     s->stats.acked, s->peer_lost ? s->peer_err.msg : s->hook_err.msg);
	}
	if (rc == HV_ECRASHED)
		return remus_err_set(err, CKPT_EGUEST, "%.480s", err->msg);
	if (rc < 0 && s->hook_err.code != 0)   /* the driver only saw our return code */
		return remus_err_set(err, s->hook_err.code, "%.480s", s->hook_err.msg);
	if (rc < 0)
		return rc;
	if (s->stopped) {
		if (s->cfg.nb != NULL)
			netbuf_release_all(s->cfg.nb);  /* the guest runs on, unprotected */
		return remus_err_set(err, CKPT_ESTOPPED, "stopped on request after checkpoint %" PRIu64,
		                     s->stats.acked);
	}
	return 0;
}

/* In doubt: the disk stays as it is (dual-primary window open if one was
 * opened); err says what the operator must do with it. */
static int handover_in_doubt(struct ckpt_stream_sender *s, struct remus_err *err)
{
	int rc = handover_in_doubt_error(s->epoch, err);

	if (s->window)
		remus_err_wrap(err, "diskrep %s left dual-primary: demote the side that does not run "
		               "the guest, then close the window on both (allow-two-primaries=no)",
		               s->cfg.dr_ops->name);
	return rc;
}

/* The driver's loop ended during a hand-over (a final checkpoint was
 * started).  Before its ACK: cancel (the driver resumed the guest on its
 * way out; resumed here otherwise).  After it: the backup may run the guest,
 * which stays suspended here; the backup's answer decides (handover.c). */
static int handover_result(struct ckpt_stream_sender *s, int rc, struct remus_err *err)
{
	bool got_bye, lost;
	uint64_t bye;
	int a;

	if (!s->handed) {
		if ((rc = run_result(s, rc, err)) == CKPT_EGUEST)
			return rc;
		return cancel_closing_window(s, rc, "perform", err);
	}
	if (rc < 0)
		return handover_in_doubt(s, err);
	pthread_mutex_lock(&s->lock);
	got_bye = s->got_bye;
	bye = s->peer_bye;
	lost = s->peer_lost;
	pthread_mutex_unlock(&s->lock);
	if (got_bye) {                  /* the backup answered before we asked */
		a = handover_answer(bye, err);
	} else if (lost) {
		remus_err_set(err, CKPT_EPEER, "%.400s", s->peer_err.msg);
		a = CKPT_EPEER;
	} else if ((a = rnet_conn_send_bye(s->cfg.conn, CKPT_BYE_HANDOVER, err)) >= 0) {
		a = handover_wait_confirm(s->cfg.conn, s->cfg.confirm_ms, err);
	}
	if (a == 1)     /* the backup demoted its side before refusing */
		return cancel_closing_window(s, CKPT_EPEER, "finish", err);
	return a < 0 ? handover_in_doubt(s, err) : 0;
}

/* Delta negotiated on the link: a fresh encoder for this run, its cache
 * sized from the guest as the pvm sender's (the backup learns the size
 * from the stream: it does not know the guest's pages). */
static int stream_delta_start(struct ckpt_stream_sender *s, struct remus_err *err)
{
	struct hv_info info = { 0 };

	stream_delta_free(&s->dtx);
	s->delta = rnet_compress_delta(rnet_conn_compress(s->cfg.conn));
	if (!s->delta)
		return 0;
	if (s->cfg.hv->info == NULL || s->cfg.hv->info(s->cfg.guest, &info) < 0)
		info.nr_pfns = 0;       /* the smallest cache; the backup follows */
	return stream_delta_init(&s->dtx, delta_slots(info.nr_pfns), err);
}

void ckpt_stream_sender_request_handover(struct ckpt_stream_sender *s)
{
	pthread_mutex_lock(&s->lock);
	s->handover = true;
	pthread_mutex_unlock(&s->lock);
}

int ckpt_stream_sender_run(struct ckpt_stream_sender *s, int stop_fd, uint64_t max_epochs,
                           struct remus_err *err)
{
	struct hv_stream_hooks hooks = {
		.arg = s, .suspended = hook_suspended, .resumed = hook_resumed,
		.wait_checkpoint = hook_wait, .final = hook_final,
		.postcopy = s->cfg.fault.hit != NULL ? hook_postcopy : NULL,
	};
	bool handover;
	int rc;

	if (s->cfg.disk_channel && (s->cfg.dr_ops == NULL || s->cfg.dr_ops->resync == NULL ||
	                            s->cfg.disk_fd < 0))
		return remus_err_set(err, CKPT_ECONFIG, "stream sender: a disk channel needs a diskrep "
		                     "backend with resync and its peer fd");
	if (s->cfg.disk_channel && fcntl(s->cfg.disk_fd, F_SETFL,
	                                 fcntl(s->cfg.disk_fd, F_GETFL) | O_NONBLOCK) < 0)
		return remus_err_sys(err, errno, "stream sender: disk channel");
	if ((rc = wake_pair_open(s->sp, err)) < 0)
		return rc;
	disk_channel_init(&s->dl, s->cfg.disk_channel ? s->cfg.disk_fd : -1);
	s->stop_fd = stop_fd;
	s->max_epochs = max_epochs;
	s->epoch = 0;
	s->acked = 0;
	s->eof = s->peer_lost = s->stop_requested = s->pump_done = false;
	s->reached_max = s->stopped = s->final = s->handed = s->got_bye = s->window = false;
	s->fault_stopped = s->drained = s->killed = false;
	s->chunk_len = 0;
	memset(&s->hook_err, 0, sizeof(s->hook_err));
	if ((rc = stream_delta_start(s, err)) < 0)
		return rc;
	s->stats.started_ms = rnet_now_ms();
	if ((rc = pthread_create(&s->pump, NULL, stream_send_pump_main, s)) != 0) {
		wake_pair_close(s->sp);
		disk_channel_free(&s->dl);
		return remus_err_sys(err, rc, "stream sender: pump thread");
	}
	rc = stream_disk_resync(s, err);
	s->t_epoch_us = ckpt_now_us();
	if (rc == 0 && s->cfg.preamble_len > 0 &&
	    (rc = stream_write_all(s->sp[0], s->cfg.preamble, s->cfg.preamble_len)) < 0)
		remus_err_sys(err, -rc, "stream sender: writing the preamble");
	else if (rc == 0)
		rc = s->cfg.hv->save_stream(s->cfg.guest, s->sp[0], &hooks, err);
	/* the pump sends what is left, then sees the end of the stream */
	shutdown(s->sp[0], SHUT_WR);
	pthread_join(s->pump, NULL);
	wake_pair_close(s->sp);
	disk_channel_free(&s->dl);
	if (s->fault_stopped)   /* as if killed: nothing released, nothing resumed here */
		return remus_err_set(err, CKPT_ESTOPPED, "%.480s", s->hook_err.msg);
	if (s->final)
		return handover_result(s, rc, err);
	pthread_mutex_lock(&s->lock);
	handover = s->handover && s->stop_requested;
	pthread_mutex_unlock(&s->lock);
	rc = run_result(s, rc, err);
	if (handover && rc < 0 && rc != CKPT_EGUEST)   /* before the final checkpoint */
		return cancel_closing_window(s, rc, "prepare", err);
	return rc;
}
