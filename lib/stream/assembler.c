/*
 * Checkpoint assembler: stage every record of checkpoint N, hand N over only
 * when it is complete (CHECKPOINT + CHECKPOINT_END, or the final END), and
 * drop a partial N on EOF, error or abort, saying why.  A checkpoint handed
 * over is whole; nothing of a partial one ever reaches the caller.
 */
#include "stream/stream.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/internal.h"
#include "util/checked.h"

/* Grow an array of `esize` elements to hold `n`; keeps *cap up to date. */
static int grow(void **arr, size_t *cap, size_t n, size_t esize)
{
	size_t ncap, bytes;
	void *p;

	if (n <= *cap)
		return 0;
	ncap = *cap ? *cap : 64;
	while (ncap < n) {
		if (!ck_mul_size(ncap, 2, &ncap))
			return -ENOMEM;
	}
	if (!ck_mul_size(ncap, esize, &bytes))
		return -ENOMEM;
	p = realloc(*arr, bytes);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Forget a checkpoint's content, keeping the big arrays for reuse. */
static void ckpt_clear(struct stream_ckpt *c)
{
	size_t i;

	for (i = 0; i < c->nblobs; i++)
		free(c->blobs[i].data);
	free(c->hvm_ctx);
	free(c->params);
	free(c->cpuid);
	free(c->msrs);
	c->hvm_ctx = NULL;
	c->params = NULL;
	c->cpuid = NULL;
	c->msrs = NULL;
	c->hvm_ctx_len = c->nparams = c->ncpuid = c->nmsrs = 0;
	c->npages = c->nnodata = c->nblobs = 0;
	c->seq = 0;
	c->final = c->has_headers = c->has_tsc = false;
	c->libxc_version = c->dom_type = c->xen_major = c->xen_minor = 0;
	memset(&c->tsc, 0, sizeof(c->tsc));
}

void stream_ckpt_free(struct stream_ckpt *c)
{
	ckpt_clear(c);
	free(c->pfns);
	free(c->pages);
	free(c->nodata);
	free(c->blobs);
	memset(c, 0, sizeof(*c));
}

const struct stream_blob *stream_ckpt_blob(const struct stream_ckpt *c, uint32_t type, uint32_t id)
{
	for (size_t i = 0; i < c->nblobs; i++)
		if (c->blobs[i].type == type && (id == UINT32_MAX || c->blobs[i].id == id))
			return &c->blobs[i];
	return NULL;
}

void stream_asm_init(struct stream_asm *a, const struct stream_asm_cfg *cfg)
{
	memset(a, 0, sizeof(*a));
	stream_reader_init(&a->rd, cfg ? &cfg->reader : NULL);
	a->max_ckpt_pages = cfg ? cfg->max_ckpt_pages : 0;
	a->first_pages = cfg ? cfg->first_pages : NULL;
	a->first_pages_arg = cfg ? cfg->first_pages_arg : NULL;
	a->delivered = cfg ? cfg->first_seq : 0;
}

void stream_asm_free(struct stream_asm *a)
{
	stream_reader_free(&a->rd);
	stream_ckpt_free(&a->staged);
	stream_ckpt_free(&a->ready);
	free(a->map);
	a->map = NULL;
}

/* Anything staged since the last hand-over? */
static bool staged_any(const struct stream_asm *a)
{
	const struct stream_ckpt *c = &a->staged;

	return c->npages || c->nnodata || c->has_tsc || c->hvm_ctx || c->nparams ||
	    c->ncpuid || c->nmsrs || c->nblobs || c->has_headers || a->rd.in_ckpt;
}

static void map_reset(struct stream_asm *a);

/* Drop the staged checkpoint; the message says which one and why. */
static int discard(struct stream_asm *a, int code, const char *why)
{
	uint64_t n = a->delivered + 1;
	bool any = staged_any(a);

	ckpt_clear(&a->staged);
	map_reset(a);
	a->failed = true;
	if (any) {
		a->discarded++;
		remus_err_set(&a->err, code, "checkpoint %" PRIu64 " discarded: %s", n, why);
	} else {
		remus_err_set(&a->err, code, "%s", why);
	}
	return code;
}

/* The staged checkpoint is complete: make it the ready one. */
static int deliver(struct stream_asm *a, bool final, struct stream_ckpt **out)
{
	struct stream_ckpt tmp = a->ready;

	a->staged.seq = ++a->delivered;
	a->staged.final = final;
	a->ready = a->staged;
	a->staged = tmp;        /* reuse the old arrays */
	ckpt_clear(&a->staged);
	map_reset(a);
	*out = &a->ready;
	return 1;
}

static int copy_bytes(uint8_t **dst, const uint8_t *src, size_t len)
{
	*dst = malloc(len ? len : 1);
	if (*dst == NULL)
		return -ENOMEM;
	if (len)
		memcpy(*dst, src, len);
	return 0;
}

static int add_blob(struct stream_asm *a, uint32_t type, uint32_t id, uint32_t index,
    const uint8_t *data, size_t len)
{
	struct stream_ckpt *c = &a->staged;
	struct stream_blob *b;

	if (grow((void **)&c->blobs, &c->cap_blobs, c->nblobs + 1, sizeof(*c->blobs)) < 0)
		return -ENOMEM;
	b = &c->blobs[c->nblobs];
	b->type = type;
	b->id = id;
	b->index = index;
	b->len = len;
	if (copy_bytes(&b->data, data, len) < 0)
		return -ENOMEM;
	c->nblobs++;
	return 0;
}

/* Grow the page arena (pfns + pages) to hold n pages; cap only moves when both grew. */
static int reserve_pages(struct stream_ckpt *c, size_t n)
{
	size_t cap = c->cap_pages ? c->cap_pages : 64, bytes;
	void *p;

	if (n <= c->cap_pages)
		return 0;
	while (cap < n)
		if (!ck_mul_size(cap, 2, &cap))
			return -ENOMEM;
	if (!ck_mul_size(cap, STREAM_PAGE_SIZE, &bytes))
		return -ENOMEM;
	if ((p = realloc(c->pfns, cap * sizeof(*c->pfns))) == NULL)
		return -ENOMEM;
	c->pfns = p;
	if ((p = realloc(c->pages, bytes)) == NULL)
		return -ENOMEM;
	c->pages = p;
	c->cap_pages = cap;
	return 0;
}

static size_t map_hash(uint64_t pfn, size_t mask)
{
	return (size_t)((pfn * 0x9e3779b97f4a7c15ULL) >> 17) & mask;
}

/* Slot of pfn in the staged arena, or SIZE_MAX. */
static size_t map_find(const struct stream_asm *a, uint64_t pfn)
{
	size_t mask = a->map_cap - 1, h = map_hash(pfn, mask);

	for (;; h = (h + 1) & mask) {
		const struct stream_pfn_slot *e = &a->map[h];
		if (e->gen != a->map_gen)
			return SIZE_MAX;
		if (e->pfn == pfn)
			return e->slot;
	}
}

static void map_put(struct stream_asm *a, uint64_t pfn, size_t slot)
{
	size_t mask = a->map_cap - 1, h = map_hash(pfn, mask);

	while (a->map[h].gen == a->map_gen)
		h = (h + 1) & mask;
	a->map[h] = (struct stream_pfn_slot){ pfn, (uint32_t)slot, a->map_gen };
}

/* Keep the pfn map at most half full for n entries (rehashing the staged pages). */
static int reserve_map(struct stream_asm *a, size_t n)
{
	size_t cap = a->map_cap ? a->map_cap : 1024;
	struct stream_pfn_slot *m;

	if (n <= a->map_cap / 2)
		return 0;
	while (cap / 2 < n)
		if (!ck_mul_size(cap, 2, &cap))
			return -ENOMEM;
	if (cap > UINT32_MAX || (m = calloc(cap, sizeof(*m))) == NULL)
		return -ENOMEM;
	free(a->map);
	a->map = m;
	a->map_cap = cap;
	a->map_gen = 1;
	for (size_t i = 0; i < a->staged.npages; i++)
		map_put(a, a->staged.pfns[i], i);
	return 0;
}

/* Forget the pfn map of the staged checkpoint (O(1): a new generation). */
static void map_reset(struct stream_asm *a)
{
	if (++a->map_gen == 0) {
		if (a->map)
			memset(a->map, 0, a->map_cap * sizeof(*a->map));
		a->map_gen = 1;
	}
}

/*
 * Stage PAGE_DATA: a pfn sent again in the same checkpoint (precopy rounds
 * of the first one) overwrites its earlier copy, so staging never holds
 * more than one page per pfn.
 */
static int stage_pages(struct stream_asm *a, const struct stream_page_data *pd)
{
	struct stream_ckpt *c = &a->staged;
	const uint8_t *src = pd->pages;
	uint32_t i;

	if (a->first_pages != NULL && a->delivered == 0) {
		return a->first_pages(a->first_pages_arg, pd);
	}
	if (reserve_pages(c, c->npages + pd->npages) < 0 ||
	    reserve_map(a, c->npages + pd->npages) < 0 ||
	    grow((void **)&c->nodata, &c->cap_nodata, c->nnodata + pd->count, sizeof(*c->nodata)) < 0)
		return -ENOMEM;
	for (i = 0; i < pd->count; i++) {
		uint64_t w = stream_pd_pfn(pd, i), pfn = w & STREAM_PFN_MASK;
		size_t slot;

		if (!stream_pfn_has_data(w)) {
			c->nodata[c->nnodata++] = w;
			continue;
		}
		slot = map_find(a, pfn);
		if (slot == SIZE_MAX) {
			if (a->max_ckpt_pages && c->npages + 1 > a->max_ckpt_pages)
				return STREAM_E_TOO_BIG;
			slot = c->npages++;
			c->pfns[slot] = pfn;
			map_put(a, pfn, slot);
		}
		memcpy(c->pages + slot * (size_t)STREAM_PAGE_SIZE, src, STREAM_PAGE_SIZE);
		src += STREAM_PAGE_SIZE;
	}
	return 0;
}

static int stage_params(struct stream_ckpt *c, const struct stream_rec *rec)
{
	uint32_t i, n = rec->u.hvm_params.count;

	c->params = malloc((n ? n : 1) * sizeof(*c->params));
	if (c->params == NULL)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		c->params[i] = stream_hvm_param_at(rec, i);
	c->nparams = n;
	return 0;
}

static int stage_policy(struct stream_ckpt *c, const struct stream_rec *rec)
{
	const uint8_t *p = rec->u.policy.entries;
	uint32_t i, n = rec->u.policy.count;

	if (rec->type == STREAM_XC_X86_CPUID_POLICY) {
		free(c->cpuid);
		c->cpuid = malloc(n * sizeof(*c->cpuid));
		if (c->cpuid == NULL)
			return -ENOMEM;
		for (i = 0; i < n; i++, p += 24)
			c->cpuid[i] = (struct stream_cpuid_leaf){ get_le32(p), get_le32(p + 4),
			    get_le32(p + 8), get_le32(p + 12), get_le32(p + 16), get_le32(p + 20) };
		c->ncpuid = n;
	} else {
		free(c->msrs);
		c->msrs = malloc(n * sizeof(*c->msrs));
		if (c->msrs == NULL)
			return -ENOMEM;
		for (i = 0; i < n; i++, p += 16)
			c->msrs[i] = (struct stream_msr_entry){ get_le32(p), get_le32(p + 4),
			    get_le64(p + 8) };
		c->nmsrs = n;
	}
	return 0;
}

/* Stage one libxc record; 1 if it completes a checkpoint. */
static int push_libxc(struct stream_asm *a, const struct stream_rec *rec)
{
	struct stream_ckpt *c = &a->staged;

	switch (rec->type) {
	case STREAM_XC_PAGE_DATA:
		return stage_pages(a, &rec->u.page_data);
	case STREAM_XC_X86_TSC_INFO:
		c->tsc = rec->u.tsc;
		c->has_tsc = true;
		return 0;
	case STREAM_XC_HVM_CONTEXT:
		free(c->hvm_ctx);
		c->hvm_ctx_len = rec->length;
		return copy_bytes(&c->hvm_ctx, rec->body, rec->length);
	case STREAM_XC_HVM_PARAMS:
		return stage_params(c, rec);
	case STREAM_XC_X86_CPUID_POLICY:
	case STREAM_XC_X86_MSR_POLICY:
		return stage_policy(c, rec);
	case STREAM_XC_CHECKPOINT:
		return a->rd.cfg.flat_checkpoints ? 1 : 0;
	case STREAM_XC_END:
		return a->rd.bare_libxc ? 1 : 0;
	case STREAM_XC_STATIC_DATA_END:
	case STREAM_XC_VERIFY:
		return 0;
	default:  /* PV records: kept in stream order */
		return add_blob(a, rec->type, 0, 0, rec->body, rec->length);
	}
}

/* Stage one libxl record; 1 if it completes a checkpoint. */
static int push_libxl(struct stream_asm *a, const struct stream_rec *rec)
{
	switch (rec->type) {
	case STREAM_XL_EMULATOR_XENSTORE_DATA:
	case STREAM_XL_EMULATOR_CONTEXT:
		return add_blob(a, rec->type, rec->u.emu.id, rec->u.emu.index,
		    rec->u.emu.data, rec->u.emu.len);
	case STREAM_XL_REMUS_XENSTORE:
		return add_blob(a, rec->type, 0, 0, rec->body, rec->length);
	case STREAM_XL_CHECKPOINT_STATE:
		return add_blob(a, rec->type, rec->u.checkpoint_state, 0, rec->body, rec->length);
	case STREAM_XL_CHECKPOINT_END:
		return 1;
	case STREAM_XL_END:
		/* always handed over (final), even when empty: the stream ended cleanly */
		return 1;
	default:
		return 0;
	}
}

int stream_asm_push(struct stream_asm *a, const struct stream_rec *rec, struct stream_ckpt **out)
{
	struct stream_ckpt *c = &a->staged;
	char why[REMUS_ERR_MSG_MAX];
	int rc = 0;

	if (a->failed)
		return a->err.code ? a->err.code : STREAM_E_FAILED;
	switch (rec->item) {
	case STREAM_ITEM_LIBXC_IMAGE_HEADER:
		a->libxc_version = rec->u.ihdr.version;
		c->has_headers = true;
		break;
	case STREAM_ITEM_LIBXC_DOMAIN_HEADER:
		a->dom_type = rec->u.dhdr.type;
		a->xen_major = rec->u.dhdr.xen_major;
		a->xen_minor = rec->u.dhdr.xen_minor;
		break;
	case STREAM_ITEM_LIBXC_RECORD:
		rc = push_libxc(a, rec);
		break;
	case STREAM_ITEM_LIBXL_RECORD:
		rc = push_libxl(a, rec);
		break;
	default:
		break;
	}
	if (rc < 0) {
		if (rc == STREAM_E_TOO_BIG)
			snprintf(why, sizeof(why), "record at offset %" PRIu64 ": more than %" PRIu64
			    " pages staged", rec->offset, a->max_ckpt_pages);
		else if (rc == STREAM_E_PFN_RANGE)
			snprintf(why, sizeof(why), "record at offset %" PRIu64 ": pfn beyond the "
			    "guest's memory", rec->offset);
		else
			snprintf(why, sizeof(why), "record at offset %" PRIu64 ": %s",
			    rec->offset, rc == -ENOMEM ? "out of memory" : stream_strerror(rc));
		return discard(a, rc, why);
	}
	if (rc == 1) {
		bool final = rec->type == STREAM_XC_END || rec->type == STREAM_XL_END;
		/* every checkpoint carries the stream's identity */
		c->libxc_version = a->libxc_version;
		c->dom_type = a->dom_type;
		c->xen_major = a->xen_major;
		c->xen_minor = a->xen_minor;
		return deliver(a, final, out);
	}
	return 0;
}

int stream_asm_feed(struct stream_asm *a, const void *data, size_t len,
    size_t *used, struct stream_ckpt **out)
{
	const uint8_t *p = data;
	size_t u = 0;
	int rc;

	*used = 0;
	if (a->failed)
		return a->err.code ? a->err.code : STREAM_E_FAILED;
	while (u < len) {
		struct stream_rec rec;
		size_t n;

		rc = stream_reader_feed(&a->rd, p + u, len - u, &n, &rec);
		u += n;
		*used = u;
		if (rc < 0)
			return discard(a, rc, a->rd.err.msg);
		if (rc == 0)
			break;
		rc = stream_asm_push(a, &rec, out);
		if (rc != 0)
			return rc;
	}
	return 0;
}

void stream_asm_take(struct stream_asm *a, struct stream_ckpt *dst)
{
	*dst = a->ready;
	memset(&a->ready, 0, sizeof(a->ready));
}

int stream_asm_eof(struct stream_asm *a)
{
	int rc;

	if (a->failed)
		return a->err.code ? a->err.code : STREAM_E_FAILED;
	rc = stream_reader_eof(&a->rd);
	if (rc < 0) {
		char why[REMUS_ERR_MSG_MAX + 16];
		snprintf(why, sizeof(why), "end of stream: %.*s", REMUS_ERR_MSG_MAX - 1, a->rd.err.msg);
		return discard(a, rc, why);
	}
	return rc;
}

int stream_asm_abort(struct stream_asm *a, const char *why)
{
	bool any = !a->failed && staged_any(a);
	char msg[REMUS_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "aborted at offset %" PRIu64 ": %.400s", a->rd.off, why);
	if (a->failed && a->err.code)
		return a->err.code;
	discard(a, STREAM_E_INCOMPLETE, msg);
	a->rd.pos = STREAM_POS_FAILED;
	return any ? STREAM_E_INCOMPLETE : 0;
}
