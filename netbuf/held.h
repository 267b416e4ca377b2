/*
 * Internal: the per-epoch FIFO shared by the inline and nfqueue backends.
 * Packets are appended with the open epoch, so the FIFO is sorted by epoch
 * and releasing epochs <= N is popping from the head.
 */
#ifndef REMUS_NETBUF_HELD_H
#define REMUS_NETBUF_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netbuf/netbuf.h"

struct nb_item {
	uint64_t epoch;
	uint32_t len;     /* frame length (bytes on the wire) */
	uint32_t id;      /* nfqueue packet id */
	uint8_t *data;    /* inline: owned copy of the frame; else NULL */
};

struct nb_held {
	struct nb_item *v;
	size_t cap, head, count;
	uint64_t bytes;
	uint32_t max_packets;
	uint64_t max_bytes;
	/* counters */
	uint64_t released_packets, released_bytes;
	uint64_t dropped_packets, dropped_bytes, full_drops, tx_errors;
	uint64_t peak_packets, peak_bytes;
};

void nb_held_init(struct nb_held *h, const struct netbuf_config *cfg);
/* Free every held item (without releasing it). */
void nb_held_free(struct nb_held *h);
/* Append; data (if non-NULL) is copied.  NETBUF_EFULL: over the limit,
 * counted as a full drop; -ENOMEM likewise. */
int nb_held_push(struct nb_held *h, uint64_t epoch, uint32_t id,
		 const void *data, uint32_t len);
/* The oldest item if its epoch is <= upto, else NULL. */
struct nb_item *nb_held_head(struct nb_held *h, uint64_t upto);
/* Drop the head item after it was released (released=true) or dropped. */
void nb_held_pop(struct nb_held *h, bool released);
/* Fill the counters and per-epoch summary of st. */
void nb_held_stats(const struct nb_held *h, struct netbuf_stats *st);

#endif
