/* Helpers shared by the lib/stream sources (not installed). */
#ifndef REMUS_STREAM_INTERNAL_H
#define REMUS_STREAM_INTERNAL_H

#include <stdint.h>

#include "stream/stream.h"


/* Padding after a body of `len` bytes. */
static inline size_t st_padlen(uint64_t len)
{
	return (size_t)((8 - (len & 7)) & 7);
}

/* Largest body a record may carry (length + padding fits in u32). */
#define ST_MAX_RECORD_LEN (UINT32_MAX - 7u)

/* Data-carrying pfn type valid? Types 5-8 are invalid (as Xen's checker). */
static inline int st_pfn_type_valid(uint64_t w)
{
	uint32_t t = STREAM_PFN_TYPE(w);
	return !(t >= 5 && t <= 8);
}

/* Snapshot of a buffer's end, to roll back a half-written record. */
struct st_mark {
	size_t len, nsegs, total, lastlen;
};

static inline struct st_mark st_mark(const struct stream_buf *b)
{
	struct st_mark m = { b->len, b->nsegs, b->total, 0 };
	if (b->nsegs > 0)
		m.lastlen = b->segs[b->nsegs - 1].len;
	return m;
}

static inline int st_rollback(struct stream_buf *b, struct st_mark m, int rc)
{
	b->len = m.len;
	b->nsegs = m.nsegs;
	b->total = m.total;
	if (m.nsegs > 0)
		b->segs[m.nsegs - 1].len = m.lastlen;
	return rc;
}

/* What the reader is collecting. */
enum st_stage {
	S_DETECT,     /* first 8 bytes, to detect the kind of stream */
	S_XL_HDR,     /* 48-byte xl header */
	S_XL_OPT,     /* its optional data */
	S_LIBXL_HDR,
	S_IHDR,
	S_DHDR,
	S_RHDR,       /* 8-byte record header */
	S_RBODY,      /* record body + padding */
};

/* Records a checkpoint must carry (HVM), tracked in r->ck_have. */
#define HAVE_TSC     (1u << 0)
#define HAVE_HVMCTX  (1u << 1)
#define HAVE_PARAMS  (1u << 2)
#define HAVE_ALL_HVM (HAVE_TSC | HAVE_HVMCTX | HAVE_PARAMS)

/* reader.c internals shared with records.c */
int st_fail(struct stream_reader *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
bool st_in_libxl(const struct stream_reader *r);
void st_expect(struct stream_reader *r, int stage, size_t want);
int st_reserve(struct stream_reader *r, size_t n);
/* records.c: a record header was read / a record body is complete */
int st_rec_header(struct stream_reader *r, const uint8_t *p);
int st_rec_body(struct stream_reader *r, const uint8_t *p, struct stream_rec *out);

#endif
