/*
 * Backup side of a driver-owned checkpoint loop (stream_link.h): the pump
 * thread writes RNET_MSG_STREAM bodies into a socketpair the driver reads,
 * sends the ACKs the driver's `checkpoint` hook queues, and ends the
 * driver's input when the primary is lost, ends, or a stop is requested —
 * after the bytes already received, so a checkpoint that arrived whole is
 * still applied.  The driver (libxc) discards a partial one and builds the
 * replica from the last complete checkpoint.
 */
#include "ckpt/stream_link.h"
#include "ckpt/stream_link_impl.h"

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

/* Received but not yet taken by the driver; above this the link is not
 * read until the driver catches up (heartbeats still go out). */
#define PENDING_MAX (16u << 20)
/* The largest guest configuration accepted from xl's header. */
#define XL_CONFIG_MAX (1u << 20)

enum recv_end { END_NONE, END_LOST, END_STOPPED, END_BYE, END_HANDOVER, END_DRIVER };

struct ckpt_stream_receiver {
	struct ckpt_stream_receiver_cfg cfg;
	struct hv_guest_config gcfg;
	int sp[2];                  /* [0] the driver reads, [1] the pump writes */
	int wake[2];                /* engine -> pump: an ACK to send, or quit */
	int stop_fd;
	pthread_t pump;
	pthread_mutex_t lock;
	pthread_cond_t cond;        /* hdr_done or end */
	char name_buf[80];          /* the replica's name, if prepare set one */
	/* under lock */
	bool hdr_done;
	char *json;
	size_t json_len;
	uint64_t to_ack;
	bool quit;
	bool driver_end;            /* the driver read the stream's END: a hand-over */
	enum recv_end end;
	uint64_t end_us;            /* when the pump noticed the end */
	struct remus_err why;
	struct ckpt_stats stats;
	bool mode_known;            /* forward (or not) decided: bytes may go to the driver */
	bool forward;               /* whole checkpoints only (restore_whole_checkpoints) */
	/* engine thread only */
	struct remus_err disk_err;  /* why a commit failed */
	/* pump only */
	uint8_t *pend;
	size_t pend_len, pend_off, pend_cap;
	uint64_t acked_sent;
	bool closing;
	bool mode_seen;             /* mode_known, as the pump last read it */
	bool gating;                /* bytes go through the gate, not straight to pend */
	struct stream_gate gate;
};

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
	ckl_cond_init(&r->cond);
	*out = r;
	return 0;
}

void ckpt_stream_receiver_free(struct ckpt_stream_receiver *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	pthread_cond_destroy(&r->cond);
	free(r->json);
	free(r->pend);
	stream_gate_free(&r->gate);
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

/* Whether pending bytes may go to the driver (xl's header is ours, and
 * the engine decided whether they go through the gate). */
static bool deliverable(const struct ckpt_stream_receiver *r)
{
	return (!r->cfg.xl_header || r->hdr_done) && r->mode_seen && r->pend_off < r->pend_len;
}

/* Pump: the stream stops here (first reason wins); deliver what is
 * pending, then end the driver's input. */
static void pump_end(struct ckpt_stream_receiver *r, enum recv_end why, const struct remus_err *e)
{
	pthread_mutex_lock(&r->lock);
	if (r->end == END_NONE) {
		r->end = why;
		r->end_us = ckpt_now_us();
		if (e != NULL)
			r->why = *e;
	}
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	r->closing = true;
}

/* Append to the pending bytes.  The buffer grows only when the live bytes
 * do not fit; otherwise they move to the front.  (A fresh buffer at every
 * wrap, as before, made the pump first-touch up to 128 MiB per wrap: under
 * emulation that stalled it, and its heartbeats, for seconds.) */
static int pend_append(struct ckpt_stream_receiver *r, const uint8_t *p, size_t len,
                       struct remus_err *err)
{
	size_t live = r->pend_len - r->pend_off;

	if (len > r->pend_cap - r->pend_len && live + len <= r->pend_cap) {
		memmove(r->pend, r->pend + r->pend_off, live);
		r->pend_off = 0;
		r->pend_len = live;
	} else if (len > r->pend_cap - r->pend_len) {
		size_t cap = r->pend_cap ? r->pend_cap : 1u << 20;
		uint8_t *n;

		while (cap < live + len)
			cap *= 2;
		if ((n = malloc(cap)) == NULL)
			return remus_err_sys(err, ENOMEM, "stream receiver: %zu pending bytes", live + len);
		if (live)
			memcpy(n, r->pend + r->pend_off, live);
		free(r->pend);
		r->pend = n;
		r->pend_cap = cap;
		r->pend_len = live;
		r->pend_off = 0;
	}
	memcpy(r->pend + r->pend_len, p, len);
	r->pend_len += len;
	return 0;
}

/* Pump: take xl's migration header off the front of the stream once it is
 * all here (hostile input: bounded, then checked by the stream reader). */
static int take_xl_header(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	struct stream_reader_cfg rc = { .start = STREAM_START_AUTO };
	const uint8_t *p = r->pend + r->pend_off;
	size_t have = r->pend_len - r->pend_off, need, off = 0, used;
	struct stream_reader rd;
	struct stream_rec rec;
	uint32_t opt;
	int rv = 0;

	if (have < STREAM_XL_HDR_SIZE)
		return 0;
	if (memcmp(p, STREAM_XL_MAGIC, STREAM_XL_MAGIC_LEN) != 0)
		return remus_err_set(err, CKPT_ESTREAM, "the stream does not start with xl's migration header");
	if ((opt = get_le32(p + 44)) > XL_CONFIG_MAX + 4)
		return remus_err_set(err, CKPT_ESTREAM, "xl's migration header: %" PRIu32
		                     " bytes of optional data (at most %u)", opt, XL_CONFIG_MAX + 4);
	need = STREAM_XL_HDR_SIZE + opt;
	if (have < need)
		return 0;
	stream_reader_init(&rd, &rc);
	while (off < need && rv == 0) {
		rv = stream_reader_feed(&rd, p + off, need - off, &used, &rec);
		off += used;
	}
	if (rv < 0) {
		rv = remus_err_set(err, CKPT_ESTREAM, "xl's migration header: %.400s", rd.err.msg);
	} else if (rv == 0 || rec.item != STREAM_ITEM_XL_HEADER || off != need) {
		rv = remus_err_set(err, CKPT_ESTREAM, "xl's migration header is incomplete");
	} else if (!(rec.u.xl.mandatory & STREAM_XL_MFLAG_JSON) || rec.u.xl.config_len == 0 ||
	           rec.u.xl.config[rec.u.xl.config_len - 1] != '\0') {
		rv = remus_err_set(err, CKPT_ESTREAM, "xl's migration header carries no JSON configuration");
	} else {
		char *json = malloc(rec.u.xl.config_len);

		if (json == NULL) {
			rv = remus_err_sys(err, ENOMEM, "stream receiver: the guest configuration");
		} else {
			memcpy(json, rec.u.xl.config, rec.u.xl.config_len);
			pthread_mutex_lock(&r->lock);
			r->json = json;
			r->json_len = rec.u.xl.config_len;
			r->hdr_done = true;
			pthread_cond_broadcast(&r->cond);
			pthread_mutex_unlock(&r->lock);
			r->pend_off += need;
			rv = 0;
		}
	}
	stream_reader_free(&rd);
	return rv;
}

/* The most bytes one checkpoint may hold in the gate: the first carries
 * the whole RAM (4 KiB pages plus an 8-byte pfn word each), then the
 * device model's state and the records around them. */
static uint64_t gate_bound(const struct hv_guest_config *gcfg)
{
	uint64_t mem = gcfg->mem_bytes ? gcfg->mem_bytes : 1ull << 30;

	return mem + mem / 512 + (64u << 20);
}

/* Pump, whole-checkpoint mode: bytes from the primary go through the gate;
 * each complete checkpoint is appended for the driver (libxl) and then
 * acknowledged: the backup holds all of it.  A torn one stays in the gate
 * and is dropped with it.  Bad data fails the stream, but only after the
 * checkpoints completed before it went to the driver, as they would have
 * had the primary's bytes been cut differently. */
static int gate_in(struct ckpt_stream_receiver *r, const uint8_t *p, size_t len,
                   struct remus_err *err)
{
	const uint8_t *rel;
	uint64_t done;
	size_t rl;
	int n, rc;

	n = stream_gate_feed(&r->gate, p, len);
	rel = stream_gate_released(&r->gate, &rl);
	if (rl > 0) {
		if ((rc = pend_append(r, rel, rl, err)) < 0)
			return rc;
		stream_gate_consume(&r->gate);
		done = r->gate.checkpoints;
		pthread_mutex_lock(&r->lock);
		if (done > r->acked_sent) {
			r->stats.checkpoints = r->stats.epoch = r->stats.acked = done;
			r->stats.last_ckpt_ms = rnet_now_ms();
			r->to_ack = done;
		}
		if (r->gate.ended)
			r->driver_end = true;   /* END forwarded: the primary handed over */
		pthread_mutex_unlock(&r->lock);
		if (done > r->acked_sent) {
			if ((rc = rnet_conn_send_ack(r->cfg.conn, done, err)) < 0)
				return rc;
			r->acked_sent = done;
		}
	}
	if (n < 0)
		return remus_err_set(err, CKPT_ESTREAM, "stream receiver: %.400s (after checkpoint %"
		                     PRIu64 ")", r->gate.err.msg, r->gate.checkpoints);
	return 0;
}

/* Pump: the engine decided how bytes go to the driver; in whole-checkpoint
 * mode, what arrived after xl's header goes through the gate first. */
static int pump_mode(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	bool known, fwd;
	size_t from, len;

	if (r->mode_seen)
		return 0;
	pthread_mutex_lock(&r->lock);
	known = r->mode_known;
	fwd = r->forward;
	pthread_mutex_unlock(&r->lock);
	if (!known)
		return 0;
	r->mode_seen = true;
	if (!fwd)
		return 0;
	r->gating = true;
	stream_gate_init(&r->gate, gate_bound(&r->gcfg));
	from = r->pend_off;
	len = r->pend_len - r->pend_off;
	r->pend_off = r->pend_len = 0;      /* the gate copies them first */
	return len ? gate_in(r, r->pend + from, len, err) : 0;
}

/* Pump: messages from the primary. */
static int pump_take_msgs(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	struct rnet_msg m;
	int rc = 0;

	while (!r->closing && (rc = rnet_conn_next(r->cfg.conn, &m, err)) == 1) {
		rc = 0;
		if (m.type == RNET_MSG_STREAM) {
			if ((rc = r->gating ? gate_in(r, m.body, m.len, err) :
			     pend_append(r, m.body, m.len, err)) < 0)
				return rc;
			pthread_mutex_lock(&r->lock);
			r->stats.bytes += m.len;
			pthread_mutex_unlock(&r->lock);
			if (r->cfg.xl_header && !r->hdr_done && (rc = take_xl_header(r, err)) < 0)
				return rc;
			if ((rc = pump_mode(r, err)) < 0)
				return rc;
			/* a long backlog must not starve our heartbeats and ACKs */
			if ((rc = rnet_conn_tick(r->cfg.conn, rnet_now_ms(), err)) < 0 ||
			    (rnet_conn_want_write(r->cfg.conn) &&
			     (rc = rnet_conn_flush(r->cfg.conn, err)) < 0))
				return rc;
			if (r->pend_len - r->pend_off >= PENDING_MAX)
				break;          /* the rest stays in rnet until the driver reads */
		} else if (m.type == RNET_MSG_BYE) {
			pump_end(r, m.u64 == CKPT_BYE_HANDOVER ? END_HANDOVER : END_BYE, NULL);
		} else {
			return remus_err_set(err, CKPT_ESTREAM, "primary sent unexpected message type %"
			                     PRIu32 " on a driver-owned stream", m.type);
		}
	}
	return r->closing ? 0 : rc;
}

/* Pump: hand pending bytes to the driver; -EPIPE once it stopped reading. */
static int pump_deliver(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	while (deliverable(r)) {
		ssize_t n = write(r->sp[1], r->pend + r->pend_off, r->pend_len - r->pend_off);

		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return 0;
		if (n < 0)
			return remus_err_sys(err, errno, "stream receiver: the driver stopped reading");
		r->pend_off += (size_t)n;
	}
	return 0;
}

/* Pump: the ACK the engine thread queued, if newer than the last sent. */
static int pump_ack(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	uint64_t n;
	char buf[64];
	int rc;

	while (read(r->wake[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&r->lock);
	n = r->to_ack;
	if (r->quit && !r->closing)
		r->closing = true;
	pthread_mutex_unlock(&r->lock);
	if (n <= r->acked_sent || r->closing)
		return 0;
	if ((rc = rnet_conn_send_ack(r->cfg.conn, n, err)) < 0)
		return rc;
	r->acked_sent = n;
	return 0;
}

/* Pump, closing: xl's header is here but the engine has not decided yet
 * whether the bytes behind it go through the gate; wait for it unless the
 * engine already gave up (quit). */
static bool pump_waits_mode(struct ckpt_stream_receiver *r)
{
	bool quit;

	if (r->mode_seen || (r->cfg.xl_header && !r->hdr_done) || r->pend_off == r->pend_len)
		return false;
	pthread_mutex_lock(&r->lock);
	quit = r->quit;
	pthread_mutex_unlock(&r->lock);
	return !quit;
}

static void *pump_main(void *arg)
{
	struct ckpt_stream_receiver *r = arg;
	struct rnet_conn *c = r->cfg.conn;
	struct remus_err err = { 0 };
	int rc = 0;

	/* closing, bytes still go to the driver, and to one that has not
	 * started yet once the engine decided how (pump_mode) */
	while (!r->closing || deliverable(r) || pump_waits_mode(r)) {
		uint64_t now = rnet_now_ms();
		bool room = r->pend_len - r->pend_off < PENDING_MAX;
		struct pollfd p[4] = {
			{ .fd = r->closing ? -1 : rnet_conn_fd(c), .events = room ? POLLIN : 0 },
			{ .fd = deliverable(r) ? r->sp[1] : -1, .events = POLLOUT },
			{ .fd = r->wake[0], .events = POLLIN },
			{ .fd = r->closing ? -1 : r->stop_fd, .events = POLLIN },
		};

		if (!r->closing && rnet_conn_want_write(c))
			p[0].events |= POLLOUT;
		/* not reading while the driver catches up (libxc building the
		 * first checkpoint's memory): the primary's heartbeats wait
		 * unread behind its stream, which is not silence */
		rnet_conn_rx_hold(c, !room, now);
		if (poll(p, 4, r->closing ? 1000 : (int)rnet_conn_next_tick_ms(c, now)) < 0 &&
		    errno != EINTR) {
			remus_err_sys(&err, errno, "stream receiver: poll");
			pump_end(r, END_LOST, &err);
			continue;
		}
		if (p[1].revents & (POLLERR | POLLHUP)) {
			remus_err_set(&err, -EPIPE, "stream receiver: the driver stopped reading");
			pump_end(r, END_DRIVER, &err);
			break;
		}
		if ((rc = pump_deliver(r, &err)) < 0) {
			pump_end(r, END_DRIVER, &err);
			break;
		}
		if (p[3].revents & POLLIN) {
			remus_err_set(&err, CKPT_ESTOPPED, "stopped on request");
			pump_end(r, END_STOPPED, &err);
		}
		if ((p[2].revents & POLLIN) && (rc = pump_ack(r, &err)) < 0)
			pump_end(r, END_LOST, &err);
		if ((rc = pump_mode(r, &err)) < 0)
			pump_end(r, END_LOST, &err);
		if (r->closing)
			continue;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			int frc = rnet_conn_feed(c, rnet_now_ms(), &err);

			/* complete frames read before an EOF still count */
			if ((rc = pump_take_msgs(r, &err)) < 0 || (!r->closing && (rc = frc) < 0)) {
				pump_end(r, END_LOST, &err);
				continue;
			}
		} else if (room && (rc = pump_take_msgs(r, &err)) < 0) {
			/* frames left in rnet's buffer when the pending bytes were full */
			pump_end(r, END_LOST, &err);
			continue;
		}
		if ((rnet_conn_want_write(c) && (rc = rnet_conn_flush(c, &err)) < 0) ||
		    (rc = rnet_conn_tick(c, rnet_now_ms(), &err)) < 0)
			pump_end(r, END_LOST, &err);
	}
	shutdown(r->sp[1], SHUT_WR);    /* the driver reads the end of the stream */
	return NULL;
}

/* Checkpoint N is complete: its disk epoch too, before ACK(N). */
static int stream_disk_commit(struct ckpt_stream_receiver *r, uint64_t n)
{
	struct remus_err e = { 0 };
	int rc;

	if (r->cfg.dr_ops == NULL)
		return 0;
	if ((rc = r->cfg.dr_ops->commit(r->cfg.dr, n, &e)) < 0)
		return remus_err_set(&r->disk_err, rc, "diskrep %s: committing epoch %" PRIu64
		                     " failed: %.400s", r->cfg.dr_ops->name, n, e.msg);
	return 0;
}

/* A hand-over's replica: the disk's dual-primary window on this side too
 * (the primary opened its side before the final checkpoint; its suspended
 * copy still holds its device).  Failover needs none: the primary is gone. */
static int disk_window(struct ckpt_stream_receiver *r, bool open, struct remus_err *e)
{
	if (r->cfg.dr_ops->dual_primary == NULL)
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

/* Hook: the driver staged checkpoint N completely; acknowledge it. */
static int hook_checkpoint(void *arg, int fd)
{
	struct ckpt_stream_receiver *r = arg;

	if (fd >= 0)
		return 0;   /* this engine part does not read libxl records itself */
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
	case END_STOPPED:
		return remus_err_set(err, CKPT_ESTOPPED, "stopped on request after checkpoint %" PRIu64,
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
	if ((rc = ckl_socketpair(r->sp, err)) < 0)
		return rc;
	if (pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		ckl_close_pair(r->sp);
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
	if ((rc = pthread_create(&r->pump, NULL, pump_main, r)) != 0) {
		ckl_close_pair(r->sp);
		ckl_close_pair(r->wake);
		return remus_err_sys(err, rc, "stream receiver: pump thread");
	}
	rc = 0;
	if (r->cfg.xl_header) {   /* the guest's configuration first */
		pthread_mutex_lock(&r->lock);
		while (!r->hdr_done && r->end == END_NONE)
			ckl_cond_wait_until(&r->cond, &r->lock, ckpt_now_us() + 1000000u);
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
	ckl_close_pair(r->sp);
	ckl_close_pair(r->wake);
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
