/* Bad guest: calls a function of the host's vDSO (clock_gettime), whose
 * address the test writes into the mailbox at RAM+1MiB; the stub unmapped
 * the vDSO before the guest's first instruction, so the call faults at
 * that address and nothing of it runs.  Exit 22 if no address comes. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	volatile uint64_t *mailbox = (volatile uint64_t *)(base + (1ULL << 20));
	uint64_t ts[2] = { 0, 0 };
	int64_t rc;

	(void)bytes;
	rt_puts("bad_vdso: before\n");
	for (int i = 0; *mailbox == 0; i++) {
		if (i == 10000)
			hc_exit(22);
		hc3(PVM_HC_WAIT, (uint64_t)hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0) + 1000000ULL, 0, 0);
	}
	__asm__ volatile("call *%1" : "=a"(rc) : "r"(*mailbox), "D"(1), "S"(ts)
	                 : "rcx", "rdx", "r8", "r9", "r10", "r11", "memory");
	rt_putnum("bad_vdso: after, rc ", (uint64_t)rc);
	hc_exit(5);
}
