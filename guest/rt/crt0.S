/*
 * Guest entry: the monitor starts us with rdi = RAM base, rsi = RAM size,
 * rsp = RAM top.  Zero .bss, then hand over to rt_start (never returns).
 */
	.section .text.start, "ax"
	.globl _start
	.type _start, @function
_start:
	mov	%rdi, %r12
	mov	%rsi, %r13
	and	$-16, %rsp
	lea	__bss_start(%rip), %rdi
	lea	__bss_end(%rip), %rcx
	sub	%rdi, %rcx
	xor	%eax, %eax
	rep stosb
	mov	%r12, %rdi
	mov	%r13, %rsi
	xor	%ebp, %ebp
	call	rt_start
	ud2
	.size _start, . - _start
	.section .note.GNU-stack, "", @progbits
