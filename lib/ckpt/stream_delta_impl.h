/* Delta compression of a driver's migration stream (stream_delta.c): the
 * stream sender's side.  The backup's side is delta.c's mirror
 * (delta_rx_init_announced), which rebuilds the exact bytes. */
#ifndef REMUS_CKPT_STREAM_DELTA_IMPL_H
#define REMUS_CKPT_STREAM_DELTA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt/delta_impl.h"
#include "stream/stream.h"

struct stream_delta_tx {
	struct stream_reader rd;        /* follows the driver's records */
	struct delta_tx dx;             /* the pvm sender's encoder and cache */
	uint8_t *hold;                  /* bytes of the item the reader is inside */
	size_t hold_len, hold_cap;
	bool passthrough;               /* the reader refused: the rest goes as RAW */
	struct remus_err why;           /* what it refused */
	uint8_t *out;                   /* container bytes ready for the link */
	size_t out_len, out_off, out_cap;
	uint64_t pages, delta_pages;    /* pages found / sent as deltas */
};

/* slots: delta_slots() of the guest's pages; the first container item
 * (CACHE) tells the backup. */
int  stream_delta_init(struct stream_delta_tx *t, size_t slots, struct remus_err *err);
void stream_delta_free(struct stream_delta_tx *t);
/* The driver's next stream bytes: every complete item goes out (pages of
 * PAGE_DATA through the delta cache, the rest as RAW) into out[out_off..
 * out_len); the bytes of an incomplete item wait for the rest. */
int  stream_delta_feed(struct stream_delta_tx *t, const uint8_t *p, size_t len,
                       struct remus_err *err);
/* The driver's stream ended: whatever item was left incomplete goes out
 * as it is (the backup then reads the same torn stream). */
int  stream_delta_finish(struct stream_delta_tx *t, struct remus_err *err);
/* Container bytes not yet handed to the link. */
static inline size_t stream_delta_pending(const struct stream_delta_tx *t)
{
	return t->out_len - t->out_off;
}

#endif
