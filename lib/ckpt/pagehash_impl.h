/*
 * Page-hash offer: at the start of a run the backup tells the primary what
 * its replica RAM already holds, as one xxh3-64 hash per page, so that the
 * first pre-copy round sends only the pages whose hash differs.
 *
 * Sent by the backup as RNET_MSG_STREAM frames (the only stream bytes that
 * flow backup -> primary), one chunk each, little endian:
 *   u32 magic "RPH1" | u32 flags (bit 0: last chunk) | u64 first_pfn |
 *   u32 count | u32 zero | u64 hash[count]
 * Chunks cover pfns in order from 0; the last one ends at the guest's page
 * count.  A backup without a replica sends one empty last chunk.
 */
#ifndef REMUS_CKPT_PAGEHASH_IMPL_H
#define REMUS_CKPT_PAGEHASH_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define CKPH_MAGIC      0x31485052u     /* "RPH1" */
#define CKPH_HDR_LEN    24u
#define CKPH_MAX_COUNT  65536u          /* hashes per chunk (512 KiB) */
#define CKPH_LAST       1u

/* The primary's view of an offer being received. */
struct pagehash_offer {
	uint64_t nr_pfns;
	uint64_t *hash;         /* nr_pfns entries once a replica is offered */
	uint64_t next;          /* next pfn expected */
	bool done;              /* the last chunk arrived */
	bool have;              /* a replica was offered (hash[] valid) */
};

uint64_t pagehash_of_page(const void *page);
/* Encode the chunk of `count` hashes from `first` into out (room for
 * CKPH_HDR_LEN + 8 * count bytes); returns its length. */
size_t pagehash_encode(uint8_t *out, uint64_t first, const uint64_t *hashes, uint32_t count,
                   bool last);
/* Take one chunk from the backup (hostile bytes: every field checked). */
int  pagehash_take(struct pagehash_offer *o, const uint8_t *p, size_t len, struct remus_err *err);
void pagehash_free(struct pagehash_offer *o);

#endif
