/*
 * stream_buf: growable output buffer of owned bytes and references to
 * caller memory, flushed with writev (blocking or non-blocking fds).
 */
#include "stream/stream.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/checked.h"

void stream_buf_init(struct stream_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void stream_buf_free(struct stream_buf *b)
{
	free(b->data);
	free(b->segs);
	memset(b, 0, sizeof(*b));
}

void stream_buf_reset(struct stream_buf *b)
{
	b->len = 0;
	b->nsegs = 0;
	b->total = 0;
	b->sent_seg = b->sent_off = b->sent = 0;
}

/* Make room for `more` owned bytes. */
static int reserve(struct stream_buf *b, size_t more)
{
	size_t need, cap;
	uint8_t *p;

	if (!ck_add_size(b->len, more, &need))
		return -ENOMEM;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 4096;
	while (cap < need) {
		if (!ck_mul_size(cap, 2, &cap))
			return -ENOMEM;
	}
	p = realloc(b->data, cap);
	if (p == NULL)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/* Append a segment, merging with the previous one when contiguous. */
static int add_seg(struct stream_buf *b, const uint8_t *ext, size_t off, size_t len)
{
	struct stream_seg *s;

	if (len == 0)
		return 0;
	if (b->nsegs > 0) {
		s = &b->segs[b->nsegs - 1];
		if (ext == NULL && s->ext == NULL && s->off + s->len == off) {
			s->len += len;
			b->total += len;
			return 0;
		}
		if (ext != NULL && s->ext != NULL && s->ext + s->len == ext) {
			s->len += len;
			b->total += len;
			return 0;
		}
	}
	if (b->nsegs == b->segcap) {
		size_t cap = b->segcap ? b->segcap * 2 : 64;
		s = realloc(b->segs, cap * sizeof(*s));
		if (s == NULL)
			return -ENOMEM;
		b->segs = s;
		b->segcap = cap;
	}
	b->segs[b->nsegs++] = (struct stream_seg){ ext, off, len };
	b->total += len;
	return 0;
}

/* Claim `len` bytes of owned data at the end of b for the caller to fill;
 * on failure b is unchanged. */
static int append_space(struct stream_buf *b, size_t len, uint8_t **dst)
{
	int rc;

	rc = reserve(b, len);
	if (rc < 0)
		return rc;
	/* Reserve the segment slot first so that failure leaves b unchanged. */
	rc = add_seg(b, NULL, b->len, len);
	if (rc < 0)
		return rc;
	*dst = b->data + b->len;
	b->len += len;
	return 0;
}

int stream_buf_append(struct stream_buf *b, const void *p, size_t len)
{
	uint8_t *dst;
	int rc;

	if (len == 0)
		return 0;
	rc = append_space(b, len, &dst);
	if (rc == 0)
		memcpy(dst, p, len);
	return rc;
}

int stream_buf_append_zero(struct stream_buf *b, size_t len)
{
	uint8_t *dst;
	int rc;

	if (len == 0)
		return 0;
	rc = append_space(b, len, &dst);
	if (rc == 0)
		memset(dst, 0, len);
	return rc;
}

int stream_buf_append_ref(struct stream_buf *b, const void *p, size_t len)
{
	return add_seg(b, p, 0, len);
}

static const uint8_t *seg_base(const struct stream_buf *b, const struct stream_seg *s)
{
	return s->ext ? s->ext : b->data + s->off;
}

int stream_buf_iov(const struct stream_buf *b, struct iovec *iov, int max)
{
	int n = 0;
	size_t i, skip = b->sent_off;

	for (i = b->sent_seg; i < b->nsegs && n < max; i++) {
		const struct stream_seg *s = &b->segs[i];
		iov[n].iov_base = (void *)(seg_base(b, s) + skip);
		iov[n].iov_len = s->len - skip;
		skip = 0;
		n++;
	}
	return n;
}

/* Mark `n` more bytes as flushed. */
static void advance(struct stream_buf *b, size_t n)
{
	b->sent += n;
	while (n > 0 && b->sent_seg < b->nsegs) {
		size_t left = b->segs[b->sent_seg].len - b->sent_off;
		if (n < left) {
			b->sent_off += n;
			return;
		}
		n -= left;
		b->sent_seg++;
		b->sent_off = 0;
	}
}

/*
 * On a socket, sendmsg(MSG_NOSIGNAL): a peer that went away is an EPIPE
 * error, not a SIGPIPE that kills the daemon.  Other fds: writev.
 */
static ssize_t put_iov(int fd, struct iovec *iov, int n)
{
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);

	if (w < 0 && errno == ENOTSOCK)
		w = writev(fd, iov, n);
	return w;
}

int stream_buf_flush(struct stream_buf *b, int fd)
{
	struct iovec iov[64];

	while (stream_buf_pending(b) > 0) {
		int n = stream_buf_iov(b, iov, 64);
		ssize_t w = put_iov(fd, iov, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno;
		}
		advance(b, (size_t)w);
	}
	return 0;
}

void stream_buf_copy_out(const struct stream_buf *b, void *dst)
{
	uint8_t *d = dst;
	size_t i, skip = b->sent_off;

	for (i = b->sent_seg; i < b->nsegs; i++) {
		const struct stream_seg *s = &b->segs[i];
		memcpy(d, seg_base(b, s) + skip, s->len - skip);
		d += s->len - skip;
		skip = 0;
	}
}

const uint8_t *stream_buf_flat(const struct stream_buf *b)
{
	if (b->sent > 0)
		return NULL;
	if (b->nsegs == 0)
		return b->data ? b->data : (const uint8_t *)"";
	if (b->nsegs == 1 && b->segs[0].ext == NULL)
		return b->data;
	return NULL;
}
