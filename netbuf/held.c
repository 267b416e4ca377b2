/*
 * The per-epoch FIFO of held packets (inline and nfqueue backends): a ring
 * of items that grows by doubling up to the configured packet limit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "netbuf/held.h"
#include "util/checked.h"

#define NB_DEFAULT_MAX_PACKETS 65536u
#define NB_DEFAULT_MAX_BYTES (64ull << 20)

/* Limits come from the config; zero means the documented default. */
void nb_held_init(struct nb_held *h, const struct netbuf_config *cfg)
{
	memset(h, 0, sizeof(*h));
	h->max_packets = cfg->max_held_packets ? cfg->max_held_packets
					       : NB_DEFAULT_MAX_PACKETS;
	h->max_bytes = cfg->max_held_bytes ? cfg->max_held_bytes
					   : NB_DEFAULT_MAX_BYTES;
}

/* Discard every item and the ring itself (close path). */
void nb_held_free(struct nb_held *h)
{
	while (h->count)
		nb_held_pop(h, false);
	free(h->v);
	h->v = NULL;
	h->cap = h->head = 0;
}

/* Double the ring, unrolling it so the head is at index 0 again. */
static int held_grow(struct nb_held *h)
{
	size_t ncap, bytes;
	struct nb_item *nv;

	ncap = h->cap ? h->cap * 2 : 64;
	if (!ck_mul_size(ncap, sizeof(*nv), &bytes))
		return -ENOMEM;
	nv = malloc(bytes);
	if (!nv)
		return -ENOMEM;
	for (size_t i = 0; i < h->count; i++)
		nv[i] = h->v[(h->head + i) % h->cap];
	free(h->v);
	h->v = nv;
	h->cap = ncap;
	h->head = 0;
	return 0;
}

/* Count a packet that could not be held as a full drop. */
static int held_refuse(struct nb_held *h, uint32_t len, int rc)
{
	h->dropped_packets++;
	h->dropped_bytes += len;
	h->full_drops++;
	return rc;
}

/* Queue one packet of `epoch`; refuses (and counts) beyond the limits. */
int nb_held_push(struct nb_held *h, uint64_t epoch, uint32_t id,
		 const void *data, uint32_t len)
{
	struct nb_item *it;
	uint64_t nbytes;

	if (h->count >= h->max_packets ||
	    !ck_add_u64(h->bytes, len, &nbytes) || nbytes > h->max_bytes)
		return held_refuse(h, len, NETBUF_EFULL);
	if (h->count == h->cap && held_grow(h) < 0)
		return held_refuse(h, len, -ENOMEM);
	it = &h->v[(h->head + h->count) % h->cap];
	it->epoch = epoch;
	it->id = id;
	it->len = len;
	it->data = NULL;
	if (data) {
		it->data = malloc(len ? len : 1);
		if (!it->data)
			return held_refuse(h, len, -ENOMEM);
		memcpy(it->data, data, len);
	}
	h->count++;
	h->bytes = nbytes;
	if (h->count > h->peak_packets)
		h->peak_packets = h->count;
	if (h->bytes > h->peak_bytes)
		h->peak_bytes = h->bytes;
	return 0;
}

/* Head of the FIFO if it belongs to an epoch that may leave now. */
struct nb_item *nb_held_head(struct nb_held *h, uint64_t upto)
{
	struct nb_item *it;

	if (!h->count)
		return NULL;
	it = &h->v[h->head];
	return it->epoch <= upto ? it : NULL;
}

/* Retire the head item, counting it as released or dropped. */
void nb_held_pop(struct nb_held *h, bool released)
{
	struct nb_item *it = &h->v[h->head];

	if (released) {
		h->released_packets++;
		h->released_bytes += it->len;
	} else {
		h->dropped_packets++;
		h->dropped_bytes += it->len;
	}
	h->bytes -= it->len;
	free(it->data);
	it->data = NULL;
	h->head = (h->head + 1) % h->cap;
	h->count--;
}

/* Counters plus a per-epoch summary of the oldest held epochs. */
void nb_held_stats(const struct nb_held *h, struct netbuf_stats *st)
{
	st->held_packets = h->count;
	st->held_bytes = h->bytes;
	st->released_packets = h->released_packets;
	st->released_bytes = h->released_bytes;
	st->dropped_packets = h->dropped_packets;
	st->dropped_bytes = h->dropped_bytes;
	st->full_drops = h->full_drops;
	st->tx_errors = h->tx_errors;
	st->max_held_packets = h->peak_packets;
	st->max_held_bytes = h->peak_bytes;
	st->counts_exact = true;
	st->nr_epochs = 0;
	for (size_t i = 0; i < h->count; i++) {
		const struct nb_item *it = &h->v[(h->head + i) % h->cap];
		struct netbuf_epoch_stats *e;

		e = st->nr_epochs ? &st->epochs[st->nr_epochs - 1] : NULL;
		if (!e || e->epoch != it->epoch) {
			if (st->nr_epochs == NETBUF_STATS_EPOCHS)
				break;
			e = &st->epochs[st->nr_epochs++];
			e->epoch = it->epoch;
			e->packets = e->bytes = 0;
		}
		e->packets++;
		e->bytes += it->len;
	}
}
