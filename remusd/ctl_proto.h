/*
 * The control protocol between remusctl and remusd over a unix socket
 * (mode 0600, peers must be root or the daemon's user), in the style of
 * bgpctl: fixed, versioned, typed messages whose exact length is checked.
 *
 * Header (16 bytes, big-endian): u32 magic "RCTL" | u16 version | u16 type
 * | u32 body length | u32 sequence (a reply echoes its request's).
 * Requests have fixed-size bodies; the daemon answers each with one REPLY
 * (code + text or JSON) or CHECK_REPLY, optionally preceded by PROGRESS
 * messages (protect shows a progress bar while syncing).
 * See docs/config.md ("Control socket") for the table of messages.
 */
#ifndef REMUS_REMUSD_CTL_PROTO_H
#define REMUS_REMUSD_CTL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CTL_MAGIC       0x5243544cu        /* "RCTL" */
#define CTL_VERSION     1u
#define CTL_HDR_LEN     16u
#define CTL_BODY_MAX    (64u << 10)        /* largest body (a JSON reply) */
#define CTL_MSG_MAX     (CTL_HDR_LEN + CTL_BODY_MAX)
#define CTL_GUEST_MAX   64u                /* guest field, NUL included */
#define CTL_PEER_MAX    256u               /* "host:port" field */

#define CTL_ERRORS(X) \
	X(CTL_EPROTO,   -5001, "malformed message (what and where in err)") \
	X(CTL_EPERM,    -5002, "peer credentials refused") \
	X(CTL_ECLOSED,  -5003, "the other side closed") \
	X(CTL_ETIMEOUT, -5004, "no complete message within the timeout")
enum ctl_error { CTL_ERRORS(REMUS_ERR_ENUM) };

enum ctl_type {
	/* requests */
	CTL_LIST = 1,           /* body: empty */
	CTL_STATUS = 2,         /* struct guest field; empty name: all guests */
	CTL_STATS = 3,          /* guest field; empty: all */
	CTL_PROTECT = 4,        /* guest, peer, u32 unsafe flags */
	CTL_UNPROTECT = 5,      /* guest */
	CTL_FAILOVER = 6,       /* guest */
	CTL_EVACUATE = 7,       /* guest [, u32 flags CTL_EVAC_* [, destination peer]] */
	CTL_CHECK = 8,          /* guest */
	CTL_START = 9,          /* guest */
	CTL_RESUME = 10,        /* guest: resume an in-doubt guest here (forced) */
	CTL_DESTROY = 11,       /* guest: destroy an in-doubt guest's copy here */
	CTL_SET = 12,           /* guest, u32 setting (CTL_SET_*), u32 value */
	CTL_STORE = 13,         /* guest, u32 op (CTL_STORE_*), u32 path_len,
	                         * u32 value_len, u32 0, path, value */
	CTL_UPGRADE = 14,       /* empty guest, path of the new remusd ("": installed) */
	CTL_FAILOVER_FORCE = 15, /* guest: failover --force (primary alive, no quorum) */
	CTL_STOP = 16,          /* guest: end an unprotected guest running here (halt) */
	/* replies */
	CTL_REPLY = 0x81,       /* i32 code, u32 format, payload */
	CTL_PROGRESS = 0x82,    /* guest, u32 phase, u32 0, u64 done, u64 total */
	CTL_CHECK_REPLY = 0x83, /* u32 reasons (CTL_CHECK_*), u32 detail length,
	                         * detail text (printable, newlines) */
};

enum ctl_format { CTL_FMT_TEXT = 0, CTL_FMT_JSON = 1 };

/* Unsafe options of protect, mirroring remus.conf's `unsafe`. */
#define CTL_UNSAFE_NO_NETBUF  0x1u
#define CTL_UNSAFE_NO_DISKREP 0x2u
#define CTL_UNSAFE_BLACKHOLE  0x4u
#define CTL_UNSAFE_ALL        0x7u

/* Flags of evacuate (absent: 0). */
#define CTL_EVAC_NO_REPROTECT 0x1u  /* leave the old host free: no role reversal */
#define CTL_EVAC_TO           0x2u  /* to the host in peer, not the current backup
                                     * (the long form: flags, then the peer field) */
#define CTL_EVAC_ALL          0x3u

/* The fixed list of reasons `remusctl check` can give. */
#define CTL_CHECK_NO_SUCH_GUEST      0x001u
#define CTL_CHECK_NOT_RUNNING        0x002u
#define CTL_CHECK_ALREADY_PROTECTED  0x004u
#define CTL_CHECK_NO_PEER            0x008u
#define CTL_CHECK_PEER_UNREACHABLE   0x010u
#define CTL_CHECK_PEER_REFUSED       0x020u
#define CTL_CHECK_NO_KEY             0x040u
#define CTL_CHECK_NETBUF_UNAVAILABLE 0x080u
#define CTL_CHECK_DISKREP_UNAVAILABLE 0x100u
#define CTL_CHECK_HV_UNSUPPORTED     0x200u
#define CTL_CHECK_UNSAFE_REQUIRED    0x400u
#define CTL_CHECK_PEER_CANNOT_HOLD   0x800u   /* name, memory or disk image there */
#define CTL_CHECK_ALL                0xfffu
/* CHECK_REPLY's detail text: the reasons' particulars, one per line. */
#define CTL_CHECK_DETAIL_MAX         1024u
/* Text of one reason bit ("peer unreachable"), NULL for unknown bits. */
const char *ctl_check_reason(uint32_t bit);
/* Every reason set in r as one line ("r1; r2"), cut to cap. */
void ctl_check_reasons_text(uint32_t r, char *buf, size_t cap);

/* remusctl set GUEST KEY=VALUE: what may change on a running guest. */
enum ctl_setting {
	CTL_SET_INTERVAL = 1,     /* epoch length, 1..10000 ms */
	CTL_SET_COMPRESSION = 2,  /* enum rnet_compress: 0 none, 1 zlib, 2 delta */
};

/* remusctl store GUEST OP PATH [VALUE]: the guest's store (a driver's
 * xenstore).  The path is text without NUL; the value bytes (WRITE only). */
enum ctl_store_op {
	CTL_STORE_READ = 1,
	CTL_STORE_WRITE = 2,
	CTL_STORE_LS = 3,
	CTL_STORE_RM = 4,
};
#define CTL_STORE_PATH_MAX  3072u
#define CTL_STORE_VALUE_MAX 4096u

enum ctl_phase { CTL_PHASE_MEMORY = 1, CTL_PHASE_DISK = 2, CTL_PHASE_FIRST_CKPT = 3 };

struct ctl_msg {
	uint16_t type;
	uint32_t seq;
	char guest[CTL_GUEST_MAX];      /* requests with a guest, PROGRESS */
	char peer[CTL_PEER_MAX];        /* PROTECT; EVACUATE --to; UPGRADE: the new binary's path */
	uint32_t unsafe;                /* PROTECT */
	int32_t code;                   /* REPLY: 0 or a negative error */
	uint32_t format;                /* REPLY */
	const char *payload;            /* REPLY; points into the input buffer */
	size_t payload_len;
	uint32_t phase;                 /* PROGRESS */
	uint64_t done, total;           /* PROGRESS */
	uint32_t reasons;               /* CHECK_REPLY; its detail is payload */
	uint32_t setting, value;        /* SET */
	uint32_t evac_flags;            /* EVACUATE: CTL_EVAC_* */
	uint32_t store_op;              /* STORE: enum ctl_store_op */
	const char *path;               /* STORE; points into the input buffer */
	size_t path_len;
	const uint8_t *store_value;     /* STORE (WRITE); into the input buffer */
	size_t store_value_len;
};

const char *ctl_type_name(uint16_t type);

/* ---- codec: each encoder returns the message length or -ENOSPC/-EINVAL */
int ctl_encode_list(uint8_t *buf, size_t cap, uint32_t seq);
int ctl_encode_guest_req(uint8_t *buf, size_t cap, uint16_t type, uint32_t seq,
			 const char *guest);
int ctl_encode_protect(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
		       const char *peer, uint32_t unsafe);
/* EVACUATE with flags (0: the short form every daemon version takes);
 * to: the destination of evacuate --to (NULL or "": the current backup). */
int ctl_encode_evacuate_to(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
                           uint32_t flags, const char *to);
/* EVACUATE with flags (0: the short form every daemon version takes). */
int ctl_encode_evacuate(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
			uint32_t flags);
int ctl_encode_reply(uint8_t *buf, size_t cap, uint32_t seq, int32_t code,
		     uint32_t format, const char *payload, size_t len);
int ctl_encode_progress(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
			uint32_t phase, uint64_t done, uint64_t total);
int ctl_encode_set(uint8_t *buf, size_t cap, uint32_t seq, const char *guest,
		   uint32_t setting, uint32_t value);
int ctl_encode_store(uint8_t *buf, size_t cap, uint32_t seq, const char *guest, uint32_t op,
		     const char *path, size_t path_len, const void *value, size_t value_len);
int ctl_encode_upgrade(uint8_t *buf, size_t cap, uint32_t seq, const char *path);
int ctl_encode_check_reply(uint8_t *buf, size_t cap, uint32_t seq, uint32_t reasons);
/* The same with the particulars (NULL or "": none; longer than
 * CTL_CHECK_DETAIL_MAX: cut; non-printable bytes become '?'). */
int ctl_encode_check_detail(uint8_t *buf, size_t cap, uint32_t seq, uint32_t reasons,
			    const char *detail);

/* Judge a header alone (magic, version, known type, length allowed for the
 * type); *body_len is set.  Lets a reader refuse an oversized message
 * before reading its body. */
int ctl_parse_header(const uint8_t *buf, size_t len, uint16_t *type, uint32_t *body_len,
		     struct remus_err *err);
/* Decode one whole message of exactly `len` bytes. */
int ctl_parse(const uint8_t *buf, size_t len, struct ctl_msg *m, struct remus_err *err);

/* ---- unix-socket helpers (no threads; poll-driven) ---------------- */
struct ctl_conn;

/* Server: bind path with mode 0600 (refuses if a live daemon owns it). */
int ctl_listen(const char *path, struct remus_err *err);
/* Accept one client whose uid is root or ours; -EAGAIN if none waits. */
int ctl_accept(int lfd, struct ctl_conn **out, struct remus_err *err);
/* Client: connect to the daemon. */
int ctl_connect(const char *path, struct ctl_conn **out, struct remus_err *err);
int ctl_conn_fd(const struct ctl_conn *c);
/* Read what is available; 1 with *m when a whole message is in, 0 when
 * more is needed, <0 (CTL_EPROTO, CTL_ECLOSED, -errno) otherwise.  A
 * malformed or oversized message is refused from its header alone. */
int ctl_conn_recv(struct ctl_conn *c, struct ctl_msg *m, struct remus_err *err);
/* Block (poll) until a whole message arrives or the deadline passes. */
int ctl_conn_wait(struct ctl_conn *c, struct ctl_msg *m, uint32_t timeout_ms,
		  struct remus_err *err);
/* Write a whole encoded message within timeout_ms. */
int ctl_conn_send(struct ctl_conn *c, const uint8_t *msg, size_t len, uint32_t timeout_ms,
		  struct remus_err *err);
void ctl_conn_free(struct ctl_conn *c);

/* Client round trip: send `req`, pass PROGRESS messages to `progress`
 * (may be NULL), return the final REPLY or CHECK_REPLY in *reply. */
int ctl_call(struct ctl_conn *c, const uint8_t *req, size_t len, uint32_t timeout_ms,
	     void (*progress)(void *arg, const struct ctl_msg *m), void *arg,
	     struct ctl_msg *reply, struct remus_err *err);

/* ---- a small multi-client server loop (remusd and tests) ---------- */
struct ctl_server;
/* Called for each well-formed request; it answers through ctl_conn_send.
 * A negative return drops that client (never the server).  CTL_PENDING
 * defers the reply: the server keeps the client, reads nothing more from
 * it, and the handler's owner answers later through the same ctl_conn,
 * then calls ctl_server_finish() (long operations run off the loop). */
typedef int (*ctl_handler)(void *arg, struct ctl_conn *c, const struct ctl_msg *m);
#define CTL_PENDING 1

struct ctl_server_stats {
	uint64_t accepted, requests, refused;   /* refused: malformed or bad uid */
	unsigned clients;                       /* connected now */
};

#define CTL_SERVER_MAX_CLIENTS 16u

int ctl_server_new(const char *path, ctl_handler fn, void *arg, struct ctl_server **out,
		   struct remus_err *err);
/* Live update: serve a listening socket the old daemon passed (takes lfd);
 * its listening socket (to pass on). */
int ctl_server_adopt(int lfd, const char *path, ctl_handler fn, void *arg,
                     struct ctl_server **out, struct remus_err *err);
int ctl_server_listen_fd(const struct ctl_server *s);
/* One round: wait up to timeout_ms, accept, read, dispatch.  A client that
 * sends a malformed or oversized message gets a REPLY naming the problem
 * (code CTL_EPROTO) and is disconnected; other clients are untouched.
 * Returns the number of requests handled, or <0 only for server faults. */
int ctl_server_poll(struct ctl_server *s, int timeout_ms, struct remus_err *err);
/* The same round inside the caller's own poll set (remusd's one loop):
 * ctl_server_pollfds fills pfd (at most max) with the listening socket and
 * the clients to read, lowers *timeout_ms to 0 when a client must be read
 * at once, and returns the count; after poll(), ctl_server_dispatch serves
 * what those entries report (same return as ctl_server_poll). */
struct pollfd;
unsigned ctl_server_pollfds(struct ctl_server *s, struct pollfd *pfd, unsigned max,
                            int *timeout_ms);
int ctl_server_dispatch(struct ctl_server *s, const struct pollfd *pfd);
/* Called (with the handler's arg) for every refused client: a uid other
 * than root or ours, a malformed request, too many clients. */
typedef void (*ctl_refusal_fn)(void *arg, const char *why);
void ctl_server_on_refuse(struct ctl_server *s, ctl_refusal_fn fn);
void ctl_server_stats(const struct ctl_server *s, struct ctl_server_stats *st);
/* A deferred reply was sent (sent_rc >= 0) or could not be (the client
 * went away meanwhile: it is dropped now).  The client is read again from
 * the next round.  -ENOENT if c is not a pending client of this server. */
int ctl_server_finish(struct ctl_server *s, struct ctl_conn *c, int sent_rc);
/* Close every client and the socket, and remove the socket file. */
void ctl_server_free(struct ctl_server *s);

#endif
