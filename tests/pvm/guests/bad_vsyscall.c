/* Bad guest: calls time() on the legacy vsyscall page, which the kernel
 * emulates without a ptrace stop; the sandbox's seccomp filter kills the
 * guest (SIGSYS) before the kernel runs it. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	uint64_t t;

	(void)base; (void)bytes;
	rt_puts("bad_vsyscall: before\n");
	__asm__ volatile("call *%1" : "=a"(t) : "r"(0xffffffffff600400ULL), "D"(0)
	                 : "rcx", "rdx", "rsi", "r8", "r9", "r10", "r11", "memory");
	rt_putnum("bad_vsyscall: after, time ", t);
	hc_exit(5);
}
