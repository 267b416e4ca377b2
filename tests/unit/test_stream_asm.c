/*
 * Checkpoint assembler: whole checkpoints only, in order, whatever the piece
 * size; partial checkpoints dropped with the reason on EOF, error, abort.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stream/stream.h"
#include "stream/xen_hvm.h"
#include "tests/unit/stream_sample.h"
#include "tests/unit/stream_testlib.h"

#define ok(x) assert_int_equal((x), 0)

/* What a test keeps of each checkpoint handed over. */
struct got {
	uint64_t seq[64];
	size_t npages[64];
	bool final[64];
	size_t n;
};

/* Feed in `chunk`-byte pieces, collect checkpoints; returns feed error or eof(). */
static int assemble(struct stream_asm *a, const uint8_t *d, size_t len, size_t chunk, struct got *g,
    bool eof)
{
	size_t pos = 0;

	while (pos < len) {
		size_t piece = len - pos < chunk ? len - pos : chunk, used;
		struct stream_ckpt *c;
		int rc = stream_asm_feed(a, d + pos, piece, &used, &c);
		pos += used;
		if (rc < 0)
			return rc;
		if (rc == 1) {
			assert_true(g->n < 64);
			g->seq[g->n] = c->seq;
			g->npages[g->n] = c->npages;
			g->final[g->n] = c->final;
			g->n++;
		}
	}
	return eof ? stream_asm_eof(a) : 0;
}

static void check_page(const struct stream_ckpt *c, size_t i, uint64_t pfn, unsigned gen)
{
	uint8_t want[STREAM_PAGE_SIZE];

	sample_page(want, pfn, gen);
	assert_int_equal(c->pfns[i], pfn);
	assert_memory_equal(c->pages + i * STREAM_PAGE_SIZE, want, STREAM_PAGE_SIZE);
}

static void test_plain_stream_one_checkpoint(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct stream_ckpt *c = NULL;
	uint8_t *d;
	size_t len, used;
	(void)state;

	stream_buf_init(&b);
	ok(sample_plain_stream(&b));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	assert_int_equal(stream_asm_feed(&a, d, len, &used, &c), 1);
	assert_int_equal(used, len);
	assert_non_null(c);
	assert_int_equal(c->seq, 1);
	assert_true(c->final);
	assert_true(c->has_headers);
	assert_int_equal(c->libxc_version, 3);
	assert_int_equal(c->dom_type, STREAM_DOM_X86_HVM);
	assert_int_equal(c->xen_major, 4);
	assert_int_equal(c->xen_minor, 17);
	assert_int_equal(c->npages, SAMPLE_PAGES);
	for (size_t i = 0; i < SAMPLE_PAGES; i++)
		check_page(c, i, i, 0);
	assert_int_equal(c->nnodata, 1);
	assert_int_equal(c->nodata[0], 0x10 | (0xfULL << 60));
	assert_true(c->has_tsc);
	assert_int_equal(c->tsc.khz, 2400000);
	assert_non_null(c->hvm_ctx);
	{
		struct stream_hvm_iter it;
		struct stream_hvm_entry e;
		stream_hvm_iter_init(&it, c->hvm_ctx, c->hvm_ctx_len);
		assert_int_equal(stream_hvm_next(&it, &e, NULL), 1);
		assert_int_equal(stream_hvm_next(&it, &e, NULL), 1);
		assert_int_equal(e.typecode, HVM_SAVE_CODE(CPU));
		assert_int_equal(stream_hvm_next(&it, &e, NULL), 0);
	}
	assert_int_equal(c->nparams, 2);
	assert_int_equal(c->params[0].index, HVM_PARAM_STORE_PFN);
	assert_int_equal(c->ncpuid, 2);
	assert_int_equal(c->cpuid[1].a, 0x806ec);
	assert_int_equal(c->nmsrs, 1);
	assert_int_equal(c->msrs[0].idx, 0xce);
	assert_int_equal(c->nblobs, 2);
	assert_non_null(stream_ckpt_blob(c, STREAM_XL_EMULATOR_XENSTORE_DATA, UINT32_MAX));
	{
		const struct stream_blob *bl = stream_ckpt_blob(c, STREAM_XL_EMULATOR_CONTEXT, STREAM_EMU_UNKNOWN);
		assert_non_null(bl);
		assert_int_equal(bl->len, 40);
		assert_int_equal(bl->data[39], 39);
	}
	ok(stream_asm_eof(&a));
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

static void test_checkpointed_failover_end(void **state)
{
	static const size_t chunks[] = { 1, 3, 4096, 1 << 20 };
	struct stream_buf b;
	uint8_t *d;
	size_t len;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 4, 0, 1));
	d = sample_flatten(&b, &len);
	for (size_t k = 0; k < sizeof(chunks) / sizeof(chunks[0]); k++) {
		struct stream_asm a;
		struct stream_asm_cfg cfg = { .reader.remus_xenstore = true };
		struct got g = { 0 };
		stream_asm_init(&a, &cfg);
		assert_int_equal(assemble(&a, d, len, chunks[k], &g, true), STREAM_EOF_CHECKPOINT);
		assert_int_equal(g.n, 4);
		for (size_t i = 0; i < 4; i++) {
			assert_int_equal(g.seq[i], i + 1);
			assert_false(g.final[i]);
			assert_int_equal(g.npages[i], i == 0 ? SAMPLE_PAGES : 2);
		}
		assert_int_equal(a.rd.checkpoints, 4);
		assert_int_equal(a.discarded, 0);
		/* the last checkpoint is still readable: pages of gen 3, blobs */
		check_page(&a.ready, 0, 3, 3);
		check_page(&a.ready, 1, 4, 3);
		assert_int_equal(a.ready.xen_minor, 17);
		assert_false(a.ready.has_headers);
		assert_non_null(stream_ckpt_blob(&a.ready, STREAM_XL_REMUS_XENSTORE, UINT32_MAX));
		stream_asm_free(&a);
	}
	free(d);
	stream_buf_free(&b);
}

static void test_checkpointed_clean_end(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct got g = { 0 };
	uint8_t *d;
	size_t len;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 2, 1, 0));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	ok(assemble(&a, d, len, 100, &g, true));
	assert_int_equal(g.n, 3);
	assert_false(g.final[1]);
	assert_true(g.final[2]);     /* the END, empty */
	assert_int_equal(g.npages[2], 0);
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

/*
 * Cut the stream anywhere: only checkpoints whose CHECKPOINT_END is inside
 * the prefix are handed over, and EOF reports a clean failover point only
 * at a checkpoint boundary.
 */
static void test_cut_anywhere(void **state)
{
	struct stream_buf b;
	struct stream_reader r;
	struct seen_list l = { 0 };
	uint64_t bounds[8];
	size_t nb = 0, len;
	uint8_t *d;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 3, 0, 0));
	d = sample_flatten(&b, &len);
	stream_reader_init(&r, NULL);
	assert_int_equal(read_all(&r, d, len, len, &l), STREAM_EOF_CHECKPOINT);
	for (size_t i = 0; i < l.n; i++)
		if (l.v[i].item == STREAM_ITEM_LIBXL_RECORD && l.v[i].type == STREAM_XL_CHECKPOINT_END)
			bounds[nb++] = l.v[i].offset + 8;
	assert_int_equal(nb, 3);
	for (size_t cut = 0; cut <= len; cut += (cut % 8 == 0) ? 1 : 7) {
		struct stream_asm a;
		struct got g = { 0 };
		size_t want = 0;
		bool boundary = false;
		int rc;
		for (size_t k = 0; k < nb; k++) {
			want += bounds[k] <= cut;
			boundary |= bounds[k] == cut;
		}
		stream_asm_init(&a, NULL);
		rc = assemble(&a, d, cut, 509, &g, true);
		assert_int_equal(g.n, want);
		if (boundary) {
			assert_int_equal(rc, STREAM_EOF_CHECKPOINT);
		} else {
			assert_true(rc == STREAM_E_TRUNCATED || rc == STREAM_E_INCOMPLETE);
			if (cut > 0)
				assert_non_null(strstr(a.err.msg, "end of stream"));
		}
		stream_asm_free(&a);
	}
	seen_free(&l);
	stream_reader_free(&r);
	free(d);
	stream_buf_free(&b);
}

static void test_partial_discarded_on_eof(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct got g = { 0 };
	uint8_t *d;
	size_t len;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 2, 0, 0));
	ok(sample_checkpoint_body(&b, 2));
	ok(stream_put_checkpoint(&b));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	assert_int_equal(assemble(&a, d, len, 1000, &g, true), STREAM_E_INCOMPLETE);
	assert_int_equal(g.n, 2);
	assert_int_equal(a.discarded, 1);
	assert_non_null(strstr(a.err.msg, "checkpoint 3 discarded: end of stream"));
	assert_non_null(strstr(a.err.msg, "before CHECKPOINT_END"));
	assert_int_equal(a.staged.npages, 0);
	/* the last complete one is intact */
	assert_int_equal(a.ready.seq, 2);
	check_page(&a.ready, 0, 1, 1);
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

static void test_partial_discarded_on_error(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct got g = { 0 };
	uint8_t *d;
	size_t len, bad;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 1, 0, 0));
	ok(sample_checkpoint_body(&b, 1));
	bad = stream_buf_size(&b);
	ok(stream_put_record(&b, STREAM_XC_X86_TSC_INFO, "short", 5));
	ok(stream_put_checkpoint(&b));
	ok(stream_put_checkpoint_end(&b));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	assert_int_equal(assemble(&a, d, len, 1, &g, true), STREAM_E_LENGTH);
	assert_int_equal(g.n, 1);
	assert_int_equal(a.discarded, 1);
	{
		char want[96];
		snprintf(want, sizeof(want), "checkpoint 2 discarded: record at offset %zu ", bad);
		assert_non_null(strstr(a.err.msg, want));
	}
	/* stays failed */
	{
		size_t used;
		struct stream_ckpt *c;
		assert_int_equal(stream_asm_feed(&a, d, 8, &used, &c), STREAM_E_LENGTH);
		assert_int_equal(stream_asm_eof(&a), STREAM_E_LENGTH);
	}
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

static void test_abort(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct got g = { 0 };
	uint8_t *d;
	size_t len, used;
	struct stream_ckpt *c;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 1, 0, 0));
	ok(sample_checkpoint_body(&b, 1));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	ok(assemble(&a, d, len, 64, &g, false));
	assert_int_equal(g.n, 1);
	assert_int_equal(a.staged.npages, 2);
	assert_int_equal(stream_asm_abort(&a, "heartbeat lost"), STREAM_E_INCOMPLETE);
	assert_non_null(strstr(a.err.msg, "checkpoint 2 discarded: aborted at offset"));
	assert_non_null(strstr(a.err.msg, "heartbeat lost"));
	assert_int_equal(a.staged.npages, 0);
	assert_int_equal(stream_asm_feed(&a, d, 1, &used, &c), STREAM_E_INCOMPLETE);
	stream_asm_free(&a);

	/* aborting at a boundary drops nothing */
	stream_asm_init(&a, NULL);
	{
		struct stream_buf b2;
		uint8_t *d2;
		size_t l2;
		stream_buf_init(&b2);
		ok(sample_checkpointed_stream(&b2, 1, 0, 0));
		d2 = sample_flatten(&b2, &l2);
		g.n = 0;
		ok(assemble(&a, d2, l2, l2, &g, false));
		assert_int_equal(g.n, 1);
		ok(stream_asm_abort(&a, "operator"));
		assert_int_equal(a.discarded, 0);
		free(d2);
		stream_buf_free(&b2);
	}
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

static void test_page_budget(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct stream_asm_cfg cfg = { .max_ckpt_pages = 4 };
	struct got g = { 0 };
	uint8_t *d;
	size_t len;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 1, 0, 0));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, &cfg);
	assert_int_equal(assemble(&a, d, len, len, &g, true), STREAM_E_TOO_BIG);
	assert_int_equal(g.n, 0);
	assert_non_null(strstr(a.err.msg, "checkpoint 1 discarded"));
	assert_non_null(strstr(a.err.msg, "more than 4 pages"));
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

static void test_take_ownership(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct stream_ckpt mine, *c;
	uint8_t *d;
	size_t len, used, pos = 0;
	int n = 0;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 2, 0, 0));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	while (pos < len) {
		int rc = stream_asm_feed(&a, d + pos, len - pos, &used, &c);
		pos += used;
		assert_true(rc >= 0);
		if (rc == 1 && n++ == 0)
			stream_asm_take(&a, &mine);
	}
	assert_int_equal(n, 2);
	assert_int_equal(mine.seq, 1);
	assert_int_equal(mine.npages, SAMPLE_PAGES);
	check_page(&mine, 5, 5, 0);
	assert_int_equal(a.ready.seq, 2);
	stream_ckpt_free(&mine);
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

/*
 * The Xen driver's backup side: libxc reads its own records from the fd; we
 * read only the libxl header, LIBXC_CONTEXT, then each checkpoint's libxl
 * records up to CHECKPOINT_END.
 */
static void test_libxc_external(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct stream_asm_cfg cfg = { .reader.libxc_external = true };
	struct got g = { 0 };
	uint8_t *d;
	size_t len;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_libxl_header(&b));
	ok(stream_put_libxc_context(&b));
	for (unsigned i = 0; i < 3; i++) {
		ok(sample_libxl_records(&b, i, 0));
		ok(stream_put_checkpoint_end(&b));
	}
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, &cfg);
	assert_int_equal(assemble(&a, d, len, 7, &g, true), STREAM_EOF_CHECKPOINT);
	assert_int_equal(g.n, 3);
	assert_int_equal(a.ready.nblobs, 2);
	assert_int_equal(a.ready.blobs[1].data[0], 2);
	stream_asm_free(&a);

	/* and its clean end */
	ok(stream_put_libxl_end(&b));
	free(d);
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, &cfg);
	g.n = 0;
	ok(assemble(&a, d, len, len, &g, true));
	assert_int_equal(g.n, 4);
	assert_true(g.final[3]);
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

/* A repeated pfn in one checkpoint (precopy rounds): staged once, last data wins. */
static void test_repeated_pfn_order(void **state)
{
	struct stream_buf b;
	struct stream_asm a;
	struct stream_ckpt *c = NULL;
	uint8_t p1[STREAM_PAGE_SIZE], p2[STREAM_PAGE_SIZE];
	const void *pp1 = p1, *pp2 = p2;
	uint64_t pfn = 3;
	uint8_t *d;
	size_t len, used;
	(void)state;

	memset(p1, 1, sizeof(p1));
	memset(p2, 2, sizeof(p2));
	stream_buf_init(&b);
	ok(sample_stream_start(&b));
	ok(stream_put_page_data(&b, &pfn, &pp1, 1, 0));
	ok(sample_checkpoint_body(&b, 1));   /* pfns 1, 2 */
	ok(stream_put_page_data(&b, &pfn, &pp2, 1, 0));
	ok(stream_put_checkpoint(&b));
	ok(stream_put_checkpoint_end(&b));
	d = sample_flatten(&b, &len);
	stream_asm_init(&a, NULL);
	assert_int_equal(stream_asm_feed(&a, d, len, &used, &c), 1);
	assert_int_equal(c->npages, 3);
	assert_int_equal(c->pfns[0], 3);
	assert_int_equal(c->pfns[1], 1);
	assert_int_equal(c->pfns[2], 2);
	assert_int_equal(c->pages[0], 2);
	assert_int_equal(c->pages[STREAM_PAGE_SIZE - 1], 2);
	check_page(c, 1, 1, 1);
	stream_asm_free(&a);
	free(d);
	stream_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_stream_one_checkpoint),
		cmocka_unit_test(test_checkpointed_failover_end),
		cmocka_unit_test(test_checkpointed_clean_end),
		cmocka_unit_test(test_cut_anywhere),
		cmocka_unit_test(test_partial_discarded_on_eof),
		cmocka_unit_test(test_partial_discarded_on_error),
		cmocka_unit_test(test_abort),
		cmocka_unit_test(test_page_budget),
		cmocka_unit_test(test_take_ownership),
		cmocka_unit_test(test_libxc_external),
		cmocka_unit_test(test_repeated_pfn_order),
	};
	return cmocka_run_group_tests_name("stream_asm", tests, NULL, NULL);
}
