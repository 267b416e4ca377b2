/*
 * A minimal freestanding runtime for pvm's own test guests (the guest kit
 * provides the real one): hypercall stubs, console print, entry point.
 */
#ifndef PVM_TEST_RT_H
#define PVM_TEST_RT_H

#include <stdint.h>
#include "guest/abi/pvm_hypercall.h"

static inline int64_t hc3(uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	int64_t r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(nr), "D"(a), "S"(b), "d"(c)
	                 : "rcx", "r11", "memory");
	return r;
}

static inline void hc_exit(int64_t code)
{
	hc3(PVM_HC_EXIT, (uint64_t)code, 0, 0);
	for (;;)
		;
}

static inline uint64_t rt_strlen(const char *s)
{
	uint64_t n = 0;
	while (s[n])
		n++;
	return n;
}

static inline void rt_puts(const char *s)
{
	hc3(PVM_HC_CONSOLE_WRITE, (uint64_t)s, rt_strlen(s), 0);
}

/* Print "<prefix><decimal>\n". */
static inline void rt_putnum(const char *prefix, uint64_t v)
{
	char buf[64];
	int n = 0, i = 0;
	char tmp[24];
	while (prefix[n] && n < 32) {
		buf[n] = prefix[n];
		n++;
	}
	do {
		tmp[i++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (i)
		buf[n++] = tmp[--i];
	buf[n++] = '\n';
	hc3(PVM_HC_CONSOLE_WRITE, (uint64_t)buf, (uint64_t)n, 0);
}

static inline uint64_t rt_mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

void guest_main(uint64_t ram_base, uint64_t ram_bytes);

/* Entry: rdi = RAM base, rsi = RAM size, rsp = RAM top. */
__asm__(".text\n.globl _start\n_start:\n  and $-16, %rsp\n  call guest_main\n"
        "  mov $0x4009, %eax\n  xor %edi, %edi\n  syscall\n  ud2\n");

#endif
