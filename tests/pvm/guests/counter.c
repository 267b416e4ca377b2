/*
 * Counter guest: increments a counter kept at once in memory (the state
 * page at RAM+1MiB), rbx, r12 (= ~counter), xmm0 and both lanes of ymm1,
 * and checks all of them agree before every increment.  A checkpoint that
 * loses or repeats an increment, or misses a register or a dirty page,
 * makes it exit with code 11..14.  It also writes the counter into one of
 * 1024 pages (RAM+2MiB..+6MiB) every 256 increments and makes a CLOCK
 * hypercall every 65536, so pauses land around hypercalls too.
 */
#include "rt.h"

__asm__(
	".text\n.globl guest_main\nguest_main:\n"
	"  mov $0x40100000, %r15\n"
	"  xor %ebx, %ebx\n  mov %rbx, (%r15)\n  mov $-1, %r12\n"
	"  vmovq %rbx, %xmm0\n  vpbroadcastq %xmm0, %ymm1\n"
	"2:\n"
	"  cmp (%r15), %rbx\n  jne 8f\n"
	"  mov %rbx, %rax\n  not %rax\n  cmp %rax, %r12\n  jne 9f\n"
	"  vmovq %xmm0, %rax\n  cmp %rax, %rbx\n  jne 10f\n"
	"  vextracti128 $1, %ymm1, %xmm2\n  vpextrq $1, %xmm2, %rax\n  cmp %rax, %rbx\n  jne 11f\n"
	"  inc %rbx\n  mov %rbx, (%r15)\n  mov %rbx, %r12\n  not %r12\n"
	"  vmovq %rbx, %xmm0\n  vpbroadcastq %xmm0, %ymm1\n"
	"  test $255, %rbx\n  jnz 3f\n"
	"  mov %rbx, %rax\n  shr $8, %rax\n  and $1023, %rax\n  shl $12, %rax\n"
	"  add $0x40200000, %rax\n  mov %rbx, (%rax)\n"
	"3:\n  test $0xffff, %rbx\n  jnz 2b\n"
	"  mov $0x4001, %eax\n  xor %edi, %edi\n  syscall\n  jmp 2b\n"
	"8:  mov $11, %edi\n  jmp 12f\n"
	"9:  mov $12, %edi\n  jmp 12f\n"
	"10: mov $13, %edi\n  jmp 12f\n"
	"11: mov $14, %edi\n"
	"12: mov $0x4009, %eax\n  syscall\n  ud2\n");
