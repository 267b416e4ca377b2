/*
 * The disk channel: diskrep's frames travel as RNET_MSG_DISK on the
 * replication link.  Each engine holds one end of a socketpair whose other
 * end is its diskrep handle's peer fd; bytes read from it are queued on the
 * link (primary: writes, epoch markers, resync; backup: resync replies),
 * and bytes from the link are written to it (primary) or cut into frames
 * and delivered (backup).  Frame cutting reads only the length field of
 * diskrep's 8-byte header (u32 little-endian at offset 4); diskrep itself
 * validates every frame.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/disk_impl.h"
#include "diskrep/diskrep.h"

#define DISK_CHUNK     (256u << 10)
#define DISK_HDR_LEN   8u
#define DISK_FRAME_MAX (DISK_HDR_LEN + 64u + DISKREP_MAX_WRITE)

void disk_channel_init(struct disk_channel *l, int fd)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
}

void disk_channel_free(struct disk_channel *l)
{
	free(l->pend);
	free(l->in);
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

/* Queue what diskrep wrote on the link.  Returns 0 when the socket is
 * drained, 1 when the link's queue is full (call again after a flush). */
int disk_channel_forward_out(struct disk_channel *l, struct rnet_conn *c, struct remus_err *err)
{
	ssize_t n;
	int rc;

	if (l->fd < 0)
		return 0;
	if (l->pend == NULL && (l->pend = malloc(DISK_CHUNK)) == NULL)
		return remus_err_sys(err, ENOMEM, "disk channel buffer");
	for (;;) {
		if (l->pend_len) {
			rc = rnet_conn_send_disk(c, l->pend, l->pend_len, err);
			if (rc == RNET_ENOBUFS)
				return 1;
			if (rc < 0)
				return rc;
			l->bytes_out += l->pend_len;
			l->pend_len = 0;
		}
		n = read(l->fd, l->pend, DISK_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0)
			return remus_err_sys(err, errno, "disk channel read");
		if (n == 0)
			return remus_err_set(err, -EPIPE, "disk channel closed by diskrep");
		l->pend_len = (size_t)n;
	}
}

/* Primary: bytes from the backup's diskrep (resync replies) to ours. */
int disk_channel_write_in(struct disk_channel *l, const uint8_t *p, size_t len, struct remus_err *err)
{
	while (len > 0) {
		ssize_t n = write(l->fd, p, len);
		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { l->fd, POLLOUT, 0 };
			if (poll(&pf, 1, 1000) <= 0)
				return remus_err_set(err, -ETIMEDOUT, "disk channel: diskrep not reading");
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return remus_err_sys(err, errno, "disk channel write");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Backup: append link bytes, deliver every complete frame to diskrep. */
int disk_channel_deliver_in(struct disk_channel *l, const struct diskrep_ops *dr, struct diskrep *d,
                   const uint8_t *p, size_t len, uint64_t *ready, struct remus_err *err)
{
	size_t off = 0;
	int rc;

	if (l->in_len + len > l->in_cap) {
		size_t cap = l->in_len + len > DISK_FRAME_MAX ? l->in_len + len : DISK_FRAME_MAX;
		uint8_t *n = realloc(l->in, cap);
		if (n == NULL)
			return remus_err_sys(err, ENOMEM, "disk channel reassembly");
		l->in = n;
		l->in_cap = cap;
	}
	memcpy(l->in + l->in_len, p, len);
	l->in_len += len;
	while (l->in_len - off >= DISK_HDR_LEN) {
		const uint8_t *h = l->in + off;
		uint64_t flen = DISK_HDR_LEN + ((uint32_t)h[4] | (uint32_t)h[5] << 8 |
		                                (uint32_t)h[6] << 16 | (uint32_t)h[7] << 24);
		struct diskrep_event ev;
		if (flen > DISK_FRAME_MAX)
			return remus_err_set(err, CKPT_ESTREAM, "disk frame of %" PRIu64 " bytes at "
			                     "channel offset %" PRIu64, flen, l->bytes_in + off);
		if (l->in_len - off < flen)
			break;
		if ((rc = dr->deliver(d, h, (size_t)flen, &ev, err)) < 0)
			return remus_err_wrap(err, "disk frame at channel offset %" PRIu64 "",
			                      l->bytes_in + off);
		if ((ev.type == DISKREP_EV_EPOCH_READY || ev.type == DISKREP_EV_SYNC_DONE) &&
		    ev.epoch > *ready)
			*ready = ev.epoch;
		off += (size_t)flen;
	}
	memmove(l->in, l->in + off, l->in_len - off);
	l->in_len -= off;
	l->bytes_in += off;
	return 0;
}
