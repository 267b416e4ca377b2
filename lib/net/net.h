/*
 * rnet — the replication transport between two remusd daemons.
 *
 * A TCP connection (optionally TLS 1.3 with an external PSK) that starts
 * with a handshake: HELLO both ways (magic, protocol version, capabilities,
 * guest identity, a fresh 32-byte nonce), then a mutual HMAC-SHA256
 * challenge-response over both HELLOs with the pre-shared key.  After it,
 * a framed, typed message layer: u32 type, u32 length (big-endian), body.
 * Every type's length is checked exactly (or against its bounds) before use.
 *
 * The connection object (`struct rnet_conn`) never blocks and owns no
 * thread: the caller polls `rnet_conn_fd()`, calls `rnet_conn_feed()` when
 * readable, `rnet_conn_flush()` when writable (or `rnet_conn_want_write()`),
 * and `rnet_conn_tick()` with its clock so heartbeats go out and a silent
 * peer is detected.  Time is always passed in (milliseconds, any monotonic
 * origin) so tests drive it without sleeping.
 *
 * Errors: 0 or negative (-errno for a failed system call, RNET_E* for bad
 * data, refused peers, timeouts); the message is in the caller's remus_err.
 * See docs/transport.md for the wire format.
 */
#ifndef REMUS_NET_H
#define REMUS_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/api.h"

REMUS_API_BEGIN

#define RNET_VERSION        2u              /* 2: backup caps after auth (CAPS) */
#define RNET_MAGIC          "REMUSRPL"      /* 8 bytes, no NUL on the wire */
#define RNET_NONCE_LEN      32u
#define RNET_MAC_LEN        32u             /* HMAC-SHA256 */
#define RNET_HDR_LEN        8u              /* u32 type, u32 length */
#define RNET_BODY_MAX       (1u << 20)      /* largest frame body */
#define RNET_NAME_MAX       64u             /* guest name field, NUL incl. */
#define RNET_HV_MAX         16u             /* hv driver name field */
#define RNET_ERRTEXT_MAX    256u            /* ERROR frame body */
#define RNET_KEY_MIN        32u             /* decoded bytes: 256 bits */
#define RNET_KEY_MAX        4096u           /* decoded bytes */
#define RNET_KEY_FILE_MAX   (2 * RNET_KEY_MAX + 2)  /* hex text + CR LF */

#define RNET_ERRORS(X) \
	X(RNET_EPROTO,   -3001, "malformed frame or message from the peer") \
	X(RNET_EVERSION, -3002, "protocol version or magic mismatch") \
	X(RNET_ECAPS,    -3003, "capability or guest identity mismatch") \
	X(RNET_EAUTH,    -3004, "authentication failed (wrong or no key)") \
	X(RNET_EKEY,     -3005, "our key file is unusable") \
	X(RNET_ETIMEOUT, -3006, "peer silent past the timeout / deadline") \
	X(RNET_ECLOSED,  -3007, "peer closed the connection") \
	X(RNET_EREFUSED, -3008, "peer sent an ERROR frame (its text in err)") \
	X(RNET_ETLS,     -3009, "TLS layer failure") \
	X(RNET_ENOBUFS,  -3010, "output queue above its bound: back off")
enum rnet_error { RNET_ERRORS(REMUS_ERR_ENUM) };

/* Frame types.  Handshake frames first, then the session channels. */
enum rnet_msg_type {
	RNET_MSG_HELLO       = 1,   /* exact RNET_HELLO_LEN (version 1) */
	RNET_MSG_AUTH        = 2,   /* exact RNET_MAC_LEN */
	RNET_MSG_ERROR       = 3,   /* u32 code (-RNET_E*), 1..RNET_ERRTEXT_MAX text */
	RNET_MSG_CAPS        = 4,   /* exact RNET_CAPS_MSG_LEN: backup's caps + MAC */
	RNET_MSG_STREAM      = 16,  /* 1..RNET_BODY_MAX migration-stream bytes */
	RNET_MSG_STREAM_ZLIB = 17,  /* u32 raw length + zlib data */
	RNET_MSG_ACK         = 18,  /* exact 8: u64 checkpoint number */
	RNET_MSG_HEARTBEAT   = 19,  /* exact 8: u64 sender sequence */
	RNET_MSG_DISK        = 20,  /* 1..RNET_BODY_MAX opaque diskrep bytes */
	RNET_MSG_BYE         = 21,  /* exact 4: u32 reason, clean shutdown */
	RNET_MSG_CHECK       = 22,  /* RNET_CHECK_MIN..MAX: the backup's answer to a
	                             * check-only link (body: remusd's check_proto) */
	RNET_MSG_STREAM_ZSTD = 23,  /* u32 raw length + one zstd frame */
};

enum rnet_compress {
	RNET_COMPRESS_NONE  = 0,
	RNET_COMPRESS_ZLIB  = 1,
	RNET_COMPRESS_DELTA = 2,    /* done by the engine; rnet just carries it */
	RNET_COMPRESS_ZSTD  = 3,
	RNET_COMPRESS_DELTA_ZSTD = 4,   /* the engine's delta, then zstd by rnet */
	RNET_COMPRESS_COUNT
};
#define RNET_COMPRESS_BIT(k) (1u << (k))

#define RNET_CAP_XENSTORE 0x1u      /* xenstore records in the stream */
/* A check-only link (remusctl check): after authentication the backup
 * answers one RNET_MSG_CHECK and closes; no stream, nothing is started. */
#define RNET_CAP_CHECK    0x2u
/* The primary carries on the run whose last checkpoint the backup holds
 * (a live update of its daemon): no resync, the backup's receiver resumes
 * (ckpt_receiver_resume) or refuses the link. */
#define RNET_CAP_RESUME   0x4u
#define RNET_CHECK_MIN    18u
#define RNET_CHECK_MAX    (18u + 512u)

/* What one side offers; the primary's `compress` is the session's choice. */
struct rnet_caps {
	uint32_t compress_mask;     /* RNET_COMPRESS_BIT() of kinds understood */
	uint32_t compress;          /* enum rnet_compress wanted (primary) */
	uint32_t flags;             /* RNET_CAP_* */
	uint8_t diskrep;            /* disk replication backend: diskrep/kind.h's
	                             * value, carried and compared, not owned here */
	char hv[RNET_HV_MAX];       /* hypervisor driver name ("pvm", "xen") */
	char guest[RNET_NAME_MAX];  /* guest identity */
};

/* A decoded HELLO (see rnet_hello_parse).  Version 2: the backup's HELLO
 * is neutral (no capabilities, empty names); it discloses its real caps
 * only in the CAPS frame, after the primary has proved the key. */
#define RNET_HELLO_LEN 136u
#define RNET_CAPS_LEN  94u          /* the caps block of HELLO and CAPS */
#define RNET_CAPS_MSG_LEN (RNET_CAPS_LEN + RNET_MAC_LEN)
struct rnet_hello {
	uint16_t version;
	struct rnet_caps caps;
	uint8_t nonce[RNET_NONCE_LEN];
};

/* Pre-shared key, loaded from a regular file that must be mode 0600 (or
 * stricter) and owned by the effective user, holding the key as hex or
 * base64 text (at least 32 bytes decoded). */
struct rnet_key {
	uint8_t bytes[RNET_KEY_MAX];
	size_t len;
};

struct rnet_params {
	const struct rnet_key *key;
	struct rnet_caps caps;
	bool tls;                   /* wrap in TLS 1.3 with the PSK */
	uint32_t hb_interval_ms;    /* 0: RNET_HB_INTERVAL_DEFAULT */
	uint32_t hb_timeout_ms;     /* 0: RNET_HB_TIMEOUT_DEFAULT */
	uint32_t handshake_ms;      /* 0: RNET_HANDSHAKE_DEFAULT */
	uint32_t hello_ms;          /* backup: the primary's HELLO must be in
	                             * within this (0: only handshake_ms) */
	size_t outq_max;            /* 0: RNET_OUTQ_DEFAULT */
	uint32_t stall_max_ms;      /* keepalive answers for a busy owner at most
	                             * this long; 0: RNET_STALL_MAX_DEFAULT */
	/* Backup serving several guests: called with the primary's caps once
	 * the primary has proved the key (never before: what a backup holds is
	 * nobody else's business); it may replace our caps with those of the
	 * guest the primary names.  NULL: `caps` as given. */
	void (*choose_caps)(void *arg, const struct rnet_caps *primary, struct rnet_caps *self);
	void *choose_arg;
};
#define RNET_HB_INTERVAL_DEFAULT 20u
#define RNET_HB_TIMEOUT_DEFAULT  200u
#define RNET_HANDSHAKE_DEFAULT   5000u
#define RNET_OUTQ_DEFAULT        (8u << 20)
#define RNET_STALL_MAX_DEFAULT   10000u

/* One received message; `body` points into the connection's buffer and is
 * valid until the next feed/next call on that connection. */
struct rnet_msg {
	uint32_t type;
	uint32_t len;
	const uint8_t *body;
	uint64_t u64;               /* ACK / HEARTBEAT value, decoded */
};

struct rnet_stats {
	uint64_t frames_tx, frames_rx;
	uint64_t bytes_tx, bytes_rx;            /* wire bytes incl. headers */
	uint64_t stream_bytes_tx, stream_bytes_rx;  /* payload before compression */
	uint64_t stream_wire_tx;    /* stream frames queued, headers incl., as sent */
	uint64_t heartbeats_tx, heartbeats_rx;
	uint64_t heartbeats_ka;                 /* of heartbeats_tx: sent by keepalive */
	uint64_t last_rx_ms;
	uint64_t queued_bytes;                  /* waiting in our queues now */
	uint64_t queue_cap_bytes;               /* memory held by our buffers */
};

struct rnet_conn;

/* ---- keys ---------------------------------------------------------- */
int rnet_key_load(const char *path, struct rnet_key *key, struct remus_err *err);

/* ---- pure codecs (fuzzed) ------------------------------------------ */
/* A key file's text (hex if only hex digits, else padded base64; one
 * trailing newline) into the key: at least RNET_KEY_MIN bytes decoded.
 * `path` only names the file in errors. */
int rnet_key_parse(const uint8_t *text, size_t n, const char *path, struct rnet_key *key,
		   struct remus_err *err);
/* Parse a frame header+body at the front of `buf`.  Returns 1 with *msg
 * and *consumed set, 0 if more bytes are needed, or RNET_EPROTO (unknown
 * type, bad length for the type, oversized) — an oversized header is
 * refused as soon as its 8 bytes are in. */
int rnet_frame_parse(const uint8_t *buf, size_t len, struct rnet_msg *msg,
		     size_t *consumed, struct remus_err *err);
/* Encode a frame header for `type` with body length `len` into hdr[8]. */
void rnet_frame_header(uint8_t hdr[RNET_HDR_LEN], uint32_t type, uint32_t len);

int rnet_hello_encode(const struct rnet_hello *h, uint8_t out[RNET_HELLO_LEN]);
/* A HELLO's caps are either complete (names set) or neutral (all zero). */
int rnet_hello_parse(const uint8_t *body, size_t len, struct rnet_hello *h,
		     struct remus_err *err);
bool rnet_caps_neutral(const struct rnet_caps *caps);
/* The caps block alone (the body of CAPS before its MAC); names required. */
int rnet_caps_encode(const struct rnet_caps *caps, uint8_t out[RNET_CAPS_LEN]);
int rnet_caps_parse(const uint8_t *b, size_t len, struct rnet_caps *caps,
		    struct remus_err *err);
/* Is `peer` (backup's HELLO) compatible with `self` (primary's HELLO)?
 * RNET_ECAPS naming the first mismatch otherwise. */
int rnet_caps_check(const struct rnet_caps *primary,
		    const struct rnet_caps *backup, struct remus_err *err);
/* Inflate a STREAM_ZLIB body into out (capacity RNET_BODY_MAX); *out_len
 * is set to the declared raw length, which must match exactly. */
int rnet_zlib_unpack(const uint8_t *body, size_t len, uint8_t *out,
		     size_t out_cap, size_t *out_len, struct remus_err *err);

/* The same for a STREAM_ZSTD body (u32 raw length, one zstd frame). */
int rnet_zstd_unpack(const uint8_t *body, size_t len, uint8_t *out,
		     size_t out_cap, size_t *out_len, struct remus_err *err);

const char *rnet_compress_name(uint32_t kind);
/* Whether the engine delta-encodes page data under this kind. */
bool rnet_compress_delta(uint32_t kind);

/* ---- connection setup (blocking up to params->handshake_ms) --------- */
/* Simple callers and tests; a daemon serving several guests should use the
 * non-blocking rnet_hs_* form below so a silent peer cannot stall it. */
/* Primary side: connect to host:port, handshake, authenticate. */
int rnet_connect(const char *host, uint16_t port, const struct rnet_params *p,
		 struct rnet_conn **out, struct remus_err *err);
/* Listening socket for the backup side (SO_REUSEADDR, non-blocking). */
int rnet_listen(const char *addr, uint16_t port, struct remus_err *err);
/* Backup side: accept one peer on `lfd` and handshake. */
int rnet_accept(int lfd, const struct rnet_params *p, struct rnet_conn **out,
		struct remus_err *err);
/* Handshake on an already-connected socket (takes ownership of fd, also on
 * failure).  `primary` selects the role.  Used by the two above and by
 * tests over socketpairs. */
int rnet_handshake_fd(int fd, bool primary, const struct rnet_params *p,
		      struct rnet_conn **out, struct remus_err *err);

/* ---- non-blocking handshake, for a daemon's poll loop ---------------- */
/* The same handshake as a state machine: start it on a connected socket
 * (takes fd, closed on failure), then call step whenever the socket shows
 * rnet_hs_events() or the rnet_hs_next_ms() deadline is due.  step returns
 * 0 in progress, 1 with *conn set (then call rnet_conn_next once: TLS may
 * already hold data), or <0 (timeout, refusal, wrong key...).  The params'
 * key must outlive the handshake.  Always rnet_hs_free() afterwards. */
struct rnet_hs;
int rnet_hs_start(int fd, bool primary, const struct rnet_params *p, uint64_t now_ms,
		  struct rnet_hs **out, struct remus_err *err);
int rnet_hs_step(struct rnet_hs *hs, uint64_t now_ms, struct rnet_conn **conn,
		 struct remus_err *err);
int rnet_hs_fd(const struct rnet_hs *hs);
short rnet_hs_events(const struct rnet_hs *hs);
uint32_t rnet_hs_next_ms(const struct rnet_hs *hs, uint64_t now_ms);
void rnet_hs_free(struct rnet_hs *hs);
/* Has the peer's HELLO arrived (for eviction: silent peers go first)? */
bool rnet_hs_got_hello(const struct rnet_hs *hs);
/* Backup: accept one pending peer and start its handshake; -EAGAIN if
 * nobody waits. */
int rnet_accept_start(int lfd, const struct rnet_params *p, uint64_t now_ms,
		      struct rnet_hs **out, struct remus_err *err);

/* ---- admission of unauthenticated peers (hs_limit.c) ---------------- */
/* A backup's pending handshakes are bounded per source and in total.  A
 * newcomer is never refused for lack of room: the oldest handshake of its
 * own source makes way when that source is at its cap; otherwise, when the
 * table is full, the oldest of the source holding the most (silent ones,
 * without a HELLO yet, before those that sent one).  So a flood from a few
 * addresses only ever evicts itself, and a peer that completes its
 * handshake in a round trip is not kept out. */
#define RNET_HS_POOL_MAX 64u
struct rnet_peer_src { uint8_t b[16]; };    /* IPv4 (mapped) or IPv6 /64 */
struct rnet_hs_pool {
	size_t total, per_source;               /* bounds, <= RNET_HS_POOL_MAX */
	size_t n;
	struct rnet_hs_entry {
		struct rnet_hs *hs;
		struct rnet_peer_src src;
		uint64_t started_ms;
		char name[56];                  /* "address:port", for logs */
	} e[RNET_HS_POOL_MAX];
};
/* The source of an accepted socket and its printable "address:port". */
void rnet_peer_src_of(int fd, struct rnet_peer_src *src, char *name, size_t cap);
/* Index of the entry to evict so one from `src` can start, or -1 if there
 * is room.  Pure: entries' hs may be NULL (then counted as silent). */
long rnet_hs_pool_victim(const struct rnet_hs_pool *pool, const struct rnet_peer_src *src);
/* Remove entry i (freeing its handshake); the last entry moves into i. */
void rnet_hs_pool_drop(struct rnet_hs_pool *pool, size_t i);

/* ---- established connection (non-blocking) ------------------------- */
int rnet_conn_fd(const struct rnet_conn *c);
/* The capabilities both sides agreed on (the peer's HELLO). */
const struct rnet_caps *rnet_conn_peer_caps(const struct rnet_conn *c);
uint32_t rnet_conn_compress(const struct rnet_conn *c);
/* What stream data is sent with from now on: the negotiated kind, or none
 * (a zlib link only; a delta link stays delta).  RNET_ECAPS otherwise.
 * Not thread-safe: call it from the thread that sends. */
int rnet_conn_set_tx_compress(struct rnet_conn *c, uint32_t kind, struct remus_err *err);
/* Read what the socket has; RNET_ECLOSED on EOF. */
int rnet_conn_feed(struct rnet_conn *c, uint64_t now_ms, struct remus_err *err);
/* Next complete message (1), none yet (0), or an error.  Heartbeats are
 * consumed here (they only prove liveness) and never returned; zlib
 * stream frames are returned inflated as RNET_MSG_STREAM. */
int rnet_conn_next(struct rnet_conn *c, struct rnet_msg *msg, struct remus_err *err);
/* Queue messages; RNET_ENOBUFS when the output queue is over its bound. */
int rnet_conn_send_stream(struct rnet_conn *c, const void *buf, size_t len,
			  struct remus_err *err);
int rnet_conn_send_disk(struct rnet_conn *c, const void *buf, size_t len,
			struct remus_err *err);
/* Stream bytes gathered from pieces; up to RNET_BODY_MAX (and without
 * zlib) exactly one frame, so a caller passing one record at a time gets
 * record-aligned frames the peer parses without copying. */
struct iovec;
int rnet_conn_send_streamv(struct rnet_conn *c, const struct iovec *iov, int n,
			   struct remus_err *err);
int rnet_conn_send_ack(struct rnet_conn *c, uint64_t ckpt, struct remus_err *err);
int rnet_conn_send_bye(struct rnet_conn *c, uint32_t reason, struct remus_err *err);
/* The same, dropping queued data frames not yet begun first: for a side
 * that gives up and must be heard at once (the BYE is not held behind
 * bulk data that no longer matters). */
int rnet_conn_send_bye_now(struct rnet_conn *c, uint32_t reason, struct remus_err *err);
/* A check-only link's answer (the body is the caller's, length checked). */
int rnet_conn_send_check(struct rnet_conn *c, const void *body, size_t len,
			 struct remus_err *err);
/* Write queued bytes; 0 when everything is out, 1 when some remain. */
int rnet_conn_flush(struct rnet_conn *c, struct remus_err *err);
bool rnet_conn_want_write(const struct rnet_conn *c);
/* Queue a heartbeat when due; RNET_ETIMEOUT when nothing was received for
 * longer than the timeout (the message says what this side was doing:
 * bytes queued, bytes in the socket, when a byte last came, when the owner
 * last ran).  HEARTBEAT and ACK frames travel on a priority lane: they are
 * written at the next frame boundary of the bulk data, never behind it. */
int rnet_conn_tick(struct rnet_conn *c, uint64_t now_ms, struct remus_err *err);
/* The caller stops reading for a while (its own back-pressure, e.g. a
 * slow consumer): tick() does not time the peer out while held, since the
 * peer's heartbeats wait unread; on release the timeout restarts. */
void rnet_conn_rx_hold(struct rnet_conn *c, bool hold, uint64_t now_ms);
/* Keepalive: a thread of the connection's own answers for an owner that
 * is busy (applying, hashing, compressing a large checkpoint): whenever
 * the owner has not called into the connection for a heartbeat interval,
 * it sends heartbeats and writes the priority lane, for at most
 * stall_max_ms of owner silence (a wedged owner must look dead).  It
 * never reads: the owner judges the peer's silence, reading before it
 * does.  Off by default; on/off from the owner, idempotent. */
int  rnet_conn_keepalive(struct rnet_conn *c, bool on, struct remus_err *err);
/* Milliseconds from now_ms until tick() next has work (poll timeout). */
uint32_t rnet_conn_next_tick_ms(const struct rnet_conn *c, uint64_t now_ms);
void rnet_conn_stats(const struct rnet_conn *c, struct rnet_stats *st);
void rnet_conn_free(struct rnet_conn *c);

/* CLOCK_MONOTONIC in milliseconds, for callers without their own clock. */
uint64_t rnet_now_ms(void);

REMUS_API_END

#endif
