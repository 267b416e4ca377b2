/* Bad guest: issues a Linux system call (getpid, 39): the monitor marks it
 * crashed ("unknown hypercall"). */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	(void)base; (void)bytes;
	hc3(39, 0, 0, 0);
	hc_exit(5);
}
