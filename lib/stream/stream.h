/*
 * lib/stream — the Xen migration stream v2 codec.
 *
 * Both layers of Xen's stream (libxl: tools/libs/light/libxl_sr_stream_format.h,
 * libxc: tools/libs/guest/xg_sr_stream_format.h), byte-compatible with what
 * Xen 4.17's save code writes, in its plain and checkpointed (Remus) layouts.
 * See docs/stream-format.md for the byte layouts and ordering rules.
 *
 *   writer    record-level functions (one per record type) appending to a
 *             growable `struct stream_buf`, which the caller flushes to an fd
 *             (blocking or non-blocking).  Page data can be referenced
 *             instead of copied (STREAM_REF): the bytes go out by writev.
 *   reader    incremental: feed bytes in any pieces (down to one byte), get
 *             whole, validated records out.  Bounded memory (limits below),
 *             overflow-checked lengths, ordering rules enforced.
 *   assembler stages every record of checkpoint N and hands N over only when
 *             it is complete (libxc CHECKPOINT + libxl CHECKPOINT_END, or the
 *             final END); a partial N is discarded on EOF, error or abort.
 *
 * All functions return 0 (or a documented positive value) on success and a
 * negative code on failure: -errno for system errors (-ENOMEM, -EAGAIN, ...)
 * or one of `enum stream_error` for bad data, with the message (naming the
 * stream offset) in the object's `err`.
 */
#ifndef REMUS_STREAM_STREAM_H
#define REMUS_STREAM_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "util/err.h"
#include "util/bytes.h"
#include "util/api.h"

REMUS_API_BEGIN

/* ---- constants ---------------------------------------------------------- */

#define STREAM_PAGE_SHIFT        12
#define STREAM_PAGE_SIZE         4096u

/* libxl stream header (16 bytes, big-endian). */
#define STREAM_LIBXL_IDENT       0x4c6962786c466d74ULL   /* "LibxlFmt" */
#define STREAM_LIBXL_VERSION     2u
#define STREAM_LIBXL_OPT_BE      (1u << 0)
#define STREAM_LIBXL_OPT_LEGACY  (1u << 1)
#define STREAM_LIBXL_HDR_SIZE    16u

/* libxc image header (24 bytes, big-endian) and domain header (16, LE). */
#define STREAM_LIBXC_MARKER      0xffffffffffffffffULL
#define STREAM_LIBXC_IDENT       0x58454e46u             /* "XENF" */
#define STREAM_LIBXC_VERSION     3u
#define STREAM_LIBXC_OPT_BE      (1u << 0)
#define STREAM_LIBXC_IHDR_SIZE   24u
#define STREAM_LIBXC_DHDR_SIZE   16u
#define STREAM_DOM_X86_PV        1u
#define STREAM_DOM_X86_HVM       2u

/* xl save-file header ("xl save", "xl migrate"): 32-byte magic + 4 u32. */
#define STREAM_XL_MAGIC          "Xen saved domain, xl format\n \0 \r"
#define STREAM_XL_MAGIC_LEN      32u
#define STREAM_XL_HDR_SIZE       48u
#define STREAM_XL_BYTEORDER      0x01020304u
#define STREAM_XL_MFLAG_JSON     (1u << 0)
#define STREAM_XL_MFLAG_STREAMV2 (1u << 1)
/* The largest guest configuration accepted in xl's header (with its NUL). */
#define STREAM_XL_CONFIG_MAX     (1u << 20)

/* libxl record types. */
enum stream_libxl_type {
	STREAM_XL_END                    = 0,
	STREAM_XL_LIBXC_CONTEXT          = 1,
	STREAM_XL_EMULATOR_XENSTORE_DATA = 2,
	STREAM_XL_EMULATOR_CONTEXT       = 3,
	STREAM_XL_CHECKPOINT_END         = 4,
	STREAM_XL_CHECKPOINT_STATE       = 5,
	/*
	 * remus extension, NOT a Xen type: xenstore node/watch records of the
	 * guest.  Sent only when the peer announced support in the handshake
	 * (and accepted by the reader only with `cfg.remus_xenstore`).  The value
	 * ("RMXS") is far from Xen's small sequential numbers.
	 */
	STREAM_XL_REMUS_XENSTORE         = 0x524d5853,
};

/* libxc record types. */
enum stream_libxc_type {
	STREAM_XC_END                       = 0x00,
	STREAM_XC_PAGE_DATA                 = 0x01,
	STREAM_XC_X86_PV_INFO               = 0x02,
	STREAM_XC_X86_PV_P2M_FRAMES         = 0x03,
	STREAM_XC_X86_PV_VCPU_BASIC         = 0x04,
	STREAM_XC_X86_PV_VCPU_EXTENDED      = 0x05,
	STREAM_XC_X86_PV_VCPU_XSAVE         = 0x06,
	STREAM_XC_SHARED_INFO               = 0x07,
	STREAM_XC_X86_TSC_INFO              = 0x08,
	STREAM_XC_HVM_CONTEXT               = 0x09,
	STREAM_XC_HVM_PARAMS                = 0x0a,
	STREAM_XC_TOOLSTACK                 = 0x0b, /* obsolete: rejected */
	STREAM_XC_X86_PV_VCPU_MSRS          = 0x0c,
	STREAM_XC_VERIFY                    = 0x0d,
	STREAM_XC_CHECKPOINT                = 0x0e,
	STREAM_XC_CHECKPOINT_DIRTY_PFN_LIST = 0x0f, /* COLO back channel only */
	STREAM_XC_STATIC_DATA_END           = 0x10,
	STREAM_XC_X86_CPUID_POLICY          = 0x11,
	STREAM_XC_X86_MSR_POLICY            = 0x12,
	STREAM_XC_TYPE_COUNT
};

/* libxl emulator ids (EMULATOR_XENSTORE_DATA / EMULATOR_CONTEXT). */
#define STREAM_EMU_UNKNOWN       0u
#define STREAM_EMU_QEMU_TRAD     1u
#define STREAM_EMU_QEMU_UPSTREAM 2u

/* PAGE_DATA pfn words: pfn in bits 0-51, 52-59 reserved, type in 60-63. */
#define STREAM_PFN_MASK          ((1ULL << 52) - 1)
#define STREAM_PFN_RSVD_MASK     (((1ULL << 60) - 1) & ~STREAM_PFN_MASK)
#define STREAM_PFN_TYPE_SHIFT    60
#define STREAM_PFN_TYPE(w)       ((uint32_t)((w) >> STREAM_PFN_TYPE_SHIFT))
#define STREAM_PFN_NOTAB         0x0u   /* ordinary page (HVM: always) */
#define STREAM_PFN_BROKEN        0xdu   /* no data */
#define STREAM_PFN_XALLOC        0xeu   /* allocate only, no data */
#define STREAM_PFN_XTAB          0xfu   /* hole / invalid, no data */
/* True if a pfn word of this type carries 4096 bytes of page data. */
static inline bool stream_pfn_has_data(uint64_t w)
{
	return (STREAM_PFN_TYPE(w) & 7u) <= 4u;
}

/* Limits (defaults; see struct stream_limits). */
#define STREAM_DEFAULT_MAX_BODY  (64u << 20)
#define STREAM_DEFAULT_MAX_PAGES 1024u    /* Xen's MAX_BATCH_SIZE */

/* ---- errors ------------------------------------------------------------- */

/* Bad-data errors; each malformed input maps to exactly one of these. */
#define STREAM_ERRORS(X) \
	X(STREAM_E_MAGIC,        -6100, "bad magic") /* bad xl magic, libxl ident, libxc marker/ident */ \
	X(STREAM_E_VERSION,      -6099, "unsupported version") /* unsupported stream version */ \
	X(STREAM_E_ENDIAN,       -6098, "big-endian stream") /* big-endian stream (options bit 0) */ \
	X(STREAM_E_RESERVED,     -6097, "reserved bits set") /* reserved bits/fields set */ \
	X(STREAM_E_PADDING,      -6096, "non-zero padding") /* non-zero record padding */ \
	X(STREAM_E_TRUNCATED,    -6095, "truncated stream") /* stream ends inside a header or record */ \
	X(STREAM_E_OVERFLOW,     -6094, "length overflow") /* a length would overflow */ \
	X(STREAM_E_TOO_BIG,      -6093, "over the limit") /* record or checkpoint over a configured limit */ \
	X(STREAM_E_UNKNOWN_TYPE, -6092, "unknown record type") /* record type unknown in its layer */ \
	X(STREAM_E_OBSOLETE,     -6091, "obsolete record") /* TOOLSTACK record (obsolete, never valid) */ \
	X(STREAM_E_LENGTH,       -6090, "bad record length") /* body length wrong for the record type */ \
	X(STREAM_E_PAGE_COUNT,   -6089, "PAGE_DATA count/length mismatch") /* PAGE_DATA count/length mismatch or count 0 */ \
	X(STREAM_E_PAGE_LIMIT,   -6088, "PAGE_DATA count over the limit") /* PAGE_DATA count above max_pages */ \
	X(STREAM_E_PFN_RESERVED, -6087, "pfn reserved bits set") /* pfn word with bits 52-59 set */ \
	X(STREAM_E_PFN_TYPE,     -6086, "invalid pfn type") /* pfn word with an invalid type */ \
	X(STREAM_E_DOMAIN,       -6085, "bad domain header") /* unknown domain type or page shift != 12 */ \
	X(STREAM_E_EMULATOR,     -6084, "unknown emulator id") /* unknown emulator id */ \
	X(STREAM_E_ORDER,        -6083, "record in the wrong place") /* record in the wrong place */ \
	X(STREAM_E_MISSING,      -6082, "checkpoint lacks a mandatory record") /* checkpoint lacks a mandatory record */ \
	X(STREAM_E_AFTER_END,    -6081, "data after END") /* bytes after the final END */ \
	X(STREAM_E_XENSTORE,     -6080, "malformed xenstore data") /* malformed xenstore data */ \
	X(STREAM_E_HVM_BLOB,     -6079, "malformed HVM blob") /* malformed HVM save blob */ \
	X(STREAM_E_INCOMPLETE,   -6078, "incomplete checkpoint discarded") /* partial checkpoint discarded (EOF/abort) */ \
	X(STREAM_E_FAILED,       -6077, "reader already failed") /* object already failed; see its err */ \
	X(STREAM_E_PFN_RANGE,    -6076, "pfn beyond the guest's memory") /* pfn beyond the guest's memory (first_pages sink) */ \
	X(STREAM_E_XL_CONFIG,    -6075, "xl header without one JSON configuration") /* xl header: no JSON flag, or its configuration not one NUL-terminated text */
enum stream_error {
	STREAM_ERRORS(REMUS_ERR_ENUM)
	STREAM_E_LAST = -6074     /* one past the last: codes ascend */
};

/* Short constant description of a stream_error or -errno code. */
const char *stream_strerror(int code);

/* ---- output buffer ------------------------------------------------------ */

/*
 * A growable output buffer: owned bytes plus, optionally, references to
 * caller memory (page data written with STREAM_REF), kept in output order
 * as a list of segments.  Referenced memory must stay valid and unchanged
 * until the buffer has been flushed or reset.
 */
struct stream_seg {
	const uint8_t *ext;   /* referenced memory, or NULL: owned bytes */
	size_t off;           /* owned: offset into data */
	size_t len;
};

struct stream_buf {
	uint8_t *data;            /* owned bytes */
	size_t len, cap;
	struct stream_seg *segs;  /* output order */
	size_t nsegs, segcap;
	size_t total;             /* bytes in the stream so far (owned + ref) */
	size_t sent_seg, sent_off;/* flush progress */
	size_t sent;              /* bytes flushed */
	bool rec_open;            /* stream_begin_record() in progress */
	size_t rec_hdr;           /* its header's offset in data */
	size_t rec_start;         /* total at the start of its body */
};

/* Flags for writers taking bulk data. */
#define STREAM_REF  (1u << 0)   /* reference caller memory instead of copying */

void stream_buf_init(struct stream_buf *b);
void stream_buf_free(struct stream_buf *b);
/* Forget the content (keeps the allocations for reuse). */
void stream_buf_reset(struct stream_buf *b);
/* Total bytes written into the buffer (flushed or not). */
static inline size_t stream_buf_size(const struct stream_buf *b) { return b->total; }
/* Bytes not yet flushed. */
static inline size_t stream_buf_pending(const struct stream_buf *b) { return b->total - b->sent; }
/* Append raw bytes (copied) / a reference to caller memory. */
int stream_buf_append(struct stream_buf *b, const void *p, size_t len);
int stream_buf_append_ref(struct stream_buf *b, const void *p, size_t len);
int stream_buf_append_zero(struct stream_buf *b, size_t len);
/*
 * Write pending bytes to fd (sendmsg with MSG_NOSIGNAL on sockets, writev
 * otherwise; a closed peer is -EPIPE).  Blocking fd: returns 0 when all is
 * written.  Non-blocking fd: returns -EAGAIN when the socket is full (call
 * again when writable; progress is kept), 0 when done.  Other -errno on error.
 */
int stream_buf_flush(struct stream_buf *b, int fd);
/* Copy the (unflushed part of the) content into dst (stream_buf_pending bytes). */
void stream_buf_copy_out(const struct stream_buf *b, void *dst);
/*
 * Pointer to the content if it is contiguous (no references, nothing
 * flushed), else NULL.  Handy for tests and for building a record body.
 */
const uint8_t *stream_buf_flat(const struct stream_buf *b);
/* Fill up to `max` iovecs with the pending content; returns how many. */
int stream_buf_iov(const struct stream_buf *b, struct iovec *iov, int max);

/* ---- writer: headers ---------------------------------------------------- */

/* xl save-file header + optional JSON config (NULL/0 for none), as `xl save`. */
int stream_put_xl_header(struct stream_buf *b, const void *json, size_t json_len);
/* libxl stream header (little-endian stream, options 0). */
int stream_put_libxl_header(struct stream_buf *b);
/* libxc image header (version 3). */
int stream_put_libxc_image_header(struct stream_buf *b);
/* libxc domain header; dom_type STREAM_DOM_X86_HVM or _PV, Xen version. */
int stream_put_libxc_domain_header(struct stream_buf *b, uint32_t dom_type,
    uint32_t xen_major, uint32_t xen_minor);

/* ---- writer: generic records -------------------------------------------- */

/* Any record from a body (copied); padding added.  Used for raw/test input. */
int stream_put_record(struct stream_buf *b, uint32_t type, const void *body, size_t len);
/*
 * Open a record whose body is appended piecewise (stream_buf_append*, the
 * stream_hvm_* helpers, ...).  stream_end_record() patches the length and
 * pads.  One record may be open at a time.
 */
int stream_begin_record(struct stream_buf *b, uint32_t type);
int stream_end_record(struct stream_buf *b);

/* ---- writer: libxl records ---------------------------------------------- */

int stream_put_libxl_end(struct stream_buf *b);
int stream_put_libxc_context(struct stream_buf *b);
int stream_put_checkpoint_end(struct stream_buf *b);
int stream_put_checkpoint_state(struct stream_buf *b, uint32_t control);

/* One xenstore key/value of EMULATOR_XENSTORE_DATA (NUL-free strings). */
struct stream_kv {
	const char *key;
	const char *value;
};
/* EMULATOR_XENSTORE_DATA from key/value pairs (key\0value\0 ...). */
int stream_put_emulator_xenstore_data(struct stream_buf *b, uint32_t emu_id,
    uint32_t index, const struct stream_kv *kv, size_t n);
/* EMULATOR_CONTEXT: emulator id, index, opaque blob (STREAM_REF allowed). */
int stream_put_emulator_context(struct stream_buf *b, uint32_t emu_id,
    uint32_t index, const void *blob, size_t len, unsigned flags);

/* ---- writer: libxc records ---------------------------------------------- */

int stream_put_libxc_end(struct stream_buf *b);
int stream_put_static_data_end(struct stream_buf *b);
int stream_put_checkpoint(struct stream_buf *b);
int stream_put_verify(struct stream_buf *b);

/*
 * PAGE_DATA: count pfn words (pfn | type << 60; HVM: type 0 or XTAB for a
 * hole) and for each word that carries data (stream_pfn_has_data) a page
 * pointer pages[i] (NULL for the others).  count must be 1..1024.  With
 * STREAM_REF the pages are referenced, not copied (writev on flush).
 */
int stream_put_page_data(struct stream_buf *b, const uint64_t *pfns,
    const void *const *pages, uint32_t count, unsigned flags);
/* PAGE_DATA of ordinary pages taken from a linear RAM image at ram + pfn*4096. */
int stream_put_page_data_ram(struct stream_buf *b, const uint64_t *pfns,
    uint32_t count, const void *ram, unsigned flags);

struct stream_tsc_info {
	uint32_t mode;
	uint32_t khz;
	uint64_t nsec;
	uint32_t incarnation;
};
int stream_put_tsc_info(struct stream_buf *b, const struct stream_tsc_info *t);

/* HVM_CONTEXT: the HVM save blob (see stream_hvm_* below to build it). */
int stream_put_hvm_context(struct stream_buf *b, const void *blob, size_t len, unsigned flags);

struct stream_hvm_param {
	uint64_t index;
	uint64_t value;
};
int stream_put_hvm_params(struct stream_buf *b, const struct stream_hvm_param *p, uint32_t count);

/* xen_cpuid_leaf_t and xen_msr_entry_t, as in xen/arch-x86/xen.h. */
struct stream_cpuid_leaf {
	uint32_t leaf, subleaf, a, b, c, d;
};
struct stream_msr_entry {
	uint32_t idx, flags;
	uint64_t val;
};
int stream_put_cpuid_policy(struct stream_buf *b, const struct stream_cpuid_leaf *l, uint32_t n);
int stream_put_msr_policy(struct stream_buf *b, const struct stream_msr_entry *m, uint32_t n);

/* PV-only records (for completeness; remus guests are HVM/PVH). */
int stream_put_x86_pv_info(struct stream_buf *b, uint8_t guest_width, uint8_t pt_levels);
int stream_put_x86_pv_p2m_frames(struct stream_buf *b, uint32_t start_pfn,
    uint32_t end_pfn, const uint64_t *frames, uint32_t n);
/* type: X86_PV_VCPU_BASIC/EXTENDED/XSAVE/MSRS. */
int stream_put_x86_pv_vcpu(struct stream_buf *b, uint32_t type, uint32_t vcpu_id,
    const void *ctx, size_t len);
int stream_put_shared_info(struct stream_buf *b, const void *page);
/* COLO back channel: dirty pfns. */
int stream_put_dirty_pfn_list(struct stream_buf *b, const uint64_t *pfns, uint32_t n);

/* ---- HVM save blob (body of HVM_CONTEXT) -------------------------------- */

/*
 * The blob is a sequence of {u16 typecode, u16 instance, u32 length} + data,
 * ending with an END descriptor (typecode 0, length 0).  Use the structs of
 * <xen/hvm/save.h> (include "stream/xen_hvm.h", which makes them usable
 * under -std=c11): HEADER (1) = struct hvm_save_header, CPU (2) = struct
 * hvm_hw_cpu per vCPU, ...
 */
#define STREAM_HVM_DESC_SIZE 8u
int stream_hvm_put(struct stream_buf *b, uint16_t typecode, uint16_t instance,
    const void *data, uint32_t len);
int stream_hvm_put_end(struct stream_buf *b);

struct stream_hvm_entry {
	uint16_t typecode;
	uint16_t instance;
	uint32_t length;
	const uint8_t *data;
	size_t offset;        /* of the descriptor within the blob */
};
struct stream_hvm_iter {
	const uint8_t *p;
	size_t len, off;
	bool ended;
};
void stream_hvm_iter_init(struct stream_hvm_iter *it, const void *blob, size_t len);
/* 1: *e filled; 0: END descriptor reached (and nothing after it); <0 STREAM_E_HVM_BLOB. */
int stream_hvm_next(struct stream_hvm_iter *it, struct stream_hvm_entry *e, struct remus_err *err);

/* ---- reader ------------------------------------------------------------- */

struct stream_limits {
	size_t max_body;        /* largest record body; default 64 MiB */
	uint32_t max_pages;     /* largest PAGE_DATA count; default 1024 */
};

/* Where the byte stream starts. */
enum stream_start {
	STREAM_START_AUTO = 0,  /* detect: xl header, libxl header or libxc header */
	STREAM_START_LIBXL,     /* a libxl stream header */
	STREAM_START_LIBXC,     /* a bare libxc stream (image header) */
};

struct stream_reader_cfg {
	struct stream_limits lim;   /* zero fields take the defaults */
	enum stream_start start;
	/*
	 * Checkpointed (Remus) layout: after libxc CHECKPOINT the libxl records
	 * of the checkpoint follow, up to CHECKPOINT_END.  When false (a libxc
	 * slice checked "flat", as Xen's verify-stream-v2 reads it) CHECKPOINT
	 * stays in the libxc layer.  Default (true) is right for every stream
	 * Xen writes: a plain stream never carries CHECKPOINT.
	 */
	bool flat_checkpoints;
	/*
	 * The libxc part is consumed by someone else (the Xen driver hands the
	 * fd to libxc): after LIBXC_CONTEXT the reader expects libxl records of
	 * a checkpoint (up to CHECKPOINT_END) or of the stream end (up to END).
	 */
	bool libxc_external;
	/* Accept STREAM_XL_REMUS_XENSTORE (negotiated with the peer). */
	bool remus_xenstore;
};

enum stream_item {
	STREAM_ITEM_XL_HEADER = 1,
	STREAM_ITEM_LIBXL_HEADER,
	STREAM_ITEM_LIBXC_IMAGE_HEADER,
	STREAM_ITEM_LIBXC_DOMAIN_HEADER,
	STREAM_ITEM_LIBXL_RECORD,
	STREAM_ITEM_LIBXC_RECORD,
};

/* PAGE_DATA as read: raw pfn words and the pages that carry data. */
struct stream_page_data {
	uint32_t count;         /* pfn words */
	uint32_t npages;        /* pages with data (stream_pfn_has_data) */
	const uint8_t *pfns;    /* count x LE u64, possibly unaligned */
	const uint8_t *pages;   /* npages x 4096, in pfn-word order */
};
static inline uint64_t stream_pd_pfn(const struct stream_page_data *pd, uint32_t i)
{
	return get_le64(pd->pfns + 8 * (size_t)i);
}

/* One item out of the reader.  Pointers stay valid until the next feed. */
struct stream_rec {
	enum stream_item item;
	uint32_t type;          /* record type (records only) */
	uint32_t length;        /* body length (records), header size (headers) */
	uint64_t offset;        /* stream offset of the item's first byte */
	uint64_t checkpoint;    /* 1-based checkpoint the item belongs to */
	const uint8_t *body;    /* record body / header bytes */
	union {
		struct {
			uint32_t mandatory, optional;
			const uint8_t *config;   /* JSON config (if MFLAG_JSON) */
			uint32_t config_len;
		} xl;
		struct { uint32_t version, options; } libxl_hdr;
		struct { uint32_t version; uint16_t options; } ihdr;
		struct { uint32_t type; uint16_t page_shift; uint32_t xen_major, xen_minor; } dhdr;
		struct stream_page_data page_data;
		struct stream_tsc_info tsc;
		struct { uint32_t count; const uint8_t *entries; } hvm_params;  /* 16 B each */
		struct { uint32_t count; const uint8_t *entries; } policy;      /* 24/16 B each */
		struct { uint32_t id, index; const uint8_t *data; uint32_t len; } emu;
		uint32_t checkpoint_state;
		struct { uint32_t vcpu_id; const uint8_t *data; uint32_t len; } pv_vcpu;
	} u;
};
static inline struct stream_hvm_param stream_hvm_param_at(const struct stream_rec *r, uint32_t i)
{
	const uint8_t *p = r->u.hvm_params.entries + 16 * (size_t)i;
	struct stream_hvm_param v = { get_le64(p), get_le64(p + 8) };
	return v;
}

/* Reader positions (exposed for tools and tests). */
enum stream_pos {
	STREAM_POS_START,        /* nothing read yet */
	STREAM_POS_XL_OPT,       /* inside the xl header's optional data */
	STREAM_POS_LIBXL_HDR,
	STREAM_POS_LIBXL,        /* libxl records, before/without a checkpoint */
	STREAM_POS_LIBXC_IHDR,
	STREAM_POS_LIBXC_DHDR,
	STREAM_POS_LIBXC,        /* libxc records */
	STREAM_POS_LIBXL_CKPT,   /* libxl records after CHECKPOINT, up to CHECKPOINT_END */
	STREAM_POS_LIBXL_TAIL,   /* libxl records after libxc END, up to END */
	STREAM_POS_LIBXL_EXT,    /* libxc_external: libxl records of checkpoints */
	STREAM_POS_DONE,         /* after the final END */
	STREAM_POS_FAILED,
};

struct stream_reader {
	struct stream_reader_cfg cfg;
	struct remus_err err;
	enum stream_pos pos;
	uint64_t off;            /* bytes consumed so far */
	/* current item */
	int stage;               /* internal */
	size_t want, have;       /* bytes of the current item needed / buffered */
	uint8_t *buf;
	size_t bufcap;
	uint64_t item_off;
	uint32_t rtype, rlen;    /* current record header */
	bool detected;           /* xl/libxl/libxc start identified */
	/* what we know about the stream */
	bool xl_file;            /* started with an xl save-file header */
	bool bare_libxc;         /* started with a libxc image header */
	uint32_t xl_mflags, xl_oflags;
	uint32_t libxc_version, dom_type;
	bool libxc_seen;         /* LIBXC_CONTEXT (or bare libxc start) seen */
	bool static_end;         /* STATIC_DATA_END seen */
	uint64_t checkpoints;    /* complete checkpoints (CHECKPOINT_END seen) */
	bool in_ckpt;            /* records since the last boundary */
	unsigned ck_have;        /* STREAM_HAVE_* bits of the current checkpoint */
	uint64_t records;        /* records returned */
};

/* Set up a reader (cfg may be NULL for defaults). */
void stream_reader_init(struct stream_reader *r, const struct stream_reader_cfg *cfg);
void stream_reader_free(struct stream_reader *r);
/*
 * Consume bytes from data[0..len) and stop after one complete item.
 * Returns 1 with *out filled (its pointers valid until the next call; they
 * may point into `data`), 0 when all input was consumed without completing
 * an item, <0 on bad data (the reader then stays failed).  *used = bytes
 * consumed.  Loop until all input is used:
 *     while (len) { rc = stream_reader_feed(r, p, len, &u, &rec); p += u;
 *                   len -= u; if (rc < 0) fail; if (rc) handle(&rec); }
 */
int stream_reader_feed(struct stream_reader *r, const void *data, size_t len,
    size_t *used, struct stream_rec *out);
/*
 * Bytes still needed to complete the current item (never over-read: a
 * caller sharing the fd with libxc reads exactly this many).  0 when done.
 */
size_t stream_reader_want(const struct stream_reader *r);
/*
 * The input has ended.  Returns 0 after the final END,
 * STREAM_EOF_CHECKPOINT (positive) when a checkpointed stream stops right
 * after a CHECKPOINT_END (failover: r->checkpoints complete checkpoints),
 * STREAM_E_TRUNCATED / STREAM_E_INCOMPLETE (message in r->err) otherwise.
 */
#define STREAM_EOF_CHECKPOINT 1
int stream_reader_eof(struct stream_reader *r);

/*
 * xl's migration header at the front of p[0..len), as a peer sends it
 * before the libxl stream (`xl migrate`, `xl remus`, our stream sender's
 * preamble): the one strict check every reader of it uses.  xl's magic,
 * byte order, STREAMv2 and JSON mandatory flags, optional data of at most
 * 4 + STREAM_XL_CONFIG_MAX bytes, and a configuration that is one
 * NUL-terminated text (no other NUL) of 1..STREAM_XL_CONFIG_MAX bytes.
 * Returns 1 when the whole header is in p: *hdr_len its size, *config
 * points into p (*config_len bytes, the NUL included); 0 when more bytes
 * are needed (*hdr_len: how many the header needs at least, known once
 * its first 48 bytes are in); <0 (a stream_error, the reason in err) as
 * soon as the bytes in hand are bad.  Never reads past p[len).
 */
int stream_xl_header_take(const uint8_t *p, size_t len, size_t *hdr_len,
    const char **config, uint32_t *config_len, struct remus_err *err);

const char *stream_libxl_type_name(uint32_t type);
const char *stream_libxc_type_name(uint32_t type);
/* "libxl"/"libxc"-prefixed name for any item. */
const char *stream_item_name(const struct stream_rec *rec);

REMUS_API_END

/* The xenstore records (stream_xs_*) and the checkpoint assembler
 * (stream_asm_*), part of this API. */
#include "stream/xenstore.h"
#include "stream/assembler.h"

#endif
