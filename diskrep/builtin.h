/*
 * The builtin backend's handle, shared by builtin.c (open, primary side),
 * builtin_backup.c (staging, commit) and resync.c (both sides of a resync).
 */
#ifndef REMUS_DISKREP_BUILTIN_H
#define REMUS_DISKREP_BUILTIN_H

#include <pthread.h>

#include "diskrep/internal.h"

/* (epoch, block) pairs written but not yet acknowledged, in epoch order. */
struct br_pending {
	struct { uint64_t epoch, block; } *v;
	size_t head, count, cap;
};

struct diskrep {
	enum diskrep_role role;
	int image_fd, peer_fd;
	uint64_t image_bytes, nr_blocks;
	uint32_t block_size;
	char *state_dir;
	struct diskrep_fault fault;
	struct diskrep_counters cnt;
	uint8_t *frame;             /* one receive frame (DRW_MAX_FRAME) */

	/* primary: the guest's thread writes while the engine marks and acks
	 * epochs and a resync thread runs; send_lock keeps frames whole and in
	 * order on peer_fd (taken first), lock guards the bookkeeping below */
	pthread_mutex_t send_lock, lock;
	struct dr_bitmap bm;
	uint64_t last_marked;       /* writes now belong to last_marked + 1 */
	uint64_t *block_epoch;      /* per block: epoch of its last write */
	struct br_pending pending;
	bool peer_lost;

	/* backup */
	struct dr_stage stage;
	int journal_fd[2];          /* the two alternating journal slots */
	struct dr_state st;         /* committed epoch, consistency */
	uint64_t last_ready;        /* last epoch whose EPOCH_END arrived */
	uint64_t recv_records;      /* writes staged for the epoch being received */
	bool broken;                /* a message was rejected: discard first */
	bool failed;                /* a commit step failed: reopen to recover */
	bool syncing;               /* between SYNC_BEGIN and SYNC_DONE */
	uint64_t sync_base;         /* the run's base epoch (SYNC_BEGIN) */
	bool sync_staged;           /* writes were staged during the resync */
	bool consistent_at_commit;  /* mark consistent at the next commit */
	uint64_t sync_blocks;       /* BLOCKs applied in this resync */
};

int br_backup_open(struct diskrep *d, const struct diskrep_config *cfg,
                   struct remus_err *err);
void br_backup_close(struct diskrep *d);
int br_sync_begin(struct diskrep *d, const struct drw_msg *m, struct remus_err *err);
int br_sync_hash_req(struct diskrep *d, const struct drw_msg *m, struct remus_err *err);
int br_sync_block(struct diskrep *d, const struct drw_msg *m, struct remus_err *err);
int br_sync_done(struct diskrep *d, const struct drw_msg *m, struct remus_err *err);
int br_resync(struct diskrep *d, enum diskrep_resync_mode mode,
              diskrep_progress_fn progress, void *arg, struct remus_err *err);

int br_receive(struct diskrep *d, struct diskrep_event *ev, struct remus_err *err);
int br_deliver(struct diskrep *d, const void *frame, size_t len,
               struct diskrep_event *ev, struct remus_err *err);
int br_commit(struct diskrep *d, uint64_t epoch, struct remus_err *err);
int br_discard_uncommitted(struct diskrep *d, struct remus_err *err);
struct dr_commit_ctx br_commit_ctx(struct diskrep *d);

#endif
