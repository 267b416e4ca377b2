/*
 * The pump of a driver-owned loop's backup side (stream_receiver.c): reads
 * the link, takes xl's header, writes RNET_MSG_STREAM bodies into the
 * socketpair the driver reads (through the checkpoint gate when the driver
 * only takes whole checkpoints), sends the ACKs the engine queues, and ends
 * the driver's input once the stream stops — after the bytes received.
 */
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

#include "stream/stream.h"
#include "util/bytes.h"

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
 * all here (hostile input: lib/stream's one strict check, which bounds it
 * before it is buffered). */
static int take_xl_header(struct ckpt_stream_receiver *r, struct remus_err *err)
{
	const uint8_t *p = r->pend + r->pend_off;
	size_t have = r->pend_len - r->pend_off, need;
	const char *config;
	uint32_t config_len;
	char *json;
	int rc;

	if ((rc = stream_xl_header_take(p, have, &need, &config, &config_len, err)) < 0)
		return err->code = CKPT_ESTREAM;        /* the message says what was wrong */
	if (rc == 0)
		return 0;
	if ((json = malloc(config_len)) == NULL)
		return remus_err_sys(err, ENOMEM, "stream receiver: the guest configuration");
	memcpy(json, config, config_len);
	pthread_mutex_lock(&r->lock);
	r->json = json;
	r->json_len = config_len;
	r->hdr_done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	r->pend_off += need;
	return 0;
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
	/* test builds: "applying" of each checkpoint released; a stop holds
	 * back all this feed released (they go to the driver together) */
	for (uint64_t k = r->acked_sent + 1; rl > 0 && k <= r->gate.checkpoints; k++) {
		if (stream_recv_fault(r, k)) {
			r->closing = true;
			return 0;
		}
	}
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
			const uint8_t *b = m.body;
			size_t n = m.len;

			/* delta: the primary's exact stream bytes, rebuilt first; a
			 * bad frame hands on nothing of itself */
			if (r->delta && (rc = delta_rx_feed(&r->dx, m.body, m.len, err)) < 0) {
				if (rc == -ENOMEM)
					return rc;
				err->code = CKPT_ESTREAM;
				return remus_err_wrap(err, "corrupt delta frame after checkpoint %"
				                      PRIu64, r->stats.checkpoints);
			}
			if (r->delta) {
				b = r->dx.plain;
				n = r->dx.plain_len;
			}
			if (n > 0 && (rc = r->gating ? gate_in(r, b, n, err) :
			              pend_append(r, b, n, err)) < 0)
				return rc;
			pthread_mutex_lock(&r->lock);
			r->stats.bytes += n;
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
		} else if (m.type == RNET_MSG_DISK && r->cfg.disk_channel) {
			/* staged at once: epoch N's marker precedes N's end on the link */
			pthread_mutex_lock(&r->disk_lock);
			rc = disk_channel_deliver_in(&r->dl, r->cfg.dr_ops, r->cfg.dr, m.body, m.len,
			                             &r->disk_ready, err);
			pthread_mutex_unlock(&r->disk_lock);
			if (rc < 0)
				return remus_err_wrap(err, "disk frame after checkpoint %" PRIu64,
				                      r->stats.checkpoints);
		} else if (m.type == RNET_MSG_BYE) {
			pump_end(r, m.u64 == CKPT_BYE_HANDOVER ||
			        m.u64 == CKPT_BYE_HANDOVER_REVERSE ? END_HANDOVER : END_BYE, NULL);
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

void *stream_recv_pump_main(void *arg)
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
		struct pollfd p[5] = {
			{ .fd = r->closing ? -1 : rnet_conn_fd(c), .events = room ? POLLIN : 0 },
			{ .fd = deliverable(r) ? r->sp[1] : -1, .events = POLLOUT },
			{ .fd = r->wake[0], .events = POLLIN },
			{ .fd = r->closing ? -1 : r->stop_fd, .events = POLLIN },
			/* diskrep's answers to a resync, back to the primary */
			{ .fd = r->closing || r->dl.pend_len ? -1 : r->dl.fd, .events = POLLIN },
		};

		if (!r->closing && rnet_conn_want_write(c))
			p[0].events |= POLLOUT;
		/* not reading while the driver catches up (libxc building the
		 * first checkpoint's memory): the primary's heartbeats wait
		 * unread behind its stream, which is not silence */
		rnet_conn_rx_hold(c, !room, now);
		if (poll(p, 5, r->closing ? 1000 : (int)rnet_conn_next_tick_ms(c, now)) < 0 &&
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
		if (r->dl.fd >= 0 && (rc = disk_channel_forward_out(&r->dl, c, &err)) < 0) {
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

