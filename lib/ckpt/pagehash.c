/*
 * Page-hash offers (see pagehash_impl.h): the hash of a page, the chunk
 * encoder (backup) and the checked decoder (primary).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "ckpt/ckpt.h"
#include "ckpt/pagehash_impl.h"
#include "stream/stream.h"
#include "util/bytes.h"

uint64_t pagehash_of_page(const void *page)
{
	return XXH3_64bits(page, STREAM_PAGE_SIZE);
}

size_t pagehash_encode(uint8_t *out, uint64_t first, const uint64_t *hashes, uint32_t count,
                   bool last)
{
	put_le32(out, CKPH_MAGIC);
	put_le32(out + 4, last ? CKPH_LAST : 0);
	put_le64(out + 8, first);
	put_le32(out + 16, count);
	put_le32(out + 20, 0);
	for (uint32_t i = 0; i < count; i++)
		put_le64(out + CKPH_HDR_LEN + 8 * (size_t)i, hashes[i]);
	return CKPH_HDR_LEN + 8 * (size_t)count;
}

int pagehash_take(struct pagehash_offer *o, const uint8_t *p, size_t len, struct remus_err *err)
{
	uint64_t first;
	uint32_t flags, count;

	if (o->done)
		return remus_err_set(err, CKPT_ESTREAM, "backup sent stream bytes after its page-hash "
		                     "offer");
	if (len < CKPH_HDR_LEN || get_le32(p) != CKPH_MAGIC)
		return remus_err_set(err, CKPT_ESTREAM, "page-hash offer: bad header (%zu bytes)", len);
	flags = get_le32(p + 4);
	first = get_le64(p + 8);
	count = get_le32(p + 16);
	if ((flags & ~CKPH_LAST) || get_le32(p + 20) != 0 || count > CKPH_MAX_COUNT)
		return remus_err_set(err, CKPT_ESTREAM, "page-hash offer: flags %#" PRIx32 ", count %"
		                     PRIu32 " invalid", flags, count);
	if (len != CKPH_HDR_LEN + 8 * (size_t)count)
		return remus_err_set(err, CKPT_ESTREAM, "page-hash offer: %zu bytes for %" PRIu32
		                     " hashes", len, count);
	if (first != o->next || count > o->nr_pfns - first)
		return remus_err_set(err, CKPT_ESTREAM, "page-hash offer: pfns %" PRIu64 "+%" PRIu32
		                     ", expected from %" PRIu64 " within %" PRIu64 " pages", first,
		                     count, o->next, o->nr_pfns);
	if (count && o->hash == NULL &&
	    (o->hash = malloc(o->nr_pfns * sizeof(*o->hash))) == NULL)
		return remus_err_sys(err, ENOMEM, "page hashes of %" PRIu64 " pages", o->nr_pfns);
	for (uint32_t i = 0; i < count; i++)
		o->hash[first + i] = get_le64(p + CKPH_HDR_LEN + 8 * (size_t)i);
	o->next = first + count;
	if (flags & CKPH_LAST) {
		if (o->next != 0 && o->next != o->nr_pfns)
			return remus_err_set(err, CKPT_ESTREAM, "page-hash offer ends at pfn %" PRIu64
			                     " of %" PRIu64, o->next, o->nr_pfns);
		o->done = true;
		o->have = o->next == o->nr_pfns;
	}
	return 0;
}

void pagehash_free(struct pagehash_offer *o)
{
	free(o->hash);
	memset(o, 0, sizeof(*o));
}
