/*
 * The pump of a driver-owned loop's primary side (stream_sender.c): reads
 * the stream the driver writes into the socketpair and queues it on the
 * link as RNET_MSG_STREAM frames (with delta negotiated, through the page
 * encoder of stream_delta.c), takes the backup's ACKs and BYE, watches
 * the stop fd, and makes the driver's writes fail once the link is lost.
 */
#include "ckpt/stream_link_impl.h"
#include "ckpt/stream_sender_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Pump: the link failed; wake the engine and make the driver's writes fail. */
static void pump_lost(struct ckpt_stream_sender *s, const struct remus_err *why)
{
	pthread_mutex_lock(&s->lock);
	if (!s->peer_lost) {
		s->peer_lost = true;
		s->peer_err = *why;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	shutdown(s->sp[1], SHUT_RDWR);
	/* a diskrep blocked in a resync sees its peer gone */
	if (s->cfg.disk_channel)
		shutdown(s->dl.fd, SHUT_RDWR);
}

/* Pump: whatever the backup sent (heartbeats are consumed by rnet). */
static int pump_take_msgs(struct ckpt_stream_sender *s, struct remus_err *err)
{
	struct rnet_msg m;
	int rc;

	while ((rc = rnet_conn_next(s->cfg.conn, &m, err)) == 1) {
		if (m.type == RNET_MSG_ACK) {
			pthread_mutex_lock(&s->lock);
			if (m.u64 > s->acked)
				s->acked = m.u64;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
		} else if (m.type == RNET_MSG_DISK && s->cfg.disk_channel) {
			/* the backup's diskrep answering a resync */
			if ((rc = disk_channel_write_in(&s->dl, m.body, m.len, err)) < 0)
				return rc;
		} else if (m.type == RNET_MSG_BYE) {
			/* after a final checkpoint this may be the answer to the hand-over */
			pthread_mutex_lock(&s->lock);
			s->got_bye = true;
			s->peer_bye = m.u64;
			pthread_mutex_unlock(&s->lock);
			return remus_err_set(err, CKPT_EPEER, "backup ended the link (BYE %" PRIu64 ")",
			                     m.u64);
		} else {
			return remus_err_set(err, CKPT_ESTREAM, "backup sent unexpected message type %"
			                     PRIu32, m.type);
		}
	}
	return rc;
}

/* Pump: one frame of stream bytes; a full output queue sends nothing
 * (RNET_ENOBUFS, the caller keeps the bytes).  stream_bytes: the driver's
 * bytes it carries (delta counts them when it encodes them). */
static int pump_frame(struct ckpt_stream_sender *s, const uint8_t *p, size_t len,
                      size_t stream_bytes, struct remus_err *err)
{
	struct rnet_stats before, after;
	int rc;

	rnet_conn_stats(s->cfg.conn, &before);
	if ((rc = rnet_conn_send_stream(s->cfg.conn, p, len, err)) < 0)
		return rc;
	rnet_conn_stats(s->cfg.conn, &after);
	pthread_mutex_lock(&s->lock);
	s->stats.bytes += stream_bytes;
	s->stats.wire_bytes += after.stream_wire_tx - before.stream_wire_tx;   /* compressed */
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Pump, delta: the driver's chunk into the encoder, then its container
 * bytes to the link, one frame at a time while there is room. */
static int pump_forward_delta(struct ckpt_stream_sender *s, struct remus_err *err)
{
	int rc;

	if (s->chunk_len > 0) {
		if ((rc = stream_delta_feed(&s->dtx, s->chunk, s->chunk_len, err)) < 0)
			return rc;
		pthread_mutex_lock(&s->lock);
		s->stats.bytes += s->chunk_len;
		s->stats.pages = s->dtx.pages;
		pthread_mutex_unlock(&s->lock);
		s->chunk_len = 0;
	}
	while (stream_delta_pending(&s->dtx) > 0) {
		size_t n = stream_delta_pending(&s->dtx);

		if (n > RNET_BODY_MAX)
			n = RNET_BODY_MAX;
		rc = pump_frame(s, s->dtx.out + s->dtx.out_off, n, 0, err);
		if (rc == RNET_ENOBUFS)
			return 0;
		if (rc < 0)
			return rc;
		s->dtx.out_off += n;
	}
	return 0;
}

/* Pump: diskrep's frames to the link, under the lock so that the engine
 * thread (stream_disk_flush) sees a frame either unread or queued.
 * 0: all taken, 1: the link's queue is full. */
static int pump_forward_disk(struct ckpt_stream_sender *s, struct remus_err *err)
{
	int rc;

	if (!s->cfg.disk_channel)
		return 0;
	pthread_mutex_lock(&s->lock);
	rc = s->killed ? 0 : disk_channel_forward_out(&s->dl, s->cfg.conn, err);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Pump: nothing of the driver's bytes is waiting for the link. */
static bool pump_idle(const struct ckpt_stream_sender *s)
{
	return s->chunk_len == 0 && (!s->delta || stream_delta_pending(&s->dtx) == 0);
}

/* Pump: the driver's next bytes.  Test builds (fault points) read under
 * the lock, so that the engine, seeing none left to read, knows they are
 * either forwarded or not yet (drained false): see stream_drain. */
static ssize_t pump_read(struct ckpt_stream_sender *s)
{
	ssize_t n;

	if (s->cfg.fault.hit == NULL)
		return read(s->sp[1], s->chunk, SEND_CHUNK);
	pthread_mutex_lock(&s->lock);
	n = read(s->sp[1], s->chunk, SEND_CHUNK);
	if (n > 0)
		s->drained = false;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Pump, test builds: all it read is queued and written to the link. */
static void pump_note_drained(struct ckpt_stream_sender *s)
{
	if (s->cfg.fault.hit == NULL || !pump_idle(s) || rnet_conn_want_write(s->cfg.conn))
		return;
	pthread_mutex_lock(&s->lock);
	if (!s->drained) {
		s->drained = true;
		pthread_cond_broadcast(&s->cond);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Pump, test builds: stopped at a fault point as if killed?  Then what
 * the driver writes from now on never leaves (a dead primary sends
 * nothing): it is read and dropped. */
static bool pump_killed(struct ckpt_stream_sender *s, bool readable)
{
	bool killed;

	if (s->cfg.fault.hit == NULL)
		return false;
	pthread_mutex_lock(&s->lock);
	killed = s->killed;
	pthread_mutex_unlock(&s->lock);
	if (!killed)
		return false;
	s->chunk_len = 0;
	if (s->delta)
		s->dtx.out_off = s->dtx.out_len;
	if (readable && !s->eof && read(s->sp[1], s->chunk, SEND_CHUNK) == 0)
		s->eof = true;
	return true;
}

/* Pump: forward the driver's bytes; a full output queue keeps them. */
static int pump_forward(struct ckpt_stream_sender *s, bool readable, struct remus_err *err)
{
	ssize_t n;
	int rc;

	if (pump_killed(s, readable))
		return 0;

	if (readable && pump_idle(s) && !s->eof) {
		n = pump_read(s);
		if (n == 0)
			s->eof = true;
		else if (n < 0 && errno != EAGAIN && errno != EINTR)
			return remus_err_sys(err, errno, "stream sender: reading the driver's stream");
		else if (n > 0)
			s->chunk_len = (size_t)n;
		if (n == 0 && s->delta && (rc = stream_delta_finish(&s->dtx, err)) < 0)
			return rc;
	}
	if (s->delta)
		return pump_forward_delta(s, err);
	if (s->chunk_len == 0)
		return 0;
	rc = pump_frame(s, s->chunk, s->chunk_len, s->chunk_len, err);
	if (rc == RNET_ENOBUFS)
		return 0;
	if (rc < 0)
		return rc;
	s->chunk_len = 0;
	return 0;
}

void *stream_send_pump_main(void *arg)
{
	struct ckpt_stream_sender *s = arg;
	struct rnet_conn *c = s->cfg.conn;
	struct remus_err err = { 0 };
	int rc;

	for (;;) {
		uint64_t now = rnet_now_ms();
		bool watch_stop;
		struct pollfd p[4] = {
			{ .fd = pump_idle(s) && !s->eof ? s->sp[1] : -1, .events = POLLIN },
			{ .fd = rnet_conn_fd(c), .events = POLLIN },
			{ .fd = -1, .events = POLLIN },
			{ .fd = s->cfg.disk_channel && s->dl.pend_len == 0 ? s->dl.fd : -1, .events = POLLIN },
		};
		int drc;

		if ((rc = rnet_conn_tick(c, now, &err)) < 0)
			break;
		if (s->eof && pump_idle(s) && !rnet_conn_want_write(c))
			break;                          /* the driver is done, all sent */
		pthread_mutex_lock(&s->lock);
		watch_stop = !s->stop_requested && s->stop_fd >= 0;
		pthread_mutex_unlock(&s->lock);
		if (watch_stop)
			p[2].fd = s->stop_fd;
		if (rnet_conn_want_write(c))
			p[1].events |= POLLOUT;
		if (poll(p, 4, (int)rnet_conn_next_tick_ms(c, now)) < 0 && errno != EINTR) {
			rc = remus_err_sys(&err, errno, "stream sender: poll");
			break;
		}
		if (p[2].revents & POLLIN) {
			pthread_mutex_lock(&s->lock);
			s->stop_requested = true;
			pthread_cond_broadcast(&s->cond);
			pthread_mutex_unlock(&s->lock);
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			int frc = rnet_conn_feed(c, rnet_now_ms(), &err);

			if ((rc = pump_take_msgs(s, &err)) < 0 || (rc = frc) < 0)
				break;
		}
		/* the disk lane first: epoch N's writes and marker precede N's end */
		if ((rc = drc = pump_forward_disk(s, &err)) < 0)
			break;
		if (drc == 0 &&
		    (rc = pump_forward(s, (p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0, &err)) < 0)
			break;
		if (rnet_conn_want_write(c) && (rc = rnet_conn_flush(c, &err)) < 0)
			break;
		pump_note_drained(s);
	}
	if (rc < 0)
		pump_lost(s, &err);
	pthread_mutex_lock(&s->lock);
	s->pump_done = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}
