/*
 * Stream writer: one function per header and record type, appending to a
 * stream_buf.  A writer that fails leaves the buffer as it was.
 */
#include "stream/stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stream/internal.h"

/* Record header for a body of `len` bytes. */
static int put_rhdr(struct stream_buf *b, uint32_t type, uint64_t len)
{
	uint8_t h[8];

	if (len > ST_MAX_RECORD_LEN)
		return -E2BIG;
	put_le32(h, type);
	put_le32(h + 4, (uint32_t)len);
	return stream_buf_append(b, h, 8);
}

static int put_pad(struct stream_buf *b, uint64_t len)
{
	return stream_buf_append_zero(b, st_padlen(len));
}

/* Append body bytes: copied, or referenced with STREAM_REF. */
static int put_bytes(struct stream_buf *b, const void *p, size_t len, unsigned flags)
{
	if (flags & STREAM_REF)
		return stream_buf_append_ref(b, p, len);
	return stream_buf_append(b, p, len);
}

/* A record with a small fixed prefix and an optional bulk tail. */
static int put_rec2(struct stream_buf *b, uint32_t type, const void *pre, size_t prelen,
    const void *tail, size_t taillen, unsigned flags)
{
	struct st_mark m = st_mark(b);
	uint64_t len = (uint64_t)prelen + taillen;
	int rc;

	if ((rc = put_rhdr(b, type, len)) < 0 ||
	    (rc = stream_buf_append(b, pre, prelen)) < 0 ||
	    (rc = put_bytes(b, tail, taillen, flags)) < 0 ||
	    (rc = put_pad(b, len)) < 0)
		return st_rollback(b, m, rc);
	return 0;
}

int stream_put_record(struct stream_buf *b, uint32_t type, const void *body, size_t len)
{
	return put_rec2(b, type, NULL, 0, body, len, 0);
}

/* ---- headers ---------------------------------------------------------- */

/* xl save-file header: magic, byteorder, flags, optional data (JSON config). */
int stream_put_xl_header(struct stream_buf *b, const void *json, size_t json_len)
{
	struct st_mark m = st_mark(b);
	uint8_t h[STREAM_XL_HDR_SIZE + 4];
	uint32_t mflags = STREAM_XL_MFLAG_STREAMV2;
	size_t n = STREAM_XL_HDR_SIZE;
	int rc;

	if (json_len > UINT32_MAX - 4)
		return -E2BIG;
	if (json != NULL)
		mflags |= STREAM_XL_MFLAG_JSON;
	memcpy(h, STREAM_XL_MAGIC, STREAM_XL_MAGIC_LEN);
	put_le32(h + 32, STREAM_XL_BYTEORDER);
	put_le32(h + 36, mflags);
	put_le32(h + 40, 0);
	put_le32(h + 44, json ? (uint32_t)(json_len + 4) : 0);
	if (json != NULL) {
		put_le32(h + 48, (uint32_t)json_len);
		n += 4;
	}
	if ((rc = stream_buf_append(b, h, n)) < 0 ||
	    (json && (rc = stream_buf_append(b, json, json_len)) < 0))
		return st_rollback(b, m, rc);
	return 0;
}

int stream_put_libxl_header(struct stream_buf *b)
{
	uint8_t h[STREAM_LIBXL_HDR_SIZE];

	put_be64(h, STREAM_LIBXL_IDENT);
	put_be32(h + 8, STREAM_LIBXL_VERSION);
	put_be32(h + 12, 0);
	return stream_buf_append(b, h, sizeof(h));
}

int stream_put_libxc_image_header(struct stream_buf *b)
{
	uint8_t h[STREAM_LIBXC_IHDR_SIZE];

	put_be64(h, STREAM_LIBXC_MARKER);
	put_be32(h + 8, STREAM_LIBXC_IDENT);
	put_be32(h + 12, STREAM_LIBXC_VERSION);
	put_be16(h + 16, 0);
	put_be16(h + 18, 0);
	put_be32(h + 20, 0);
	return stream_buf_append(b, h, sizeof(h));
}

int stream_put_libxc_domain_header(struct stream_buf *b, uint32_t dom_type,
    uint32_t xen_major, uint32_t xen_minor)
{
	uint8_t h[STREAM_LIBXC_DHDR_SIZE];

	if (dom_type != STREAM_DOM_X86_PV && dom_type != STREAM_DOM_X86_HVM)
		return -EINVAL;
	put_le32(h, dom_type);
	put_le16(h + 4, STREAM_PAGE_SHIFT);
	put_le16(h + 6, 0);
	put_le32(h + 8, xen_major);
	put_le32(h + 12, xen_minor);
	return stream_buf_append(b, h, sizeof(h));
}

/* ---- records with a body built piecewise ------------------------------- */

int stream_begin_record(struct stream_buf *b, uint32_t type)
{
	int rc;

	if (b->rec_open)
		return -EBUSY;
	b->rec_hdr = b->len;
	rc = put_rhdr(b, type, 0);
	if (rc < 0)
		return rc;
	b->rec_open = true;
	b->rec_start = b->total;
	return 0;
}

int stream_end_record(struct stream_buf *b)
{
	size_t len;
	int rc;

	if (!b->rec_open)
		return -EINVAL;
	len = b->total - b->rec_start;
	if (len > ST_MAX_RECORD_LEN)
		return -E2BIG;
	rc = put_pad(b, len);
	if (rc < 0)
		return rc;
	put_le32(b->data + b->rec_hdr + 4, (uint32_t)len);
	b->rec_open = false;
	return 0;
}

/* ---- libxl records ------------------------------------------------------ */

int stream_put_libxl_end(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XL_END, 0);
}

int stream_put_libxc_context(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XL_LIBXC_CONTEXT, 0);
}

int stream_put_checkpoint_end(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XL_CHECKPOINT_END, 0);
}

int stream_put_checkpoint_state(struct stream_buf *b, uint32_t control)
{
	uint8_t p[4];

	put_le32(p, control);
	return put_rec2(b, STREAM_XL_CHECKPOINT_STATE, p, 4, NULL, 0, 0);
}

/* EMULATOR_XENSTORE_DATA: emulator header then key\0value\0 pairs. */
int stream_put_emulator_xenstore_data(struct stream_buf *b, uint32_t emu_id,
    uint32_t index, const struct stream_kv *kv, size_t n)
{
	struct st_mark m = st_mark(b);
	uint8_t h[8];
	uint64_t len = 8;
	size_t i;
	int rc;

	for (i = 0; i < n; i++)
		len += strlen(kv[i].key) + 1 + strlen(kv[i].value) + 1;
	put_le32(h, emu_id);
	put_le32(h + 4, index);
	if ((rc = put_rhdr(b, STREAM_XL_EMULATOR_XENSTORE_DATA, len)) < 0 ||
	    (rc = stream_buf_append(b, h, 8)) < 0)
		return st_rollback(b, m, rc);
	for (i = 0; i < n; i++) {
		if ((rc = stream_buf_append(b, kv[i].key, strlen(kv[i].key) + 1)) < 0 ||
		    (rc = stream_buf_append(b, kv[i].value, strlen(kv[i].value) + 1)) < 0)
			return st_rollback(b, m, rc);
	}
	if ((rc = put_pad(b, len)) < 0)
		return st_rollback(b, m, rc);
	return 0;
}

int stream_put_emulator_context(struct stream_buf *b, uint32_t emu_id,
    uint32_t index, const void *blob, size_t len, unsigned flags)
{
	uint8_t h[8];

	put_le32(h, emu_id);
	put_le32(h + 4, index);
	return put_rec2(b, STREAM_XL_EMULATOR_CONTEXT, h, 8, blob, len, flags);
}

/* ---- libxc records ------------------------------------------------------ */

int stream_put_libxc_end(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XC_END, 0);
}

int stream_put_static_data_end(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XC_STATIC_DATA_END, 0);
}

int stream_put_checkpoint(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XC_CHECKPOINT, 0);
}

int stream_put_verify(struct stream_buf *b)
{
	return put_rhdr(b, STREAM_XC_VERIFY, 0);
}

/*
 * PAGE_DATA from pfn words and either page pointers or a RAM image.
 * Pages are copied, or referenced with STREAM_REF (no copy at all).
 */
static int page_data(struct stream_buf *b, const uint64_t *pfns,
    const void *const *pages, const uint8_t *ram, uint32_t count, unsigned flags)
{
	struct st_mark m = st_mark(b);
	uint8_t tmp[8 + 8 * 64];
	uint64_t len;
	uint32_t i, npages = 0;
	size_t t;
	int rc;

	if (count == 0 || count > STREAM_DEFAULT_MAX_PAGES)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		bool data = stream_pfn_has_data(pfns[i]);
		if ((pfns[i] & STREAM_PFN_RSVD_MASK) || !st_pfn_type_valid(pfns[i]))
			return -EINVAL;
		if (pages != NULL && data != (pages[i] != NULL))
			return -EINVAL;
		npages += data;
	}
	len = 8 + 8 * (uint64_t)count + (uint64_t)STREAM_PAGE_SIZE * npages;
	if ((rc = put_rhdr(b, STREAM_XC_PAGE_DATA, len)) < 0)
		return rc;
	/* count, reserved, pfn words, staged through a small local buffer */
	put_le32(tmp, count);
	put_le32(tmp + 4, 0);
	t = 8;
	for (i = 0; i < count; i++) {
		put_le64(tmp + t, pfns[i]);
		t += 8;
		if (t == sizeof(tmp) || i + 1 == count) {
			if ((rc = stream_buf_append(b, tmp, t)) < 0)
				return st_rollback(b, m, rc);
			t = 0;
		}
	}
	for (i = 0; i < count; i++) {
		const void *pg;
		if (!stream_pfn_has_data(pfns[i]))
			continue;
		pg = pages ? pages[i] : ram + (pfns[i] & STREAM_PFN_MASK) * STREAM_PAGE_SIZE;
		if ((rc = put_bytes(b, pg, STREAM_PAGE_SIZE, flags)) < 0)
			return st_rollback(b, m, rc);
	}
	return 0;  /* the body is a multiple of 8: no padding */
}

int stream_put_page_data(struct stream_buf *b, const uint64_t *pfns,
    const void *const *pages, uint32_t count, unsigned flags)
{
	if (pages == NULL)
		return -EINVAL;
	return page_data(b, pfns, pages, NULL, count, flags);
}

int stream_put_page_data_ram(struct stream_buf *b, const uint64_t *pfns,
    uint32_t count, const void *ram, unsigned flags)
{
	return page_data(b, pfns, NULL, ram, count, flags);
}

int stream_put_tsc_info(struct stream_buf *b, const struct stream_tsc_info *t)
{
	uint8_t p[24];

	put_le32(p, t->mode);
	put_le32(p + 4, t->khz);
	put_le64(p + 8, t->nsec);
	put_le32(p + 16, t->incarnation);
	put_le32(p + 20, 0);
	return put_rec2(b, STREAM_XC_X86_TSC_INFO, p, sizeof(p), NULL, 0, 0);
}

int stream_put_hvm_context(struct stream_buf *b, const void *blob, size_t len, unsigned flags)
{
	if (len == 0)
		return -EINVAL;
	return put_rec2(b, STREAM_XC_HVM_CONTEXT, NULL, 0, blob, len, flags);
}

/* Fixed-size entries encoded through a small local buffer. */
typedef void (*enc_fn)(uint8_t *dst, const void *src, size_t i);

static int put_array(struct stream_buf *b, uint32_t type, const uint8_t *pre, size_t prelen,
    const void *src, size_t n, size_t esize, enc_fn enc)
{
	struct st_mark m = st_mark(b);
	uint8_t tmp[24 * 32];
	uint64_t len = prelen + (uint64_t)n * esize;
	size_t i, t = 0;
	int rc;

	if ((rc = put_rhdr(b, type, len)) < 0)
		return rc;
	if ((rc = stream_buf_append(b, pre, prelen)) < 0)
		return st_rollback(b, m, rc);
	for (i = 0; i < n; i++) {
		enc(tmp + t, src, i);
		t += esize;
		if (t + esize > sizeof(tmp) || i + 1 == n) {
			if ((rc = stream_buf_append(b, tmp, t)) < 0)
				return st_rollback(b, m, rc);
			t = 0;
		}
	}
	if ((rc = put_pad(b, len)) < 0)
		return st_rollback(b, m, rc);
	return 0;
}

static void enc_param(uint8_t *d, const void *src, size_t i)
{
	const struct stream_hvm_param *p = (const struct stream_hvm_param *)src + i;
	put_le64(d, p->index);
	put_le64(d + 8, p->value);
}

int stream_put_hvm_params(struct stream_buf *b, const struct stream_hvm_param *p, uint32_t count)
{
	uint8_t pre[8];

	put_le32(pre, count);
	put_le32(pre + 4, 0);
	return put_array(b, STREAM_XC_HVM_PARAMS, pre, 8, p, count, 16, enc_param);
}

static void enc_cpuid(uint8_t *d, const void *src, size_t i)
{
	const struct stream_cpuid_leaf *l = (const struct stream_cpuid_leaf *)src + i;
	put_le32(d, l->leaf);
	put_le32(d + 4, l->subleaf);
	put_le32(d + 8, l->a);
	put_le32(d + 12, l->b);
	put_le32(d + 16, l->c);
	put_le32(d + 20, l->d);
}

int stream_put_cpuid_policy(struct stream_buf *b, const struct stream_cpuid_leaf *l, uint32_t n)
{
	if (n == 0)
		return -EINVAL;
	return put_array(b, STREAM_XC_X86_CPUID_POLICY, NULL, 0, l, n, 24, enc_cpuid);
}

static void enc_msr(uint8_t *d, const void *src, size_t i)
{
	const struct stream_msr_entry *e = (const struct stream_msr_entry *)src + i;
	put_le32(d, e->idx);
	put_le32(d + 4, e->flags);
	put_le64(d + 8, e->val);
}

int stream_put_msr_policy(struct stream_buf *b, const struct stream_msr_entry *m, uint32_t n)
{
	if (n == 0)
		return -EINVAL;
	return put_array(b, STREAM_XC_X86_MSR_POLICY, NULL, 0, m, n, 16, enc_msr);
}

static void enc_u64(uint8_t *d, const void *src, size_t i)
{
	put_le64(d, ((const uint64_t *)src)[i]);
}

int stream_put_dirty_pfn_list(struct stream_buf *b, const uint64_t *pfns, uint32_t n)
{
	return put_array(b, STREAM_XC_CHECKPOINT_DIRTY_PFN_LIST, NULL, 0, pfns, n, 8, enc_u64);
}

int stream_put_x86_pv_info(struct stream_buf *b, uint8_t guest_width, uint8_t pt_levels)
{
	uint8_t p[8] = { guest_width, pt_levels, 0, 0, 0, 0, 0, 0 };

	return put_rec2(b, STREAM_XC_X86_PV_INFO, p, 8, NULL, 0, 0);
}

int stream_put_x86_pv_p2m_frames(struct stream_buf *b, uint32_t start_pfn,
    uint32_t end_pfn, const uint64_t *frames, uint32_t n)
{
	uint8_t pre[8];

	put_le32(pre, start_pfn);
	put_le32(pre + 4, end_pfn);
	return put_array(b, STREAM_XC_X86_PV_P2M_FRAMES, pre, 8, frames, n, 8, enc_u64);
}

int stream_put_x86_pv_vcpu(struct stream_buf *b, uint32_t type, uint32_t vcpu_id,
    const void *ctx, size_t len)
{
	uint8_t pre[8];

	if (type != STREAM_XC_X86_PV_VCPU_BASIC && type != STREAM_XC_X86_PV_VCPU_EXTENDED &&
	    type != STREAM_XC_X86_PV_VCPU_XSAVE && type != STREAM_XC_X86_PV_VCPU_MSRS)
		return -EINVAL;
	put_le32(pre, vcpu_id);
	put_le32(pre + 4, 0);
	return put_rec2(b, type, pre, 8, ctx, len, 0);
}

int stream_put_shared_info(struct stream_buf *b, const void *page)
{
	return put_rec2(b, STREAM_XC_SHARED_INFO, NULL, 0, page, STREAM_PAGE_SIZE, 0);
}

/* ---- HVM save blob ------------------------------------------------------ */

int stream_hvm_put(struct stream_buf *b, uint16_t typecode, uint16_t instance,
    const void *data, uint32_t len)
{
	struct st_mark m = st_mark(b);
	uint8_t d[STREAM_HVM_DESC_SIZE];
	int rc;

	put_le16(d, typecode);
	put_le16(d + 2, instance);
	put_le32(d + 4, len);
	if ((rc = stream_buf_append(b, d, sizeof(d))) < 0 ||
	    (rc = stream_buf_append(b, data, len)) < 0)
		return st_rollback(b, m, rc);
	return 0;
}

int stream_hvm_put_end(struct stream_buf *b)
{
	return stream_hvm_put(b, 0, 0, NULL, 0);
}
