/* Bad guest: hypercalls with pointers outside RAM must fail with -EFAULT
 * (the guest is not killed); exits 0 if every one did, else 1..3. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	if (hc3(PVM_HC_CONSOLE_WRITE, 0x1000, 16, 0) != -PVM_EFAULT)
		hc_exit(1);
	if (hc3(PVM_HC_CONSOLE_WRITE, base + bytes - 8, 16, 0) != -PVM_EFAULT)
		hc_exit(2);
	if (hc3(PVM_HC_INFO, ~0ULL - 8, 64, 0) != -PVM_EFAULT)
		hc_exit(3);
	if (hc3(0x40ff, 0, 0, 0) != -PVM_ENOSYS)
		hc_exit(4);
	hc_exit(0);
}
