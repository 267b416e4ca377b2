/* Delta compression of page data (delta.c). */
#ifndef REMUS_CKPT_DELTA_IMPL_H
#define REMUS_CKPT_DELTA_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt/ckpt.h"

enum { CKDX_RAW = 0, CKDX_PAGE = 1, CKDX_DELTA = 2, CKDX_CACHE = 3 };
#define CKDX_OUT_MAX (1u << 20)     /* flush the container before it is this full */

struct delta_tx {
	size_t slots;
	uint64_t *tag;                  /* pfn held by each cache slot, ~0: none */
	uint8_t *cache;                 /* slots x 4096 */
	uint8_t *out;                   /* container being built */
	size_t len;
	uint64_t full_pages, delta_pages;
};

struct delta_rx {
	uint64_t nr_pfns;
	size_t slots;                   /* mirror of the sender's cache */
	uint64_t *tag;                  /* pfn held by each slot, ~0: none */
	uint8_t *cache;                 /* slots x 4096: last content of tag[] */
	uint8_t *in;                    /* container bytes not yet a whole item */
	size_t in_len, in_cap;
	uint8_t *plain;                 /* rebuilt stream bytes of the last feed */
	size_t plain_len, plain_cap;
	bool announced;                 /* slots come from the stream's CACHE item */
	uint64_t items;                 /* items decoded so far */
};

/* Encode cur as runs against old into out (cap bytes); 0 if it does not fit. */
size_t ckpt_delta_encode(const uint8_t *old, const uint8_t *cur, uint8_t *out, size_t cap);
/* Apply runs to page (old content in, new content out). */
int  ckpt_delta_decode(uint8_t *page, const uint8_t *in, size_t len, struct remus_err *err);

size_t delta_slots(uint64_t nr_pfns);
int  delta_init(struct delta_tx *t, size_t slots, struct remus_err *err);
void delta_free(struct delta_tx *t);
void delta_raw(struct delta_tx *t, const uint8_t *p, size_t len);
void delta_page(struct delta_tx *t, uint64_t pfn, const uint8_t *page);
void delta_cache_item(struct delta_tx *t);

int  delta_rx_init(struct delta_rx *x, uint64_t ram_bytes, struct remus_err *err);
/* A mirror sized by the stream's CACHE item; pfns below pfn_limit. */
int  delta_rx_init_announced(struct delta_rx *x, uint64_t pfn_limit);
void delta_rx_free(struct delta_rx *x);
/* Container bytes in; rebuilt stream bytes in x->plain[0..plain_len). */
int  delta_rx_feed(struct delta_rx *x, const uint8_t *p, size_t len, struct remus_err *err);

#endif
