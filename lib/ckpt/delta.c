/*
 * Delta compression of page data (negotiated as RNET_COMPRESS_DELTA): a
 * page goes out XORed against the copy last sent for the same pfn and
 * zero-run encoded, like xl remus's compression.  The sender keeps a
 * bounded, direct-mapped cache of last-sent pages (delta_slots() of the
 * guest's size, slot = pfn % slots); the receiver mirrors that cache from
 * the items themselves and rebuilds the exact stream bytes before the
 * assembler sees them.  The mirror costs what the sender's cache costs,
 * not a second copy of the guest's RAM.  A DELTA is only ever decoded
 * against a mirror slot that holds its pfn, and such a slot holds the
 * last content received for that pfn: whatever the two sides' slot
 * counts, a delta is never applied to the wrong base.
 *
 * Container (inside RNET_MSG_STREAM bodies; items may straddle bodies):
 *   u8 kind = 0 RAW,   u32 len (<= 64 KiB), len stream bytes
 *   u8 kind = 1 PAGE,  u64 pfn, 4096 bytes            (slot := page)
 *   u8 kind = 2 DELTA, u64 pfn, u32 len, len bytes    (page := slot ^ runs)
 *   u8 kind = 3 CACHE, u32 slots (256..4096)          (first item only)
 * CACHE is for a backup that does not know the guest's size when the
 * stream starts (a driver-owned loop: the Xen driver's libxc stream, where
 * the guest's configuration comes in-band): the sender says how many slots
 * its cache has (delta_slots() of the guest, the same rule) and the mirror
 * is sized from it.  A backup that sized its mirror from the guest's RAM
 * refuses it.
 * Runs: {u16 zero bytes, u16 literal bytes, literal XOR bytes}... covering
 * exactly 4096 bytes.  All little-endian.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/delta_impl.h"
#include "util/bytes.h"

#define PAGE 4096u


size_t ckpt_delta_encode(const uint8_t *old, const uint8_t *cur, uint8_t *out, size_t cap)
{
	size_t o = 0, i = 0;

	while (i < PAGE) {
		size_t z = i, k, eq = 0, l;
		while (z < PAGE && old[z] == cur[z])
			z++;
		/* the literal run ends where 8 equal bytes in a row begin */
		for (k = z; k < PAGE; k++) {
			if (old[k] != cur[k])
				eq = 0;
			else if (++eq == 8)
				break;
		}
		l = k < PAGE ? k + 1 - eq : PAGE - eq;
		if (l < z)
			l = z;
		if (o + 4 + (l - z) > cap)
			return 0;               /* not worth it: send the page */
		put_le16(out + o, (uint32_t)(z - i));
		put_le16(out + o + 2, (uint32_t)(l - z));
		for (k = z; k < l; k++)
			out[o + 4 + k - z] = old[k] ^ cur[k];
		o += 4 + (l - z);
		i = l;
	}
	return o;
}

int ckpt_delta_decode(uint8_t *page, const uint8_t *in, size_t len, struct remus_err *err)
{
	size_t i = 0, o = 0;

	while (i < PAGE) {
		uint32_t z, l;
		if (len - o < 4)
			return remus_err_set(err, CKPT_ESTREAM, "delta: runs end at byte %zu of the page", i);
		z = get_le16(in + o);
		l = get_le16(in + o + 2);
		o += 4;
		if (z + l > PAGE - i || l > len - o || (z == 0 && l == 0))
			return remus_err_set(err, CKPT_ESTREAM, "delta: run of %u+%u bytes at page byte %zu "
			                     "(%zu encoded bytes left)", z, l, i, len - o);
		i += z;
		for (uint32_t k = 0; k < l; k++)
			page[i + k] ^= in[o + k];
		i += l;
		o += l;
	}
	if (o != len)
		return remus_err_set(err, CKPT_ESTREAM, "delta: %zu bytes after the page's runs", len - o);
	return 0;
}

/* Cache slots for a guest of nr_pfns pages: 1/16 of its RAM, between
 * 256 pages (1 MiB) and 4096 pages (16 MiB); both sides compute it. */
size_t delta_slots(uint64_t nr_pfns)
{
	uint64_t n = nr_pfns / 16;

	return (size_t)(n < 256 ? 256 : n > 4096 ? 4096 : n);
}

/* ---- sender ---------------------------------------------------------- */

int delta_init(struct delta_tx *t, size_t slots, struct remus_err *err)
{
	memset(t, 0, sizeof(*t));
	t->slots = slots ? slots : 4096;
	t->tag = malloc(t->slots * sizeof(*t->tag));
	t->cache = malloc(t->slots * PAGE);
	t->out = malloc(CKDX_OUT_MAX);
	if (!t->tag || !t->cache || !t->out) {
		delta_free(t);
		return remus_err_sys(err, ENOMEM, "delta cache of %zu pages", slots);
	}
	memset(t->tag, 0xff, t->slots * sizeof(*t->tag));
	return 0;
}

void delta_free(struct delta_tx *t)
{
	free(t->tag);
	free(t->cache);
	free(t->out);
	memset(t, 0, sizeof(*t));
}

/* Append raw stream bytes (split into items of at most 64 KiB). */
void delta_raw(struct delta_tx *t, const uint8_t *p, size_t len)
{
	while (len) {
		size_t n = len < 65536 ? len : 65536;
		t->out[t->len] = CKDX_RAW;
		put_le32(t->out + t->len + 1, (uint32_t)n);
		memcpy(t->out + t->len + 5, p, n);
		t->len += 5 + n;
		p += n;
		len -= n;
	}
}

/* Append one page: a delta against the cached copy, or the page itself. */
void delta_page(struct delta_tx *t, uint64_t pfn, const uint8_t *page)
{
	size_t slot = (size_t)(pfn % t->slots), n = 0;
	uint8_t *old = t->cache + slot * PAGE;

	if (t->tag[slot] == pfn)
		n = ckpt_delta_encode(old, page, t->out + t->len + 13, PAGE - 64);
	if (n) {
		t->out[t->len] = CKDX_DELTA;
		put_le64(t->out + t->len + 1, pfn);
		put_le32(t->out + t->len + 9, (uint32_t)n);
		t->len += 13 + n;
		t->delta_pages++;
	} else {
		t->out[t->len] = CKDX_PAGE;
		put_le64(t->out + t->len + 1, pfn);
		memcpy(t->out + t->len + 9, page, PAGE);
		t->len += 9 + PAGE;
		t->full_pages++;
	}
	memcpy(old, page, PAGE);
	t->tag[slot] = pfn;
}

/* Append the CACHE item: the first of a stream whose backup sizes its
 * mirror from it (delta_rx_init_announced). */
void delta_cache_item(struct delta_tx *t)
{
	t->out[t->len] = CKDX_CACHE;
	put_le32(t->out + t->len + 1, (uint32_t)t->slots);
	t->len += 5;
}

/* ---- receiver --------------------------------------------------------- */

int delta_rx_init(struct delta_rx *x, uint64_t ram_bytes, struct remus_err *err)
{
	memset(x, 0, sizeof(*x));
	x->nr_pfns = ram_bytes / PAGE;
	x->slots = delta_slots(x->nr_pfns);
	x->tag = malloc(x->slots * sizeof(*x->tag));
	x->cache = malloc(x->slots * PAGE);
	if (x->tag == NULL || x->cache == NULL) {
		delta_rx_free(x);
		return remus_err_sys(err, ENOMEM, "delta mirror of %zu pages", delta_slots(ram_bytes / PAGE));
	}
	memset(x->tag, 0xff, x->slots * sizeof(*x->tag));
	return 0;
}

int delta_rx_init_announced(struct delta_rx *x, uint64_t pfn_limit)
{
	memset(x, 0, sizeof(*x));
	x->nr_pfns = pfn_limit;
	x->announced = true;
	return 0;
}

void delta_rx_free(struct delta_rx *x)
{
	free(x->tag);
	free(x->cache);
	free(x->in);
	free(x->plain);
	memset(x, 0, sizeof(*x));
}

/* Make room for n more bytes in a growable buffer. */
static int grow(uint8_t **b, size_t *cap, size_t need, struct remus_err *err)
{
	uint8_t *n;

	if (need <= *cap)
		return 0;
	if ((n = realloc(*b, need)) == NULL)
		return remus_err_sys(err, ENOMEM, "delta buffer of %zu bytes", need);
	*b = n;
	*cap = need;
	return 0;
}

/* CACHE: size the mirror as the sender's cache, once, before any other
 * item, and only for a mirror that waits for it. */
static int64_t rx_cache(struct delta_rx *x, const uint8_t *p, size_t avail, struct remus_err *err)
{
	uint32_t n;

	if (!x->announced || x->slots != 0 || x->items != 0)
		return remus_err_set(err, CKPT_ESTREAM, "delta: a cache size (CACHE) %s",
		                     x->announced ? "after the stream's first item" :
		                     "where the backup sized its cache from the guest");
	if (avail < 5)
		return 0;
	if ((n = get_le32(p + 1)) < delta_slots(0) || n > delta_slots(UINT64_MAX))
		return remus_err_set(err, CKPT_ESTREAM, "delta: cache of %u slots (%zu..%zu)", n,
		                     delta_slots(0), delta_slots(UINT64_MAX));
	x->tag = malloc(n * sizeof(*x->tag));
	x->cache = malloc((size_t)n * PAGE);
	if (x->tag == NULL || x->cache == NULL)
		return remus_err_sys(err, ENOMEM, "delta mirror of %u pages", n);
	memset(x->tag, 0xff, n * sizeof(*x->tag));
	x->slots = n;
	return 5;
}

/* Decode one whole item at p (avail bytes); 0 if incomplete, else its size. */
static int64_t rx_item(struct delta_rx *x, const uint8_t *p, size_t avail, struct remus_err *err)
{
	uint64_t pfn;
	uint32_t n;
	size_t slot;
	uint8_t *page;

	if (avail < 1)
		return 0;
	if (p[0] == CKDX_CACHE)
		return rx_cache(x, p, avail, err);
	if (x->slots == 0)
		return remus_err_set(err, CKPT_ESTREAM, "delta: item of kind %u before the sender's "
		                     "cache size (CACHE)", p[0]);
	if (p[0] == CKDX_RAW) {
		if (avail < 5 || avail < 5 + (size_t)(n = get_le32(p + 1)))
			return avail >= 5 && get_le32(p + 1) > 65536 ?
			       remus_err_set(err, CKPT_ESTREAM, "delta: raw item of %u bytes", get_le32(p + 1)) : 0;
		if (n == 0)
			return 5;
		if (grow(&x->plain, &x->plain_cap, x->plain_len + n, err) < 0)
			return -ENOMEM;
		memcpy(x->plain + x->plain_len, p + 5, n);
		x->plain_len += n;
		return 5 + (int64_t)n;
	}
	if (p[0] != CKDX_PAGE && p[0] != CKDX_DELTA)
		return remus_err_set(err, CKPT_ESTREAM, "delta: unknown item kind %u", p[0]);
	if (avail < 9 || (p[0] == CKDX_DELTA && avail < 13))
		return 0;
	pfn = get_le64(p + 1);
	if (pfn >= x->nr_pfns)
		return remus_err_set(err, CKPT_ESTREAM, "delta: pfn %#" PRIx64 " beyond %" PRIu64 " pages",
		                     pfn, x->nr_pfns);
	slot = (size_t)(pfn % x->slots);
	page = x->cache + slot * PAGE;
	n = p[0] == CKDX_PAGE ? PAGE : get_le32(p + 9);
	if (n > PAGE)
		return remus_err_set(err, CKPT_ESTREAM, "delta: %u encoded bytes for one page", n);
	if (avail < (p[0] == CKDX_PAGE ? 9u : 13u) + n)
		return 0;
	if (p[0] == CKDX_DELTA && x->tag[slot] != pfn)
		return remus_err_set(err, CKPT_ESTREAM, "delta: pfn %#" PRIx64 " has no base here "
		                     "(its mirror slot holds %#" PRIx64 ")", pfn, x->tag[slot]);
	if (p[0] == CKDX_PAGE) {
		memcpy(page, p + 9, PAGE);
	} else {
		uint8_t next[PAGE];     /* the slot changes only if all runs are good */

		memcpy(next, page, PAGE);
		if (ckpt_delta_decode(next, p + 13, n, err) < 0)
			return CKPT_ESTREAM;
		memcpy(page, next, PAGE);
	}
	x->tag[slot] = pfn;
	if (grow(&x->plain, &x->plain_cap, x->plain_len + PAGE, err) < 0)
		return -ENOMEM;
	memcpy(x->plain + x->plain_len, page, PAGE);
	x->plain_len += PAGE;
	return (p[0] == CKDX_PAGE ? 9 : 13) + (int64_t)n;
}

int delta_rx_feed(struct delta_rx *x, const uint8_t *p, size_t len, struct remus_err *err)
{
	size_t off = 0;
	int64_t n;

	if (grow(&x->in, &x->in_cap, x->in_len + len, err) < 0)
		return -ENOMEM;
	memcpy(x->in + x->in_len, p, len);
	x->in_len += len;
	x->plain_len = 0;
	while ((n = rx_item(x, x->in + off, x->in_len - off, err)) > 0) {
		off += (size_t)n;
		x->items++;
	}
	if (n < 0)
		return (int)n;
	memmove(x->in, x->in + off, x->in_len - off);
	x->in_len -= off;
	return 0;
}
