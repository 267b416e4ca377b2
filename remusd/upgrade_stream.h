/*
 * The live-update hand-over stream (issue 18): what an old remusd passes to
 * the new binary it starts, so the new daemon resumes every session where
 * the old one paused it.  A versioned sequence of typed records in the
 * migration stream's framing (u32 type, u32 body length, little-endian,
 * body padded to 8 bytes: lib/stream's writer), next to which the file
 * descriptors travel with SCM_RIGHTS (upgrade_fds.c); records name a
 * descriptor by its index in that list, never by number.
 *
 *   HEADER   first, once: magic, version, how many descriptors came along,
 *            the old daemon's pid, the configuration generation
 *   DAEMON   at most once: the listen and control sockets
 *   SESSION  per session: id, role, state machine state, flags, epoch and
 *            acked epoch, replication link socket, name, peer
 *   GUEST    at most one per session: the hypervisor driver's name, the
 *            guest's descriptors (RAM memfd, TAP, disk, console) and the
 *            driver's own hand-off blob (opaque here: the driver decodes it)
 *   HELD     netbuf output held for an unacknowledged epoch, one frame each
 *   DISK     diskrep journal and dirty-bitmap positions of a session
 *   STATS    a session's counters (ordered list, see enum lu_stat)
 *   REPLICA  at most one per backup session without a GUEST: the replica
 *            RAM memfd and lib/ckpt's exported state of its last applied
 *            checkpoint (opaque here: ckpt_receiver_import decodes it)
 *   END      last, empty; nothing may follow it
 *
 * The decoder takes the whole stream and either fills a `struct lu_state`
 * or fails naming the first wrong byte; nothing of a bad stream is used.
 * Records referring to a session come after its SESSION; every passed
 * descriptor is named exactly once (so none leaks and none is shared).
 */
#ifndef REMUS_REMUSD_UPGRADE_STREAM_H
#define REMUS_REMUSD_UPGRADE_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"
#include "util/err.h"

#define LU_MAGIC            0x554c73756d6552ULL  /* "RemusLU" little-endian, NUL */
#define LU_VERSION          1u
#define LU_MAX_FDS          250u     /* below SCM_MAX_FD (253) */
#define LU_MAX_SESSIONS     64u
#define LU_MAX_HELD         16384u   /* held frames in all */
#define LU_FRAME_MAX        65535u
#define LU_NAME_MAX         63u
#define LU_PEER_MAX         255u
#define LU_DRIVER_MAX       15u
#define LU_BLOB_MAX         (1u << 20)
#define LU_STREAM_MAX       (64u << 20)
#define LU_REPLICA_MAX      (32u << 20)   /* a replica's exported state */
#define LU_NO_FD            (-1)

enum lu_rec_type {
	LU_REC_END     = 0,
	LU_REC_HEADER  = 1,
	LU_REC_DAEMON  = 2,
	LU_REC_SESSION = 3,
	LU_REC_GUEST   = 4,
	LU_REC_HELD    = 5,
	LU_REC_DISK    = 6,
	LU_REC_STATS   = 7,
	LU_REC_REPLICA = 8,
	LU_REC_COUNT
};

/* Bad-stream errors, in remusd's range (lib/util/err.h). */
#define REMUSD_LU_ERRORS(X) \
	X(LU_E_MAGIC,     -4101, "not a hand-over stream") \
	X(LU_E_VERSION,   -4102, "hand-over stream version not understood") \
	X(LU_E_TRUNCATED, -4103, "hand-over stream ends inside a record") \
	X(LU_E_TYPE,      -4104, "unknown hand-over record type") \
	X(LU_E_LENGTH,    -4105, "hand-over record of the wrong length") \
	X(LU_E_ORDER,     -4106, "hand-over record in the wrong place") \
	X(LU_E_VALUE,     -4107, "hand-over record with a bad value") \
	X(LU_E_FD,        -4108, "hand-over descriptor index bad, reused or unused") \
	X(LU_E_LIMIT,     -4109, "hand-over stream over a limit")
enum lu_error { REMUSD_LU_ERRORS(REMUS_ERR_ENUM) };

enum lu_role { LU_ROLE_PRIMARY = 0, LU_ROLE_BACKUP = 1 };

/* The counters a STATS record carries, in this order (a newer writer may
 * send more, up to LU_STATS_MAX; a reader uses those it knows). */
enum lu_stat {
	LU_STAT_CHECKPOINTS, LU_STAT_BYTES_SENT, LU_STAT_PAGES_SENT,
	LU_STAT_PAUSE_US_TOTAL, LU_STAT_PAUSE_US_MAX, LU_STAT_RESYNCS,
	LU_STAT_HELD_FRAMES, LU_STAT_RELEASED_FRAMES,
	LU_STAT_COUNT
};
#define LU_STATS_MAX 64u

/* Descriptor indices of a guest (LU_NO_FD: none). */
enum lu_guest_fd { LU_GFD_RAM, LU_GFD_TAP, LU_GFD_DISK, LU_GFD_CONSOLE, LU_GFD_COUNT };

struct lu_header {
	uint32_t version, nfds, old_pid;
	uint64_t config_gen;
};

struct lu_daemon {
	int32_t listen_fd, control_fd;
};

struct lu_guest {
	char driver[LU_DRIVER_MAX + 1];
	int32_t fd[LU_GFD_COUNT];
	const uint8_t *blob;        /* points into the decoded stream */
	uint32_t blob_len;
};

struct lu_replica {
	int32_t ram_fd;             /* descriptor index, never LU_NO_FD */
	const uint8_t *state;       /* points into the decoded stream */
	uint32_t state_len;         /* 1..LU_REPLICA_MAX */
};

struct lu_disk {
	uint64_t journal_seq, journal_off, bitmap_bits;
};

/* SESSION flags. */
#define LU_SF_REPROTECT 0x1u    /* was protected: protect again towards peer */
#define LU_SF_KNOWN     0x1u

struct lu_session {
	uint32_t id;
	uint32_t flags;             /* LU_SF_* */
	uint32_t role;              /* enum lu_role */
	uint32_t state;             /* enum remusd_state */
	uint64_t epoch, acked_epoch;
	int32_t link_fd;
	char name[LU_NAME_MAX + 1];
	char peer[LU_PEER_MAX + 1];
	bool has_guest, has_disk, has_stats, has_replica;
	struct lu_guest guest;
	struct lu_replica replica;
	struct lu_disk disk;
	uint32_t nstats;            /* counters the STATS record carried */
	uint64_t stats[LU_STATS_MAX];
};

struct lu_held {
	uint32_t session;           /* index into lu_state.sessions */
	uint64_t epoch;
	const uint8_t *frame;       /* points into the decoded stream */
	uint32_t len;
};

/* A decoded stream; the pointers inside point into the input buffer. */
struct lu_state {
	struct lu_header hdr;
	bool has_daemon;
	struct lu_daemon daemon;
	struct lu_session *sessions;
	uint32_t nsessions;
	struct lu_held *held;
	uint32_t nheld;
};

/* ---- writer: one function per record, appending to b ----------------- */
int lu_put_header(struct stream_buf *b, const struct lu_header *h);
int lu_put_daemon(struct stream_buf *b, const struct lu_daemon *d);
/* SESSION from s's id, role, state, epochs, link_fd, name and peer. */
int lu_put_session(struct stream_buf *b, const struct lu_session *s);
int lu_put_guest(struct stream_buf *b, uint32_t session_id, const struct lu_guest *g);
int lu_put_held(struct stream_buf *b, uint32_t session_id, uint64_t epoch,
                const void *frame, uint32_t len);
int lu_put_disk(struct stream_buf *b, uint32_t session_id, const struct lu_disk *d);
int lu_put_stats(struct stream_buf *b, uint32_t session_id, const uint64_t *v, uint32_t n);
int lu_put_replica(struct stream_buf *b, uint32_t session_id, const struct lu_replica *r);
int lu_put_end(struct stream_buf *b);
/* A whole stream from a state, records in the canonical order: HEADER,
 * DAEMON, then per session SESSION, GUEST, REPLICA, DISK, STATS, then
 * HELD, END. */
int lu_encode(struct stream_buf *b, const struct lu_state *s);

/* ---- reader ---------------------------------------------------------- */
/* Decode a whole stream (len bytes) into *out, which the caller frees with
 * lu_state_free; buf must outlive *out.  0, -ENOMEM, or LU_E_* naming the
 * record and offset in err (and *out empty). */
int lu_decode(const uint8_t *buf, size_t len, struct lu_state *out, struct remus_err *err);
void lu_state_free(struct lu_state *s);
/* The session with this id, or NULL. */
const struct lu_session *lu_find_session(const struct lu_state *s, uint32_t id);

/* ---- transport (upgrade_fds.c) --------------------------------------- */
/*
 * Send a stream and its descriptors over a unix stream socket: one message
 * carries the 8-byte preamble (u32 stream length, u32 descriptor count,
 * little-endian) with every descriptor as SCM_RIGHTS, then the stream
 * follows.  Blocking socket; 0 or -errno (err says which step).
 */
int lu_send(int sock, struct stream_buf *stream, const int *fds, unsigned nfds,
            struct remus_err *err);
/*
 * Receive what lu_send sent: *buf (malloc'd, *len bytes) and *nfds
 * descriptors into fds[LU_MAX_FDS] (close-on-exec).  A preamble whose
 * counts do not match the descriptors that came, or over the limits, is
 * LU_E_LIMIT/LU_E_FD and nothing is kept (every received descriptor is
 * closed).  0, -errno, or LU_E_*.
 */
int lu_recv(int sock, uint8_t **buf, size_t *len, int *fds, unsigned *nfds,
            struct remus_err *err);

#endif
