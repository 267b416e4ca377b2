/*
 * Dirtier guest for dirty-log exactness.  Waits for ANNOUNCE; round k then
 * writes one word into each page of RAM[16MiB, end-1MiB) selected by
 * rt_mix(seed(k) ^ pfn) % 1000 < permille(k) (10, 100, 1000 for k = 0, 1, 2,
 * repeating), asks the monitor to write pvm_info into the page at
 * RAM+8MiB (a device-model write the guest never touches itself) and
 * prints "round K". The test computes the same set.
 */
#include "rt.h"

#define AREA_START (16ULL << 20)
#define DEV_PAGE   (8ULL << 20)
#define AREA_TOP_GAP (1ULL << 20)    /* the stack lives there */

void guest_main(uint64_t base, uint64_t bytes)
{
	static const uint64_t permille[3] = { 10, 100, 1000 };

	for (uint64_t k = 0;; k++) {
		while (!(hc3(PVM_HC_WAIT, ~0ULL, 0, 0) & PVM_EV_ANNOUNCE))
			;
		uint64_t seed = rt_mix(k + 1);
		for (uint64_t off = AREA_START; off < bytes - AREA_TOP_GAP; off += PVM_PAGE_SIZE) {
			uint64_t pfn = off / PVM_PAGE_SIZE, h = rt_mix(seed ^ pfn);
			if (h % 1000 < permille[k % 3])
				*(volatile uint64_t *)(base + off + ((h >> 32) % 512) * 8) = h ^ k;
		}
		hc3(PVM_HC_INFO, base + DEV_PAGE, sizeof(struct pvm_info), 0);
		rt_putnum("round ", k);
	}
}
