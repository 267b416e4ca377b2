/*
 * libFuzzer target: arbitrary bytes as the primary's migration stream into
 * the checkpoint receiver (assembler + the engine's checks and apply into
 * a 64-page replica).  Must never crash, leak, or apply a checkpoint whose
 * pages lie outside the replica.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ckpt/ckpt.h"
#include "hv/pvm/pvm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ckpt_receiver_cfg cfg = { .hv = &pvm_hv_ops, .ram_bytes = 64 * 4096 };
	struct ckpt_receiver *r;
	struct remus_err err = { 0 };
	struct ckpt_stats st;

	if (ckpt_receiver_new(&cfg, &r, &err) < 0)
		abort();
	/* two pieces, so checkpoints may straddle feeds */
	if (ckpt_receiver_feed(r, data, size / 2, &err) == 0)
		ckpt_receiver_feed(r, data + size / 2, size - size / 2, &err);
	ckpt_receiver_stats(r, &st);
	if (st.epoch != st.checkpoints)
		abort();        /* applied checkpoints are 1..N, in order */
	ckpt_receiver_free(r);
	return 0;
}
