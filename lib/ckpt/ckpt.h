/*
 * lib/ckpt — the checkpoint engine.
 *
 * Disk: with a diskrep handle, its frames travel on the same link
 * (RNET_MSG_DISK, before checkpoint N's records); the initial sync
 * resynchronises the disk on a helper thread while the guest runs and RAM
 * is pre-copied (writes meanwhile are disk epoch 1), the backup commits
 * disk epoch N before applying memory N, and discards uncommitted writes
 * at failover.  Each protection run numbers its epochs from 1 (engine and
 * diskrep alike: diskrep's restart op), except a run carried on over a new
 * link (ckpt_sender_resume / ckpt_receiver_resume), which goes on from the
 * checkpoint the backup holds.
 *
 * Sender (primary): runs a protected guest in epochs, exactly as
 * docs/architecture (the epoch, step by step) describes: close the netbuf
 * epoch, suspend, read-and-clear the dirty log, copy the dirty pages, vCPU
 * and device state, mark the disk epoch, resume, then stream checkpoint N
 * (PAGE_DATA..., X86_TSC_INFO, HVM_CONTEXT, HVM_PARAMS, CHECKPOINT,
 * EMULATOR_CONTEXT, CHECKPOINT_END) while the guest runs, and release the
 * netbuf epoch N when the backup acknowledges N.
 *
 * Overrun policy: when the bytes of an earlier checkpoint are still queued
 * on the transport at the next tick, the epoch is stretched: no new
 * checkpoint is taken until the queue has drained, so at most one
 * checkpoint is in flight on the wire; each stretched tick is counted
 * (`ckpt_stats.stretched`) and reported in status.
 *
 * Receiver (backup): stages checkpoint N with the stream assembler; on
 * CHECKPOINT_END (and, with disk replication, the disk epoch marker) it
 * applies N to the replica — RAM in a live memfd, blobs kept — commits the
 * disk epoch and sends ACK(N).  A partial checkpoint is dropped and counted.
 * Failover restores the guest from the last applied checkpoint.
 *
 * Planned hand-over (evacuation): ckpt_sender_handover() on the primary,
 * ckpt_receiver_run() returning CKPT_HANDOVER on the backup; the BYE
 * reasons below carry the finish/confirm/cancel steps (docs/engine.md).
 *
 * Compression is the connection's (negotiated in the rnet handshake):
 * zlib is done by rnet; delta (XOR against the page last sent + zero-run
 * runs, bounded sender cache, receiver shadow) by the engine (delta.c).
 *
 * Both ends talk over an authenticated rnet connection (lib/net).  Functions
 * return 0 or a negative code (-errno, CKPT_E*, or a lower module's code)
 * with the message in `err`; nothing here prints.
 */
#ifndef REMUS_CKPT_H
#define REMUS_CKPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"
#include "net/net.h"
#include "util/err.h"
#include "util/api.h"

REMUS_API_BEGIN

struct netbuf;
struct diskrep;
struct diskrep_ops;

#define CKPT_ERRORS(X) \
	X(CKPT_EPEER,      -8001, "the peer went away (closed, timeout, error)") \
	X(CKPT_ESTREAM,    -8002, "the peer's stream was malformed") \
	X(CKPT_ESTOPPED,   -8003, "stopped on request (stop fd / fault hook)") \
	X(CKPT_EGUEST,     -8004, "the guest crashed or exited") \
	X(CKPT_ENOREPLICA, -8005, "failover asked before any checkpoint applied") \
	X(CKPT_ECONFIG,    -8006, "bad engine configuration (which field)") \
	X(CKPT_EINDOUBT,   -8007, "hand-over: the backup may run the guest, unconfirmed")
enum ckpt_error { CKPT_ERRORS(REMUS_ERR_ENUM) };

/* BYE reasons (u32) on the replication link. */
enum ckpt_bye {
	CKPT_BYE_END      = 0,  /* primary: protection ends, no failover */
	CKPT_BYE_HANDOVER = 1,  /* primary: the last checkpoint is final, take over */
	CKPT_BYE_RUNNING  = 2,  /* backup: confirm, the guest runs here now */
	CKPT_BYE_REFUSED  = 3,  /* backup: cancel, could not start the guest */
	CKPT_BYE_UNRESTORABLE = 4, /* backup: a checkpoint failed restore's checks */
	CKPT_BYE_HANDOVER_REVERSE = 5, /* primary: as HANDOVER, and protect the guest back
	                                * to this host (it keeps the final checkpoint) */
};
#define CKPT_HANDOVER 1         /* ckpt_receiver_run: primary handed over */

/* Test builds: named fault points ("paused", "sent-checkpoint", ...); a hook
 * returning non-zero makes the engine stop right there as if killed. */
struct ckpt_fault {
	void *arg;
	int (*hit)(void *arg, const char *point, uint64_t epoch);
};

/* Initial synchronisation progress: pre-copy rounds of RAM and, in
 * parallel, the disk resync (reported from either thread). */
struct ckpt_progress {
	unsigned round;
	uint64_t pages_sent, pages_total;   /* this round */
	uint64_t bytes_sent;                /* on the wire, all rounds so far */
	uint64_t disk_done_bytes, disk_total_bytes;  /* blocks compared */
	uint64_t disk_blocks_sent;          /* blocks that differed */
	bool disk_done;
};
typedef void (*ckpt_progress_fn)(void *arg, const struct ckpt_progress *p);

/* Pause histogram: upper bounds (microseconds, inclusive) of the buckets,
 * ckpt_pause_bounds_us[]; bucket CKPT_PAUSE_BUCKETS counts the longer
 * pauses (Prometheus' +Inf minus the others).  Counts are per bucket, not
 * cumulative. */
#define CKPT_PAUSE_BUCKETS 12u
extern const uint64_t ckpt_pause_bounds_us[CKPT_PAUSE_BUCKETS];

struct ckpt_stats {
	uint64_t epoch;               /* last checkpoint taken */
	uint64_t acked;               /* last checkpoint acknowledged */
	uint64_t checkpoints;         /* taken (sender) / applied (receiver) */
	uint64_t discarded;           /* receiver: partial checkpoints dropped */
	uint64_t stretched;           /* sender: ticks skipped, N still sending */
	uint64_t pages;               /* pages sent / applied in checkpoints */
	uint64_t bytes;               /* stream bytes sent / received */
	uint64_t wire_bytes;          /* sender: stream frames queued on the wire, after
	                               * delta and rnet compression, headers incl. */
	uint64_t precopy_rounds, precopy_pages;
	uint64_t precopy_skipped;     /* sender: round-1 pages the backup's replica held */
	uint64_t last_pause_us, max_pause_us, total_pause_us;
	uint64_t pauses;              /* pauses recorded (the histogram's count) */
	uint64_t pause_hist[CKPT_PAUSE_BUCKETS + 1];
	uint64_t last_dirty;          /* pages in the last checkpoint */
	uint64_t started_ms, last_ckpt_ms;
	uint64_t sync_ms;             /* sender: start of sync -> checkpoint 1 acked */
	uint64_t sync_bytes;          /* sender: stream bytes queued by then (wire) */
	uint64_t mem_replica_bytes;   /* receiver: replica RAM actually held */
	uint64_t mem_buffers_bytes;   /* engine buffers: copied or staged pages,
	                               * delta cache, link queues (peak capacity) */
	uint64_t keepalive_heartbeats;/* heartbeats sent for us while we were busy */
};

/* Record one pause (guest suspended -> running again) in st: last, max,
 * total and its histogram bucket.  The caller holds st's lock. */
void ckpt_stats_add_pause(struct ckpt_stats *st, uint64_t us);

/* ---- sender ------------------------------------------------------------ */

struct ckpt_sender_cfg {
	const struct hv_ops *hv;
	struct hv_guest *guest;
	struct rnet_conn *conn;       /* handshaken; the engine does not own it;
	                               * NULL with blackhole */
	/* No backup (unsafe, like `xl remus -b`): every checkpoint is taken and
	 * encoded, its bytes counted and dropped, and it counts as acknowledged
	 * once taken, so netbuf releases each epoch after its checkpoint.  For
	 * measuring what protection costs a guest.  Needs conn and dr NULL; no
	 * hand-over. */
	bool blackhole;
	struct netbuf *nb;            /* NULL: no output buffering (unsafe) */
	/* A lost backup leaves nb holding what it holds (the caller decides
	 * whether this copy may release it: remusd's quorum); false: released
	 * at once, the guest runs on unprotected. */
	bool hold_on_loss;
	const struct diskrep_ops *dr; /* NULL: no disk replication */
	struct diskrep *disk;         /* primary handle, opened with start_epoch 0 */
	int disk_fd;                  /* our end of its peer socketpair (non-blocking) */
	uint32_t interval_ms;         /* epoch length; 0: 25 ms */
	unsigned max_precopy_rounds;  /* 0: 5 */
	uint64_t precopy_stop_pages;  /* stop pre-copy at this few dirty; 0: 256 */
	uint32_t ack_timeout_ms;      /* unacked checkpoint counts as peer loss; 0: 2000 */
	size_t delta_cache_pages;     /* leave 0: delta's page cache is sized from the
	                               * guest (the backup mirrors it, delta.c) */
	bool cow_capture;             /* capture with hv capture_begin/capture_wait (the
	                               * guest was created with cow_capture): the guest
	                               * resumes before its dirty pages are copied */
	bool xenstore;                /* the guest's store (hv store_save) in every
	                               * checkpoint as REMUS_XENSTORE; the link
	                               * negotiated RNET_CAP_XENSTORE */
	ckpt_progress_fn progress;
	void *progress_arg;
	struct ckpt_fault fault;
};

struct ckpt_sender;

int  ckpt_sender_new(const struct ckpt_sender_cfg *cfg, struct ckpt_sender **out,
                     struct remus_err *err);
void ckpt_sender_free(struct ckpt_sender *s);
/* Initial synchronisation: stream headers, live pre-copy rounds of all RAM,
 * then checkpoint 1; returns once the backup acknowledged it. */
int  ckpt_sender_sync(struct ckpt_sender *s, struct remus_err *err);
/* Instead of ckpt_sender_sync: carry on a run whose checkpoint n the
 * backup holds and after which nothing left (a live update of remusd: the
 * old daemon's run ended paused right after ACK(n), ckpt_sender_pause_final;
 * the backup resumes with ckpt_receiver_resume).  No pre-copy: after the
 * headers and the backup's offer, the backup's ACK names its checkpoint; it
 * must be n.  The disk numbers on from n (diskrep restart).  0: the guest
 * runs and checkpoint n + 1 (taken at once) is acknowledged; the time from
 * the call to that ACK is the stats' sync_ms (sync_bytes and pre-copy stay
 * 0).  The netbuf's first epoch must be n + 1.  <0 (CKPT_EPEER; err->code CKPT_ENOREPLICA or
 * CKPT_ESTREAM when the backup holds another checkpoint): the guest runs
 * on unprotected and the backup was told BYE(END), as after any loss, so
 * it keeps its replica and does not fail over; protect anew. */
int  ckpt_sender_resume(struct ckpt_sender *s, uint64_t n, struct remus_err *err);
/* Stop a run cleanly for a live update, after ckpt_sender_run returned
 * CKPT_ESTOPPED: every checkpoint taken is acknowledged, then the guest is
 * paused and a final one taken and acknowledged (netbuf releases its
 * epoch, so nothing is held any more and nothing is in flight).  0: the
 * guest stays paused, the backup's replica is that checkpoint (no BYE is
 * sent: the caller ends the link).  <0: the backup was lost first; the
 * guest runs here again, its held output kept (hold_on_loss) or released. */
int  ckpt_sender_pause_final(struct ckpt_sender *s, struct remus_err *err);
/* The epoch loop.  Runs until stop_fd (-1: none) becomes readable (returns
 * CKPT_ESTOPPED), `max_epochs` checkpoints were acknowledged (0: no limit;
 * returns 0), the guest stops (CKPT_EGUEST) or the backup is lost
 * (CKPT_EPEER: held output already released, the guest keeps running). */
int  ckpt_sender_run(struct ckpt_sender *s, int stop_fd, uint64_t max_epochs,
                     struct remus_err *err);
/* Planned hand-over, after ckpt_sender_run returned CKPT_ESTOPPED.
 * prepare: every checkpoint taken is acknowledged (replica ready);
 * perform: pause the guest, take the final checkpoint, wait for its ACK
 * (netbuf releases that epoch); finish: BYE(HANDOVER), then wait up to
 * confirm_ms for the backup's BYE(RUNNING).  0: confirmed, the guest is
 * left paused for the caller to destroy (never resume it).  CKPT_EINDOUBT:
 * the final checkpoint was acknowledged (the backup may run the guest) but
 * no confirmation came (link lost, no answer in time): the guest stays
 * paused, output after the final checkpoint held, for the operator to
 * resolve.  Other <0: cancelled (failure before the final ACK, or the
 * backup's BYE(REFUSED)), the guest runs here again (held output released,
 * unprotected) and err says which phase failed.  Fault point
 * "final-acked" (test builds): right after the final ACK. */
int  ckpt_sender_handover(struct ckpt_sender *s, uint32_t confirm_ms, struct remus_err *err);
/* The next hand-over asks the backup to protect the guest back to this
 * host once it runs it (BYE(HANDOVER_REVERSE)): role reversal. */
void ckpt_sender_set_reverse(struct ckpt_sender *s, bool reverse);
/* Snapshot of the counters (safe from another thread). */
void ckpt_sender_stats(struct ckpt_sender *s, struct ckpt_stats *out);
/* Change the epoch length or the stream's compression of a running
 * sender, from any thread; applied when the next epoch starts (the tick
 * already scheduled keeps its time).  Compression: the link's negotiated
 * kind or none on a zlib link, delta only on a delta link (RNET_ECAPS
 * otherwise, nothing changed).  ms: 1..10000. */
int ckpt_sender_set_interval(struct ckpt_sender *s, uint32_t ms, struct remus_err *err);
int ckpt_sender_set_compress(struct ckpt_sender *s, uint32_t kind, struct remus_err *err);

/* ---- receiver ---------------------------------------------------------- */

struct ckpt_receiver_cfg {
	const struct hv_ops *hv;
	struct rnet_conn *conn;       /* handshaken, not owned; NULL: no link (tests,
	                               * fuzzing: bytes come from ckpt_receiver_feed) */
	uint64_t ram_bytes;           /* the guest's RAM size (from its config) */
	const struct diskrep_ops *dr; /* NULL: no disk replication */
	struct diskrep *disk;         /* backup handle */
	int disk_fd;                  /* our end of its peer socketpair (non-blocking) */
	bool xenstore;                /* every checkpoint carries the guest's store
	                               * (REMUS_XENSTORE, RNET_CAP_XENSTORE): checked
	                               * with hv store_validate, restored with it */
	struct ckpt_fault fault;
};

/* Failover timings, microseconds. */
struct ckpt_failover_times {
	uint64_t detect_to_restore_us;    /* stream stop noticed -> restore call */
	uint64_t restore_us;              /* hv->restore */
	uint64_t announce_us;             /* hv->announce */
	uint64_t total_us;                /* stop noticed -> guest running */
	uint64_t checkpoint;              /* the checkpoint restored */
};

struct ckpt_receiver;

int  ckpt_receiver_new(const struct ckpt_receiver_cfg *cfg, struct ckpt_receiver **out,
                       struct remus_err *err);
void ckpt_receiver_free(struct ckpt_receiver *r);
/* A new run (a new link) on the same replica: the replica RAM is kept and
 * its page hashes are offered to the primary when run starts, so that the
 * first pre-copy round sends only what differs; everything else starts
 * over (no failover until checkpoint 1 of the new run is applied). */
int  ckpt_receiver_restart(struct ckpt_receiver *r, const struct ckpt_receiver_cfg *cfg,
                           struct remus_err *err);
/* A new link that carries on the run whose last checkpoint this receiver
 * applied (ckpt_sender_resume on the primary): as ckpt_receiver_restart,
 * but the numbering, the counters and the failover to that checkpoint
 * stay, the next checkpoint is staged as any, and the run's first words
 * after the offer are ACK(that checkpoint).  CKPT_ENOREPLICA when none was
 * applied (nothing changed then). */
int  ckpt_receiver_resume(struct ckpt_receiver *r, const struct ckpt_receiver_cfg *cfg,
                          struct remus_err *err);
/* Offer the replica's page hashes (see ckpt_receiver_restart; an empty
 * offer without a replica), then receive, stage, apply and acknowledge
 * checkpoints until the stream stops.
 * Returns 0 on a clean end of stream, CKPT_HANDOVER when the primary
 * handed the guest over (fail over, then ckpt_receiver_confirm), CKPT_ESTOPPED when stop_fd became
 * readable, CKPT_EPEER / CKPT_ESTREAM when the primary was lost or sent bad
 * data (the partial checkpoint has been dropped): the caller fails over. */
int  ckpt_receiver_run(struct ckpt_receiver *r, int stop_fd, struct remus_err *err);
/* Hand migration-stream bytes to the receiver directly (no link): complete
 * checkpoints are checked and applied (acknowledged only with a link).
 * 0, or CKPT_ESTREAM with the reason; the partial checkpoint is dropped. */
int  ckpt_receiver_feed(struct ckpt_receiver *r, const void *p, size_t len,
                        struct remus_err *err);
/* Restore the guest from the last applied checkpoint and start it: discard
 * uncommitted disk writes, hv->restore, hv->announce, hv->start. */
int  ckpt_receiver_failover(struct ckpt_receiver *r, const struct hv_guest_config *gcfg,
                            struct hv_guest **out, struct ckpt_failover_times *t,
                            struct remus_err *err);
/* After the stream stopped: the disk is the caller's again, the receiver
 * never touches it (a failover that promotes the disk and reopens it for
 * the restored guest itself); ckpt_receiver_failover then restores RAM and
 * contexts only. */
void ckpt_receiver_release_disk(struct ckpt_receiver *r);
/* After CKPT_HANDOVER: whether the primary asked to be protected back
 * (BYE(HANDOVER_REVERSE)). */
bool ckpt_receiver_reverse_asked(const struct ckpt_receiver *r);
/* Seed the replica RAM with a copy of a guest's (ram_bytes of it): the
 * old primary of a hand-over holds exactly the final checkpoint, so the
 * next run's page-hash offer lets the new primary send only what changed
 * since.  No failover is possible from a seed (checkpoint 1 of a run
 * first). */
void ckpt_receiver_seed(struct ckpt_receiver *r, const uint8_t *ram);
/* Answer a hand-over: BYE(RUNNING) if the guest runs here, else
 * BYE(REFUSED) so the primary resumes its copy. */
int  ckpt_receiver_confirm(struct ckpt_receiver *r, bool running, struct remus_err *err);
void ckpt_receiver_stats(struct ckpt_receiver *r, struct ckpt_stats *out);
/* Read-only view of the replica RAM (tests, verification). */
const uint8_t *ckpt_receiver_ram(const struct ckpt_receiver *r);

/* ---- a replica carried to another process (live update of a backup) ---- */
#define CKPT_REPLICA_MAGIC    0x4c505252u     /* "RRPL" little-endian */
#define CKPT_REPLICA_VERSION  1u
#define CKPT_REPLICA_BLOB_MAX (16u << 20)
/* The last applied checkpoint's numbering and contexts (replica.c); the
 * pointers of a decoded one point into the decoded buffer. */
struct ckpt_replica_state {
	uint64_t ram_bytes, applied, checkpoints, pages;
	const uint8_t *hvm, *emu, *store;
	uint32_t hvm_len, emu_len, store_len;
};
/* *out malloc'd (the caller frees), *len bytes. */
int ckpt_replica_encode(const struct ckpt_replica_state *s, uint8_t **out, size_t *len,
                        struct remus_err *err);
/* Whole or nothing: CKPT_ESTREAM naming what is wrong. */
int ckpt_replica_decode(const uint8_t *buf, size_t len, struct ckpt_replica_state *out,
                        struct remus_err *err);
/* Between runs (no ckpt_receiver_run active): the replica of the last
 * applied checkpoint as its RAM memfd (*ram_fd: a close-on-exec duplicate
 * the caller owns) and its encoded state (*state, malloc'd).
 * CKPT_ENOREPLICA when no checkpoint was applied. */
int ckpt_receiver_export(struct ckpt_receiver *r, int *ram_fd, uint8_t **state, size_t *len,
                         struct remus_err *err);
/* A receiver holding an exported replica: the memfd (ram_bytes of the
 * configuration, checked) becomes its RAM, the state its last applied
 * checkpoint; the next link is resumed (ckpt_receiver_resume) and failover
 * restores that checkpoint.  ram_fd is taken on success only. */
int ckpt_receiver_import(const struct ckpt_receiver_cfg *cfg, int ram_fd, const uint8_t *state,
                         size_t len, struct ckpt_receiver **out, struct remus_err *err);

uint64_t ckpt_now_us(void);

REMUS_API_END

#endif
