/* The receiver's state, shared by its two files: receiver.c (a run:
 * staging, checks, commit, ACKs) and receiver_replica.c (what becomes of
 * the replica: kept for another run, moved to another process, restored
 * at failover). */
#ifndef REMUS_CKPT_RECEIVER_IMPL_H
#define REMUS_CKPT_RECEIVER_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/ckpt.h"
#include "ckpt/delta_impl.h"
#include "ckpt/disk_impl.h"
#include "stream/stream.h"

struct ckpt_receiver {
	struct ckpt_receiver_cfg cfg;
	uint64_t nr_pfns;
	int ram_fd;
	uint8_t *ram;                 /* the replica's RAM, live memfd */
	struct hv_blob hvm, emu;      /* of the last applied checkpoint */
	struct hv_blob store;         /* its REMUS_XENSTORE body (cfg.xenstore) */
	uint64_t applied;             /* last applied checkpoint (this run) */
	bool resume_ack;              /* resumed: ACK(applied) after the offer */
	bool has_replica;             /* ram holds a whole checkpoint of an earlier run */
	uint64_t stop_us;             /* when the stream stopped */
	uint32_t bye_reason;          /* of the primary's BYE (enum ckpt_bye) */
	struct stream_asm as;
	struct disk_channel dl;           /* disk channel */
	uint64_t disk_ready;          /* last disk epoch fully staged */
	bool delta;                   /* delta compression negotiated */
	struct delta_rx dx;
	pthread_mutex_t lock;
	struct ckpt_stats st;
};

/* A fresh assembler for a run: checkpoint 1 in place, later ones staged
 * (a resumed run's numbering goes on from the checkpoint applied). */
void receiver_asm_start(struct ckpt_receiver *r);
/* Keep a copy of len bytes at p in b. */
int  receiver_keep_blob(struct hv_blob *b, const uint8_t *p, size_t len, struct remus_err *err);

#endif
