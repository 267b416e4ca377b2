/*
 * The pvm hypercall ABI: the only interface between a pvm guest and its
 * monitor.  Shared by the guest kit (freestanding) and the monitor, so it
 * uses nothing but <stdint.h>.
 *
 * Calling convention (x86-64, the guest executes `syscall`; the monitor
 * traces with PTRACE_SYSEMU so the host kernel never runs it):
 *   rax = hypercall number, args in rdi, rsi, rdx, r10, r8, r9,
 *   result in rax: >= 0 success, negative errno (PVM_E*) on error.
 * Every pointer argument must lie entirely inside guest RAM; otherwise the
 * call fails with -PVM_EFAULT (the guest is not killed for it).
 *
 * Memory layout: guest RAM is one region at PVM_RAM_BASE (pfn 0 = base).
 * The guest is a static ELF linked at PVM_RAM_BASE; at entry
 * rdi = RAM base, rsi = RAM size in bytes, rsp = RAM top (16-byte aligned).
 */
#ifndef PVM_HYPERCALL_H
#define PVM_HYPERCALL_H

#include <stdint.h>

#define PVM_RAM_BASE      0x40000000ULL
#define PVM_RAM_MAX       (1ULL << 30)      /* 1 GiB: keeps -mcmodel=small */
#define PVM_PAGE_SIZE     4096ULL
#define PVM_SECTOR_SIZE   512ULL
#define PVM_FRAME_MAX     1514              /* Ethernet without FCS */

#define PVM_ABI_VERSION   1

enum pvm_hypercall {
	PVM_HC_CONSOLE_WRITE = 0x4000, /* (const char *buf, u64 len) -> len */
	PVM_HC_CLOCK,           /* (u32 which: PVM_CLOCK_*) -> ns */
	PVM_HC_WAIT,            /* (u64 deadline_mono_ns) -> PVM_EV_* mask */
	PVM_HC_NET_SEND,        /* (const void *frame, u64 len) -> 0 */
	PVM_HC_NET_RECV,        /* (void *buf, u64 cap) -> len, -PVM_EAGAIN if none */
	PVM_HC_BLK_READ,        /* (u64 sector, void *buf, u64 nsectors) -> 0 */
	PVM_HC_BLK_WRITE,       /* (u64 sector, const void *buf, u64 nsectors) -> 0 */
	PVM_HC_BLK_FLUSH,       /* () -> 0 once earlier writes are durable */
	PVM_HC_INFO,            /* (struct pvm_info *out, u64 size) -> bytes written */
	PVM_HC_EXIT,            /* (i64 code) -> does not return */
	PVM_HC_STORE,           /* (u64 op | txn << 32, const void *arg, u64 arg_len,
	                         *  void *out, u64 out_cap) -> bytes in out (below) */
};

/*
 * The store (a xenstore for pvm guests, kept by the monitor outside guest
 * RAM and carried in every checkpoint).  Paths are absolute ("/a/b") or
 * relative to the guest's home "/local/domain/<domid>"; characters
 * [A-Za-z0-9_@-] and '/', no empty component; values are binary.  The
 * argument of each op (arg, arg_len; never NUL-terminated unless said):
 *   READ      path                        -> out: the value
 *   WRITE     path NUL value              -> 0 (parents made as needed)
 *   MKDIR     path                        -> 0
 *   RM        path                        -> 0 (with its subtree)
 *   LS        path                        -> out: child names, each NUL-terminated
 *   GET_PERMS path                        -> out: n x {u32 domid, u32 perm} (LE)
 *   SET_PERMS path NUL n x {u32 domid, u32 perm}  -> 0 (owner first)
 *   WATCH     path NUL token              -> 0; fires once at once
 *   UNWATCH   path NUL token              -> 0
 *   EVENT     (none)                      -> out: path NUL token, -PVM_EAGAIN if none
 *   TXN_START (none)                      -> transaction id (> 0)
 *   TXN_END   1 byte: 1 commit, 0 abort    -> 0, -PVM_EAGAIN: conflict, retry
 * Errors: -PVM_ENOENT no such node, -PVM_EACCES permission, -PVM_EINVAL bad
 * path or argument, -PVM_E2BIG over a size limit, -PVM_ENOSPC over a quota,
 * -PVM_EEXIST the same watch twice, -PVM_ENODEV no store,
 * -PVM_EMSGSIZE out too small (nothing consumed), -PVM_EAGAIN transaction
 * conflict or a transaction that no longer exists (after a restore).
 */
enum pvm_store_op {
	PVM_STORE_READ = 1,
	PVM_STORE_WRITE,
	PVM_STORE_MKDIR,
	PVM_STORE_RM,
	PVM_STORE_LS,
	PVM_STORE_GET_PERMS,
	PVM_STORE_SET_PERMS,
	PVM_STORE_WATCH,
	PVM_STORE_UNWATCH,
	PVM_STORE_EVENT,
	PVM_STORE_TXN_START,
	PVM_STORE_TXN_END,
};
#define PVM_STORE_PERM_NONE  0u
#define PVM_STORE_PERM_READ  1u
#define PVM_STORE_PERM_WRITE 2u
#define PVM_STORE_PERM_BOTH  3u
#define PVM_STORE_PATH_MAX   3072u   /* bytes of an absolute path */
#define PVM_STORE_VALUE_MAX  4096u
#define PVM_STORE_TOKEN_MAX  256u
#define PVM_STORE_PERMS_MAX  16u     /* entries per node */

enum pvm_clock {
	PVM_CLOCK_MONOTONIC = 0, /* ns, continues across checkpoint/restore */
	PVM_CLOCK_WALL = 1,      /* ns since the Unix epoch */
};

/*
 * Events returned by PVM_HC_WAIT.  WAIT returns at once if any is pending,
 * else when one arrives or the deadline passes (0 = PVM_EV_TIMER only).
 * NET_RX is level-triggered (frames are queued); ANNOUNCE is cleared by the
 * WAIT that reports it: the monitor asks the guest to announce its MAC
 * (gratuitous ARP) after a failover or migration.
 */
#define PVM_EV_TIMER     (1u << 0)
#define PVM_EV_NET_RX    (1u << 1)
#define PVM_EV_ANNOUNCE  (1u << 2)
#define PVM_EV_STORE     (1u << 3)  /* level: store watch events pending */

/* Errors (negated in rax); values match Linux errno numbers. */
#define PVM_EPERM    1
#define PVM_ENOENT   2
#define PVM_E2BIG    7
#define PVM_EIO      5
#define PVM_EAGAIN   11
#define PVM_EACCES   13
#define PVM_EFAULT   14
#define PVM_EEXIST   17
#define PVM_ENODEV   19
#define PVM_EINVAL   22
#define PVM_ENOSPC   28
#define PVM_ENOSYS   38
#define PVM_EMSGSIZE 90

/* Filled by PVM_HC_INFO; fields are only ever appended (check `size`). */
struct pvm_info {
	uint32_t abi_version;     /* PVM_ABI_VERSION */
	uint32_t size;            /* sizeof(struct pvm_info) of the monitor */
	uint64_t ram_base;
	uint64_t ram_bytes;
	uint64_t disk_sectors;    /* 0: no block device */
	uint8_t  mac[6];          /* all zero: no NIC */
	uint8_t  ipv4_prefix;     /* e.g. 24 */
	uint8_t  pad0;
	uint8_t  ipv4_addr[4];    /* guest address, network order */
	uint8_t  ipv4_gw[4];      /* 0.0.0.0: no gateway */
	uint64_t boot_count;      /* incremented on every restore/failover */
	char     name[32];        /* guest name, NUL-terminated */
};

#endif
