/*
 * An established rnet connection: non-blocking, caller-driven (feed when
 * readable, flush when writable, tick with the caller's clock).  This file
 * has its set-up, the receive side and liveness; the send side (two lanes,
 * framing, direct writes) is in conn_send.c.  Any received byte proves the
 * peer alive; HEARTBEAT frames exist so that an idle link still carries
 * bytes both ways.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <linux/sockios.h>

#include "util/checked.h"
#include "net/compress_impl.h"
#include "net/conn_impl.h"

#define RX_CAP        (RNET_HDR_LEN + RNET_BODY_MAX)

/* Take over an authenticated io (freed here on failure too). */
int rnet_conn_new(struct rnet_io *io, const struct rnet_params *p,
		  const struct rnet_caps *peer, uint32_t compress, struct rnet_conn **out,
		  struct remus_err *err)
{
	struct rnet_conn *c = calloc(1, sizeof(*c));

	if (c == NULL || (c->rx = malloc(RX_CAP)) == NULL) {
		free(c);
		rnet_io_free(io);
		return remus_err_sys(err, ENOMEM, "rnet connection buffers");
	}
	pthread_mutex_init(&c->lk, NULL);
	c->io = io;
	c->rx_stalled = true;       /* TLS may hold bytes read with the handshake */
	c->peer = *peer;
	c->compress = compress;
	c->tx_compress = compress;
	c->hb_interval = p->hb_interval_ms ? p->hb_interval_ms : RNET_HB_INTERVAL_DEFAULT;
	c->hb_timeout = p->hb_timeout_ms ? p->hb_timeout_ms : RNET_HB_TIMEOUT_DEFAULT;
	c->outq_max = p->outq_max ? p->outq_max : RNET_OUTQ_DEFAULT;
	c->stall_max = p->stall_max_ms ? p->stall_max_ms : RNET_STALL_MAX_DEFAULT;
	c->owner_real_ms = rnet_now_ms();
	*out = c;
	return 0;
}

/* Close the socket and drop every buffer; queued bytes are lost. */
void rnet_conn_free(struct rnet_conn *c)
{
	if (c == NULL)
		return;
	rnet_keepalive_stop(c);
	rnet_io_free(c->io);
	free(c->rx);
	free(c->inflated);
	rnet_codec_free(c->codec);
	free(c->tx);
	free(c->prio);
	pthread_mutex_destroy(&c->lk);
	free(c);
}

/* The socket for the caller's poll set. */
int rnet_conn_fd(const struct rnet_conn *c)
{
	return c->io->fd;
}

/* What the peer announced, for status output. */
const struct rnet_caps *rnet_conn_peer_caps(const struct rnet_conn *c)
{
	return &c->peer;
}

/* Send without zlib from now on, or with it again (only on a zlib link:
 * the backup takes plain STREAM frames on any link, STREAM_ZLIB only on
 * one that negotiated it). */
int rnet_conn_set_tx_compress(struct rnet_conn *c, uint32_t kind, struct remus_err *err)
{
	if (kind != RNET_COMPRESS_NONE && kind != c->compress)
		return remus_err_set(err, RNET_ECAPS, "compression %s: this link negotiated %s "
				     "(only that or none until the next handshake)",
				     rnet_compress_name(kind), rnet_compress_name(c->compress));
	if (rnet_compress_delta(c->compress) && kind != c->compress)
		return remus_err_set(err, RNET_ECAPS, "compression %s: this link negotiated %s, "
				     "which the backup decodes for the whole run",
				     rnet_compress_name(kind), rnet_compress_name(c->compress));
	pthread_mutex_lock(&c->lk);     /* any thread: the engine reads it per chunk */
	c->tx_compress = kind;
	pthread_mutex_unlock(&c->lk);
	return 0;
}

/* The compression this session agreed on. */
uint32_t rnet_conn_compress(const struct rnet_conn *c)
{
	return c->compress;
}

/* Start the liveness clock at the caller's first timestamp, whatever its
 * origin (tests inject their own). */
static void conn_clock(struct rnet_conn *c, uint64_t now)
{
	if (!c->clock_started) {
		c->clock_started = true;
		c->last_rx = now;
		c->last_hb_tx = now;
	}
	if (now > c->now)
		c->now = now;
}


/* Read until the socket would block or the buffer is full. */
static int conn_fill(struct rnet_conn *c, struct remus_err *err)
{
	ssize_t n;

	if (c->rx_head > 0) {
		memmove(c->rx, c->rx + c->rx_head, c->rx_tail - c->rx_head);
		c->rx_tail -= c->rx_head;
		c->rx_head = 0;
	}
	c->rx_stalled = false;
	while (c->rx_tail < RX_CAP) {
		n = c->io->ops->read(c->io, c->rx + c->rx_tail, RX_CAP - c->rx_tail, err);
		if (n == -EAGAIN)
			return 0;
		if (n < 0)
			return (int)n;
		if (n == 0)
			return remus_err_set(err, RNET_ECLOSED, "peer closed the connection");
		c->rx_tail += (size_t)n;
		c->st.bytes_rx += (uint64_t)n;
		c->last_rx = c->now;
	}
	c->rx_stalled = true;
	return 0;
}

/* Pull what the socket has; the clock marks the peer alive if bytes came. */
int rnet_conn_feed(struct rnet_conn *c, uint64_t now_ms, struct remus_err *err)
{
	owner_enter(c);
	conn_clock(c, now_ms);
	return owner_leave(c, conn_fill(c, err));
}

/* Turn a parsed frame into what the caller sees: inflate zlib stream data,
 * swallow heartbeats, refuse handshake frames and surface peer errors. */
static int conn_deliver(struct rnet_conn *c, struct rnet_msg *m, struct remus_err *err)
{
	size_t raw = 0;
	int rc;

	switch (m->type) {
	case RNET_MSG_HEARTBEAT:
		c->st.heartbeats_rx++;
		return 0;
	case RNET_MSG_STREAM_ZLIB:
	case RNET_MSG_STREAM_ZSTD:
		if (c->inflated == NULL && (c->inflated = malloc(RNET_BODY_MAX)) == NULL)
			return remus_err_sys(err, ENOMEM, "rnet inflate buffer");
		rc = rnet_stream_unpack(c->compress, m, c->inflated, RNET_BODY_MAX, &raw, err);
		if (rc < 0)
			return rc;
		m->type = RNET_MSG_STREAM;
		m->body = c->inflated;
		m->len = (uint32_t)raw;
		c->st.stream_bytes_rx += raw;
		return 1;
	case RNET_MSG_STREAM:
		c->st.stream_bytes_rx += m->len;
		return 1;
	case RNET_MSG_ERROR:
		return remus_err_set(err, RNET_EREFUSED, "peer reported: %.*s",
				     (int)(m->len - 4), (const char *)m->body + 4);
	case RNET_MSG_HELLO:
	case RNET_MSG_AUTH:
	case RNET_MSG_CAPS:
		return remus_err_set(err, RNET_EPROTO, "handshake frame %u after the handshake",
				     m->type);
	default:
		return 1;
	}
}

/* Hand out the next whole message, refusing bad frames before use. */
static int conn_next(struct rnet_conn *c, struct rnet_msg *msg, struct remus_err *err)
{
	size_t used = 0, before;
	int rc;

	for (;;) {
		rc = rnet_frame_parse(c->rx + c->rx_head, c->rx_tail - c->rx_head, msg, &used, err);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			/* Bytes may wait in TLS or behind a full buffer where
			 * poll() will not report them: pull until no progress. */
			if (!c->rx_stalled && c->io->ops->pending(c->io) == 0)
				return 0;
			before = c->rx_tail - c->rx_head;
			rc = conn_fill(c, err);
			if (rc < 0)
				return rc;
			if (c->rx_tail - c->rx_head == before)
				return 0;
			continue;
		}
		c->rx_head += used;
		c->st.frames_rx++;
		rc = conn_deliver(c, msg, err);
		if (rc != 0)
			return rc;
	}
}

int rnet_conn_next(struct rnet_conn *c, struct rnet_msg *msg, struct remus_err *err)
{
	owner_enter(c);
	return owner_leave(c, conn_next(c, msg, err));
}

/* What this side was doing when it calls the peer silent: the numbers an
 * operator needs to tell a dead peer from a stalled host. */
static int conn_silence(struct rnet_conn *c, struct remus_err *err)
{
	int outq = 0, inq = 0;

	if (ioctl(c->io->fd, SIOCOUTQ, &outq) < 0)
		outq = -1;
	if (ioctl(c->io->fd, SIOCINQ, &inq) < 0)
		inq = -1;
	return remus_err_set(err, RNET_ETIMEOUT,
			     "peer silent for %llu ms (timeout %u ms); here: %zu bytes queued, "
			     "%d unsent in the socket, %d unread, %llu bytes received in all, "
			     "%llu heartbeats sent",
			     (unsigned long long)(c->now - c->last_rx), c->hb_timeout,
			     (c->tx_tail - c->tx_head) + (c->prio_tail - c->prio_head), outq, inq,
			     (unsigned long long)c->st.bytes_rx,
			     (unsigned long long)c->st.heartbeats_tx);
}

/* Heartbeat and liveness: the failure detector the engine polls. */
static int conn_tick(struct rnet_conn *c, uint64_t now_ms, struct remus_err *err)
{
	int rc;

	conn_clock(c, now_ms);
	if (c->now - c->last_hb_tx >= c->hb_interval) {
		if ((rc = rnet_conn_queue_heartbeat(c, err)) < 0)
			return rc;
		c->last_hb_tx = c->now;
	}
	if (!c->rx_held && c->now - c->last_rx > c->hb_timeout) {
		/* A caller that did not run for a while (a descheduled thread on a
		 * busy host) has the peer's heartbeats waiting unread: read them
		 * before calling the peer silent.  Bytes left unread because our
		 * buffer is full are not silence either. */
		rc = conn_fill(c, err);
		if (rc < 0)
			return rc;
		if (c->rx_stalled)
			c->last_rx = c->now;
	}
	if (!c->rx_held && c->now - c->last_rx > c->hb_timeout)
		return conn_silence(c, err);
	return 0;
}

int rnet_conn_tick(struct rnet_conn *c, uint64_t now_ms, struct remus_err *err)
{
	owner_enter(c);
	return owner_leave(c, conn_tick(c, now_ms, err));
}

/* While the caller holds its reads (its own back-pressure), the peer's
 * frames, heartbeats included, wait in the socket unread: its silence
 * cannot be judged then.  Heartbeats still go out; on release the peer has
 * a whole timeout from now. */
void rnet_conn_rx_hold(struct rnet_conn *c, bool hold, uint64_t now_ms)
{
	owner_enter(c);
	conn_clock(c, now_ms);
	if (c->rx_held && !hold)
		c->last_rx = c->now;
	c->rx_held = hold;
	owner_leave(c, 0);
}

/* Poll timeout that wakes the caller for the next heartbeat or timeout. */
uint32_t rnet_conn_next_tick_ms(const struct rnet_conn *c, uint64_t now_ms)
{
	struct rnet_conn *m = (struct rnet_conn *)c;   /* the lock only */
	uint64_t hb, to;

	pthread_mutex_lock(&m->lk);
	if (!c->clock_started) {
		pthread_mutex_unlock(&m->lk);
		return 0;
	}
	hb = c->last_hb_tx + c->hb_interval;
	to = c->last_rx + c->hb_timeout + 1;
	if (hb > to && !c->rx_held)
		hb = to;
	pthread_mutex_unlock(&m->lk);
	return hb > now_ms ? (uint32_t)(hb - now_ms) : 0;
}

/* Counters for remusctl stats. */
void rnet_conn_stats(const struct rnet_conn *c, struct rnet_stats *st)
{
	struct rnet_conn *m = (struct rnet_conn *)c;   /* the lock only */

	pthread_mutex_lock(&m->lk);
	*st = c->st;
	st->last_rx_ms = c->last_rx;
	st->queued_bytes = (c->tx_tail - c->tx_head) + (c->prio_tail - c->prio_head);
	st->queue_cap_bytes = c->tx_cap + c->prio_cap + RX_CAP + (c->inflated ? RNET_BODY_MAX : 0);
	pthread_mutex_unlock(&m->lk);
}
