/*
 * Per-record rules of the reader: which types exist in each layer, their
 * body lengths, where they may appear (ordering), and body validation.
 * Header-time checks run before the body is buffered, so a bad length or a
 * misplaced record costs no allocation.
 */
#include "stream/stream.h"

#include <inttypes.h>
#include <string.h>

#include "stream/internal.h"

/* ---- header-time checks -------------------------------------------------- */

static bool known_type(const struct stream_reader *r, bool libxl, uint32_t t)
{
	if (libxl)
		return t <= STREAM_XL_CHECKPOINT_STATE ||
		    (t == STREAM_XL_REMUS_XENSTORE && r->cfg.remus_xenstore);
	return t < STREAM_XC_TYPE_COUNT;
}

/* Body length rule of a type; returns NULL if `len` is fine. */
static const char *length_rule(bool libxl, uint32_t t, uint32_t len)
{
	if (libxl) {
		switch (t) {
		case STREAM_XL_END:
		case STREAM_XL_LIBXC_CONTEXT:
		case STREAM_XL_CHECKPOINT_END:
			return len == 0 ? NULL : "must be empty";
		case STREAM_XL_CHECKPOINT_STATE:
			return len == 4 ? NULL : "must be 4 bytes";
		default:  /* EMULATOR_*, REMUS_XENSTORE */
			return len >= 8 ? NULL : "must be at least 8 bytes";
		}
	}
	switch (t) {
	case STREAM_XC_END:
	case STREAM_XC_VERIFY:
	case STREAM_XC_CHECKPOINT:
	case STREAM_XC_STATIC_DATA_END:
		return len == 0 ? NULL : "must be empty";
	case STREAM_XC_X86_PV_INFO:
		return len == 8 ? NULL : "must be 8 bytes";
	case STREAM_XC_X86_PV_P2M_FRAMES:
		return len >= 8 && len % 8 == 0 ? NULL : "must be a multiple of 8, at least 8";
	case STREAM_XC_X86_PV_VCPU_BASIC:
	case STREAM_XC_X86_PV_VCPU_EXTENDED:
	case STREAM_XC_X86_PV_VCPU_XSAVE:
	case STREAM_XC_X86_PV_VCPU_MSRS:
		return len >= 8 ? NULL : "must be at least 8 bytes";
	case STREAM_XC_SHARED_INFO:
		return len == STREAM_PAGE_SIZE ? NULL : "must be 4096 bytes";
	case STREAM_XC_X86_TSC_INFO:
		return len == 24 ? NULL : "must be 24 bytes";
	case STREAM_XC_HVM_CONTEXT:
		return len > 0 ? NULL : "must not be empty";
	case STREAM_XC_HVM_PARAMS:
		return len >= 8 ? NULL : "must be at least 8 bytes";
	case STREAM_XC_X86_CPUID_POLICY:
		return len >= 24 && len % 24 == 0 ? NULL : "must be a non-zero multiple of 24";
	case STREAM_XC_X86_MSR_POLICY:
		return len >= 16 && len % 16 == 0 ? NULL : "must be a non-zero multiple of 16";
	case STREAM_XC_CHECKPOINT_DIRTY_PFN_LIST:
		return len % 8 == 0 ? NULL : "must be a multiple of 8";
	default:
		return NULL;  /* PAGE_DATA: checked on its own */
	}
}

static bool is_pv_only(uint32_t t)
{
	return (t >= STREAM_XC_X86_PV_INFO && t <= STREAM_XC_SHARED_INFO) ||
	    t == STREAM_XC_X86_PV_VCPU_MSRS;
}

static bool is_static(uint32_t t)
{
	return t == STREAM_XC_X86_CPUID_POLICY || t == STREAM_XC_X86_MSR_POLICY ||
	    t == STREAM_XC_X86_PV_INFO;
}

/* Where may libxl record `t` appear?  0 or STREAM_E_ORDER. */
static int order_libxl(struct stream_reader *r, uint32_t t)
{
	const char *n = stream_libxl_type_name(t);

	if (t == STREAM_XL_CHECKPOINT_STATE)
		return 0;
	if (t == STREAM_XL_LIBXC_CONTEXT && r->libxc_seen)
		return st_fail(r, STREAM_E_ORDER, "second LIBXC_CONTEXT");
	switch (r->pos) {
	case STREAM_POS_LIBXL:
		if (t == STREAM_XL_LIBXC_CONTEXT)
			return 0;
		return st_fail(r, STREAM_E_ORDER, "%s before LIBXC_CONTEXT", n);
	case STREAM_POS_LIBXL_CKPT:
		if (t == STREAM_XL_END)
			return st_fail(r, STREAM_E_ORDER, "END inside checkpoint %" PRIu64
			    ": CHECKPOINT_END expected first", r->checkpoints + 1);
		return 0;
	case STREAM_POS_LIBXL_TAIL:
		/* flat layout: the libxl records of every checkpoint follow the libxc END */
		if (t == STREAM_XL_CHECKPOINT_END && !r->cfg.flat_checkpoints)
			return st_fail(r, STREAM_E_ORDER, "CHECKPOINT_END after the libxc END");
		return 0;
	default:  /* LIBXL_EXT */
		return 0;
	}
}

/* Where may libxc record `t` appear?  0 or STREAM_E_ORDER. */
static int order_libxc(struct stream_reader *r, uint32_t t)
{
	const char *n = stream_libxc_type_name(t);
	bool hvm = r->dom_type == STREAM_DOM_X86_HVM;
	unsigned bit = 0;

	if (t == STREAM_XC_CHECKPOINT_DIRTY_PFN_LIST)
		return st_fail(r, STREAM_E_ORDER, "CHECKPOINT_DIRTY_PFN_LIST belongs to the COLO "
		    "back channel, not to a forward stream");
	if (hvm && is_pv_only(t))
		return st_fail(r, STREAM_E_ORDER, "PV record in an HVM stream");
	if (!hvm && (t == STREAM_XC_HVM_CONTEXT || t == STREAM_XC_HVM_PARAMS))
		return st_fail(r, STREAM_E_ORDER, "HVM record in a PV stream");
	if (r->libxc_version < 3) {
		if (t == STREAM_XC_STATIC_DATA_END || t == STREAM_XC_X86_CPUID_POLICY ||
		    t == STREAM_XC_X86_MSR_POLICY)
			return st_fail(r, STREAM_E_ORDER, "%s in a version 2 stream", n);
	} else if (!r->static_end) {
		if (!is_static(t) && t != STREAM_XC_STATIC_DATA_END)
			return st_fail(r, STREAM_E_ORDER, "%s before STATIC_DATA_END", n);
	} else if (is_static(t) || t == STREAM_XC_STATIC_DATA_END) {
		return st_fail(r, STREAM_E_ORDER, "%s after STATIC_DATA_END", n);
	}
	if (t == STREAM_XC_X86_TSC_INFO)
		bit = HAVE_TSC;
	else if (t == STREAM_XC_HVM_CONTEXT)
		bit = HAVE_HVMCTX;
	else if (t == STREAM_XC_HVM_PARAMS)
		bit = HAVE_PARAMS;
	if (bit && (r->ck_have & bit))
		return st_fail(r, STREAM_E_ORDER, "second %s in checkpoint %" PRIu64,
		    n, r->checkpoints + 1);
	/* A checkpoint (or the stream) ends: is its state complete? */
	if (hvm && (t == STREAM_XC_CHECKPOINT ||
	    (t == STREAM_XC_END && (r->in_ckpt || r->checkpoints == 0))) &&
	    (r->ck_have & HAVE_ALL_HVM) != HAVE_ALL_HVM) {
		unsigned miss = HAVE_ALL_HVM & ~r->ck_have;
		return st_fail(r, STREAM_E_MISSING, "checkpoint %" PRIu64 " ends without %s",
		    r->checkpoints + 1, (miss & HAVE_TSC) ? "X86_TSC_INFO" :
		    (miss & HAVE_HVMCTX) ? "HVM_CONTEXT" : "HVM_PARAMS");
	}
	return 0;
}

/* An 8-byte record header was read: check it and expect the body. */
int st_rec_header(struct stream_reader *r, const uint8_t *p)
{
	bool libxl = st_in_libxl(r);
	const char *why;
	uint64_t max;
	int rc;

	r->rtype = get_le32(p);
	r->rlen = get_le32(p + 4);
	r->stage = S_RBODY;   /* errors below name the record */
	if (r->rlen > ST_MAX_RECORD_LEN)
		return st_fail(r, STREAM_E_OVERFLOW, "length %" PRIu32 " plus padding overflows 32 bits",
		    r->rlen);
	if (!libxl && r->rtype == STREAM_XC_TOOLSTACK)
		return st_fail(r, STREAM_E_OBSOLETE, "obsolete TOOLSTACK record");
	if (!known_type(r, libxl, r->rtype))
		return st_fail(r, STREAM_E_UNKNOWN_TYPE, "unknown %s record type 0x%" PRIx32,
		    libxl ? "libxl" : "libxc", r->rtype);
	if ((why = length_rule(libxl, r->rtype, r->rlen)) != NULL)
		return st_fail(r, STREAM_E_LENGTH, "body %s", why);
	if (!libxl && r->rtype == STREAM_XC_PAGE_DATA) {
		max = 8 + (uint64_t)r->cfg.lim.max_pages * (8 + STREAM_PAGE_SIZE);
		if (r->rlen < 16)
			return st_fail(r, STREAM_E_PAGE_COUNT, "PAGE_DATA without any pfn");
		if (r->rlen > max)
			return st_fail(r, STREAM_E_TOO_BIG, "over the PAGE_DATA limit of %" PRIu64
			    " bytes (%" PRIu32 " pages)", max, r->cfg.lim.max_pages);
	} else if (r->rlen > r->cfg.lim.max_body) {
		return st_fail(r, STREAM_E_TOO_BIG, "over the record limit of %zu bytes",
		    r->cfg.lim.max_body);
	}
	rc = libxl ? order_libxl(r, r->rtype) : order_libxc(r, r->rtype);
	if (rc < 0)
		return rc;
	r->stage = S_RBODY;
	r->want = (size_t)r->rlen + st_padlen(r->rlen);
	r->have = 0;
	return 0;
}

/* ---- body validation ------------------------------------------------------ */

static int body_page_data(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	uint32_t count = get_le32(p), i, npages = 0;
	uint64_t need;

	if (get_le32(p + 4) != 0)
		return st_fail(r, STREAM_E_RESERVED, "reserved field 0x%08x not zero", get_le32(p + 4));
	if (count == 0)
		return st_fail(r, STREAM_E_PAGE_COUNT, "count 0");
	if (count > r->cfg.lim.max_pages)
		return st_fail(r, STREAM_E_PAGE_LIMIT, "count %" PRIu32 " over the limit %" PRIu32,
		    count, r->cfg.lim.max_pages);
	if (8 + 8 * (uint64_t)count > r->rlen)
		return st_fail(r, STREAM_E_PAGE_COUNT, "count %" PRIu32 " needs %" PRIu64
		    " bytes of pfns, body has %" PRIu32, count, 8 * (uint64_t)count, r->rlen - 8);
	for (i = 0; i < count; i++) {
		uint64_t w = get_le64(p + 8 + 8 * (size_t)i);
		if (w & STREAM_PFN_RSVD_MASK)
			return st_fail(r, STREAM_E_PFN_RESERVED, "pfn[%" PRIu32 "] 0x%016" PRIx64
			    " has reserved bits 52-59 set", i, w);
		if (!st_pfn_type_valid(w))
			return st_fail(r, STREAM_E_PFN_TYPE, "pfn[%" PRIu32 "] 0x%016" PRIx64
			    " has invalid type %" PRIu32, i, w, STREAM_PFN_TYPE(w));
		npages += stream_pfn_has_data(w);
	}
	need = 8 + 8 * (uint64_t)count + (uint64_t)npages * STREAM_PAGE_SIZE;
	if (need != r->rlen)
		return st_fail(r, STREAM_E_PAGE_COUNT, "%" PRIu32 " pfns with %" PRIu32
		    " data pages need %" PRIu64 " bytes, body has %" PRIu32, count, npages, need, r->rlen);
	out->u.page_data.count = count;
	out->u.page_data.npages = npages;
	out->u.page_data.pfns = p + 8;
	out->u.page_data.pages = p + 8 + 8 * (size_t)count;
	return 0;
}

static int body_emulator(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	uint32_t id = get_le32(p);

	if (id > STREAM_EMU_QEMU_UPSTREAM)
		return st_fail(r, STREAM_E_EMULATOR, "unknown emulator id %" PRIu32, id);
	out->u.emu.id = id;
	out->u.emu.index = get_le32(p + 4);
	out->u.emu.data = p + 8;
	out->u.emu.len = r->rlen - 8;
	if (r->rtype == STREAM_XL_EMULATOR_XENSTORE_DATA && r->rlen > 8) {
		/* key\0value\0 pairs: NUL-terminated, an even number of strings */
		const uint8_t *d = p + 8;
		uint32_t n = r->rlen - 8, i, nuls = 0;
		if (d[n - 1] != 0)
			return st_fail(r, STREAM_E_XENSTORE, "key/value data not NUL-terminated");
		for (i = 0; i < n; i++)
			nuls += d[i] == 0;
		if (nuls % 2)
			return st_fail(r, STREAM_E_XENSTORE, "odd number (%" PRIu32 ") of key/value "
			    "strings", nuls);
	}
	return 0;
}

/* Validate a libxc record body; fill out->u. */
static int body_libxc(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	struct stream_hvm_iter it;
	struct stream_hvm_entry e;
	struct remus_err herr = { 0 };
	int rc;

	switch (r->rtype) {
	case STREAM_XC_PAGE_DATA:
		return body_page_data(r, p, out);
	case STREAM_XC_X86_TSC_INFO:
		if (get_le32(p + 20) != 0)
			return st_fail(r, STREAM_E_RESERVED, "reserved field 0x%08x not zero",
			    get_le32(p + 20));
		out->u.tsc.mode = get_le32(p);
		out->u.tsc.khz = get_le32(p + 4);
		out->u.tsc.nsec = get_le64(p + 8);
		out->u.tsc.incarnation = get_le32(p + 16);
		return 0;
	case STREAM_XC_HVM_PARAMS:
		if (get_le32(p + 4) != 0)
			return st_fail(r, STREAM_E_RESERVED, "reserved field 0x%08x not zero",
			    get_le32(p + 4));
		out->u.hvm_params.count = get_le32(p);
		if (8 + 16 * (uint64_t)out->u.hvm_params.count != r->rlen)
			return st_fail(r, STREAM_E_LENGTH, "count %" PRIu32 " needs %" PRIu64 " bytes",
			    out->u.hvm_params.count, 8 + 16 * (uint64_t)out->u.hvm_params.count);
		out->u.hvm_params.entries = p + 8;
		return 0;
	case STREAM_XC_HVM_CONTEXT:
		stream_hvm_iter_init(&it, p, r->rlen);
		while ((rc = stream_hvm_next(&it, &e, &herr)) > 0)
			;
		if (rc < 0)
			return st_fail(r, STREAM_E_HVM_BLOB, "%s", herr.msg);
		return 0;
	case STREAM_XC_X86_CPUID_POLICY:
		out->u.policy.count = r->rlen / 24;
		out->u.policy.entries = p;
		return 0;
	case STREAM_XC_X86_MSR_POLICY:
		out->u.policy.count = r->rlen / 16;
		out->u.policy.entries = p;
		return 0;
	case STREAM_XC_X86_PV_INFO:
		if ((p[0] != 4 && p[0] != 8) || (p[1] != 3 && p[1] != 4))
			return st_fail(r, STREAM_E_DOMAIN, "guest width %u / %u page-table levels", p[0], p[1]);
		if (get_le16(p + 2) != 0 || get_le32(p + 4) != 0)
			return st_fail(r, STREAM_E_RESERVED, "reserved fields not zero");
		return 0;
	case STREAM_XC_X86_PV_VCPU_BASIC:
	case STREAM_XC_X86_PV_VCPU_EXTENDED:
	case STREAM_XC_X86_PV_VCPU_XSAVE:
	case STREAM_XC_X86_PV_VCPU_MSRS:
		if (get_le32(p + 4) != 0)
			return st_fail(r, STREAM_E_RESERVED, "reserved field 0x%08x not zero",
			    get_le32(p + 4));
		out->u.pv_vcpu.vcpu_id = get_le32(p);
		out->u.pv_vcpu.data = p + 8;
		out->u.pv_vcpu.len = r->rlen - 8;
		return 0;
	default:
		return 0;
	}
}

/* A record is valid: advance the layer/checkpoint state. */
static void transition(struct stream_reader *r, bool libxl)
{
	uint32_t t = r->rtype;

	if (libxl) {
		if (r->pos != STREAM_POS_LIBXL)
			r->in_ckpt = true;
		switch (t) {
		case STREAM_XL_LIBXC_CONTEXT:
			r->libxc_seen = true;
			r->in_ckpt = true;
			if (r->cfg.libxc_external) {
				r->pos = STREAM_POS_LIBXL_EXT;
			} else {
				r->pos = STREAM_POS_LIBXC_IHDR;
				st_expect(r, S_IHDR, STREAM_LIBXC_IHDR_SIZE);
				return;
			}
			break;
		case STREAM_XL_CHECKPOINT_END:
			if (r->pos != STREAM_POS_LIBXL_TAIL)  /* flat: counted at CHECKPOINT */
				r->checkpoints++;
			r->in_ckpt = false;
			r->ck_have = 0;
			if (r->pos == STREAM_POS_LIBXL_CKPT)
				r->pos = STREAM_POS_LIBXC;
			break;
		case STREAM_XL_END:
			r->pos = STREAM_POS_DONE;
			break;
		}
		st_expect(r, S_RHDR, 8);
		return;
	}
	r->in_ckpt = true;
	switch (t) {
	case STREAM_XC_STATIC_DATA_END:
		r->static_end = true;
		break;
	case STREAM_XC_X86_TSC_INFO:
		r->ck_have |= HAVE_TSC;
		break;
	case STREAM_XC_HVM_CONTEXT:
		r->ck_have |= HAVE_HVMCTX;
		break;
	case STREAM_XC_HVM_PARAMS:
		r->ck_have |= HAVE_PARAMS;
		break;
	case STREAM_XC_CHECKPOINT:
		r->ck_have = 0;
		if (r->cfg.flat_checkpoints) {
			r->checkpoints++;
			r->in_ckpt = false;
		} else {
			r->pos = STREAM_POS_LIBXL_CKPT;
		}
		break;
	case STREAM_XC_END:
		r->pos = r->bare_libxc ? STREAM_POS_DONE : STREAM_POS_LIBXL_TAIL;
		break;
	}
	st_expect(r, S_RHDR, 8);
}

/* The record body (plus padding) is in p: validate it and hand it out. */
int st_rec_body(struct stream_reader *r, const uint8_t *p, struct stream_rec *out)
{
	bool libxl = st_in_libxl(r);
	size_t i, pad = st_padlen(r->rlen);
	int rc = 0;

	for (i = 0; i < pad; i++) {
		if (p[r->rlen + i] != 0)
			return st_fail(r, STREAM_E_PADDING, "padding byte %zu is 0x%02x", i, p[r->rlen + i]);
	}
	memset(out, 0, sizeof(*out));
	out->item = libxl ? STREAM_ITEM_LIBXL_RECORD : STREAM_ITEM_LIBXC_RECORD;
	out->type = r->rtype;
	out->length = r->rlen;
	out->offset = r->item_off;
	out->checkpoint = r->checkpoints + 1;
	out->body = p;
	if (libxl) {
		switch (r->rtype) {
		case STREAM_XL_EMULATOR_XENSTORE_DATA:
		case STREAM_XL_EMULATOR_CONTEXT:
			rc = body_emulator(r, p, out);
			break;
		case STREAM_XL_CHECKPOINT_STATE:
			out->u.checkpoint_state = get_le32(p);
			break;
		case STREAM_XL_REMUS_XENSTORE: {
			struct stream_xs_iter it;
			struct stream_xs_entry e;
			struct remus_err xerr = { 0 };
			rc = stream_xs_iter_init(&it, p, r->rlen, &xerr);
			while (rc == 0 && (rc = stream_xs_next(&it, &e, &xerr)) > 0)
				rc = 0;
			if (rc < 0)
				return st_fail(r, STREAM_E_XENSTORE, "%s", xerr.msg);
			break;
		}
		}
	} else {
		rc = body_libxc(r, p, out);
	}
	if (rc < 0)
		return rc;
	transition(r, libxl);
	return 1;
}
