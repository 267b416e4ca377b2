/* Helpers shared by the stream unit tests: read a whole buffer in chunks. */
#ifndef REMUS_TESTS_STREAM_TESTLIB_H
#define REMUS_TESTS_STREAM_TESTLIB_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"

/* What a test remembers of one item (the body is copied). */
struct seen {
	int item;
	uint32_t type, length;
	uint64_t offset, checkpoint;
	uint8_t *body;
	size_t body_len;
};

struct seen_list {
	struct seen *v;
	size_t n, cap;
};

static inline void seen_free(struct seen_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].body);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static inline size_t item_body_len(const struct stream_rec *r)
{
	if (r->item == STREAM_ITEM_LIBXL_RECORD || r->item == STREAM_ITEM_LIBXC_RECORD)
		return r->length;
	if (r->item == STREAM_ITEM_XL_HEADER)
		return r->length - STREAM_XL_HDR_SIZE;
	return r->length;
}

/*
 * Feed `len` bytes in pieces of `chunk` bytes (1 = byte at a time) and
 * collect the items; returns the first error, else stream_reader_eof().
 */
static inline int read_all(struct stream_reader *r, const uint8_t *data, size_t len,
    size_t chunk, struct seen_list *out)
{
	size_t pos = 0;

	while (pos < len) {
		size_t piece = len - pos < chunk ? len - pos : chunk;
		const uint8_t *p = data + pos;
		pos += piece;
		while (piece > 0) {
			struct stream_rec rec;
			size_t used;
			int rc = stream_reader_feed(r, p, piece, &used, &rec);
			p += used;
			piece -= used;
			if (rc < 0)
				return rc;
			if (rc == 1 && out) {
				struct seen *s;
				if (out->n == out->cap) {
					out->cap = out->cap ? out->cap * 2 : 64;
					out->v = realloc(out->v, out->cap * sizeof(*out->v));
				}
				s = &out->v[out->n++];
				s->item = rec.item;
				s->type = rec.type;
				s->length = rec.length;
				s->offset = rec.offset;
				s->checkpoint = rec.checkpoint;
				s->body_len = item_body_len(&rec);
				s->body = malloc(s->body_len + 1);
				if (s->body_len)
					memcpy(s->body, rec.body, s->body_len);
			}
		}
	}
	return stream_reader_eof(r);
}

/* Read with a default reader; return the result code. */
static inline int read_code(const uint8_t *data, size_t len, const struct stream_reader_cfg *cfg,
    char *msg, size_t msglen)
{
	struct stream_reader r;
	int rc;

	stream_reader_init(&r, cfg);
	rc = read_all(&r, data, len, len ? len : 1, NULL);
	if (msg)
		snprintf(msg, msglen, "%s", r.err.msg);
	stream_reader_free(&r);
	return rc;
}

#endif
