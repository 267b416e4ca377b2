/* Hypercall benchmark guest: times 100000 CLOCK hypercalls with the guest
 * clock and prints "hc_ns TOTAL", then exits 0. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	(void)base; (void)bytes;
	uint64_t t0 = (uint64_t)hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0);
	for (int i = 0; i < 100000; i++)
		hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0);
	uint64_t t1 = (uint64_t)hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0);
	rt_putnum("hc_ns ", t1 - t0);
	hc_exit(0);
}
