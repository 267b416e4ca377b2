/*
 * rnet connection setup, as a non-blocking state machine the daemon can
 * drive from its poll loop (and a blocking wrapper for simple callers):
 *   P->B HELLO, B->P HELLO(neutral), P->B AUTH(primary),
 *   B->P AUTH(backup) CAPS(backup's caps + MAC) | ERROR
 * Each HELLO carries a fresh random nonce and both proofs are HMACs over
 * both HELLOs, so a recorded answer never fits a new connection.  The
 * backup says nothing about the guests it holds before the primary has
 * proved the key: its HELLO is neutral, its caps come in CAPS, bound to
 * this handshake by a MAC.  Any refusal is sent to the peer as an ERROR
 * frame (code + text) before closing, so both logs name the same reason.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "net/net_impl.h"

#define AUTH_LABEL_PRIMARY "remus auth primary v1"
#define AUTH_LABEL_BACKUP  "remus auth backup v1"
#define CAPS_LABEL_BACKUP  "remus caps backup v2"
#define HS_FRAME_MAX (RNET_HDR_LEN + RNET_HELLO_LEN + 4 + RNET_ERRTEXT_MAX)
_Static_assert(RNET_CAPS_MSG_LEN + RNET_MAC_LEN < HS_FRAME_MAX, "AUTH+CAPS fit");

enum hs_state { HS_TLS, HS_RECV_HELLO, HS_RECV_AUTH, HS_RECV_CAPS, HS_DONE, HS_FAILED };

struct rnet_hs {
	struct rnet_io *io;
	struct rnet_params p;
	bool primary;
	enum hs_state state;
	uint64_t deadline;
	uint64_t hello_deadline;        /* backup: the primary's HELLO by then */
	short events;                   /* what the last step waits for */
	uint8_t transcript[2 * RNET_HELLO_LEN];   /* primary's HELLO, backup's */
	struct rnet_hello self, peer;
	uint8_t out[2 * HS_FRAME_MAX];  /* frames waiting for the socket */
	size_t out_len, out_off;
	uint8_t frame[HS_FRAME_MAX];    /* the frame being received */
	size_t in_have;
	struct rnet_msg msg;
	struct remus_err fail;          /* our refusal, kept while ERROR drains */
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

/* Queue one handshake frame for sending. */
static void hs_queue(struct rnet_hs *hs, uint32_t type, const uint8_t *body, size_t len)
{
	rnet_frame_header(hs->out + hs->out_len, type, (uint32_t)len);
	memcpy(hs->out + hs->out_len + RNET_HDR_LEN, body, len);
	hs->out_len += RNET_HDR_LEN + len;
}

/* Refuse the peer: queue an ERROR naming why, and fail once it is out. */
static int hs_refuse(struct rnet_hs *hs, int code, struct remus_err *err)
{
	uint8_t body[4 + RNET_ERRTEXT_MAX];
	size_t n = strnlen(err->msg, RNET_ERRTEXT_MAX);

	put_be32(body, (uint32_t)-code);
	memcpy(body + 4, err->msg, n);
	if (n == 0)
		body[4 + n++] = '?';
	hs_queue(hs, RNET_MSG_ERROR, body, 4 + n);
	hs->fail = *err;
	hs->fail.code = code;
	hs->state = HS_FAILED;
	return 0;
}

/* Write queued bytes: 1 when all are out, 0 when the socket is full. */
static int hs_flush(struct rnet_hs *hs, struct remus_err *err)
{
	ssize_t n;

	while (hs->out_off < hs->out_len) {
		n = hs->io->ops->write(hs->io, hs->out + hs->out_off, hs->out_len - hs->out_off, err);
		if (n == -EAGAIN) {
			hs->events = POLLOUT;
			return 0;
		}
		if (n < 0)
			return (int)n;
		hs->out_off += (size_t)n;
	}
	hs->out_off = hs->out_len = 0;
	return 1;
}

/* Read toward `need` bytes in the frame buffer, never beyond (what follows
 * the handshake belongs to the connection).  1 when complete. */
static int hs_read_to(struct rnet_hs *hs, size_t need, struct remus_err *err)
{
	ssize_t n;

	while (hs->in_have < need) {
		n = hs->io->ops->read(hs->io, hs->frame + hs->in_have, need - hs->in_have, err);
		if (n == -EAGAIN) {
			hs->events = POLLIN;
			return 0;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return remus_err_set(err, RNET_ECLOSED,
					     "peer closed the connection during the handshake");
		hs->in_have += (size_t)n;
	}
	return 1;
}

/* Receive the next whole frame; an ERROR frame becomes the peer's refusal
 * with its code, any type but `want` a protocol error. */
static int hs_recv(struct rnet_hs *hs, uint32_t want, const char *what, struct remus_err *err)
{
	size_t used = 0, blen;
	uint32_t code;
	int rc;

	rc = hs_read_to(hs, RNET_HDR_LEN, err);
	if (rc <= 0)
		return rc;
	rc = rnet_frame_parse(hs->frame, RNET_HDR_LEN, &hs->msg, &used, err);
	if (rc < 0)
		return remus_err_wrap(err, "handshake, waiting for %s", what);
	blen = get_be32(hs->frame + 4);
	if (blen > sizeof(hs->frame) - RNET_HDR_LEN)
		return remus_err_set(err, RNET_EPROTO,
				     "handshake, waiting for %s: got a %zu-byte frame of type %u",
				     what, blen, get_be32(hs->frame));
	rc = hs_read_to(hs, RNET_HDR_LEN + blen, err);
	if (rc <= 0)
		return rc;
	hs->in_have = 0;
	rc = rnet_frame_parse(hs->frame, RNET_HDR_LEN + blen, &hs->msg, &used, err);
	if (rc < 0)
		return rc;
	if (hs->msg.type == RNET_MSG_ERROR) {
		code = get_be32(hs->msg.body);
		if (code < 3001 || code > 3999)
			code = (uint32_t)-RNET_EREFUSED;
		return remus_err_set(err, -(int)code, "peer refused: %.*s",
				     (int)(hs->msg.len - 4), (const char *)hs->msg.body + 4);
	}
	if (hs->msg.type != want)
		return remus_err_set(err, RNET_EPROTO,
				     "handshake: expected %s, got frame type %u", what, hs->msg.type);
	return 1;
}

/* Our HELLO, into our half of the transcript: the primary's names its
 * guest and caps, the backup's is neutral (its caps follow in CAPS). */
static int hs_make_hello(struct rnet_hs *hs, struct remus_err *err)
{
	uint8_t *mine = hs->transcript + (hs->primary ? 0 : RNET_HELLO_LEN);

	hs->self.version = RNET_VERSION;
	memset(&hs->self.caps, 0, sizeof(hs->self.caps));
	if (hs->primary)
		hs->self.caps = hs->p.caps;
	if (RAND_bytes(hs->self.nonce, RNET_NONCE_LEN) != 1)
		return remus_err_set(err, RNET_EKEY, "no randomness for the handshake nonce");
	if (rnet_hello_encode(&hs->self, mine) < 0)
		return remus_err_set(err, -EINVAL, "guest or hv name too long for HELLO");
	return 0;
}

/* Queue our proof: HMAC over both HELLOs under our role's label. */
static int hs_queue_proof(struct rnet_hs *hs, struct remus_err *err)
{
	uint8_t mac[RNET_MAC_LEN];
	int rc;

	rc = rnet_key_derive(hs->p.key, hs->primary ? AUTH_LABEL_PRIMARY : AUTH_LABEL_BACKUP,
			     hs->transcript, sizeof(hs->transcript), mac, err);
	if (rc == 0)
		hs_queue(hs, RNET_MSG_AUTH, mac, sizeof(mac));
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* The MAC binding the backup's caps block to this handshake. */
static int hs_caps_mac(struct rnet_hs *hs, const uint8_t caps[RNET_CAPS_LEN],
		       uint8_t mac[RNET_MAC_LEN], struct remus_err *err)
{
	uint8_t data[2 * RNET_HELLO_LEN + RNET_CAPS_LEN];

	memcpy(data, hs->transcript, sizeof(hs->transcript));
	memcpy(data + sizeof(hs->transcript), caps, RNET_CAPS_LEN);
	return rnet_key_derive(hs->p.key, CAPS_LABEL_BACKUP, data, sizeof(data), mac, err);
}

/* The peer's HELLO: judge version and form; the backup answers with its
 * own (neutral), the primary goes straight to its proof. */
static int hs_on_hello(struct rnet_hs *hs, struct remus_err *err)
{
	uint8_t *mine = hs->transcript + (hs->primary ? 0 : RNET_HELLO_LEN);
	uint8_t *theirs = hs->transcript + (hs->primary ? RNET_HELLO_LEN : 0);
	int rc = rnet_hello_parse(hs->msg.body, hs->msg.len, &hs->peer, err);

	if (rc < 0)
		return hs_refuse(hs, rc, err);
	if (hs->primary && !rnet_caps_neutral(&hs->peer.caps))
		return hs_refuse(hs, remus_err_set(err, RNET_EPROTO,
				 "backup's HELLO discloses capabilities before authentication"), err);
	if (!hs->primary && rnet_caps_neutral(&hs->peer.caps))
		return hs_refuse(hs, remus_err_set(err, RNET_EPROTO,
				 "primary's HELLO names no guest or capabilities"), err);
	memcpy(theirs, hs->msg.body, RNET_HELLO_LEN);
	hs->state = HS_RECV_AUTH;
	hs->hello_deadline = 0;
	if (!hs->primary) {
		hs_queue(hs, RNET_MSG_HELLO, mine, RNET_HELLO_LEN);
		return 0;
	}
	return hs_queue_proof(hs, err);
}

/* Backup, the primary authenticated: choose our caps for the guest it
 * names, give the verdict, then prove ourselves and disclose the caps. */
static int hs_backup_answer(struct rnet_hs *hs, struct remus_err *err)
{
	uint8_t body[RNET_CAPS_MSG_LEN];
	int rc;

	if (hs->p.choose_caps)      /* a daemon with several replicas */
		hs->p.choose_caps(hs->p.choose_arg, &hs->peer.caps, &hs->p.caps);
	hs->self.caps = hs->p.caps;
	rc = rnet_caps_check(&hs->peer.caps, &hs->self.caps, err);
	if (rc < 0)
		return hs_refuse(hs, rc, err);
	if (rnet_caps_encode(&hs->self.caps, body) < 0)
		return remus_err_set(err, -EINVAL, "guest or hv name too long for CAPS");
	if ((rc = hs_queue_proof(hs, err)) < 0 ||
	    (rc = hs_caps_mac(hs, body, body + RNET_CAPS_LEN, err)) < 0)
		return rc;
	hs_queue(hs, RNET_MSG_CAPS, body, sizeof(body));
	OPENSSL_cleanse(body, sizeof(body));
	hs->state = HS_DONE;
	return 0;
}

/* The peer's proof (constant-time check); the capability verdict is only
 * given to an authenticated peer. */
static int hs_on_auth(struct rnet_hs *hs, struct remus_err *err)
{
	uint8_t mac[RNET_MAC_LEN];
	int rc, same;

	rc = rnet_key_derive(hs->p.key, hs->primary ? AUTH_LABEL_BACKUP : AUTH_LABEL_PRIMARY,
			     hs->transcript, sizeof(hs->transcript), mac, err);
	if (rc < 0)
		return rc;
	same = CRYPTO_memcmp(mac, hs->msg.body, RNET_MAC_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!same)
		return hs_refuse(hs, remus_err_set(err, RNET_EAUTH,
				 "authentication failed: the peer does not hold our key"), err);
	if (!hs->primary)
		return hs_backup_answer(hs, err);
	hs->state = HS_RECV_CAPS;
	return 0;
}

/* Primary: the authenticated backup's caps (MAC over this handshake), then
 * the same verdict the backup gave. */
static int hs_on_caps(struct rnet_hs *hs, struct remus_err *err)
{
	uint8_t mac[RNET_MAC_LEN];
	int rc, same;

	rc = hs_caps_mac(hs, hs->msg.body, mac, err);
	if (rc < 0)
		return rc;
	same = CRYPTO_memcmp(mac, hs->msg.body + RNET_CAPS_LEN, RNET_MAC_LEN) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!same)
		return hs_refuse(hs, remus_err_set(err, RNET_EAUTH,
				 "backup's capabilities fail their MAC"), err);
	rc = rnet_caps_parse(hs->msg.body, RNET_CAPS_LEN, &hs->peer.caps, err);
	if (rc < 0)
		return hs_refuse(hs, rc, err);
	rc = rnet_caps_check(&hs->self.caps, &hs->peer.caps, err);
	if (rc < 0)
		return hs_refuse(hs, rc, err);
	hs->state = HS_DONE;
	return 0;
}

/* Leave the TLS phase: the primary speaks first. */
static void hs_after_tls(struct rnet_hs *hs)
{
	hs->state = HS_RECV_HELLO;
	if (hs->primary)
		hs_queue(hs, RNET_MSG_HELLO, hs->transcript, RNET_HELLO_LEN);
}

/* Receive and handle the frame the current state waits for: 1 handled,
 * 0 more bytes needed, <0 error. */
static int hs_recv_state(struct rnet_hs *hs, struct remus_err *err)
{
	static const struct {
		uint32_t type;
		const char *name;
		int (*on)(struct rnet_hs *, struct remus_err *);
	} want[] = {
		[HS_RECV_HELLO] = { RNET_MSG_HELLO, "HELLO", hs_on_hello },
		[HS_RECV_AUTH]  = { RNET_MSG_AUTH, "AUTH", hs_on_auth },
		[HS_RECV_CAPS]  = { RNET_MSG_CAPS, "CAPS", hs_on_caps },
	};
	int rc = hs_recv(hs, want[hs->state].type, want[hs->state].name, err);

	if (rc <= 0)
		return rc;
	rc = want[hs->state].on(hs, err);
	return rc < 0 ? rc : 1;
}

/* Advance the handshake as far as the socket allows without blocking. */
int rnet_hs_step(struct rnet_hs *hs, uint64_t now_ms, struct rnet_conn **conn,
		 struct remus_err *err)
{
	int rc;

	*conn = NULL;
	if (now_ms >= hs->deadline)
		return remus_err_set(err, RNET_ETIMEOUT, "handshake timed out");
	if (hs->hello_deadline && now_ms >= hs->hello_deadline)
		return remus_err_set(err, RNET_ETIMEOUT, "handshake timed out: no HELLO within %u ms",
				     hs->p.hello_ms);
	for (;;) {
		if (hs->state == HS_TLS) {
			rc = rnet_io_tls_step(hs->io, &hs->events, err);
			if (rc <= 0)
				return rc;
			hs_after_tls(hs);
		}
		rc = hs_flush(hs, err);
		if (rc <= 0 && hs->state != HS_FAILED)
			return rc;
		if (rc == 0)
			return 0;
		if (hs->state == HS_FAILED) {
			if (err != NULL)
				*err = hs->fail;
			return hs->fail.code;
		}
		if (hs->state == HS_DONE) {
			rc = rnet_conn_new(hs->io, &hs->p, &hs->peer.caps,
					   hs->primary ? hs->p.caps.compress : hs->peer.caps.compress,
					   conn, err);
			hs->io = NULL;
			return rc < 0 ? rc : 1;
		}
		rc = hs_recv_state(hs, err);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return 0;
	}
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

/* Begin a handshake on a connected socket; nothing is sent until step. */
int rnet_hs_start(int fd, bool primary, const struct rnet_params *p, uint64_t now_ms,
		  struct rnet_hs **out, struct remus_err *err)
{
	struct rnet_hs *hs;
	int rc;

	*out = NULL;
	if (p->key == NULL || p->key->len == 0) {
		close(fd);
		return remus_err_set(err, RNET_EKEY, "no pre-shared key: authentication is mandatory");
	}
	hs = calloc(1, sizeof(*hs));
	if (hs == NULL) {
		close(fd);
		return remus_err_sys(err, ENOMEM, "rnet handshake");
	}
	hs->p = *p;
	hs->primary = primary;
	hs->deadline = now_ms + (p->handshake_ms ? p->handshake_ms : RNET_HANDSHAKE_DEFAULT);
	if (!primary && p->hello_ms && now_ms + p->hello_ms < hs->deadline)
		hs->hello_deadline = now_ms + p->hello_ms;
	hs->events = POLLIN;
	rc = hs_prepare_fd(fd, err);
	if (rc == 0)
		rc = hs_make_hello(hs, err);
	if (rc == 0)
		rc = p->tls ? rnet_io_tls_new(fd, !primary, p->key, &hs->io, err)
			    : rnet_io_plain_new(fd, &hs->io, err);
	if (rc < 0) {
		close(fd);
		free(hs);
		return rc;
	}
	if (p->tls)
		hs->state = HS_TLS;
	else
		hs_after_tls(hs);
	*out = hs;
	return 0;
}

/* The socket to poll while the handshake runs. */
int rnet_hs_fd(const struct rnet_hs *hs)
{
	return hs->io ? hs->io->fd : -1;
}

/* What the last step waits for (POLLIN or POLLOUT). */
short rnet_hs_events(const struct rnet_hs *hs)
{
	return hs->events;
}

/* Time left before the next deadline (HELLO or whole handshake), for the
 * poll timeout. */
uint32_t rnet_hs_next_ms(const struct rnet_hs *hs, uint64_t now_ms)
{
	uint64_t due = hs->deadline;

	if (hs->hello_deadline && hs->hello_deadline < due)
		due = hs->hello_deadline;
	return due > now_ms ? (uint32_t)(due - now_ms) : 0;
}

/* Has the peer's HELLO arrived (the handshake made real progress)? */
bool rnet_hs_got_hello(const struct rnet_hs *hs)
{
	return hs->state != HS_TLS && hs->state != HS_RECV_HELLO;
}

/* Drop a finished or abandoned handshake (and its socket if not handed on). */
void rnet_hs_free(struct rnet_hs *hs)
{
	if (hs == NULL)
		return;
	rnet_io_free(hs->io);
	OPENSSL_cleanse(hs, sizeof(*hs));
	free(hs);
}

/* The blocking form: run the state machine with poll() until done. */
int rnet_handshake_fd(int fd, bool primary, const struct rnet_params *p,
		      struct rnet_conn **out, struct remus_err *err)
{
	struct remus_err local = { 0 };
	struct rnet_hs *hs = NULL;
	int rc;

	if (err == NULL)
		err = &local;
	*out = NULL;
	rc = rnet_hs_start(fd, primary, p, rnet_now_ms(), &hs, err);
	while (rc == 0) {
		rc = rnet_hs_step(hs, rnet_now_ms(), out, err);
		if (rc == 0)
			rc = rnet_wait_fd(rnet_hs_fd(hs), rnet_hs_events(hs), hs->deadline, err);
	}
	rnet_hs_free(hs);
	return rc < 0 ? rc : 0;
}
