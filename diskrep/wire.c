/*
 * The builtin backend's wire messages: one encoder and one decoder per
 * message type.  Every received frame is hostile input: its type and exact
 * length are checked before any field is used.
 */
#include "diskrep/internal.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* Header of every frame: type and body length. */
static void put_hdr(uint8_t *h, enum drw_type type, uint32_t body_len)
{
	h[0] = (uint8_t)type;
	h[1] = (uint8_t)(type >> 8);
	h[2] = h[3] = 0;
	put_le32(h + 4, body_len);
}

/* Send header + fixed part + optional payload with one writev, retrying
 * short writes so a frame is never interleaved. */
static int send_frame(int fd, enum drw_type type, const uint8_t *fixed,
                      size_t fixed_len, const void *data, size_t len,
                      struct remus_err *err)
{
	uint8_t hdr[DRW_HDR_LEN];
	struct iovec iov[3] = {
		{ hdr, sizeof(hdr) }, { (void *)fixed, fixed_len }, { (void *)data, len },
	};
	int iovcnt = len ? 3 : 2;
	struct iovec *v = iov;

	if (fd < 0)
		return remus_err_set(err, DISKREP_EPEER, "no replication peer attached");
	put_hdr(hdr, type, (uint32_t)(fixed_len + len));
	while (iovcnt > 0) {
		/* sockets: no SIGPIPE for a vanished peer; pipes: plain writev */
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = (size_t)iovcnt };
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = writev(fd, v, iovcnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
			return remus_err_set(err, DISKREP_EPEER, "replication link lost (frame type %d)", type);
		if (n < 0)
			return remus_err_sys(err, errno, "send diskrep frame type %d", type);
		while (iovcnt > 0 && (size_t)n >= v->iov_len) {
			n -= (ssize_t)v->iov_len;
			v++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			v->iov_base = (uint8_t *)v->iov_base + n;
			v->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* A guest write of epoch `epoch` (the primary's data path). */
int drw_send_write(int fd, uint64_t epoch, uint64_t off, const void *data,
                   size_t len, struct remus_err *err)
{
	uint8_t f[16];
	put_le64(f, epoch);
	put_le64(f + 8, off);
	return send_frame(fd, DRW_WRITE, f, sizeof(f), data, len, err);
}

/* End of an epoch's writes: the backup may commit it once memory is in. */
int drw_send_epoch_end(int fd, uint64_t epoch, struct remus_err *err)
{
	uint8_t f[8];
	put_le64(f, epoch);
	return send_frame(fd, DRW_EPOCH_END, f, sizeof(f), NULL, 0, err);
}

/* Start of a resync: the backup checks the geometry, drops staging and
 * takes `base` as the run's base epoch (writes from now on are base + 1). */
int drw_send_sync_begin(int fd, uint64_t image_bytes, uint32_t block_size, uint64_t base,
                        struct remus_err *err)
{
	uint8_t f[24] = { 0 };
	put_le64(f, image_bytes);
	put_le32(f + 8, block_size);
	put_le64(f + 16, base);
	return send_frame(fd, DRW_SYNC_BEGIN, f, sizeof(f), NULL, 0, err);
}

/* Ask the backup for the hashes of `count` blocks from `first`. */
int drw_send_hash_req(int fd, uint64_t first, uint32_t count, struct remus_err *err)
{
	uint8_t f[16] = { 0 };
	put_le64(f, first);
	put_le32(f + 8, count);
	return send_frame(fd, DRW_HASH_REQ, f, sizeof(f), NULL, 0, err);
}

/* The backup's answer to a HASH_REQ. */
int drw_send_hash_reply(int fd, uint64_t first, const uint64_t *hashes,
                        uint32_t count, struct remus_err *err)
{
	uint8_t f[16 + 8 * DRW_MAX_HASHES] = { 0 };
	if (count > DRW_MAX_HASHES)
		return remus_err_set(err, DISKREP_EPROTO, "hash reply of %u blocks", count);
	put_le64(f, first);
	put_le32(f + 8, count);
	for (uint32_t i = 0; i < count; i++)
		put_le64(f + 16 + 8 * (size_t)i, hashes[i]);
	return send_frame(fd, DRW_HASH_REPLY, f, 16 + 8 * (size_t)count, NULL, 0, err);
}

/* One block whose content differs on the backup. */
int drw_send_block(int fd, uint64_t off, const void *data, size_t len,
                   struct remus_err *err)
{
	uint8_t f[8];
	put_le64(f, off);
	return send_frame(fd, DRW_BLOCK, f, sizeof(f), data, len, err);
}

/* End of a resync: the backup image equals the primary's as of `epoch`. */
int drw_send_sync_done(int fd, uint64_t epoch, uint64_t blocks_sent,
                       struct remus_err *err)
{
	uint8_t f[16];
	put_le64(f, epoch);
	put_le64(f + 8, blocks_sent);
	return send_frame(fd, DRW_SYNC_DONE, f, sizeof(f), NULL, 0, err);
}

/* ---- decoders: one per type; `b` is the body, `n` its exact length ----- */

/* Payload-carrying bodies must hold whole sectors, at most MAX_WRITE. */
static int check_payload(const char *what, size_t n, struct remus_err *err)
{
	if (n == 0 || n > DISKREP_MAX_WRITE || n % DISKREP_SECTOR != 0)
		return remus_err_set(err, DISKREP_EPROTO,
		    "%s payload of %zu bytes: not 1..%u bytes in whole %u-byte sectors",
		    what, n, DISKREP_MAX_WRITE, DISKREP_SECTOR);
	return 0;
}

/* WRITE: epoch, offset, sector-multiple payload. */
static int parse_write(const uint8_t *b, size_t n, struct drw_msg *m,
                       struct remus_err *err)
{
	if (n < 16)
		return remus_err_set(err, DISKREP_EPROTO, "WRITE body of %zu bytes < 16", n);
	m->epoch = get_le64(b);
	m->offset = get_le64(b + 8);
	m->data = b + 16;
	m->len = n - 16;
	return check_payload("WRITE", m->len, err);
}

/* EPOCH_END: exactly one epoch number. */
static int parse_epoch_end(const uint8_t *b, size_t n, struct drw_msg *m,
                           struct remus_err *err)
{
	if (n != 8)
		return remus_err_set(err, DISKREP_EPROTO, "EPOCH_END body of %zu bytes, want 8", n);
	m->epoch = get_le64(b);
	return 0;
}

/* SYNC_BEGIN: image size, a sane block size, the base epoch. */
static int parse_sync_begin(const uint8_t *b, size_t n, struct drw_msg *m,
                            struct remus_err *err)
{
	if (n != 24 || get_le32(b + 12) != 0)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_BEGIN body malformed (%zu bytes)", n);
	m->image_bytes = get_le64(b);
	m->block_size = get_le32(b + 8);
	m->epoch = get_le64(b + 16);
	if (m->epoch > UINT64_MAX / 2)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_BEGIN base epoch %llu out of range",
		    (unsigned long long)m->epoch);
	if (m->block_size < DISKREP_SECTOR || m->block_size > DISKREP_MAX_WRITE ||
	    m->block_size % DISKREP_SECTOR != 0)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_BEGIN block size %u invalid",
		    m->block_size);
	return 0;
}

/* HASH_REQ: a bounded run of blocks. */
static int parse_hash_req(const uint8_t *b, size_t n, struct drw_msg *m,
                          struct remus_err *err)
{
	if (n != 16 || get_le32(b + 12) != 0)
		return remus_err_set(err, DISKREP_EPROTO, "HASH_REQ body malformed (%zu bytes)", n);
	m->first_block = get_le64(b);
	m->count = get_le32(b + 8);
	if (m->count == 0 || m->count > DRW_MAX_HASHES)
		return remus_err_set(err, DISKREP_EPROTO, "HASH_REQ for %u blocks (1..%u)",
		    m->count, DRW_MAX_HASHES);
	return 0;
}

/* HASH_REPLY: the count must match the body length exactly. */
static int parse_hash_reply(const uint8_t *b, size_t n, struct drw_msg *m,
                            struct remus_err *err)
{
	if (n < 16 || get_le32(b + 12) != 0)
		return remus_err_set(err, DISKREP_EPROTO, "HASH_REPLY body malformed (%zu bytes)", n);
	m->first_block = get_le64(b);
	m->count = get_le32(b + 8);
	if (m->count == 0 || m->count > DRW_MAX_HASHES || n != 16 + 8 * (size_t)m->count)
		return remus_err_set(err, DISKREP_EPROTO,
		    "HASH_REPLY claims %u hashes in %zu bytes", m->count, n);
	m->data = b + 16;
	m->len = n - 16;
	return 0;
}

/* BLOCK: offset and sector-multiple payload. */
static int parse_block(const uint8_t *b, size_t n, struct drw_msg *m,
                       struct remus_err *err)
{
	if (n < 8)
		return remus_err_set(err, DISKREP_EPROTO, "BLOCK body of %zu bytes < 8", n);
	m->offset = get_le64(b);
	m->data = b + 8;
	m->len = n - 8;
	return check_payload("BLOCK", m->len, err);
}

/* SYNC_DONE: epoch and the number of blocks sent. */
static int parse_sync_done(const uint8_t *b, size_t n, struct drw_msg *m,
                           struct remus_err *err)
{
	if (n != 16)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_DONE body of %zu bytes, want 16", n);
	m->epoch = get_le64(b);
	m->blocks_sent = get_le64(b + 8);
	return 0;
}

typedef int (*parse_fn)(const uint8_t *, size_t, struct drw_msg *, struct remus_err *);
static const parse_fn parsers[DRW_TYPE_MAX] = {
	[DRW_WRITE] = parse_write,           [DRW_EPOCH_END] = parse_epoch_end,
	[DRW_SYNC_BEGIN] = parse_sync_begin, [DRW_HASH_REQ] = parse_hash_req,
	[DRW_HASH_REPLY] = parse_hash_reply, [DRW_BLOCK] = parse_block,
	[DRW_SYNC_DONE] = parse_sync_done,
};

/* Check a frame header: known type, zero reserved bits, bounded length. */
static int parse_hdr(const uint8_t *h, enum drw_type *type, uint32_t *body_len,
                     struct remus_err *err)
{
	unsigned t = (unsigned)h[0] | (unsigned)h[1] << 8;
	if (t == 0 || t >= DRW_TYPE_MAX || h[2] || h[3])
		return remus_err_set(err, DISKREP_EPROTO,
		    "frame header: unknown type %u / reserved %02x%02x", t, h[2], h[3]);
	*type = (enum drw_type)t;
	*body_len = get_le32(h + 4);
	if (*body_len > DRW_MAX_BODY)
		return remus_err_set(err, DISKREP_EPROTO, "frame type %u: body of %u bytes > %u",
		    t, *body_len, DRW_MAX_BODY);
	return 0;
}

/* Decode one complete frame; `m` points into `frame` for payloads. */
int drw_parse(const uint8_t *frame, size_t len, struct drw_msg *m,
              struct remus_err *err)
{
	uint32_t body_len;
	int r;

	memset(m, 0, sizeof(*m));
	if (len < DRW_HDR_LEN)
		return remus_err_set(err, DISKREP_EPROTO, "frame of %zu bytes < header", len);
	if ((r = parse_hdr(frame, &m->type, &body_len, err)) < 0)
		return r;
	if ((size_t)body_len != len - DRW_HDR_LEN)
		return remus_err_set(err, DISKREP_EPROTO,
		    "frame type %d: header says %u body bytes, frame has %zu",
		    m->type, body_len, len - DRW_HDR_LEN);
	return parsers[m->type](frame + DRW_HDR_LEN, body_len, m, err);
}

/* Hash i of a parsed HASH_REPLY (i < count). */
uint64_t drw_hash_at(const struct drw_msg *m, uint32_t i)
{
	return get_le64(m->data + 8 * (size_t)i);
}

/* Read exactly len bytes; 1 on clean EOF before the first byte. */
static int read_exact(int fd, uint8_t *p, size_t len, struct remus_err *err)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = read(fd, p + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == ECONNRESET || errno == EPIPE))
			return remus_err_set(err, DISKREP_EPEER, "replication link reset by the peer");
		if (n < 0)
			return remus_err_sys(err, errno, "read diskrep frame");
		if (n == 0)
			return got == 0 ? 1 : remus_err_set(err, DISKREP_EPEER,
			    "peer closed mid-frame after %zu of %zu bytes", got, len);
		got += (size_t)n;
	}
	return 0;
}

/* Read one frame; the header is validated before the body length is used. */
int drw_read_frame(int fd, uint8_t *buf, size_t cap, size_t *len,
                   struct remus_err *err)
{
	enum drw_type type;
	uint32_t body_len;
	int r;

	if (fd < 0)
		return remus_err_set(err, DISKREP_EPEER, "no replication peer attached");
	if (cap < DRW_MAX_FRAME)
		return remus_err_set(err, -EINVAL, "frame buffer too small");
	r = read_exact(fd, buf, DRW_HDR_LEN, err);
	if (r == 1)
		return remus_err_set(err, DISKREP_EPEER, "peer closed the replication link");
	if (r < 0)
		return r;
	if ((r = parse_hdr(buf, &type, &body_len, err)) < 0)
		return r;
	r = read_exact(fd, buf + DRW_HDR_LEN, body_len, err);
	if (r == 1)
		return remus_err_set(err, DISKREP_EPEER, "peer closed mid-frame (type %d)", type);
	if (r < 0)
		return r;
	*len = DRW_HDR_LEN + body_len;
	return 0;
}
