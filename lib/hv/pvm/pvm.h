/*
 * pvm: the embedded process-VM hypervisor driver.  The engine uses it only
 * through `pvm_hv_ops` (hv.h); this header adds the pieces the `pvm` tool,
 * the tests and the fuzzers need: strict decoders of the two context blobs
 * and the guest ELF checker.
 */
#ifndef REMUS_PVM_H
#define REMUS_PVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"
#include "util/err.h"

extern const struct hv_ops pvm_hv_ops;

/* The vCPU as pvm keeps it: Linux user registers + the XSAVE area. */
#define PVM_XSAVE_MAX 16384
struct pvm_vcpu {
	uint64_t rax, rbx, rcx, rdx, rbp, rsi, rdi, rsp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags, fs_base, gs_base;
	uint16_t cs, ss, ds, es, fs, gs;
	uint64_t xcr0;
	uint32_t xsave_len;                 /* bytes used in xsave[] */
	uint8_t xsave[PVM_XSAVE_MAX];       /* standard-format XSAVE area */
};

/* HVM_CONTEXT body <-> vCPU.  decode is strict: every descriptor, length
 * and fixed field is checked; HV_EBADBLOB with the offending offset. */
int pvm_cpu_encode(const struct pvm_vcpu *v, struct hv_blob *out,
                   struct remus_err *err);
int pvm_cpu_decode(const uint8_t *buf, size_t len, struct pvm_vcpu *v,
                   struct remus_err *err);
/* The rules a vCPU must meet to be restored (64-bit user selectors, user
 * rflags, XSAVE header within xcr0): used by decode (restore) and encode
 * (capture), so a checkpoint restore would refuse is never taken. */
int pvm_vcpu_validate(const struct pvm_vcpu *v, struct remus_err *err);
/* Both blobs of a checkpoint through restore's decoders, nothing built:
 * 0, or HV_EUNRESTORABLE with "checkpoint would not restore: <why>". */
int pvm_checkpoint_validate(const uint8_t *hvm, size_t hvm_len, const uint8_t *emu,
                            size_t emu_len, struct remus_err *err);

/* Device state carried in EMULATOR_CONTEXT (versioned, see pvm_emu.c). */
#define PVM_EMU_MAX_RXQ 256
struct pvm_frame {
	uint16_t len;
	uint8_t data[1514];
};
struct pvm_emu {
	uint64_t guest_mono_ns;     /* guest monotonic clock at the save */
	uint64_t boot_count;
	uint32_t pending_events;    /* PVM_EV_* latched, not yet reported */
	uint32_t waiting;           /* 1: vCPU sits in PVM_HC_WAIT */
	uint64_t wait_deadline_ns;  /* guest monotonic ns, 0: none */
	uint64_t console_bytes;
	uint64_t net_tx_frames, net_rx_frames, net_tx_dropped;
	uint64_t disk_sectors;
	uint64_t disk_reads, disk_writes, disk_flushes;
	uint32_t rxq_count;
	struct pvm_frame *rxq;      /* rxq_count frames (heap) */
};

int pvm_emu_encode(const struct pvm_emu *e, struct hv_blob *out,
                   struct remus_err *err);
/* On success e->rxq is allocated (free with pvm_emu_free). */
int pvm_emu_decode(const uint8_t *buf, size_t len, struct pvm_emu *e,
                   struct remus_err *err);
void pvm_emu_free(struct pvm_emu *e);

/* A guest image: loadable segments checked against the RAM window. */
struct pvm_elf_seg {
	uint64_t vaddr, filesz, memsz, offset;
};
#define PVM_ELF_MAX_SEGS 16
struct pvm_elf {
	uint64_t entry;
	unsigned nsegs;
	struct pvm_elf_seg segs[PVM_ELF_MAX_SEGS];
};
/* Console bytes as printed to a terminal or log: C0 controls (but \n, \t)
 * and DEL as \xHH.  Returns bytes written to out; *consumed input bytes
 * (stops before an escape that would not fit). */
size_t pvm_console_escape(const uint8_t *in, size_t n, uint8_t *out, size_t cap,
                          size_t *consumed);

int pvm_elf_parse(const uint8_t *img, size_t len, uint64_t ram_bytes,
                  struct pvm_elf *out, struct remus_err *err);

/* The hand-off blob of a guest (hv_ops hand_off/adopt, pvm_handoff.c),
 * decoded strictly: lengths, pid, RAM size, dirty pfns in range and
 * ascending, both context blobs and the store as restore would check
 * them; HV_EBADBLOB. */
struct pvm_handoff_info {
	uint32_t pid;
	bool exact;                         /* the dirty log is exact (WP-async) */
	uint64_t ram_bytes;
	int64_t mono_offset;                /* guest clock = host CLOCK_MONOTONIC + this */
	const uint8_t *hvm, *emu, *store, *dirty;   /* point into the blob */
	uint32_t hvm_len, emu_len, store_len, ndirty;  /* dirty: ndirty LE u64 pfns */
};
int pvm_handoff_decode(const uint8_t *b, size_t len, struct pvm_handoff_info *out,
                       struct remus_err *err);

/* Copy-on-write capture counters of a cow guest (zero otherwise). */
struct pvm_cow_stats {
	uint64_t captures, pages;     /* capture_begin calls, pages captured */
	uint64_t faults;              /* guest write faults served (tracking + capture) */
	uint64_t fault_copies;        /* captured pages copied by a guest write fault */
	uint64_t guard_copies;        /* ... by a device model about to write them */
};
void pvm_cow_get_stats(struct hv_guest *g, struct pvm_cow_stats *out);
/* Tests: while held, the copy-out helper copies nothing, so only guest
 * faults and device writes copy pages; releasing lets it finish. */
void pvm_cow_hold(struct hv_guest *g, bool hold);
/* Tests: is pfn in the capture begun last (and not yet waited for)? */
bool pvm_cow_captured(struct hv_guest *g, uint64_t pfn);

#endif
