/*
 * Delta compression for a driver-owned loop (the Xen driver: libxc writes
 * the stream itself).  The stream sender cannot see pages, only bytes, so
 * it follows the stream with lib/stream's reader: each page of a libxc
 * PAGE_DATA record goes through delta.c's encoder and cache exactly as a
 * pvm page does (same cache sizing rule, same container), and every other
 * byte — headers, record headers, pfn lists, other records — goes as RAW.
 * The backup's mirror rebuilds the bytes in order, so libxc's restore
 * reads exactly what libxc's save wrote: record and checkpoint boundaries
 * are untouched, and a torn checkpoint stays torn.
 *
 * Bytes are released when the item holding them is complete (a PAGE_DATA
 * record needs its pfn list to name its pages); the item in progress waits
 * here, bounded by the reader's record limit.  The stream is libxc's own,
 * not a peer's, but the reader treats it as hostile all the same: if it
 * refuses something (a record it does not know), the rest of the stream
 * goes as RAW — never compressed, never altered.
 */
#include "ckpt/stream_delta_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PAGE STREAM_PAGE_SIZE

/* Make room for n more bytes in a growable buffer. */
static int grow(uint8_t **b, size_t *cap, size_t len, size_t n, struct remus_err *err)
{
	size_t want = *cap ? *cap : 1u << 20;
	uint8_t *p;

	if (n <= *cap - len)
		return 0;
	while (want - len < n)
		want *= 2;
	if ((p = realloc(*b, want)) == NULL)
		return remus_err_sys(err, ENOMEM, "stream delta: %zu bytes", len + n);
	*b = p;
	*cap = want;
	return 0;
}

/* Move what the encoder built to the link's queue once it is nearly full
 * (room for one more raw item or page stays) or when asked (force). */
static int spill(struct stream_delta_tx *t, bool force, struct remus_err *err)
{
	int rc;

	if (t->dx.len == 0 || (!force && t->dx.len <= CKDX_OUT_MAX - 65536 - 2 * PAGE))
		return 0;
	if (t->out_off == t->out_len)
		t->out_off = t->out_len = 0;
	if ((rc = grow(&t->out, &t->out_cap, t->out_len, t->dx.len, err)) < 0)
		return rc;
	memcpy(t->out + t->out_len, t->dx.out, t->dx.len);
	t->out_len += t->dx.len;
	t->dx.len = 0;
	return 0;
}

/* Stream bytes that are not pages. */
static int put_raw(struct stream_delta_tx *t, const uint8_t *p, size_t len,
                   struct remus_err *err)
{
	int rc;

	for (size_t off = 0; off < len; off += 65536) {
		delta_raw(&t->dx, p + off, len - off < 65536 ? len - off : 65536);
		if ((rc = spill(t, false, err)) < 0)
			return rc;
	}
	return 0;
}

/* A complete PAGE_DATA record at rec[0..len): its header and pfn list as
 * RAW, then each page that carries data, in pfn-word order. */
static int put_page_data(struct stream_delta_tx *t, const uint8_t *rec, size_t len,
                         const struct stream_page_data *pd, struct remus_err *err)
{
	size_t data = (size_t)pd->npages * PAGE, k = 0;
	int rc;

	if ((rc = put_raw(t, rec, len - data, err)) < 0)
		return rc;
	for (uint32_t i = 0; i < pd->count; i++) {
		uint64_t w = stream_pd_pfn(pd, i);

		if (!stream_pfn_has_data(w))
			continue;
		delta_page(&t->dx, w & STREAM_PFN_MASK, rec + len - data + k * PAGE);
		k++;
		if ((rc = spill(t, false, err)) < 0)
			return rc;
	}
	t->pages += k;
	return 0;
}

int stream_delta_init(struct stream_delta_tx *t, size_t slots, struct remus_err *err)
{
	struct stream_reader_cfg cfg = { .start = STREAM_START_AUTO };
	int rc;

	memset(t, 0, sizeof(*t));
	if ((rc = delta_init(&t->dx, slots, err)) < 0)
		return rc;
	stream_reader_init(&t->rd, &cfg);
	delta_cache_item(&t->dx);
	return spill(t, true, err);
}

void stream_delta_free(struct stream_delta_tx *t)
{
	stream_reader_free(&t->rd);
	delta_free(&t->dx);
	free(t->hold);
	free(t->out);
	memset(t, 0, sizeof(*t));
}

int stream_delta_feed(struct stream_delta_tx *t, const uint8_t *p, size_t len,
                      struct remus_err *err)
{
	size_t fed, used, done = 0;
	struct stream_rec rec;
	int rc;

	if (t->passthrough) {
		if ((rc = put_raw(t, p, len, err)) < 0)
			return rc;
		return spill(t, true, err);
	}
	if ((rc = grow(&t->hold, &t->hold_cap, t->hold_len, len, err)) < 0)
		return rc;
	fed = t->hold_len;
	memcpy(t->hold + t->hold_len, p, len);
	t->hold_len += len;
	/* every item the new bytes complete goes out; hold[done..fed) is what
	 * the reader already has of the item in progress */
	while (fed < t->hold_len) {
		rc = stream_reader_feed(&t->rd, t->hold + fed, t->hold_len - fed, &used, &rec);
		fed += used;
		if (rc < 0) {
			t->passthrough = true;
			t->why = t->rd.err;
			break;
		}
		if (rc == 0)
			break;
		if (rec.item == STREAM_ITEM_LIBXC_RECORD && rec.type == STREAM_XC_PAGE_DATA)
			rc = put_page_data(t, t->hold + done, fed - done, &rec.u.page_data, err);
		else
			rc = put_raw(t, t->hold + done, fed - done, err);
		if (rc < 0)
			return rc;
		done = fed;
	}
	if (t->passthrough) {   /* the item it refused, and all after it, as they are */
		if ((rc = put_raw(t, t->hold + done, t->hold_len - done, err)) < 0)
			return rc;
		done = t->hold_len;
	}
	memmove(t->hold, t->hold + done, t->hold_len - done);
	t->hold_len -= done;
	t->delta_pages = t->dx.delta_pages;
	return spill(t, true, err);
}

int stream_delta_finish(struct stream_delta_tx *t, struct remus_err *err)
{
	int rc = put_raw(t, t->hold, t->hold_len, err);

	t->hold_len = 0;
	return rc < 0 ? rc : spill(t, true, err);
}
