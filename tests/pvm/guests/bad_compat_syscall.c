/* Bad guest: switches to 32-bit compatibility mode (cs 0x23) and executes
 * the `syscall` instruction there (i386 write, eax 4).  On AMD it enters
 * the kernel's compat entry and stops at SYSEMU: crashed as a call from
 * compatibility mode; on Intel it raises #UD: a fault.  Either way nothing
 * reaches the console. */
#include "rt.h"

void guest_main(uint64_t base, uint64_t bytes)
{
	(void)base; (void)bytes;
	rt_puts("bad_compat_syscall: before\n");
	__asm__ volatile(
		"  pushq $0x23\n  leaq 1f(%%rip), %%rax\n  pushq %%rax\n  lretq\n"
		".code32\n"
		"1: movl $4, %%eax\n  movl $1, %%ebx\n  movl %%esp, %%ecx\n  movl $4, %%edx\n  syscall\n"
		"2: jmp 2b\n"
		".code64\n" : : : "rax", "rbx", "rcx", "rdx", "r11", "memory");
}
