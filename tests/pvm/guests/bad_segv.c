/* Bad guest: writes outside RAM; the monitor marks it crashed (SIGSEGV). */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	*(volatile uint64_t *)(base + bytes + 0x10000000ULL) = 1;
	hc_exit(6);
}
