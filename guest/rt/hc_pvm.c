/*
 * The real hypercall backend: the guest executes `syscall` and the pvm
 * monitor (tracing with PTRACE_SYSEMU) services it.  Numbers and argument
 * registers follow guest/abi/pvm_hypercall.h.
 */
#include "guest/rt/rt.h"

/* Issue one hypercall with up to three arguments. */
static inline int64_t hc3(uint64_t nr, uint64_t a, uint64_t b, uint64_t c)
{
	int64_t ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c)
			 : "rcx", "r11", "memory");
	return ret;
}

/* Write console bytes (the monitor's log of this guest). */
int64_t hc_console_write(const char *buf, uint64_t len)
{
	return hc3(PVM_HC_CONSOLE_WRITE, (uint64_t)(uintptr_t)buf, len, 0);
}

/* Read a clock in nanoseconds (monotonic survives checkpoint/restore). */
int64_t hc_clock(uint32_t which)
{
	return hc3(PVM_HC_CLOCK, which, 0, 0);
}

/* Sleep until an event or the monotonic deadline; returns PVM_EV_* bits. */
int64_t hc_wait(uint64_t deadline_mono_ns)
{
	return hc3(PVM_HC_WAIT, deadline_mono_ns, 0, 0);
}

/* Transmit one Ethernet frame. */
int64_t hc_net_send(const void *frame, uint64_t len)
{
	return hc3(PVM_HC_NET_SEND, (uint64_t)(uintptr_t)frame, len, 0);
}

/* Receive one queued frame, -PVM_EAGAIN if none. */
int64_t hc_net_recv(void *buf, uint64_t cap)
{
	return hc3(PVM_HC_NET_RECV, (uint64_t)(uintptr_t)buf, cap, 0);
}

/* Read sectors from the block device. */
int64_t hc_blk_read(uint64_t sector, void *buf, uint64_t nsectors)
{
	return hc3(PVM_HC_BLK_READ, sector, (uint64_t)(uintptr_t)buf, nsectors);
}

/* Write sectors to the block device (durable only after hc_blk_flush). */
int64_t hc_blk_write(uint64_t sector, const void *buf, uint64_t nsectors)
{
	return hc3(PVM_HC_BLK_WRITE, sector, (uint64_t)(uintptr_t)buf, nsectors);
}

/* Make all earlier block writes durable. */
int64_t hc_blk_flush(void)
{
	return hc3(PVM_HC_BLK_FLUSH, 0, 0, 0);
}

/* Fetch the machine description (RAM, NIC and IPv4 config, disk). */
int64_t hc_info(struct pvm_info *out, uint64_t size)
{
	return hc3(PVM_HC_INFO, (uint64_t)(uintptr_t)out, size, 0);
}

/* Terminate the guest with an exit code. */
_Noreturn void hc_exit(int64_t code)
{
	for (;;)
		hc3(PVM_HC_EXIT, (uint64_t)code, 0, 0);
}

/* The store: five arguments (rdi, rsi, rdx, r10, r8). */
int64_t hc_store(uint32_t op, uint32_t txn, const void *arg, uint64_t len, void *out,
                 uint64_t cap)
{
	register uint64_t r10 __asm__("r10") = (uint64_t)(uintptr_t)out;
	register uint64_t r8 __asm__("r8") = cap;
	int64_t ret;

	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"((uint64_t)PVM_HC_STORE), "D"((uint64_t)op | (uint64_t)txn << 32),
			   "S"((uint64_t)(uintptr_t)arg), "d"(len), "r"(r10), "r"(r8)
			 : "rcx", "r11", "memory");
	return ret;
}
