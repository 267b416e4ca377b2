/*
 * Backup side of a driver-owned checkpoint loop (stream_link.h): the pump
 * thread writes RNET_MSG_STREAM bodies into a socketpair the driver reads,
 * sends the ACKs the driver's `checkpoint` hook queues, and ends the
 * driver's input when the primary is lost, ends, or a stop is requested —
 * after the bytes already received, so a checkpoint that arrived whole is
 * still applied.  The driver (libxc) discards a partial one and builds the
 * replica from the last complete checkpoint.
 * This file: the engine thread's side (the driver's hooks, commit and
 * take-over); the pump is stream_receiver_pump.c.
 */
#include "ckpt/fault_impl.h"
#include "ckpt/stream_link.h"
#include "ckpt/stream_link_impl.h"
#include "ckpt/stream_receiver_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "stream/gate.h"
#include "stream/stream.h"
#include "util/bytes.h"

int ckpt_stream_receiver_new(const struct ckpt_stream_receiver_cfg *cfg,
                             struct ckpt_stream_receiver **out, struct remus_err *err)
{
	struct ckpt_stream_receiver *r;

	if (cfg->hv == NULL || cfg->hv->restore_stream == NULL || cfg->guest_cfg == NULL ||
	    cfg->conn == NULL)
		return remus_err_set(err, CKPT_ECONFIG,
		                     "stream receiver: needs a driver with restore_stream, a guest config and a link");
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return remus_err_sys(err, ENOMEM, "stream receiver");
	r->cfg = *cfg;
	r->gcfg = *cfg->guest_cfg;
	r->cfg.guest_cfg = &r->gcfg;
	r->sp[0] = r->sp[1] = r->wake[0] = r->wake[1] = -1;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->disk_lock, NULL);
	disk_channel_init(&r->dl, -1);
	cond_init_monotonic(&r->cond);
	*out = r;
	return 0;
}

void ckpt_stream_receiver_free(struct ckpt_stream_receiver *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->disk_lock);
	pthread_cond_destroy(&r->cond);
	disk_channel_free(&r->dl);
	free(r->json);
	free(r->pend);
	stream_gate_free(&r->gate);
	delta_rx_free(&r->dx);
	free(r);
}

void ckpt_stream_receiver_stats(struct ckpt_stream_receiver *r, struct ckpt_stats *out)
{
	pthread_mutex_lock(&r->lock);
	*out = r->stats;
	pthread_mutex_unlock(&r->lock);
}

uint64_t ckpt_stream_receiver_end_us(struct ckpt_stream_receiver *r)
{
	uint64_t t;

	pthread_mutex_lock(&r->lock);
	t = r->end_us;
	pthread_mutex_unlock(&r->lock);
	return t;
}

const char *ckpt_stream_receiver_config(const struct ckpt_stream_receiver *r, size_t *len)
{
	*len = r->json_len;
	return r->json;
}

/* The caller takes the disk back (its replica's finish hook reopens it as
 * the running guest's); the receiver touches it no more. */
void ckpt_stream_receiver_release_disk(struct ckpt_stream_receiver *r)
{
	pthread_mutex_lock(&r->disk_lock);
	r->cfg.dr_ops = NULL;
	r->cfg.dr = NULL;
	pthread_mutex_unlock(&r->disk_lock);
}

/* Checkpoint N is complete: its disk epoch too, before ACK(N). */
static int stream_disk_commit(struct ckpt_stream_receiver *r, uint64_t n)
{
	struct remus_err e = { 0 };
	int rc;

	if (r->cfg.dr_ops == NULL)
		return 0;
	pthread_mutex_lock(&r->disk_lock);
	if (r->cfg.disk_channel && r->disk_ready < n)
		rc = remus_err_set(&e, CKPT_ESTREAM, "checkpoint %" PRIu64 " is complete, but the "
		                   "disk is staged only up to epoch %" PRIu64, n, r->disk_ready);
	else
		rc = r->cfg.dr_ops->commit(r->cfg.dr, n, &e);
	pthread_mutex_unlock(&r->disk_lock);
	if (rc < 0)
		return remus_err_set(&r->disk_err, rc, "diskrep %s: committing epoch %" PRIu64
		                     " failed: %.400s", r->cfg.dr_ops->name, n, e.msg);
	return 0;
}

/* A hand-over's replica: the disk's dual-primary window on this side too
 * (the primary opened its side before the final checkpoint; its suspended
 * copy still holds its device).  Failover needs none: the primary is gone. */
static int disk_window(struct ckpt_stream_receiver *r, bool open, struct remus_err *e)
{
	if (r->cfg.dr_ops == NULL || r->cfg.dr_ops->dual_primary == NULL)
		return 0;
	return r->cfg.dr_ops->dual_primary(r->cfg.dr, open, e);
}

/* The replica will run: its disk becomes the writable side (drbd:
 * promote, in a hand-over inside the dual-primary window) before any
 * device is attached, then the caller attaches them.  Either failing
 * destroys the paused replica and gives the disk back (demote, window
 * closed) so the primary may resume its copy; err says which. */
static int stream_take_over(struct ckpt_stream_receiver *r, struct hv_guest **g, bool handover,
                            struct remus_err *err)
{
	const struct diskrep_ops *dr = r->cfg.dr_ops;
	struct remus_err e = { 0 }, e2 = { 0 };
	const char *what = NULL;
	bool promoted = false;
	int rc = 0;

	if (dr != NULL) {
		if ((rc = dr->discard_uncommitted(r->cfg.dr, &e)) < 0)
			what = "discarding the uncommitted epoch";
		else if (handover && (rc = disk_window(r, true, &e)) < 0)
			what = "opening the dual-primary window";
		else if ((rc = dr->promote(r->cfg.dr, &e)) < 0)
			what = "promoting the backup's disk";
		promoted = rc == 0;
		if (rc < 0)
			rc = remus_err_set(err, rc, "diskrep %s: %s failed after checkpoint %" PRIu64
			                   ": %.300s; the replica was not started", dr->name,
			                   what, r->stats.checkpoints, e.msg);
	}
	if (rc == 0 && r->cfg.finish != NULL && (rc = r->cfg.finish(r->cfg.arg, *g, &e)) < 0)
		rc = remus_err_set(err, rc, "%.400s; the replica was not started", e.msg);
	if (rc < 0) {
		r->cfg.hv->destroy(*g);
		*g = NULL;
		if (promoted && dr->demote != NULL && dr->demote(r->cfg.dr, &e2) < 0)
			remus_err_wrap(err, "and demoting failed (%.200s)", e2.msg);
		if (dr != NULL && handover && disk_window(r, false, &e2) < 0)
			remus_err_wrap(err, "and closing the dual-primary window failed (%.200s)", e2.msg);
	}
	return rc;
}

/* Fault point "applying" of checkpoint N (test builds; engine thread or
 * pump): true when the hook says stop, the stream then ends stopped. */
bool stream_recv_fault(struct ckpt_stream_receiver *r, uint64_t n)
{
	struct remus_err e = { 0 };

	if (ckpt_fault(&r->cfg.fault, CKPT_FAULT_APPLYING, n, &e) == 0)
		return false;
	pthread_mutex_lock(&r->lock);
	/* stopped here, as if killed: that is the end even if the pump saw
	 * the primary go first (its bytes were all in) */
	if (r->end == END_NONE || r->end == END_LOST) {
		r->end = END_STOPPED;
		r->end_us = ckpt_now_us();
		r->why = e;
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return true;
}

/* Hook: the driver staged checkpoint N completely; acknowledge it. */
static int hook_checkpoint(void *arg, int fd)
{
	struct ckpt_stream_receiver *r = arg;

	if (fd >= 0)
		return 0;   /* this engine part does not read libxl records itself */
	if (stream_recv_fault(r, r->stats.checkpoints + 1))
		return 2;   /* stop: fail over without committing or acknowledging N */
	if (stream_disk_commit(r, r->stats.checkpoints + 1) < 0)
		return 0;   /* not acknowledged: the driver fails, no replica */
	pthread_mutex_lock(&r->lock);
	r->to_ack = ++r->stats.checkpoints;
	r->stats.epoch = r->stats.acked = r->to_ack;
	r->stats.last_ckpt_ms = rnet_now_ms();
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake[1], "a", 1) < 0 && errno != EAGAIN)
		return 0;
	return 1;
}

/* Hook: the driver read END right after a complete checkpoint: the
 * primary ended the stream on purpose, at its final checkpoint. */
static void hook_stream_end(void *arg)
{
	struct ckpt_stream_receiver *r = arg;

	pthread_mutex_lock(&r->lock);
	r->driver_end = true;
	pthread_mutex_unlock(&r->lock);
}

/* Classify why the stream stopped, for a replica the driver built.  An END
 * the driver read is a hand-over even when the pump has not seen the
 * BYE(HANDOVER) behind it (the driver may finish first). */
static int run_result(struct ckpt_stream_receiver *r, struct hv_guest **g, struct remus_err *err)
{
	if (r->driver_end)
		return CKPT_HANDOVER;
	switch (r->end) {
	case END_BYE:
		r->cfg.hv->destroy(*g);     /* protection ended: the primary runs on */
		*g = NULL;
		return 0;
	case END_HANDOVER:
		return CKPT_HANDOVER;
	case END_STOPPED:       /* on request, or at a fault point (test builds) */
		return remus_err_set(err, CKPT_ESTOPPED, "%.300s after checkpoint %" PRIu64,
		                     r->why.msg[0] ? r->why.msg : "stopped on request",
		                     r->stats.checkpoints);
	case END_LOST:
		return remus_err_set(err, CKPT_EPEER, "primary lost after checkpoint %" PRIu64 ": %.400s",
		                     r->stats.checkpoints, r->why.msg);
	default:
		return remus_err_set(err, CKPT_EPEER, "the stream ended after checkpoint %" PRIu64,
		                     r->stats.checkpoints);
	}
}

/* Whether the driver reads whole checkpoints itself for this guest. */
static bool stream_whole_ckpts(const struct ckpt_stream_receiver *r)
{
	return r->cfg.hv->restore_whole_checkpoints != NULL &&
	    r->cfg.hv->restore_whole_checkpoints(&r->gcfg);
}

/* Engine thread, after xl's header: tell the driver the configuration and
 * the pump whether the bytes go through the gate. */
static int stream_decide_mode(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	bool fwd;

	r->gcfg.stream_config = r->json;
	r->gcfg.stream_config_len = r->json_len;
	fwd = stream_whole_ckpts(r);
	if (fwd && r->cfg.dr_ops != NULL)
		return remus_err_set(err, CKPT_ECONFIG, "stream receiver: diskrep %s cannot serve a "
		                     "replica the driver restores whole (libxl attaches the disk and "
		                     "starts QEMU on it inside its restore, as soon as the stream ends, "
		                     "before the engine could promote the backup's disk)",
		                     r->cfg.dr_ops->name);
	pthread_mutex_lock(&r->lock);
	r->forward = fwd;
	r->mode_known = true;
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake[1], "m", 1) < 0) {
		/* full pipe: the pump wakes up anyway */
	}
	return 0;
}

int ckpt_stream_receiver_run(struct ckpt_stream_receiver *r, int stop_fd,
                             struct hv_guest **out, struct remus_err *err)
{
	struct hv_stream_hooks hooks = { .arg = r, .checkpoint = hook_checkpoint,
	                                 .stream_end = hook_stream_end };
	struct hv_guest *g = NULL;
	int rc;

	*out = NULL;
	if (!r->cfg.xl_header && stream_whole_ckpts(r))
		return remus_err_set(err, CKPT_ECONFIG, "stream receiver: the driver reads whole "
		                     "checkpoints for this guest, which needs xl's header");
	if (r->cfg.disk_channel && (r->cfg.dr_ops == NULL || r->cfg.dr_ops->deliver == NULL ||
	                            r->cfg.disk_fd < 0))
		return remus_err_set(err, CKPT_ECONFIG, "stream receiver: a disk channel needs a "
		                     "diskrep backend that takes frames and its peer fd");
	if (r->cfg.disk_channel && fcntl(r->cfg.disk_fd, F_SETFL,
	                                 fcntl(r->cfg.disk_fd, F_GETFL) | O_NONBLOCK) < 0)
		return remus_err_sys(err, errno, "stream receiver: disk channel");
	disk_channel_free(&r->dl);
	disk_channel_init(&r->dl, r->cfg.disk_channel ? r->cfg.disk_fd : -1);
	r->disk_ready = 0;
	if ((rc = wake_pair_open(r->sp, err)) < 0)
		return rc;
	if (pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		wake_pair_close(r->sp);
		return remus_err_sys(err, errno, "stream receiver: pipe");
	}
	r->stop_fd = stop_fd;
	r->end = END_NONE;
	r->mode_seen = r->gating = false;
	r->mode_known = !r->cfg.xl_header && !stream_whole_ckpts(r);
	r->forward = false;
	r->quit = r->closing = r->driver_end = false;
	memset(&r->disk_err, 0, sizeof(r->disk_err));
	r->stats.started_ms = rnet_now_ms();
	/* delta: a fresh mirror, sized by the primary's first item (CACHE) */
	delta_rx_free(&r->dx);
	r->delta = rnet_compress_delta(rnet_conn_compress(r->cfg.conn));
	if (r->delta)
		delta_rx_init_announced(&r->dx, STREAM_PFN_MASK + 1);
	if ((rc = pthread_create(&r->pump, NULL, stream_recv_pump_main, r)) != 0) {
		wake_pair_close(r->sp);
		wake_pair_close(r->wake);
		return remus_err_sys(err, rc, "stream receiver: pump thread");
	}
	rc = 0;
	if (r->cfg.xl_header) {   /* the guest's configuration first */
		pthread_mutex_lock(&r->lock);
		while (!r->hdr_done && r->end == END_NONE)
			cond_wait_until(&r->cond, &r->lock, ckpt_now_us() + 1000000u);
		if (!r->hdr_done)
			rc = remus_err_set(err, CKPT_ENOREPLICA, "the stream stopped before xl's header "
			                   "(%.400s)", r->end == END_NONE ? "?" : r->why.msg);
		pthread_mutex_unlock(&r->lock);
		if (rc == 0 && r->cfg.prepare != NULL)
			rc = r->cfg.prepare(r->cfg.arg, r->json, r->json_len, &r->gcfg, r->name_buf,
			                    sizeof(r->name_buf), err);
		if (rc == 0)
			rc = stream_decide_mode(r, err);
	}
	if (rc == 0)
		rc = r->cfg.hv->restore_stream(&r->gcfg, r->sp[0], &hooks, &g, err);
	/* the driver is done reading: stop the pump if the link is still up */
	shutdown(r->sp[0], SHUT_RDWR);
	pthread_mutex_lock(&r->lock);
	r->quit = true;
	pthread_mutex_unlock(&r->lock);
	if (write(r->wake[1], "q", 1) < 0) {
		/* full pipe: the pump wakes up anyway */
	}
	pthread_join(r->pump, NULL);
	wake_pair_close(r->sp);
	wake_pair_close(r->wake);
	if (rc < 0 && r->disk_err.code != 0)   /* the driver only saw the hook fail */
		return remus_err_set(err, r->disk_err.code, "%.480s", r->disk_err.msg);
	if (rc < 0) {
		if (r->stats.checkpoints == 0 && r->end != END_NONE)
			return remus_err_set(err, CKPT_ENOREPLICA, "no complete checkpoint before the "
			                     "stream stopped (%.200s): %.260s", r->why.msg, err->msg);
		return rc;
	}
	if ((rc = run_result(r, &g, err)) < 0 && g == NULL)
		return rc;
	if (g != NULL) {
		struct remus_err why = *err;
		int trc = stream_take_over(r, &g, rc == CKPT_HANDOVER, err);

		if (trc < 0)
			return trc;
		*err = why;     /* why the stream stopped, for the caller */
	}
	*out = g;
	return rc;
}
