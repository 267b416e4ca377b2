/* Compat guest: runs in 64-bit mode for COMPAT_AFTER_MS of guest time
 * (one CLOCK hypercall every 64Ki increments), then far-returns into the
 * 32-bit compatibility code segment (cs 0x23, as Linux gives every 64-bit
 * process) and counts there forever.  pvm cannot restore such a vCPU, so
 * a checkpoint of it must be refused when it is taken, never
 * acknowledged (issue 23: "protected" that could not fail over). */
#include "rt.h"

#define COMPAT_AFTER_MS 1500ull

static uint64_t mono_ns(void)
{
	return (uint64_t)hc3(PVM_HC_CLOCK, PVM_CLOCK_MONOTONIC, 0, 0);
}

void guest_main(uint64_t base, uint64_t bytes)
{
	uint64_t t0 = mono_ns(), n = 0;

	(void)base; (void)bytes;
	rt_puts("compat: 64-bit\n");
	while (mono_ns() - t0 < COMPAT_AFTER_MS * 1000000ull)
		for (uint32_t i = 0; i < 65536; i++) {
			n++;
			__asm__ volatile("" : "+r"(n) : : "memory");
		}
	rt_puts("compat: switching to 32-bit compatibility mode\n");
	__asm__ volatile(
		"  pushq $0x23\n  leaq 1f(%%rip), %%rax\n  pushq %%rax\n  lretq\n"
		".code32\n"
		"1: incl %%ebx\n  jmp 1b\n"
		".code64\n" : : : "rax", "rbx", "memory");
}
