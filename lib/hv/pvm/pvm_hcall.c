/*
 * Hypercalls and the device models behind them (console, clock, wait,
 * NIC on a TAP, block device on an image file; the store is in
 * pvm_store_dev.c).  One handler per
 * hypercall; arguments come from rdi, rsi, rdx, r10, the result goes to
 * rax.  Every guest pointer is checked to lie inside RAM (-PVM_EFAULT
 * otherwise); every byte the monitor writes into RAM is marked dirty.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"
#include "util/io.h"

/* Host monotonic clock in ns. */
static uint64_t host_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

uint64_t pvm_guest_mono(const struct pvm_guest *g)
{
	return (uint64_t)((int64_t)host_mono() + g->mono_offset);
}

/* Translate a guest range to a monitor pointer; NULL if not inside RAM.
 * A copy-on-write capture in progress gets its pages copied first, as the
 * monitor may write there. */
static uint8_t *gptr(struct pvm_guest *g, uint64_t gva, uint64_t len)
{
	uint64_t off = gva - PVM_RAM_BASE;
	if (gva < PVM_RAM_BASE || off > g->ram_bytes || len > g->ram_bytes - off)
		return NULL;
	pvm_cow_guard(g, off, len);
	return g->ram + off;
}

uint8_t *pvm_gptr(struct pvm_guest *g, uint64_t gva, uint64_t len)
{
	return gptr(g, gva, len);
}

/* Move whatever the TAP has into the receive queue (drop when full). */
void pvm_net_poll(struct pvm_guest *g)
{
	uint8_t buf[2048];

	if (g->tap_fd < 0)
		return;
	for (;;) {
		ssize_t n = read(g->tap_fd, buf, sizeof(buf));
		if (n <= 0)
			return;
		if (n > (ssize_t)PVM_FRAME_MAX || g->emu.rxq_count == PVM_EMU_MAX_RXQ)
			continue;
		struct pvm_frame *f = &g->rxq[(g->rxq_head + g->emu.rxq_count) % PVM_EMU_MAX_RXQ];
		f->len = (uint16_t)n;
		memcpy(f->data, buf, (size_t)n);
		g->emu.rxq_count++;
	}
}

/* Events pending now; `consume` clears the edge-triggered ones. */
uint32_t pvm_wait_events(struct pvm_guest *g, uint64_t deadline, bool consume)
{
	uint32_t ev = g->emu.pending_events;

	pvm_net_poll(g);
	if (g->emu.rxq_count)
		ev |= PVM_EV_NET_RX;
	if (g->store && pvm_store_pending(g->store))
		ev |= PVM_EV_STORE;
	if (pvm_guest_mono(g) >= deadline)
		ev |= PVM_EV_TIMER;
	if (consume && ev)
		g->emu.pending_events = 0;
	return ev;
}

static int64_t hc_console(struct pvm_guest *g, const struct user_regs_struct *r)
{
	const uint8_t *p = gptr(g, r->rdi, r->rsi);

	if (p == NULL)
		return -PVM_EFAULT;
	pvm_console_write(&g->con, p, r->rsi);     /* never blocks */
	g->emu.console_bytes += r->rsi;
	return (int64_t)r->rsi;
}

static int64_t hc_clock(struct pvm_guest *g, const struct user_regs_struct *r)
{
	struct timespec ts;

	if (r->rdi == PVM_CLOCK_MONOTONIC)
		return (int64_t)pvm_guest_mono(g);
	if (r->rdi != PVM_CLOCK_WALL)
		return -PVM_EINVAL;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t hc_net_send(struct pvm_guest *g, const struct user_regs_struct *r)
{
	const uint8_t *p;

	if (g->tap_fd < 0)
		return -PVM_ENODEV;
	if (r->rsi < PVM_FRAME_MIN || r->rsi > PVM_FRAME_MAX)
		return -PVM_EMSGSIZE;
	if ((p = gptr(g, r->rdi, r->rsi)) == NULL)
		return -PVM_EFAULT;
	g->emu.net_tx_frames++;
	if (g->net.guest_tx != NULL) {
		if (g->net.guest_tx(g->net.arg, p, r->rsi) < 0)
			g->emu.net_tx_dropped++;
	} else if (write(g->tap_fd, p, r->rsi) != (ssize_t)r->rsi) {
		g->emu.net_tx_dropped++;
	}
	return 0;
}

static int64_t hc_net_recv(struct pvm_guest *g, const struct user_regs_struct *r)
{
	struct pvm_frame *f;
	uint8_t *p;

	if (g->tap_fd < 0)
		return -PVM_ENODEV;
	pvm_net_poll(g);
	if (g->emu.rxq_count == 0)
		return -PVM_EAGAIN;
	f = &g->rxq[g->rxq_head];
	if (r->rsi < f->len)
		return -PVM_EMSGSIZE;
	if ((p = gptr(g, r->rdi, f->len)) == NULL)
		return -PVM_EFAULT;
	memcpy(p, f->data, f->len);
	pvm_dirty_mark(g, r->rdi - PVM_RAM_BASE, f->len);
	g->rxq_head = (g->rxq_head + 1) % PVM_EMU_MAX_RXQ;
	g->emu.rxq_count--;
	g->emu.net_rx_frames++;
	return f->len;
}

/* Check a block request; returns the guest buffer or NULL with *rc set. */
static uint8_t *blk_args(struct pvm_guest *g, const struct user_regs_struct *r,
                         uint64_t *bytes, int64_t *rc)
{
	uint64_t end;
	uint8_t *p;

	*rc = 0;
	if (g->disk_fd < 0) {
		*rc = -PVM_ENODEV;
		return NULL;
	}
	if (r->rdx == 0 || __builtin_add_overflow(r->rdi, r->rdx, &end) || end > g->emu.disk_sectors ||
	    __builtin_mul_overflow(r->rdx, PVM_SECTOR_SIZE, bytes)) {
		*rc = -PVM_EINVAL;
		return NULL;
	}
	if ((p = gptr(g, r->rsi, *bytes)) == NULL)
		*rc = -PVM_EFAULT;
	return p;
}

/* Move `bytes` between the disk at `off` and guest memory, through the hook
 * when one is set, else pread/pwrite on the image. */
static int64_t blk_io(struct pvm_guest *g, bool write, uint64_t off, uint8_t *p, uint64_t bytes)
{
	if (write && g->disk_io.write != NULL)
		return g->disk_io.write(g->disk_io.arg, off, p, bytes) < 0 ? -PVM_EIO : 0;
	if (!write && g->disk_io.read != NULL)
		return g->disk_io.read(g->disk_io.arg, off, p, bytes) < 0 ? -PVM_EIO : 0;
	if (write)
		return io_pwrite_all(g->disk_fd, p, bytes, off) < 0 ? -PVM_EIO : 0;
	return io_pread_all(g->disk_fd, p, bytes, off) < 0 ? -PVM_EIO : 0;
}

static int64_t hc_blk_read(struct pvm_guest *g, const struct user_regs_struct *r)
{
	uint64_t bytes;
	int64_t rc;
	uint8_t *p = blk_args(g, r, &bytes, &rc);

	if (p == NULL)
		return rc;
	pvm_dirty_mark(g, r->rsi - PVM_RAM_BASE, bytes);
	g->emu.disk_reads++;
	return blk_io(g, false, r->rdi * PVM_SECTOR_SIZE, p, bytes);
}

static int64_t hc_blk_write(struct pvm_guest *g, const struct user_regs_struct *r)
{
	uint64_t bytes;
	int64_t rc;
	uint8_t *p = blk_args(g, r, &bytes, &rc);

	if (p == NULL)
		return rc;
	g->emu.disk_writes++;
	return blk_io(g, true, r->rdi * PVM_SECTOR_SIZE, p, bytes);
}

static int64_t hc_blk_flush(struct pvm_guest *g, const struct user_regs_struct *r)
{
	(void)r;
	if (g->disk_fd < 0)
		return -PVM_ENODEV;
	g->emu.disk_flushes++;
	if (g->disk_io.flush != NULL)
		return g->disk_io.flush(g->disk_io.arg) < 0 ? -PVM_EIO : 0;
	return fdatasync(g->disk_fd) < 0 ? -PVM_EIO : 0;
}

static int64_t hc_info(struct pvm_guest *g, const struct user_regs_struct *r)
{
	struct pvm_info in;
	uint64_t n = r->rsi < sizeof(in) ? r->rsi : sizeof(in);
	uint8_t *p = gptr(g, r->rdi, n);

	if (p == NULL)
		return -PVM_EFAULT;
	memset(&in, 0, sizeof(in));
	in.abi_version = PVM_ABI_VERSION;
	in.size = sizeof(in);
	in.ram_base = PVM_RAM_BASE;
	in.ram_bytes = g->ram_bytes;
	in.disk_sectors = g->emu.disk_sectors;
	if (g->tap_fd >= 0)
		memcpy(in.mac, g->mac, 6);
	in.ipv4_prefix = g->prefix;
	memcpy(in.ipv4_addr, g->ip, 4);
	memcpy(in.ipv4_gw, g->gw, 4);
	in.boot_count = g->emu.boot_count;
	memcpy(in.name, g->name, sizeof(in.name) - 1);
	memcpy(p, &in, n);
	pvm_dirty_mark(g, r->rdi - PVM_RAM_BASE, n);
	return (int64_t)n;
}

typedef int64_t (*pvm_hc_fn)(struct pvm_guest *, const struct user_regs_struct *);

static const pvm_hc_fn hc_table[] = {
	[PVM_HC_CONSOLE_WRITE - PVM_HC_CONSOLE_WRITE] = hc_console,
	[PVM_HC_CLOCK - PVM_HC_CONSOLE_WRITE] = hc_clock,
	[PVM_HC_NET_SEND - PVM_HC_CONSOLE_WRITE] = hc_net_send,
	[PVM_HC_NET_RECV - PVM_HC_CONSOLE_WRITE] = hc_net_recv,
	[PVM_HC_BLK_READ - PVM_HC_CONSOLE_WRITE] = hc_blk_read,
	[PVM_HC_BLK_WRITE - PVM_HC_CONSOLE_WRITE] = hc_blk_write,
	[PVM_HC_BLK_FLUSH - PVM_HC_CONSOLE_WRITE] = hc_blk_flush,
	[PVM_HC_INFO - PVM_HC_CONSOLE_WRITE] = hc_info,
	[PVM_HC_STORE - PVM_HC_CONSOLE_WRITE] = pvm_hc_store,
};

/*
 * Handle the hypercall at a syscall stop.  Numbers in the pvm range that
 * are not defined return -PVM_ENOSYS (probing is allowed); anything else
 * (e.g. a Linux system call) crashes the guest.  WAIT blocks the vCPU in
 * the monitor when nothing is pending; EXIT ends the guest.
 */
enum pvm_hc_next pvm_hcall(struct pvm_guest *g, struct user_regs_struct *r)
{
	uint64_t nr = r->orig_rax, idx = nr - PVM_HC_CONSOLE_WRITE;
	const uint8_t *insn = gptr(g, r->rip - 2, 2);

	/* a hypercall is the 64-bit `syscall` instruction in guest RAM; int
	 * $0x80 and calls from 32-bit compatibility mode stop here too */
	if (r->cs != 0x33) {
		pvm_guest_fail(g, HV_CRASHED, 0, "system call %#llx from 32-bit compatibility mode "
		               "(cs %#llx) at rip %#llx: not a pvm hypercall", (unsigned long long)nr,
		               (unsigned long long)r->cs, (unsigned long long)r->rip);
		return PVM_HC_STOP;
	}
	if (insn == NULL || insn[0] != 0x0f || insn[1] != 0x05) {
		pvm_guest_fail(g, HV_CRASHED, 0, "system call %#llx by %s at rip %#llx: not a pvm "
		               "hypercall (only `syscall` is)", (unsigned long long)nr,
		               insn && insn[0] == 0xcd && insn[1] == 0x80 ? "int $0x80" :
		               insn ? "an instruction other than syscall" : "code outside guest RAM",
		               (unsigned long long)r->rip);
		return PVM_HC_STOP;
	}

	if (nr == PVM_HC_EXIT) {
		pvm_guest_fail(g, HV_EXITED, (int)(int64_t)r->rdi, "guest called exit(%lld)",
		               (long long)r->rdi);
		return PVM_HC_STOP;
	}
	if (nr == PVM_HC_WAIT) {
		uint32_t ev = pvm_wait_events(g, r->rdi, true);
		if (ev == 0)
			return PVM_HC_BLOCK;
		r->rax = ev;
		return PVM_HC_CONT;
	}
	if (nr < PVM_HC_CONSOLE_WRITE || nr > PVM_HC_CONSOLE_WRITE + 0xff) {
		pvm_guest_fail(g, HV_CRASHED, 0, "unknown hypercall %#llx at rip %#llx (not a pvm hypercall)",
		               (unsigned long long)nr, (unsigned long long)r->rip);
		return PVM_HC_STOP;
	}
	if (idx >= sizeof(hc_table) / sizeof(hc_table[0]) || hc_table[idx] == NULL)
		r->rax = (uint64_t)-PVM_ENOSYS;
	else
		r->rax = (uint64_t)hc_table[idx](g, r);
	return PVM_HC_CONT;
}
