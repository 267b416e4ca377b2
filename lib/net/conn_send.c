/*
 * The send side of an rnet connection: a data lane of whole frames in
 * order (STREAM, DISK, BYE) and a priority lane (HEARTBEAT, ACK) written at
 * the data lane's next frame boundary; record-sized stream frames written
 * straight from the caller's pieces when both lanes are empty.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "util/checked.h"
#include "net/compress_impl.h"
#include "net/conn_impl.h"

#define ZLIB_CHUNK    (256u << 10)   /* raw bytes per compressed frame */

/* Grow a byte queue's buffer to hold `want` bytes (doubling). */
static int queue_grow(uint8_t **buf, size_t *capp, size_t want, struct remus_err *err)
{
	size_t cap = *capp ? *capp : 64u << 10;
	uint8_t *nb;

	while (cap < want)
		if (!ck_mul_size(cap, 2, &cap))
			return remus_err_set(err, RNET_ENOBUFS, "output queue size overflow");
	if ((nb = realloc(*buf, cap)) == NULL)
		return remus_err_sys(err, ENOMEM, "rnet output queue");
	*buf = nb;
	*capp = cap;
	return 0;
}

/* Make room for `need` more bytes on the data lane, or refuse if over the
 * bound (`force` lets an in-order control frame such as BYE through). */
static int conn_reserve(struct rnet_conn *c, size_t need, bool force, struct remus_err *err)
{
	size_t queued = c->tx_tail - c->tx_head, want;

	if (!ck_add_size(queued, need, &want))
		return remus_err_set(err, RNET_ENOBUFS, "output queue size overflow");
	if (!force && want > c->outq_max)
		return remus_err_set(err, RNET_ENOBUFS,
				     "output queue full (%zu bytes queued, bound %zu)",
				     queued, c->outq_max);
	if (c->tx_head > 0 && c->tx_tail + need > c->tx_cap) {
		memmove(c->tx, c->tx + c->tx_head, queued);
		c->tx_bound -= c->tx_head;
		c->tx_head = 0;
		c->tx_tail = queued;
	}
	if (c->tx_tail + need <= c->tx_cap)
		return 0;
	return queue_grow(&c->tx, &c->tx_cap, c->tx_tail + need, err);
}

/* Append one small frame to the priority lane (never refused for room:
 * it is what keeps the link alive). */
static int conn_queue_prio(struct rnet_conn *c, uint32_t type, const void *body, size_t len,
			   struct remus_err *err)
{
	size_t queued = c->prio_tail - c->prio_head;
	int rc;

	if (c->prio_head > 0 && !c->prio_mid) {
		memmove(c->prio, c->prio + c->prio_head, queued);
		c->prio_head = 0;
		c->prio_tail = queued;
	}
	if (c->prio_tail + RNET_HDR_LEN + len > c->prio_cap &&
	    (rc = queue_grow(&c->prio, &c->prio_cap, c->prio_tail + RNET_HDR_LEN + len, err)) < 0)
		return rc;
	rnet_frame_header(c->prio + c->prio_tail, type, (uint32_t)len);
	memcpy(c->prio + c->prio_tail + RNET_HDR_LEN, body, len);
	c->prio_tail += RNET_HDR_LEN + len;
	c->st.frames_tx++;
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

	if ((rc = rnet_codec_pack(&c->codec, c->tx_compress, p, n, &pk, err)) < 0)
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
	size_t chunk = stream && c->tx_compress == RNET_COMPRESS_ZLIB ? ZLIB_CHUNK : RNET_BODY_MAX;
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

static int conn_write_direct(struct rnet_conn *c, const struct iovec *iov, int n, size_t total,
			     struct remus_err *err);

/* Send migration-stream bytes; the v2 stream stays byte-exact.  Without
 * compression and with nothing queued, whole frames go from the caller's
 * buffer to the socket (a Xen stream's pump forwards libxc's bytes this
 * way) until the socket is full; the rest is queued.  All-or-nothing
 * against the bound as before: the bound is checked for the whole buffer
 * first, so a caller that gets RNET_ENOBUFS has sent none of it. */
int rnet_conn_send_stream(struct rnet_conn *c, const void *buf, size_t len,
			  struct remus_err *err)
{
	const uint8_t *p = buf;
	size_t frames = len / RNET_BODY_MAX + 1, need;
	int rc = 0;

	owner_enter(c);
	if (rnet_compress_frame(c->tx_compress) != RNET_MSG_STREAM ||
	    !ck_mul_size(frames, RNET_HDR_LEN, &need) || !ck_add_size(need, len, &need) ||
	    need + (c->tx_tail - c->tx_head) > c->outq_max)
		return owner_leave(c, conn_send_split(c, true, p, len, err));
	while (len > 0 && c->tx_head == c->tx_tail && c->prio_head == c->prio_tail) {
		size_t n = len < RNET_BODY_MAX ? len : RNET_BODY_MAX;
		struct iovec v = { (void *)(uintptr_t)p, n };
		if ((rc = conn_write_direct(c, &v, 1, n, err)) <= 0)
			break;
		rc = 0;
		p += n;
		len -= n;
	}
	if (rc == 0 && len > 0)
		rc = conn_send_split(c, true, p, len, err);
	return owner_leave(c, rc);
}

/* With both lanes empty, write a frame straight from the caller's pieces
 * (the bulk of a live pre-copy goes from guest RAM to the socket with no
 * copy of ours); what the socket does not take is queued as the rest of a
 * begun frame.  1: done that way, 0: not applicable (queue normally). */
static int conn_write_direct(struct rnet_conn *c, const struct iovec *iov, int n, size_t total,
			     struct remus_err *err)
{
	struct iovec v[64];
	uint8_t hdr[RNET_HDR_LEN];
	size_t skip, rest;
	ssize_t w;
	int rc;

	if (c->io->ops->writev == NULL || n + 1 > 64 || c->tx_head != c->tx_tail ||
	    c->prio_head != c->prio_tail)
		return 0;
	rnet_frame_header(hdr, RNET_MSG_STREAM, (uint32_t)total);
	v[0] = (struct iovec){ hdr, RNET_HDR_LEN };
	memcpy(v + 1, iov, (size_t)n * sizeof(*iov));
	w = c->io->ops->writev(c->io, v, n + 1, err);
	if (w == -EAGAIN)
		w = 0;
	if (w < 0)
		return (int)w;
	c->st.bytes_tx += (uint64_t)w;
	c->st.frames_tx++;
	c->st.stream_bytes_tx += total;
	c->st.stream_wire_tx += RNET_HDR_LEN + total;
	if ((size_t)w == RNET_HDR_LEN + total)
		return 1;
	/* queue what is left of this frame: it has begun, so it ends the
	 * data lane's first frame (tx_bound) */
	rest = RNET_HDR_LEN + total - (size_t)w;
	c->tx_head = c->tx_tail = c->tx_bound = 0;
	if ((rc = conn_reserve(c, rest, true, err)) < 0)
		return rc;
	skip = (size_t)w;
	for (int i = 0; i < n + 1; i++) {
		size_t len = v[i].iov_len, off = 0;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		off = skip;
		skip = 0;
		memcpy(c->tx + c->tx_tail, (const uint8_t *)v[i].iov_base + off, len - off);
		c->tx_tail += len - off;
	}
	c->tx_bound = c->tx_tail;
	return 1;
}

/* Queue stream bytes gathered from several pieces.  Up to a frame's worth
 * (and without zlib) they become exactly one frame: a sender that passes
 * one record at a time gets record-aligned frames, which the receiver's
 * stream reader parses in place.  All-or-nothing against the bound. */
int rnet_conn_send_streamv(struct rnet_conn *c, const struct iovec *iov, int n,
			   struct remus_err *err)
{
	size_t total = 0, queued;
	bool packs;
	int rc = 0;

	for (int i = 0; i < n; i++)
		if (!ck_add_size(total, iov[i].iov_len, &total))
			return remus_err_set(err, RNET_ENOBUFS, "stream pieces overflow");
	owner_enter(c);
	packs = rnet_compress_frame(c->tx_compress) != RNET_MSG_STREAM;   /* compresses chunks */
	queued = c->tx_tail - c->tx_head;
	if (total == 0) {
		rc = 0;
	} else if (total <= RNET_BODY_MAX && !packs &&
		   (rc = conn_write_direct(c, iov, n, total, err)) != 0) {
		rc = rc < 0 ? rc : 0;       /* 1: all written, or the rest queued */
	} else if (total <= RNET_BODY_MAX && !packs) {
		if (queued + RNET_HDR_LEN + total > c->outq_max)
			rc = remus_err_set(err, RNET_ENOBUFS,
					   "output queue full (%zu queued + %zu, bound %zu)",
					   queued, total, c->outq_max);
		else if ((rc = conn_reserve(c, RNET_HDR_LEN + total, false, err)) == 0) {
			rnet_frame_header(c->tx + c->tx_tail, RNET_MSG_STREAM, (uint32_t)total);
			c->tx_tail += RNET_HDR_LEN;
			for (int i = 0; i < n; i++) {
				memcpy(c->tx + c->tx_tail, iov[i].iov_base, iov[i].iov_len);
				c->tx_tail += iov[i].iov_len;
			}
			c->st.frames_tx++;
			c->st.stream_bytes_tx += total;
			c->st.stream_wire_tx += RNET_HDR_LEN + total;
		}
	} else if (queued + total + (total / ZLIB_CHUNK + (size_t)n + 1) * RNET_HDR_LEN > c->outq_max) {
		rc = remus_err_set(err, RNET_ENOBUFS, "output queue full (%zu queued + %zu, bound %zu)",
				   queued, total, c->outq_max);
	} else {
		for (int i = 0; i < n && rc == 0; i++)
			rc = conn_send_split(c, true, iov[i].iov_base, iov[i].iov_len, err);
	}
	return owner_leave(c, rc);
}

/* Queue an opaque diskrep message on its own channel. */
int rnet_conn_send_disk(struct rnet_conn *c, const void *buf, size_t len,
			struct remus_err *err)
{
	owner_enter(c);
	return owner_leave(c, conn_send_split(c, false, buf, len, err));
}

/* Backup: acknowledge checkpoint N so the primary releases its output;
 * on the priority lane (an ACK never waits behind bulk data). */
int rnet_conn_send_ack(struct rnet_conn *c, uint64_t ckpt, struct remus_err *err)
{
	uint8_t b[8];

	put_be64(b, ckpt);
	owner_enter(c);
	return owner_leave(c, conn_queue_prio(c, RNET_MSG_ACK, b, 8, err));
}

/* Announce a clean shutdown, so the peer does not fail over.  In order on
 * the data lane: it must come after the stream it ends. */
int rnet_conn_send_bye(struct rnet_conn *c, uint32_t reason, struct remus_err *err)
{
	uint8_t b[4];

	put_be32(b, reason);
	owner_enter(c);
	return owner_leave(c, conn_queue(c, RNET_MSG_BYE, b, 4, NULL, 0, true, err));
}

/* Backup, check-only link: its one answer. */
int rnet_conn_send_check(struct rnet_conn *c, const void *body, size_t len,
			 struct remus_err *err)
{
	if (len < RNET_CHECK_MIN || len > RNET_CHECK_MAX)
		return remus_err_set(err, -EINVAL, "CHECK body of %zu bytes, allowed %u..%u", len,
				     RNET_CHECK_MIN, RNET_CHECK_MAX);
	owner_enter(c);
	return owner_leave(c, conn_queue(c, RNET_MSG_CHECK, body, len, NULL, 0, true, err));
}

/* Move the data lane's frame boundary past what has been written. */
static void conn_advance_bound(struct rnet_conn *c)
{
	while (c->tx_bound < c->tx_head && c->tx_bound + RNET_HDR_LEN <= c->tx_tail)
		c->tx_bound += RNET_HDR_LEN + get_be32(c->tx + c->tx_bound + 4);
}

/* Protection ends now: drop queued data frames not yet begun (the one
 * being written must finish, or the peer would misparse what follows),
 * then queue BYE; the caller flushes. */
int rnet_conn_send_bye_now(struct rnet_conn *c, uint32_t reason, struct remus_err *err)
{
	uint8_t b[4];

	put_be32(b, reason);
	owner_enter(c);
	c->tx_tail = c->tx_bound > c->tx_head ? c->tx_bound : c->tx_head;
	return owner_leave(c, conn_queue(c, RNET_MSG_BYE, b, 4, NULL, 0, true, err));
}

/* Write one lane's bytes; n > 0 written, -EAGAIN, or an error. */
static ssize_t conn_write(struct rnet_conn *c, const uint8_t *p, size_t len,
			  struct remus_err *err)
{
	ssize_t n = c->io->ops->write(c->io, p, len, err);

	if (n > 0)
		c->st.bytes_tx += (uint64_t)n;
	return n;
}

/* Write what the socket takes.  The priority lane goes first whenever the
 * data lane is at a frame boundary; while priority frames wait, data is
 * written only up to the end of the frame already begun. */
int rnet_conn_flush_locked(struct rnet_conn *c, struct remus_err *err)
{
	ssize_t n;

	for (;;) {
		bool prio = c->prio_head < c->prio_tail;
		if (prio && (c->prio_mid || c->tx_head == c->tx_bound || c->tx_head == c->tx_tail)) {
			n = conn_write(c, c->prio + c->prio_head, c->prio_tail - c->prio_head, err);
			if (n == -EAGAIN)
				return 1;
			if (n < 0)
				return (int)n;
			c->prio_head += (size_t)n;
			c->prio_mid = c->prio_head < c->prio_tail;
			if (!c->prio_mid)
				c->prio_head = c->prio_tail = 0;
			continue;
		}
		if (c->tx_head == c->tx_tail)
			break;
		n = conn_write(c, c->tx + c->tx_head,
			       (prio ? c->tx_bound : c->tx_tail) - c->tx_head, err);
		if (n == -EAGAIN)
			return 1;
		if (n < 0)
			return (int)n;
		c->tx_head += (size_t)n;
		conn_advance_bound(c);
	}
	c->tx_head = c->tx_tail = c->tx_bound = 0;
	return 0;
}

/* Write what the socket takes; the rest waits for POLLOUT. */
int rnet_conn_flush(struct rnet_conn *c, struct remus_err *err)
{
	owner_enter(c);
	return owner_leave(c, rnet_conn_flush_locked(c, err));
}

/* Whether the caller should poll for POLLOUT. */
bool rnet_conn_want_write(const struct rnet_conn *c)
{
	struct rnet_conn *m = (struct rnet_conn *)c;   /* the lock only */
	bool want;

	pthread_mutex_lock(&m->lk);
	want = c->tx_head < c->tx_tail || c->prio_head < c->prio_tail;
	pthread_mutex_unlock(&m->lk);
	return want;
}

/* Under lk: a heartbeat on the priority lane. */
int rnet_conn_queue_heartbeat(struct rnet_conn *c, struct remus_err *err)
{
	uint8_t b[8];
	int rc;

	put_be64(b, ++c->hb_seq);
	if ((rc = conn_queue_prio(c, RNET_MSG_HEARTBEAT, b, 8, err)) < 0)
		return rc;
	c->st.heartbeats_tx++;
	return 0;
}
