/* Bad guest: never yields (no hypercall); counts in the state page.  It
 * must still be pausable and destroyable. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	volatile uint64_t *count = (volatile uint64_t *)(base + (1ULL << 20));
	(void)bytes;
	for (;;)
		*count += 1;
}
