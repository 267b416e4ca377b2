/* Bad guest: a console write issued with int $0x80 (the 32-bit system call
 * gate) instead of syscall: the monitor crashes the guest naming it; the
 * text never reaches the console. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	static const char msg[] = "int80 reached the console\n";
	int64_t r;

	(void)base; (void)bytes;
	rt_puts("bad_int80: before\n");
	__asm__ volatile("int $0x80" : "=a"(r) : "a"((uint64_t)PVM_HC_CONSOLE_WRITE), "D"(msg),
	                 "S"(sizeof(msg) - 1) : "memory");
	rt_puts("bad_int80: after\n");
	hc_exit(5);
}
