/* libFuzzer target: pvm's hand-off blob decoder (the state a live update
 * passes from one daemon to the next).  What it accepts is in bounds: the
 * parts tile the blob exactly and every dirty pfn is inside RAM. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"
#include "util/bytes.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct pvm_handoff_info h;

	if (pvm_handoff_decode(data, size, &h, &err) != 0) {
		if (err.code != HV_EBADBLOB)
			abort();
		return 0;
	}
	if (h.hvm != data + 48 || h.emu != h.hvm + h.hvm_len || h.store != h.emu + h.emu_len ||
	    h.dirty != h.store + h.store_len ||
	    (size_t)(h.dirty - data) + 8 * (size_t)h.ndirty != size)
		abort();
	for (uint32_t i = 0; i < h.ndirty; i++)
		if (get_le64(h.dirty + 8 * (size_t)i) >= h.ram_bytes / PVM_PAGE_SIZE)
			abort();
	return 0;
}
