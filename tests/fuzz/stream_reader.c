/*
 * Fuzz target for the stream reader and the checkpoint assembler.
 *
 * Input: byte 0 selects the reader configuration, byte 1 the piece size,
 * the rest is the stream.  Checks, beyond "no crash, no leak, no UB":
 *   - reading in pieces gives exactly the outcome of reading in one piece
 *     (same items, same result code, same error message);
 *   - the assembler hands over checkpoints in sequence, never after an
 *     error, and every handed-over blob parses with its iterator;
 *   - xl's header check (stream_xl_header_take, what both the Xen driver
 *     and the engine's stream receiver use on a peer's header): what it
 *     accepts is one NUL-terminated text inside the header, and every
 *     shorter prefix only asks for more bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stream/stream.h"

static void cfg_from(uint8_t sel, struct stream_reader_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->start = (enum stream_start)(sel & 3) % 3;
	cfg->flat_checkpoints = sel & 4;
	cfg->libxc_external = sel & 8;
	cfg->remus_xenstore = sel & 16;
	/* small limits, so that the limit paths are reachable */
	cfg->lim.max_body = (sel & 32) ? 4096 : 0;
	cfg->lim.max_pages = (sel & 64) ? 2 : 0;
}

/* Read everything; returns the final code, counts items. */
static int read_stream(const struct stream_reader_cfg *cfg, const uint8_t *d, size_t len,
    size_t piece, uint64_t *items, char *msg, size_t msglen)
{
	struct stream_reader r;
	size_t pos = 0;
	int rc = 0;

	stream_reader_init(&r, cfg);
	*items = 0;
	while (pos < len) {
		size_t n = len - pos < piece ? len - pos : piece, used;
		struct stream_rec rec;
		rc = stream_reader_feed(&r, d + pos, n, &used, &rec);
		if (used > n)
			abort();
		pos += used;
		if (rc < 0)
			break;
		*items += rc == 1;
		if (rc == 0 && used != n)
			abort();   /* 0 means all input consumed */
	}
	if (rc >= 0)
		rc = stream_reader_eof(&r);
	snprintf(msg, msglen, "%s", r.err.msg);
	stream_reader_free(&r);
	return rc;
}

static void check_ckpt(const struct stream_ckpt *c)
{
	for (size_t i = 0; i < c->nblobs; i++) {
		const struct stream_blob *b = &c->blobs[i];
		if (b->type == STREAM_XL_REMUS_XENSTORE) {
			struct stream_xs_iter it;
			struct stream_xs_entry e;
			int rc;
			if (stream_xs_iter_init(&it, b->data, b->len, NULL) < 0)
				abort();   /* the reader validated it */
			while ((rc = stream_xs_next(&it, &e, NULL)) > 0)
				if (e.path_len == 0)
					abort();
			if (rc < 0)
				abort();
		}
	}
	if (c->hvm_ctx) {
		struct stream_hvm_iter it;
		struct stream_hvm_entry e;
		int rc;
		stream_hvm_iter_init(&it, c->hvm_ctx, c->hvm_ctx_len);
		while ((rc = stream_hvm_next(&it, &e, NULL)) > 0)
			;
		if (rc < 0)
			abort();
	}
	for (size_t i = 0; i < c->npages; i++)
		if (c->pfns[i] & ~STREAM_PFN_MASK)
			abort();
}

/* xl's header check on the whole input and on prefixes of it. */
static void check_xl_header(const uint8_t *d, size_t len)
{
	struct remus_err err = { 0 };
	const char *cfg;
	uint32_t cl;
	size_t hl, h2;
	int rc = stream_xl_header_take(d, len, &hl, &cfg, &cl, &err);

	if (rc < 0) {
		if (err.msg[0] == '\0' || cfg != NULL)
			abort();
		return;
	}
	if (rc == 0) {
		if (hl <= len && len >= STREAM_XL_HDR_SIZE)
			abort();       /* asks for more than it has */
		return;
	}
	if (hl > len || cl == 0 || cl > STREAM_XL_CONFIG_MAX ||
	    (const uint8_t *)cfg < d || (const uint8_t *)cfg + cl > d + hl ||
	    cfg[cl - 1] != '\0' || strlen(cfg) != cl - 1)
		abort();
	if (stream_xl_header_take(d, hl - 1, &h2, &cfg, &cl, &err) != 0)
		abort();       /* one byte short: not yet, and never an error */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct stream_reader_cfg cfg;
	struct stream_asm_cfg acfg;
	struct stream_asm a;
	char m1[REMUS_ERR_MSG_MAX], m2[REMUS_ERR_MSG_MAX];
	uint64_t i1, i2, seq = 0;
	size_t piece, pos = 0;
	int r1, r2, rc = 0;

	if (size < 2)
		return 0;
	cfg_from(data[0], &cfg);
	piece = data[1] ? data[1] : 1;
	data += 2;
	size -= 2;
	check_xl_header(data, size);

	/* piecewise == one piece */
	r1 = read_stream(&cfg, data, size, size ? size : 1, &i1, m1, sizeof(m1));
	r2 = read_stream(&cfg, data, size, piece, &i2, m2, sizeof(m2));
	if (r1 != r2 || i1 != i2 || strcmp(m1, m2) != 0) {
		fprintf(stderr, "one piece: %d %llu '%s'\npieces of %zu: %d %llu '%s'\n", r1,
		    (unsigned long long)i1, m1, piece, r2, (unsigned long long)i2, m2);
		abort();
	}

	/* the assembler */
	memset(&acfg, 0, sizeof(acfg));
	acfg.reader = cfg;
	acfg.max_ckpt_pages = (data[-2] & 128) ? 3 : 0;
	stream_asm_init(&a, &acfg);
	while (pos < size) {
		size_t n = size - pos < piece ? size - pos : piece, used;
		struct stream_ckpt *c;
		rc = stream_asm_feed(&a, data + pos, n, &used, &c);
		pos += used;
		if (rc < 0)
			break;
		if (rc == 1) {
			if (c->seq != ++seq)
				abort();
			check_ckpt(c);
		}
	}
	if (rc >= 0) {
		rc = stream_asm_eof(&a);
		if (rc < 0 && a.staged.npages != 0)
			abort();   /* discarded means gone */
	}
	if (rc < 0 && r1 >= 0 && acfg.max_ckpt_pages == 0)
		abort();       /* the assembler adds no failure of its own without a budget */
	if (pos < size && rc >= 0)
		abort();
	stream_asm_free(&a);
	return 0;
}
