/*
 * The checkpoint gate: holds the bytes of a checkpointed (Remus) stream
 * until the checkpoint they belong to is complete, then releases them
 * unchanged.  For a receiver that hands the stream to a library reading it
 * itself (libxl_domain_create_restore): that library must never see a
 * torn checkpoint, and the receiver must know when one is complete to
 * acknowledge it.
 *
 * Input starts at the libxl stream header.  Released: the stream's headers
 * together with the first checkpoint, then one whole checkpoint at a time
 * (up to and including its libxl CHECKPOINT_END), and the END records of a
 * stream that ends on purpose.  The record boundaries come from the stream
 * reader (hostile input: every length bounded and checked).  The bytes
 * held at once — the checkpoint in progress — are bounded by max_held; a
 * checkpoint that grows past it is an error naming the bound.
 */
#ifndef REMUS_STREAM_GATE_H
#define REMUS_STREAM_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"

struct stream_gate {
	struct stream_reader rd;
	struct remus_err err;
	uint64_t max_held;      /* bytes of one checkpoint in progress */
	uint8_t *buf;           /* [0, rel) released, [rel, len) held */
	size_t len, rel, cap;
	uint64_t checkpoints;   /* complete checkpoints seen */
	bool ended;             /* the stream's END was read (and released) */
	bool failed;
};

/* max_held: the most bytes one checkpoint may take (the first carries the
 * whole RAM: size it from the guest's memory). */
void stream_gate_init(struct stream_gate *g, uint64_t max_held);
void stream_gate_free(struct stream_gate *g);
/*
 * Take bytes from the peer.  Returns the number of checkpoints that became
 * complete (>= 0; their bytes are now releasable, see stream_gate_released),
 * or <0 on bad data or a checkpoint over max_held: g->err names what was
 * wrong and where; the gate then stays failed.  The checkpoints (or END)
 * that completed before the bad byte stay releasable, in the failing call
 * as in an earlier one, so what is released never depends on how the
 * bytes were cut into calls; nothing after them ever is.
 */
int  stream_gate_feed(struct stream_gate *g, const void *data, size_t len);
/* The releasable bytes (complete checkpoints, in order); *len 0: none. */
const uint8_t *stream_gate_released(const struct stream_gate *g, size_t *len);
/* The caller forwarded the released bytes: drop them. */
void stream_gate_consume(struct stream_gate *g);
/* Bytes of the checkpoint in progress (held, never released on their own). */
size_t stream_gate_held(const struct stream_gate *g);

#endif
