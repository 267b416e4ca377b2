/*
 * The hand-over stream's transport between the old daemon and the new one
 * it started: a unix stream socket, the descriptors as SCM_RIGHTS on the
 * first message (with the preamble that says how many and how long the
 * stream is), then the stream's bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remusd/upgrade_stream.h"
#include "util/bytes.h"

int lu_send(int sock, struct stream_buf *stream, const int *fds, unsigned nfds,
            struct remus_err *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * LU_MAX_FDS)];
	} c;
	uint8_t pre[8];
	struct iovec iov = { pre, sizeof(pre) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t len = stream_buf_pending(stream);
	ssize_t n;
	int rc;

	if (nfds > LU_MAX_FDS || len > LU_STREAM_MAX)
		return remus_err_set(err, LU_E_LIMIT, "hand-over: %u descriptors, %zu bytes: over "
		                     "the limits (%u, %u)", nfds, len, LU_MAX_FDS, LU_STREAM_MAX);
	put_le32(pre, (uint32_t)len);
	put_le32(pre + 4, nfds);
	if (nfds) {
		memset(&c, 0, sizeof(c));
		m.msg_control = c.buf;
		m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);
		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(h), fds, sizeof(int) * nfds);
	}
	while ((n = sendmsg(sock, &m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return remus_err_sys(err, errno, "hand-over: sending %u descriptors", nfds);
	if (n != (ssize_t)sizeof(pre))
		return remus_err_set(err, -EIO, "hand-over: preamble cut at %zd bytes", n);
	if ((rc = stream_buf_flush(stream, sock)) < 0)
		return remus_err_sys(err, -rc, "hand-over: sending the %zu-byte stream", len);
	return 0;
}

/* Close every descriptor a message brought. */
static void close_all(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		close(fds[i]);
}

/* Read exactly len bytes (blocking). */
static int read_all(int sock, uint8_t *p, size_t len, struct remus_err *err)
{
	for (size_t done = 0; done < len; ) {
		ssize_t n = read(sock, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return remus_err_sys(err, errno, "hand-over: reading the stream");
		if (n == 0)
			return remus_err_set(err, LU_E_TRUNCATED, "hand-over: the stream ended after "
			                     "%zu of %zu bytes", done, len);
		done += (size_t)n;
	}
	return 0;
}

int lu_recv(int sock, uint8_t **buf, size_t *len, int *fds, unsigned *nfds,
            struct remus_err *err)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * LU_MAX_FDS)];
	} c;
	uint8_t pre[8];
	struct iovec iov = { pre, sizeof(pre) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
	                    .msg_controllen = sizeof(c.buf) };
	unsigned got = 0;
	uint32_t want_len, want_fds;
	ssize_t n;
	int rc;

	*buf = NULL;
	*len = 0;
	*nfds = 0;
	while ((n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return remus_err_sys(err, errno, "hand-over: receiving the preamble");
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h != NULL; h = CMSG_NXTHDR(&m, h)) {
		if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
			continue;
		unsigned k = (unsigned)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		if (k > LU_MAX_FDS - got)
			k = LU_MAX_FDS - got;
		memcpy(fds + got, CMSG_DATA(h), k * sizeof(int));
		got += k;
	}
	if (n != (ssize_t)sizeof(pre)) {
		rc = remus_err_set(err, LU_E_TRUNCATED, "hand-over: preamble of %zd bytes, must be 8", n);
		goto bad;
	}
	if (m.msg_flags & MSG_CTRUNC) {
		rc = remus_err_set(err, LU_E_LIMIT, "hand-over: more than %u descriptors", LU_MAX_FDS);
		goto bad;
	}
	want_len = get_le32(pre);
	want_fds = get_le32(pre + 4);
	if (want_fds != got) {
		rc = remus_err_set(err, LU_E_FD, "hand-over: preamble announces %u descriptors, %u came",
		                   want_fds, got);
		goto bad;
	}
	if (want_len > LU_STREAM_MAX || want_len == 0) {
		rc = remus_err_set(err, LU_E_LIMIT, "hand-over: stream of %u bytes (1..%u)", want_len,
		                   LU_STREAM_MAX);
		goto bad;
	}
	if ((*buf = malloc(want_len)) == NULL) {
		rc = remus_err_sys(err, ENOMEM, "hand-over: stream buffer of %u bytes", want_len);
		goto bad;
	}
	if ((rc = read_all(sock, *buf, want_len, err)) < 0) {
		free(*buf);
		*buf = NULL;
		goto bad;
	}
	*len = want_len;
	*nfds = got;
	return 0;
bad:
	close_all(fds, got);
	return rc;
}
