/*
 * rnet connection setup: HELLO both ways, then mutual HMAC-SHA256
 * challenge-response over the two HELLOs (each carries a fresh nonce, so a
 * recorded answer never fits a new connection), then the capability
 * verdict.  The primary connects, the backup accepts:
 *   P->B HELLO, B->P HELLO, P->B AUTH(primary), B->P AUTH(backup) | ERROR
 * Any refusal is sent to the peer as an ERROR frame (code + text) before
 * closing, so both logs name the same reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "net/net_impl.h"

#define AUTH_LABEL_PRIMARY "remus auth primary v1"
#define AUTH_LABEL_BACKUP  "remus auth backup v1"

/* One handshake in progress: the io, the deadline, both HELLOs. */
struct hs {
	struct rnet_io *io;
	const struct rnet_params *p;
	bool primary;
	uint64_t deadline;
	uint8_t transcript[2 * RNET_HELLO_LEN];   /* primary's HELLO, backup's */
	struct rnet_hello self, peer;
	uint8_t frame[RNET_HDR_LEN + RNET_HELLO_LEN + 4 + RNET_ERRTEXT_MAX];
	struct rnet_msg msg;
};

/* Monotonic milliseconds: the default clock for deadlines. */
uint64_t rnet_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Block in poll() until fd is ready or the deadline passes. */
int rnet_wait_fd(int fd, short events, uint64_t deadline_ms, struct remus_err *err)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now;
	int n;

	for (;;) {
		now = rnet_now_ms();
		if (now >= deadline_ms)
			return remus_err_set(err, RNET_ETIMEOUT, "handshake timed out");
		n = poll(&pfd, 1, (int)(deadline_ms - now));
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
	}
}

/* Write all of buf through the io before the deadline. */
static int hs_write_all(struct hs *hs, const uint8_t *buf, size_t len, struct remus_err *err)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = hs->io->ops->write(hs->io, buf, len, err);
		if (n == -EAGAIN) {
			rc = rnet_wait_fd(hs->io->fd, POLLOUT, hs->deadline, err);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return (int)n;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read exactly len bytes (never more: what follows belongs to the conn). */
static int hs_read_exact(struct hs *hs, uint8_t *buf, size_t len, struct remus_err *err)
{
	ssize_t n;
	int rc;

	while (len > 0) {
		n = hs->io->ops->read(hs->io, buf, len, err);
		if (n == -EAGAIN) {
			rc = rnet_wait_fd(hs->io->fd, POLLIN, hs->deadline, err);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return remus_err_set(err, RNET_ECLOSED,
					     "peer closed the connection during the handshake");
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Send one handshake frame. */
static int hs_send(struct hs *hs, uint32_t type, const uint8_t *body, size_t len,
		   struct remus_err *err)
{
	uint8_t hdr[RNET_HDR_LEN];
	int rc;

	rnet_frame_header(hdr, type, (uint32_t)len);
	rc = hs_write_all(hs, hdr, sizeof(hdr), err);
	return rc < 0 ? rc : hs_write_all(hs, body, len, err);
}

/* Tell the peer why we refuse (best effort), keeping our own error. */
static int hs_refuse(struct hs *hs, int code, struct remus_err *err)
{
	uint8_t body[4 + RNET_ERRTEXT_MAX];
	size_t n = strnlen(err->msg, RNET_ERRTEXT_MAX);
	struct remus_err ignored = { 0 };

	rnet_put_u32(body, (uint32_t)-code);
	memcpy(body + 4, err->msg, n);
	if (n > 0)
		hs_send(hs, RNET_MSG_ERROR, body, 4 + n, &ignored);
	return code;
}

/* Receive the next frame; an ERROR frame becomes the peer's refusal with
 * its code, any type but `want` a protocol error. */
static int hs_recv(struct hs *hs, uint32_t want, const char *what, struct remus_err *err)
{
	size_t consumed = 0, blen;
	uint32_t code;
	int rc;

	rc = hs_read_exact(hs, hs->frame, RNET_HDR_LEN, err);
	if (rc < 0)
		return rc;
	rc = rnet_frame_parse(hs->frame, RNET_HDR_LEN, &hs->msg, &consumed, err);
	if (rc < 0)
		return remus_err_wrap(err, "handshake, waiting for %s", what);
	blen = rnet_get_u32(hs->frame + 4);
	if (rc == 0 && blen > sizeof(hs->frame) - RNET_HDR_LEN)
		return remus_err_set(err, RNET_EPROTO,
				     "handshake, waiting for %s: got a %zu-byte frame of type %u",
				     what, blen, rnet_get_u32(hs->frame));
	rc = hs_read_exact(hs, hs->frame + RNET_HDR_LEN, blen, err);
	if (rc < 0)
		return rc;
	rc = rnet_frame_parse(hs->frame, RNET_HDR_LEN + blen, &hs->msg, &consumed, err);
	if (rc < 0)
		return rc;
	if (hs->msg.type == RNET_MSG_ERROR) {
		code = rnet_get_u32(hs->msg.body);
		if (code == 0 || code > 3999 || code < 3001)
			code = (uint32_t)-RNET_EREFUSED;
		return remus_err_set(err, -(int)code, "peer refused: %.*s",
				     (int)(hs->msg.len - 4), (const char *)hs->msg.body + 4);
	}
	if (hs->msg.type != want)
		return remus_err_set(err, RNET_EPROTO,
				     "handshake: expected %s, got frame type %u", what, hs->msg.type);
	return 0;
}

/* Exchange HELLOs: the primary speaks first so the backup can judge the
 * version before revealing anything else. */
static int hs_hellos(struct hs *hs, struct remus_err *err)
{
	uint8_t *mine = hs->transcript + (hs->primary ? 0 : RNET_HELLO_LEN);
	uint8_t *theirs = hs->transcript + (hs->primary ? RNET_HELLO_LEN : 0);
	int rc;

	hs->self.version = RNET_VERSION;
	hs->self.caps = hs->p->caps;
	if (RAND_bytes(hs->self.nonce, RNET_NONCE_LEN) != 1)
		return remus_err_set(err, RNET_EKEY, "no randomness for the handshake nonce");
	if (rnet_hello_encode(&hs->self, mine) < 0)
		return remus_err_set(err, -EINVAL, "guest or hv name too long for HELLO");
	if (hs->primary) {
		rc = hs_send(hs, RNET_MSG_HELLO, mine, RNET_HELLO_LEN, err);
		if (rc < 0)
			return rc;
	}
	rc = hs_recv(hs, RNET_MSG_HELLO, "HELLO", err);
	if (rc < 0)
		return rc;
	rc = rnet_hello_parse(hs->msg.body, hs->msg.len, &hs->peer, err);
	if (rc < 0)
		return hs_refuse(hs, rc, err);
	memcpy(theirs, hs->msg.body, RNET_HELLO_LEN);
	if (!hs->primary)
		rc = hs_send(hs, RNET_MSG_HELLO, mine, RNET_HELLO_LEN, err);
	return rc;
}

/* Prove we hold the key: HMAC over both HELLOs under our role's label. */
static int hs_send_proof(struct hs *hs, struct remus_err *err)
{
	uint8_t mac[RNET_MAC_LEN];
	int rc;

	rc = rnet_key_derive(hs->p->key, hs->primary ? AUTH_LABEL_PRIMARY : AUTH_LABEL_BACKUP,
			     hs->transcript, sizeof(hs->transcript), mac, err);
	if (rc < 0)
		return rc;
	rc = hs_send(hs, RNET_MSG_AUTH, mac, sizeof(mac), err);
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Check the peer's proof in constant time. */
static int hs_check_proof(struct hs *hs, struct remus_err *err)
{
	uint8_t mac[RNET_MAC_LEN];
	int rc, same;

	rc = hs_recv(hs, RNET_MSG_AUTH, "AUTH", err);
	if (rc < 0)
		return rc;
	rc = rnet_key_derive(hs->p->key, hs->primary ? AUTH_LABEL_BACKUP : AUTH_LABEL_PRIMARY,
			     hs->transcript, sizeof(hs->transcript), mac, err);
	if (rc < 0)
		return rc;
	same = CRYPTO_memcmp(mac, hs->msg.body, RNET_MAC_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!same)
		return hs_refuse(hs, remus_err_set(err, RNET_EAUTH,
						   "authentication failed: the peer does not hold our key"),
				 err);
	return 0;
}

/* The same capability verdict on both sides. */
static int hs_caps(struct hs *hs, struct remus_err *err)
{
	const struct rnet_caps *pri = hs->primary ? &hs->self.caps : &hs->peer.caps;
	const struct rnet_caps *bak = hs->primary ? &hs->peer.caps : &hs->self.caps;
	int rc = rnet_caps_check(pri, bak, err);

	return rc < 0 ? hs_refuse(hs, rc, err) : 0;
}

/* Run the role's sequence of steps. */
static int hs_run(struct hs *hs, struct remus_err *err)
{
	int rc = hs_hellos(hs, err);

	if (rc < 0)
		return rc;
	if (hs->primary) {
		rc = hs_send_proof(hs, err);
		if (rc == 0)
			rc = hs_check_proof(hs, err);
		if (rc == 0)
			rc = hs_caps(hs, err);
	} else {
		rc = hs_check_proof(hs, err);
		if (rc == 0)
			rc = hs_caps(hs, err);
		if (rc == 0)
			rc = hs_send_proof(hs, err);
	}
	return rc;
}

/* Make the socket non-blocking and latency-friendly before any traffic. */
static int hs_prepare_fd(int fd, struct remus_err *err)
{
	int fl = fcntl(fd, F_GETFL), one = 1;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return remus_err_sys(err, errno, "fcntl O_NONBLOCK");
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Handshake on a connected socket; the conn owns fd afterwards, and fd is
 * closed on any failure. */
int rnet_handshake_fd(int fd, bool primary, const struct rnet_params *p,
		      struct rnet_conn **out, struct remus_err *err)
{
	struct hs hs = { .p = p, .primary = primary };
	uint32_t ms = p->handshake_ms ? p->handshake_ms : RNET_HANDSHAKE_DEFAULT;
	struct remus_err local = { 0 };
	int rc;

	*out = NULL;
	if (err == NULL)
		err = &local;
	hs.deadline = rnet_now_ms() + ms;
	if (p->key == NULL || p->key->len == 0) {
		close(fd);
		return remus_err_set(err, RNET_EKEY, "no pre-shared key: authentication is mandatory");
	}
	rc = hs_prepare_fd(fd, err);
	if (rc == 0)
		rc = p->tls ? rnet_io_tls_new(fd, !primary, p->key, hs.deadline, &hs.io, err)
			    : rnet_io_plain_new(fd, &hs.io, err);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	rc = hs_run(&hs, err);
	if (rc == 0)
		rc = rnet_conn_new(hs.io, p, &hs.peer.caps,
				   primary ? p->caps.compress : hs.peer.caps.compress, out, err);
	else
		rnet_io_free(hs.io);
	OPENSSL_cleanse(&hs, sizeof(hs));
	return rc;
}
