/*
 * An established rnet connection: non-blocking, caller-driven (feed when
 * readable, flush when writable, tick with the caller's clock), no threads.
 * Any received byte proves the peer alive; HEARTBEAT frames exist so that
 * an idle link still carries bytes both ways.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked.h"
#include "net/compress_impl.h"

#define RX_CAP        (RNET_HDR_LEN + RNET_BODY_MAX)
#define ZLIB_CHUNK    (256u << 10)   /* raw bytes per compressed frame */

struct rnet_conn {
	struct rnet_io *io;
	struct rnet_caps peer;
	uint32_t compress;
	uint32_t hb_interval, hb_timeout;
	size_t outq_max;
	/* receive side: [rx_head, rx_tail) holds unparsed bytes */
	uint8_t *rx;
	size_t rx_head, rx_tail;
	bool rx_stalled;            /* last fill stopped on a full buffer */
	bool rx_held;               /* the caller does not read: silence not judged */
	uint8_t *inflated;          /* RNET_BODY_MAX, allocated on first use */
	struct rnet_codec *codec;   /* send-side compressor, made on first use */
	/* send side: [tx_head, tx_tail) waits for the socket */
	uint8_t *tx;
	size_t tx_head, tx_tail, tx_cap;
	/* clock: set by the first feed/tick */
	bool clock_started;
	uint64_t now, last_rx, last_hb_tx, hb_seq;
	struct rnet_stats st;
};

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
	c->io = io;
	c->rx_stalled = true;       /* TLS may hold bytes read with the handshake */
	c->peer = *peer;
	c->compress = compress;
	c->hb_interval = p->hb_interval_ms ? p->hb_interval_ms : RNET_HB_INTERVAL_DEFAULT;
	c->hb_timeout = p->hb_timeout_ms ? p->hb_timeout_ms : RNET_HB_TIMEOUT_DEFAULT;
	c->outq_max = p->outq_max ? p->outq_max : RNET_OUTQ_DEFAULT;
	*out = c;
	return 0;
}

/* Close the socket and drop every buffer; queued bytes are lost. */
void rnet_conn_free(struct rnet_conn *c)
{
	if (c == NULL)
		return;
	rnet_io_free(c->io);
	free(c->rx);
	free(c->inflated);
	rnet_codec_free(c->codec);
	free(c->tx);
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
	conn_clock(c, now_ms);
	return conn_fill(c, err);
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
		return remus_err_set(err, RNET_EPROTO, "handshake frame %u after the handshake",
				     m->type);
	default:
		return 1;
	}
}

/* Hand out the next whole message, refusing bad frames before use. */
int rnet_conn_next(struct rnet_conn *c, struct rnet_msg *msg, struct remus_err *err)
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

/* Make room for `need` more queued bytes, or refuse if over the bound
 * (`force` lets tiny control frames through so heartbeats never starve). */
static int conn_reserve(struct rnet_conn *c, size_t need, bool force, struct remus_err *err)
{
	size_t queued = c->tx_tail - c->tx_head, want, cap;
	uint8_t *nt;

	if (!ck_add_size(queued, need, &want))
		return remus_err_set(err, RNET_ENOBUFS, "output queue size overflow");
	if (!force && want > c->outq_max)
		return remus_err_set(err, RNET_ENOBUFS,
				     "output queue full (%zu bytes queued, bound %zu)",
				     queued, c->outq_max);
	if (c->tx_head > 0 && c->tx_tail + need > c->tx_cap) {
		memmove(c->tx, c->tx + c->tx_head, queued);
		c->tx_head = 0;
		c->tx_tail = queued;
	}
	if (c->tx_tail + need <= c->tx_cap)
		return 0;
	cap = c->tx_cap ? c->tx_cap : 64u << 10;
	while (cap < want)
		cap *= 2;
	nt = realloc(c->tx, cap);
	if (nt == NULL)
		return remus_err_sys(err, ENOMEM, "rnet output queue");
	c->tx = nt;
	c->tx_cap = cap;
	return 0;
}

/* Append one frame (header + up to two body pieces) to the queue. */
static int conn_queue(struct rnet_conn *c, uint32_t type, const void *a, size_t alen,
		      const void *b, size_t blen, bool force, struct remus_err *err)
{
	int rc = conn_reserve(c, RNET_HDR_LEN + alen + blen, force, err);

	if (rc < 0)
		return rc;
	rnet_frame_header(c->tx + c->tx_tail, type, (uint32_t)(alen + blen));
	c->tx_tail += RNET_HDR_LEN;
	if (alen)
		memcpy(c->tx + c->tx_tail, a, alen);
	c->tx_tail += alen;
	if (blen)
		memcpy(c->tx + c->tx_tail, b, blen);
	c->tx_tail += blen;
	c->st.frames_tx++;
	return 0;
}

/* Queue one chunk of stream data, compressed (compress.c) when negotiated
 * and worthwhile; incompressible chunks go out as plain STREAM frames.
 * stream_wire_tx counts the frame as it goes on the wire. */
static int conn_stream_chunk(struct rnet_conn *c, const uint8_t *p, size_t n,
			     struct remus_err *err)
{
	struct rnet_packed pk;
	int rc;

	if ((rc = rnet_codec_pack(&c->codec, c->compress, p, n, &pk, err)) < 0)
		return rc;
	rc = conn_queue(c, pk.type, pk.hlen ? pk.hdr : pk.body, pk.hlen ? pk.hlen : pk.len,
			pk.hlen ? pk.body : NULL, pk.hlen ? pk.len : 0, false, err);
	if (rc == 0)
		c->st.stream_wire_tx += RNET_HDR_LEN + pk.hlen + pk.len;
	return rc;
}

/* Queue opaque bytes split into frames; all-or-nothing against the bound. */
static int conn_send_split(struct rnet_conn *c, bool stream, const uint8_t *p, size_t len,
			   struct remus_err *err)
{
	size_t chunk = stream && c->compress == RNET_COMPRESS_ZLIB ? ZLIB_CHUNK : RNET_BODY_MAX;
	size_t frames = len / chunk + 1, need, n;
	int rc;

	if (len == 0)
		return 0;
	if (!ck_mul_size(frames, RNET_HDR_LEN, &need) || !ck_add_size(need, len, &need) ||
	    need + (c->tx_tail - c->tx_head) > c->outq_max)
		return remus_err_set(err, RNET_ENOBUFS,
				     "output queue full (%zu queued + %zu, bound %zu)",
				     c->tx_tail - c->tx_head, len, c->outq_max);
	while (len > 0) {
		n = len < chunk ? len : chunk;
		rc = stream ? conn_stream_chunk(c, p, n, err)
			    : conn_queue(c, RNET_MSG_DISK, p, n, NULL, 0, false, err);
		if (rc < 0)
			return rc;
		if (stream)
			c->st.stream_bytes_tx += n;
		p += n;
		len -= n;
	}
	return 0;
}

/* Queue migration-stream bytes; the v2 stream stays byte-exact. */
int rnet_conn_send_stream(struct rnet_conn *c, const void *buf, size_t len,
			  struct remus_err *err)
{
	return conn_send_split(c, true, buf, len, err);
}

/* Queue an opaque diskrep message on its own channel. */
int rnet_conn_send_disk(struct rnet_conn *c, const void *buf, size_t len,
			struct remus_err *err)
{
	return conn_send_split(c, false, buf, len, err);
}

/* Backup: acknowledge checkpoint N so the primary releases its output. */
int rnet_conn_send_ack(struct rnet_conn *c, uint64_t ckpt, struct remus_err *err)
{
	uint8_t b[8];

	put_be64(b, ckpt);
	return conn_queue(c, RNET_MSG_ACK, b, 8, NULL, 0, true, err);
}

/* Announce a clean shutdown, so the peer does not fail over. */
int rnet_conn_send_bye(struct rnet_conn *c, uint32_t reason, struct remus_err *err)
{
	uint8_t b[4];

	put_be32(b, reason);
	return conn_queue(c, RNET_MSG_BYE, b, 4, NULL, 0, true, err);
}

/* Write what the socket takes; the rest waits for POLLOUT. */
int rnet_conn_flush(struct rnet_conn *c, struct remus_err *err)
{
	ssize_t n;

	while (c->tx_head < c->tx_tail) {
		n = c->io->ops->write(c->io, c->tx + c->tx_head, c->tx_tail - c->tx_head, err);
		if (n == -EAGAIN)
			return 1;
		if (n < 0)
			return (int)n;
		c->tx_head += (size_t)n;
		c->st.bytes_tx += (uint64_t)n;
	}
	c->tx_head = c->tx_tail = 0;
	return 0;
}

/* Whether the caller should poll for POLLOUT. */
bool rnet_conn_want_write(const struct rnet_conn *c)
{
	return c->tx_head < c->tx_tail;
}

/* Heartbeat and liveness: the failure detector the engine polls. */
int rnet_conn_tick(struct rnet_conn *c, uint64_t now_ms, struct remus_err *err)
{
	uint8_t b[8];
	int rc;

	conn_clock(c, now_ms);
	if (c->now - c->last_hb_tx >= c->hb_interval) {
		put_be64(b, ++c->hb_seq);
		rc = conn_queue(c, RNET_MSG_HEARTBEAT, b, 8, NULL, 0, true, err);
		if (rc < 0)
			return rc;
		c->last_hb_tx = c->now;
		c->st.heartbeats_tx++;
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
		return remus_err_set(err, RNET_ETIMEOUT,
				     "peer silent for %llu ms (timeout %u ms)",
				     (unsigned long long)(c->now - c->last_rx), c->hb_timeout);
	return 0;
}

/* While the caller holds its reads (its own back-pressure), the peer's
 * frames, heartbeats included, wait in the socket unread: its silence
 * cannot be judged then.  Heartbeats still go out; on release the peer has
 * a whole timeout from now. */
void rnet_conn_rx_hold(struct rnet_conn *c, bool hold, uint64_t now_ms)
{
	conn_clock(c, now_ms);
	if (c->rx_held && !hold)
		c->last_rx = c->now;
	c->rx_held = hold;
}

/* Poll timeout that wakes the caller for the next heartbeat or timeout. */
uint32_t rnet_conn_next_tick_ms(const struct rnet_conn *c, uint64_t now_ms)
{
	uint64_t hb, to;

	if (!c->clock_started)
		return 0;
	hb = c->last_hb_tx + c->hb_interval;
	to = c->last_rx + c->hb_timeout + 1;
	if (hb > to && !c->rx_held)
		hb = to;
	return hb > now_ms ? (uint32_t)(hb - now_ms) : 0;
}

/* Counters for remusctl stats. */
void rnet_conn_stats(const struct rnet_conn *c, struct rnet_stats *st)
{
	*st = c->st;
	st->last_rx_ms = c->last_rx;
}
