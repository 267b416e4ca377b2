/*
 * lib/stream's checkpoint assembler, part of stream.h's API (stream.h
 * includes it): stream bytes in, whole checkpoints out (stream_asm_*).
 */
#ifndef REMUS_STREAM_ASSEMBLER_H
#define REMUS_STREAM_ASSEMBLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream/stream.h"
#include "util/api.h"

REMUS_API_BEGIN

/* ---- checkpoint assembler ----------------------------------------------- */

struct stream_blob {
	uint32_t id, index;      /* emulator id/index (EMULATOR_*), else 0 */
	uint32_t type;           /* record type */
	uint8_t *data;
	size_t len;
};

/* One complete checkpoint (or a whole plain stream), ready to apply. */
struct stream_ckpt {
	uint64_t seq;            /* 1-based */
	bool final;              /* ended with libxc END (+ libxl END) */
	bool has_headers;        /* carried the libxc headers/static data (first) */
	uint32_t libxc_version, dom_type, xen_major, xen_minor;
	/* memory: each pfn once, with the last data sent for it in this checkpoint */
	size_t npages;
	uint64_t *pfns;          /* pfn numbers (type bits cleared), first-sent order */
	uint8_t *pages;          /* npages x 4096; page i belongs to pfns[i] */
	size_t nnodata;
	uint64_t *nodata;        /* pfn words without data (XTAB holes, ...), as sent */
	bool has_tsc;
	struct stream_tsc_info tsc;
	uint8_t *hvm_ctx;        /* HVM_CONTEXT body (iterate with stream_hvm_*) */
	size_t hvm_ctx_len;
	struct stream_hvm_param *params;
	size_t nparams;
	struct stream_cpuid_leaf *cpuid;
	size_t ncpuid;
	struct stream_msr_entry *msrs;
	size_t nmsrs;
	/* libxl: EMULATOR_XENSTORE_DATA, EMULATOR_CONTEXT, REMUS_XENSTORE,
	 * and libxc PV records, in stream order */
	struct stream_blob *blobs;
	size_t nblobs;
	/* internal capacities */
	size_t cap_pages, cap_nodata, cap_blobs;
};
void stream_ckpt_free(struct stream_ckpt *c);
/* First blob of a record type (and emulator id if id != UINT32_MAX), or NULL. */
const struct stream_blob *stream_ckpt_blob(const struct stream_ckpt *c, uint32_t type, uint32_t id);

struct stream_asm_cfg {
	struct stream_reader_cfg reader;
	/* distinct pages staged per checkpoint (set it to the guest's RAM
	 * pages); 0 = no limit */
	uint64_t max_ckpt_pages;
	/* Pages of the first checkpoint (before any checkpoint was handed
	 * over) go to this sink instead of the staging arena.  For a receiver
	 * that has no replica to protect yet: it writes the initial sync in
	 * place, so a large guest needs neither a second copy of its RAM nor a
	 * long apply.  0 or a negative STREAM_E_* (then the checkpoint is
	 * discarded like any bad one).  NULL: stage as usual. */
	int (*first_pages)(void *arg, const struct stream_page_data *pd);
	void *first_pages_arg;
	/* Checkpoints handed over before this stream began (a resumed run
	 * numbers on from them: its first checkpoint is first_seq + 1, staged
	 * as usual, never given to first_pages).  0: a new run. */
	uint64_t first_seq;
};

struct stream_pfn_slot {
	uint64_t pfn;
	uint32_t slot;
	uint32_t gen;            /* entry valid when == map_gen */
};

struct stream_asm {
	struct stream_reader rd;
	struct remus_err err;
	uint64_t max_ckpt_pages;
	int (*first_pages)(void *arg, const struct stream_page_data *pd);
	void *first_pages_arg;
	uint32_t libxc_version, dom_type, xen_major, xen_minor;  /* from the headers */
	struct stream_pfn_slot *map;   /* pfn -> slot of the staged arena */
	size_t map_cap;
	uint32_t map_gen;
	struct stream_ckpt staged;     /* being received */
	struct stream_ckpt ready;      /* handed over (valid until next call) */
	uint64_t delivered;            /* checkpoints handed over */
	uint64_t discarded;            /* partial checkpoints dropped */
	bool failed;
};

void stream_asm_init(struct stream_asm *a, const struct stream_asm_cfg *cfg);
void stream_asm_free(struct stream_asm *a);
/*
 * Feed bytes; returns 1 when a checkpoint is complete: *out points at it
 * (valid until the next checkpoint is complete, or take it with
 * stream_asm_take).  The final END is handed over too, as a checkpoint with
 * `final` set (empty when a checkpointed stream stops cleanly after its
 * last CHECKPOINT_END).
 * 0: input consumed, nothing complete.  <0: bad data; the staged partial
 * checkpoint has been discarded and a->err says why and where.
 */
int stream_asm_feed(struct stream_asm *a, const void *data, size_t len,
    size_t *used, struct stream_ckpt **out);
/* Hand one already-read record to the assembler (same returns). */
int stream_asm_push(struct stream_asm *a, const struct stream_rec *rec, struct stream_ckpt **out);
/* Move the handed-over checkpoint into *dst (caller frees with stream_ckpt_free). */
void stream_asm_take(struct stream_asm *a, struct stream_ckpt *dst);
/*
 * Input ended: 0 after END, STREAM_EOF_CHECKPOINT after a complete
 * checkpoint (failover point), else a discarded partial checkpoint:
 * STREAM_E_INCOMPLETE / STREAM_E_TRUNCATED with the reason in a->err.
 */
int stream_asm_eof(struct stream_asm *a);
/* Give up (timeout, lost heartbeat): discard any partial checkpoint, record why. */
int stream_asm_abort(struct stream_asm *a, const char *why);

REMUS_API_END

#endif
