# The QEMU guest of bench/evacuate.sh: a boot sector that never stops
# writing 512 KiB of low memory (0x10000-0x8ffff, 128 pages, one 64 KiB
# segment after the other), so that QEMU's migration has dirty pages to
# send in its final stop-and-copy, as the remus guest it is compared with
# has.  Real mode, no OS; SeaBIOS loads it from the first disk at 0x7c00.
	.code16
	.globl _start
_start:
	cli
	xor %ax, %ax
	mov %ax, %ss
	mov $0x7c00, %sp
	cld
again:
	mov $0x1000, %bx        # first segment: 0x10000
next:
	mov %bx, %es
	xor %di, %di
	mov $0x8000, %cx        # 32 Ki words: the whole 64 KiB segment
	inc %ax                 # a new value every pass: the pages really change
	rep stosw
	add $0x1000, %bx
	cmp $0x9000, %bx        # up to 0x8ffff
	jb next
	jmp again
	. = _start + 510
	.byte 0x55, 0xaa        # the BIOS boot signature
