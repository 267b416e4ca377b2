/* Bad guest: switches to 32-bit compatibility mode (cs 0x23) and issues a
 * console write there with int $0x80: crashed as a call from
 * compatibility mode, nothing reaches the console. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	(void)base; (void)bytes;
	rt_puts("bad_compat_int80: before\n");
	__asm__ volatile(
		"  pushq $0x23\n  leaq 1f(%%rip), %%rax\n  pushq %%rax\n  lretq\n"
		".code32\n"
		"1: movl $0x4000, %%eax\n  movl %%esp, %%ebx\n  movl $4, %%ecx\n  int $0x80\n"
		"2: jmp 2b\n"
		".code64\n" : : : "rax", "rbx", "rcx", "memory");
}
