/*
 * Incremental stream reader: bytes in (any piece size), validated items out.
 *
 * The reader collects one item at a time (a header, a record header, a
 * record body) into its buffer, or uses the caller's bytes directly when the
 * whole item is present.  Lengths are checked against the limits before any
 * allocation; every rule violation becomes a named error naming the offset.
 */
#include "stream/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/internal.h"
#include "util/checked.h"

static const char *const libxl_names[] = {
	"END", "LIBXC_CONTEXT", "EMULATOR_XENSTORE_DATA", "EMULATOR_CONTEXT",
	"CHECKPOINT_END", "CHECKPOINT_STATE",
};

static const char *const libxc_names[] = {
	"END", "PAGE_DATA", "X86_PV_INFO", "X86_PV_P2M_FRAMES",
	"X86_PV_VCPU_BASIC", "X86_PV_VCPU_EXTENDED", "X86_PV_VCPU_XSAVE",
	"SHARED_INFO", "X86_TSC_INFO", "HVM_CONTEXT", "HVM_PARAMS", "TOOLSTACK",
	"X86_PV_VCPU_MSRS", "VERIFY", "CHECKPOINT", "CHECKPOINT_DIRTY_PFN_LIST",
	"STATIC_DATA_END", "X86_CPUID_POLICY", "X86_MSR_POLICY",
};

const char *stream_libxl_type_name(uint32_t type)
{
	if (type < sizeof(libxl_names) / sizeof(libxl_names[0]))
		return libxl_names[type];
	if (type == STREAM_XL_REMUS_XENSTORE)
		return "REMUS_XENSTORE";
	return "UNKNOWN";
}

const char *stream_libxc_type_name(uint32_t type)
{
	if (type < sizeof(libxc_names) / sizeof(libxc_names[0]))
		return libxc_names[type];
	return "UNKNOWN";
}

const char *stream_item_name(const struct stream_rec *rec)
{
	switch (rec->item) {
	case STREAM_ITEM_XL_HEADER:           return "xl header";
	case STREAM_ITEM_LIBXL_HEADER:        return "libxl header";
	case STREAM_ITEM_LIBXC_IMAGE_HEADER:  return "libxc image header";
	case STREAM_ITEM_LIBXC_DOMAIN_HEADER: return "libxc domain header";
	case STREAM_ITEM_LIBXL_RECORD:        return stream_libxl_type_name(rec->type);
	case STREAM_ITEM_LIBXC_RECORD:        return stream_libxc_type_name(rec->type);
	}
	return "?";
}

const char *stream_strerror(int code)
{
	static const char *const names[] = {
		"bad magic", "unsupported version", "big-endian stream",
		"reserved bits set", "non-zero padding", "truncated stream",
		"length overflow", "over the limit", "unknown record type",
		"obsolete record", "bad record length", "PAGE_DATA count/length mismatch",
		"PAGE_DATA count over the limit", "pfn reserved bits set",
		"invalid pfn type", "bad domain header", "unknown emulator id",
		"record in the wrong place", "checkpoint lacks a mandatory record",
		"data after END", "malformed xenstore data", "malformed HVM blob",
		"incomplete checkpoint discarded", "reader already failed",
		"pfn beyond the guest's memory",
	};
	if (code >= STREAM_E_MAGIC && code < STREAM_E_LAST)
		return names[code - STREAM_E_MAGIC];
	if (code < 0)
		return strerror(-code);
	return "success";
}

/* ---- helpers ------------------------------------------------------------ */

bool st_in_libxl(const struct stream_reader *r)
{
	return r->pos == STREAM_POS_LIBXL || r->pos == STREAM_POS_LIBXL_CKPT ||
	    r->pos == STREAM_POS_LIBXL_TAIL || r->pos == STREAM_POS_LIBXL_EXT;
}

static const char *cur_name(const struct stream_reader *r)
{
	return st_in_libxl(r) ? stream_libxl_type_name(r->rtype) : stream_libxc_type_name(r->rtype);
}

/* Fail the reader: message "offset N (what): detail". */
int st_fail(struct stream_reader *r, int code, const char *fmt, ...)
{
	char detail[384];
	const char *what;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	switch (r->stage) {
	case S_DETECT:    what = "stream start"; break;
	case S_XL_HDR:
	case S_XL_OPT:    what = "xl header"; break;
	case S_LIBXL_HDR: what = "libxl header"; break;
	case S_IHDR:      what = "libxc image header"; break;
	case S_DHDR:      what = "libxc domain header"; break;
	case S_RHDR:      what = st_in_libxl(r) ? "libxl record header" : "libxc record header"; break;
	default:          what = NULL; break;
	}
	if (what)
		remus_err_set(&r->err, code, "offset %" PRIu64 " (%s): %s", r->item_off, what, detail);
	else
		remus_err_set(&r->err, code, "record at offset %" PRIu64 " (%s %s, length %" PRIu32
		    "): %s", r->item_off, st_in_libxl(r) ? "libxl" : "libxc", cur_name(r), r->rlen, detail);
	r->pos = STREAM_POS_FAILED;
	return code;
}

void st_expect(struct stream_reader *r, int st, size_t want)
{
	r->stage = st;
	r->want = want;
	r->have = 0;
	r->item_off = r->off;
}

/* Grow the item buffer to hold `n` bytes (n is already limit-checked). */
int st_reserve(struct stream_reader *r, size_t n)
{
	uint8_t *p;
	size_t cap;

	if (n <= r->bufcap)
		return 0;
	cap = r->bufcap ? r->bufcap : 4096;
	while (cap < n)
		cap = cap > SIZE_MAX / 2 ? n : cap * 2;
	p = realloc(r->buf, cap);
	if (p == NULL) {
		remus_err_set(&r->err, -ENOMEM, "offset %" PRIu64 ": out of memory for %zu bytes",
		    r->item_off, n);
		r->pos = STREAM_POS_FAILED;
		return -ENOMEM;
	}
	r->buf = p;
	r->bufcap = cap;
	return 0;
}

void stream_reader_init(struct stream_reader *r, const struct stream_reader_cfg *cfg)
{
	memset(r, 0, sizeof(*r));
	if (cfg)
		r->cfg = *cfg;
	if (r->cfg.lim.max_body == 0)
		r->cfg.lim.max_body = STREAM_DEFAULT_MAX_BODY;
	if (r->cfg.lim.max_pages == 0)
		r->cfg.lim.max_pages = STREAM_DEFAULT_MAX_PAGES;
	r->pos = STREAM_POS_START;
	switch (r->cfg.start) {
	case STREAM_START_LIBXL:
		r->pos = STREAM_POS_LIBXL_HDR;
		st_expect(r, S_LIBXL_HDR, STREAM_LIBXL_HDR_SIZE);
		break;
	case STREAM_START_LIBXC:
		r->pos = STREAM_POS_LIBXC_IHDR;
		r->libxc_seen = true;
		r->bare_libxc = true;
		st_expect(r, S_IHDR, STREAM_LIBXC_IHDR_SIZE);
		break;
	default:
		st_expect(r, S_DETECT, 8);
		break;
	}
}

void stream_reader_free(struct stream_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->bufcap = 0;
}

size_t stream_reader_want(const struct stream_reader *r)
{
	if (r->pos == STREAM_POS_DONE || r->pos == STREAM_POS_FAILED)
		return 0;
	return r->want - r->have;
}

/* ---- headers ------------------------------------------------------------ */

static int do_detect(struct stream_reader *r, const uint8_t *p)
{
	int st;
	size_t n;

	if (memcmp(p, STREAM_XL_MAGIC, 8) == 0) {
		st = S_XL_HDR;
		n = STREAM_XL_HDR_SIZE;
		r->xl_file = true;
	} else if (get_be64(p) == STREAM_LIBXL_IDENT) {
		st = S_LIBXL_HDR;
		n = STREAM_LIBXL_HDR_SIZE;
		r->pos = STREAM_POS_LIBXL_HDR;
	} else if (get_be64(p) == STREAM_LIBXC_MARKER) {
		st = S_IHDR;
		n = STREAM_LIBXC_IHDR_SIZE;
		r->pos = STREAM_POS_LIBXC_IHDR;
		r->libxc_seen = true;
		r->bare_libxc = true;
	} else {
		return st_fail(r, STREAM_E_MAGIC, "not an xl save file, libxl or libxc stream "
		    "(first bytes %02x %02x %02x %02x %02x %02x %02x %02x)",
		    p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7]);
	}
	if (st_reserve(r, n) < 0)
		return -ENOMEM;
	if (p != r->buf)
		memcpy(r->buf, p, 8);
	r->stage = st;
	r->want = n;
	r->have = 8;  /* keep the bytes we looked at */
	return 0;
}

static int do_xl_hdr(struct stream_reader *r, const uint8_t *p)
{
	uint32_t order = get_le32(p + 32), mflags = get_le32(p + 36);
	uint32_t optlen = get_le32(p + 44);

	if (memcmp(p, STREAM_XL_MAGIC, STREAM_XL_MAGIC_LEN) != 0)
		return st_fail(r, STREAM_E_MAGIC, "bad xl save-file magic");
	if (order != STREAM_XL_BYTEORDER)
		return st_fail(r, order == 0x04030201u ? STREAM_E_ENDIAN : STREAM_E_MAGIC,
		    "byte-order marker 0x%08x, expected 0x%08x", order, STREAM_XL_BYTEORDER);
	if (mflags & ~(STREAM_XL_MFLAG_JSON | STREAM_XL_MFLAG_STREAMV2))
		return st_fail(r, STREAM_E_RESERVED, "unknown mandatory flags 0x%x", mflags);
	if (!(mflags & STREAM_XL_MFLAG_STREAMV2))
		return st_fail(r, STREAM_E_VERSION, "legacy (v1) stream: mandatory flag STREAMv2 not set");
	if (optlen > r->cfg.lim.max_body)
		return st_fail(r, STREAM_E_TOO_BIG, "optional data of %" PRIu32 " bytes over the limit %zu",
		    optlen, r->cfg.lim.max_body);
	r->xl_mflags = mflags;
	r->xl_oflags = get_le32(p + 40);
	r->stage = S_XL_OPT;
	r->want = optlen;
	r->have = 0;
	return 0;
}

static int do_xl_opt(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	size_t optlen = r->want;

	memset(out, 0, sizeof(*out));
	out->item = STREAM_ITEM_XL_HEADER;
	out->offset = r->item_off;
	out->length = (uint32_t)(STREAM_XL_HDR_SIZE + optlen);
	out->body = p;
	out->u.xl.mandatory = r->xl_mflags;
	out->u.xl.optional = r->xl_oflags;
	if ((r->xl_mflags & STREAM_XL_MFLAG_JSON) && optlen > 0) {
		uint32_t clen;
		if (optlen < 4 || (clen = get_le32(p)) > optlen - 4)
			return st_fail(r, STREAM_E_LENGTH, "JSON config length does not fit the "
			    "%zu bytes of optional data", optlen);
		out->u.xl.config = p + 4;
		out->u.xl.config_len = clen;
	}
	r->pos = STREAM_POS_LIBXL_HDR;
	st_expect(r, S_LIBXL_HDR, STREAM_LIBXL_HDR_SIZE);
	return 1;
}

static int do_libxl_hdr(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	uint32_t version = get_be32(p + 8), options = get_be32(p + 12);

	if (get_be64(p) != STREAM_LIBXL_IDENT)
		return st_fail(r, STREAM_E_MAGIC, "ident 0x%016" PRIx64 ", expected 0x%016llx (\"LibxlFmt\")",
		    get_be64(p), (unsigned long long)STREAM_LIBXL_IDENT);
	if (version != STREAM_LIBXL_VERSION)
		return st_fail(r, STREAM_E_VERSION, "version %" PRIu32 ", expected 2", version);
	if (options & ~(STREAM_LIBXL_OPT_BE | STREAM_LIBXL_OPT_LEGACY))
		return st_fail(r, STREAM_E_RESERVED, "reserved option bits 0x%x set",
		    options & ~(STREAM_LIBXL_OPT_BE | STREAM_LIBXL_OPT_LEGACY));
	if (options & STREAM_LIBXL_OPT_BE)
		return st_fail(r, STREAM_E_ENDIAN, "big-endian stream not supported");
	memset(out, 0, sizeof(*out));
	out->item = STREAM_ITEM_LIBXL_HEADER;
	out->offset = r->item_off;
	out->length = STREAM_LIBXL_HDR_SIZE;
	out->body = p;
	out->u.libxl_hdr.version = version;
	out->u.libxl_hdr.options = options;
	r->pos = STREAM_POS_LIBXL;
	st_expect(r, S_RHDR, 8);
	return 1;
}

static int do_ihdr(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	uint32_t ident = get_be32(p + 8), version = get_be32(p + 12);
	uint16_t options = get_be16(p + 16);

	if (get_be64(p) != STREAM_LIBXC_MARKER)
		return st_fail(r, STREAM_E_MAGIC, "marker 0x%016" PRIx64 ", expected all ones", get_be64(p));
	if (ident != STREAM_LIBXC_IDENT)
		return st_fail(r, STREAM_E_MAGIC, "ident 0x%08x, expected 0x%08x (\"XENF\")",
		    ident, STREAM_LIBXC_IDENT);
	if (version < 2 || version > 3)
		return st_fail(r, STREAM_E_VERSION, "version %" PRIu32 ", expected 2 or 3", version);
	if (options & ~STREAM_LIBXC_OPT_BE)
		return st_fail(r, STREAM_E_RESERVED, "reserved option bits 0x%x set",
		    options & ~STREAM_LIBXC_OPT_BE);
	if (get_be16(p + 18) != 0 || get_be32(p + 20) != 0)
		return st_fail(r, STREAM_E_RESERVED, "reserved fields 0x%04x:0x%08x not zero",
		    get_be16(p + 18), get_be32(p + 20));
	if (options & STREAM_LIBXC_OPT_BE)
		return st_fail(r, STREAM_E_ENDIAN, "big-endian stream not supported");
	memset(out, 0, sizeof(*out));
	out->item = STREAM_ITEM_LIBXC_IMAGE_HEADER;
	out->offset = r->item_off;
	out->length = STREAM_LIBXC_IHDR_SIZE;
	out->body = p;
	out->u.ihdr.version = version;
	out->u.ihdr.options = options;
	r->libxc_version = version;
	r->pos = STREAM_POS_LIBXC_DHDR;
	st_expect(r, S_DHDR, STREAM_LIBXC_DHDR_SIZE);
	return 1;
}

static int do_dhdr(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	uint32_t type = get_le32(p);
	uint16_t shift = get_le16(p + 4);

	if (type != STREAM_DOM_X86_PV && type != STREAM_DOM_X86_HVM)
		return st_fail(r, STREAM_E_DOMAIN, "unknown domain type %" PRIu32, type);
	if (shift != STREAM_PAGE_SHIFT)
		return st_fail(r, STREAM_E_DOMAIN, "page shift %u, expected 12", shift);
	if (get_le16(p + 6) != 0)
		return st_fail(r, STREAM_E_RESERVED, "reserved field 0x%04x not zero", get_le16(p + 6));
	memset(out, 0, sizeof(*out));
	out->item = STREAM_ITEM_LIBXC_DOMAIN_HEADER;
	out->offset = r->item_off;
	out->length = STREAM_LIBXC_DHDR_SIZE;
	out->body = p;
	out->u.dhdr.type = type;
	out->u.dhdr.page_shift = shift;
	out->u.dhdr.xen_major = get_le32(p + 8);
	out->u.dhdr.xen_minor = get_le32(p + 12);
	r->dom_type = type;
	r->pos = STREAM_POS_LIBXC;
	r->static_end = false;
	r->ck_have = 0;
	st_expect(r, S_RHDR, 8);
	return 1;
}


/* ---- the feed loop ------------------------------------------------------ */

/* The current item is complete in p[0..want): act on it. 1 = *out filled. */
static int complete(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	switch (r->stage) {
	case S_DETECT:    return do_detect(r, p);
	case S_XL_HDR:    return do_xl_hdr(r, p);
	case S_XL_OPT:    return do_xl_opt(r, p, out);
	case S_LIBXL_HDR: return do_libxl_hdr(r, p, out);
	case S_IHDR:      return do_ihdr(r, p, out);
	case S_DHDR:      return do_dhdr(r, p, out);
	case S_RHDR:      return st_rec_header(r, p);
	default:          return st_rec_body(r, p, out);
	}
}

int stream_reader_feed(struct stream_reader *r, const void *data, size_t len,
    size_t *used, struct stream_rec *out)
{
	static const uint8_t none[1];
	const uint8_t *in = data ? data : none;
	size_t u = 0;
	int rc;

	*used = 0;
	if (r->pos == STREAM_POS_FAILED)
		return r->err.code ? r->err.code : STREAM_E_FAILED;
	for (;;) {
		const uint8_t *p;
		size_t need = r->want - r->have;

		if (r->pos == STREAM_POS_DONE) {
			if (u < len) {
				r->item_off = r->off;
				r->stage = S_DETECT;
				remus_err_set(&r->err, STREAM_E_AFTER_END,
				    "offset %" PRIu64 " (after END): data after the final END",
				    r->off);
				r->pos = STREAM_POS_FAILED;
				*used = u;
				return STREAM_E_AFTER_END;
			}
			break;
		}
		if (need > 0 && u == len)
			break;
		if (r->have == 0 && len - u >= need) {
			/* whole item present in the caller's bytes: no copy */
			p = in + u;
		} else {
			size_t take = len - u < need ? len - u : need;
			if (st_reserve(r, r->want) < 0) {
				*used = u;
				return -ENOMEM;
			}
			memcpy(r->buf + r->have, in + u, take);
			r->have += take;
			u += take;
			r->off += take;
			if (r->have < r->want)
				break;
			p = r->buf;
			need = 0;
		}
		u += need;
		r->off += need;
		r->have = 0;
		rc = complete(r, p, out);
		if (rc != 0) {
			*used = u;
			if (rc > 0)
				r->records++;
			return rc;
		}
	}
	*used = u;
	return 0;
}

int stream_reader_eof(struct stream_reader *r)
{
	if (r->pos == STREAM_POS_FAILED)
		return r->err.code ? r->err.code : STREAM_E_FAILED;
	if (r->pos == STREAM_POS_DONE)
		return 0;
	if (r->stage == S_RBODY || r->have > 0 || (r->stage != S_RHDR && r->stage != S_DETECT)) {
		return st_fail(r, STREAM_E_TRUNCATED, "stream ends inside the item (%zu of %zu bytes)",
		    r->have, r->want);
	}
	if (r->stage == S_DETECT) {
		r->item_off = r->off;
		return st_fail(r, STREAM_E_TRUNCATED, "empty stream");
	}
	/* between records */
	r->item_off = r->off;
	if (!r->in_ckpt && r->checkpoints > 0 &&
	    (r->pos == STREAM_POS_LIBXC || r->pos == STREAM_POS_LIBXL_EXT))
		return STREAM_EOF_CHECKPOINT;
	r->stage = S_DETECT;  /* message without a record name */
	if (r->pos == STREAM_POS_LIBXL_CKPT)
		return st_fail(r, STREAM_E_INCOMPLETE, "stream ends inside checkpoint %" PRIu64
		    " (after CHECKPOINT, before CHECKPOINT_END)", r->checkpoints + 1);
	if (r->pos == STREAM_POS_LIBXC && r->checkpoints > 0)
		return st_fail(r, STREAM_E_INCOMPLETE, "stream ends inside checkpoint %" PRIu64
		    " (no CHECKPOINT)", r->checkpoints + 1);
	return st_fail(r, STREAM_E_INCOMPLETE, "stream ends before the final END");
}
