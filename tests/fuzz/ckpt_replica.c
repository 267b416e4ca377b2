/*
 * libFuzzer target: the exported replica state a backup daemon's live
 * update hands to the new daemon (lib/ckpt/replica.c).  A refused buffer
 * leaves nothing set; an accepted one re-encodes to exactly its bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct ckpt_replica_state s;
	uint8_t *again = NULL;
	size_t len = 0;

	if (ckpt_replica_decode(data, size, &s, &err) != 0) {
		if (s.hvm != NULL || s.applied != 0 || err.code == 0)
			abort();
		return 0;
	}
	if (ckpt_replica_encode(&s, &again, &len, &err) != 0 || len != size ||
	    memcmp(again, data, size) != 0)
		abort();
	free(again);
	return 0;
}
