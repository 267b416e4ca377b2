/*
 * Waiting guest: sleeps in WAIT with 20 ms deadlines and counts completed
 * waits in the state page (RAM+1MiB).  A WAIT that returns TIMER before its
 * deadline is an error (exit 21).  ANNOUNCE is reported on the console
 * ("announce N", N = boot_count) and the wait goes on to its deadline.
 */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	volatile uint64_t *count = (volatile uint64_t *)(base + (1ULL << 20));
	struct pvm_info info;

	(void)bytes;
	rt_puts("waiter up\n");
	for (;;) {
		uint64_t dl = (uint64_t)hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0) + 20000000ULL;
		for (;;) {
			uint64_t ev = (uint64_t)hc3(PVM_HC_WAIT, dl, 0, 0);
			if (ev & PVM_EV_ANNOUNCE) {
				hc3(PVM_HC_INFO, (uint64_t)&info, sizeof(info), 0);
				rt_putnum("announce ", info.boot_count);
			}
			if (ev & PVM_EV_TIMER)
				break;
		}
		if ((uint64_t)hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0) < dl)
			hc_exit(21);
		*count += 1;
	}
}
