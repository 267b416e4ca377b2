/* The checkpoint-engine test rig shared by test_ckpt and the fault
 * trials: pvm's counter guest replicated over an authenticated rnet
 * socketpair, named fault points, netbuf frames checked on release. */
#ifndef CKPT_TESTLIB_H
#define CKPT_TESTLIB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/ckpt.h"
#include "tests/unit/test_net_util.h"
#include "netbuf/netbuf.h"
#include "tests/unit/pvm_testlib.h"

#define MEM          (16u << 20)
#define COUNTER_OFF  (1u << 20)     /* counter guest keeps its count here */
#define MAX_EPOCHS   64

struct rig {
	struct tkeys keys;
	struct side pri, bak;
	struct hv_guest_config gcfg;
	struct hv_guest *g;
	struct ckpt_receiver *rcv;
	pthread_t rth;
	int rrc;
	struct remus_err rerr;
	/* fault hook state */
	uint64_t counter_at[MAX_EPOCHS + 2];
	uint64_t stop_epoch;
	const char *stop_point;
	/* netbuf */
	struct netbuf nb;
	uint64_t frames_out;
	volatile bool dead;             /* primary "killed": later output is void */
	struct ckpt_sender *snd;
	int src;                        /* sender's return */
	struct remus_err serr;
	uint64_t acked_at_stop;
	bool cow;                       /* copy-on-write capture (rig_up_cow) */
	uint64_t cow_fault_copies;      /* fault copies counted at the last pause */
	uint64_t cow_copied_writes;     /* checkpoints whose state page a guest write copied */
};

/* compress: RNET_COMPRESS_* the primary asks for (both sides offer all). */
void rig_up(struct rig *r, bool with_netbuf, uint32_t compress);
/* The same with the guest created for copy-on-write capture, which the
 * sender then uses. */
void rig_up_cow(struct rig *r, bool with_netbuf, uint32_t compress);
void rig_down(struct rig *r);
/* Sync, then run the sender until it stops (fault point or kill), then
 * the primary "dies" and the receiver sees the stream end. */
void run_until_fault(struct rig *r);
/* The primary dies now (another thread): its link goes down. */
void rig_kill(struct rig *r);
/* The rig's fault hook (one netbuf frame per pause; stops at
 * stop_point/stop_epoch) for tests that drive the sender themselves. */
int rig_hook(void *arg, const char *point, uint64_t epoch);
/* Restore the replica and check it runs on from exactly `expect`. */
void failover_and_check(struct rig *r, uint64_t expect);

#endif
