/*
 * libFuzzer target: arbitrary bytes as the backup's page-hash offer (the
 * primary's decoder), cut into chunks by a length prefix.  Must never
 * crash or leak, and an accepted offer covers exactly the guest's pages.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ckpt/pagehash_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pagehash_offer o = { .nr_pfns = 1 + (size ? data[0] : 0) };
	struct remus_err err = { 0 };
	size_t off = size ? 1 : 0;

	while (off + 2 <= size) {
		size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
		off += 2;
		if (len > size - off)
			len = size - off;
		if (pagehash_take(&o, data + off, len, &err) < 0)
			break;
		off += len;
	}
	if (o.have && (!o.done || o.next != o.nr_pfns || o.hash == NULL))
		abort();
	pagehash_free(&o);
	return 0;
}
