/*
 * The checkpoint gate (lib/stream/gate.c): bytes are released only as
 * whole checkpoints (the headers with the first), exactly at the end of
 * each libxl CHECKPOINT_END, whatever the piece size; a torn checkpoint is
 * never released; END is released for a stream ended on purpose; bad data
 * and a checkpoint over the bound fail with a message and release nothing
 * more.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stream/gate.h"
#include "stream_sample.h"

#define ok(x) assert_int_equal((x), 0)

/* A checkpointed sample stream of n checkpoints (clean: with END). */
static uint8_t *sample(unsigned n, int clean, size_t *len)
{
	struct stream_buf b;
	uint8_t *d;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, n, clean, 0));
	d = sample_flatten(&b, len);
	stream_buf_free(&b);
	return d;
}

/* Feed d in pieces of `piece`; record the input offsets at which bytes
 * were released and check they are the input's prefix. */
struct fed {
	size_t released;            /* bytes released so far */
	size_t at[8];               /* released total after each release */
	int nrel, ckpts, rc;
};

static void feed(struct stream_gate *g, const uint8_t *d, size_t len, size_t piece, struct fed *f)
{
	memset(f, 0, sizeof(*f));
	for (size_t pos = 0; pos < len;) {
		size_t n = len - pos < piece ? len - pos : piece, rl;
		const uint8_t *r;

		f->rc = stream_gate_feed(g, d + pos, n);
		pos += n;
		if (f->rc > 0)
			f->ckpts += f->rc;
		r = stream_gate_released(g, &rl);     /* also after a failure */
		if (rl > 0) {
			assert_memory_equal(r, d + f->released, rl);
			f->released += rl;
			assert_true(f->nrel < 8);
			f->at[f->nrel++] = f->released;
			stream_gate_consume(g);
		}
		if (f->rc < 0)
			return;
	}
}

/* Three complete checkpoints, a fourth torn inside its libxc records:
 * three releases, ending exactly where streams of 1, 2, 3 checkpoints end;
 * the torn one stays held. */
static void test_gate_releases_whole_checkpoints(void **state)
{
	static const size_t pieces[] = { 1, 7, 4096, 1u << 20 };
	size_t l1, l2, l3, l4;
	uint8_t *d1 = sample(1, 0, &l1), *d2 = sample(2, 0, &l2), *d3 = sample(3, 0, &l3);
	uint8_t *d4 = sample(4, 0, &l4);

	(void)state;
	assert_true(l1 < l2 && l2 < l3 && l3 < l4);
	assert_memory_equal(d4, d3, l3);        /* the samples extend each other */
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		size_t torn = l3 + (l4 - l3) / 2;
		struct stream_gate g;
		struct fed f;

		stream_gate_init(&g, 1u << 20);
		feed(&g, d4, torn, pieces[k], &f);
		assert_int_equal(f.rc >= 0, 1);
		assert_int_equal(f.ckpts, 3);
		assert_int_equal(g.checkpoints, 3);
		assert_int_equal(f.released, l3);
		assert_int_equal(stream_gate_held(&g), torn - l3);
		if (pieces[k] == 1) {           /* one release per checkpoint, at its end */
			assert_int_equal(f.nrel, 3);
			assert_int_equal(f.at[0], l1);
			assert_int_equal(f.at[1], l2);
			assert_int_equal(f.at[2], l3);
		}
		assert_false(g.ended);
		stream_gate_free(&g);
	}
	free(d1); free(d2); free(d3); free(d4);
}

/* A stream ended on purpose (hand-over): END is released too. */
static void test_gate_releases_end(void **state)
{
	size_t l2, lc;
	uint8_t *d2 = sample(2, 0, &l2), *dc = sample(2, 1, &lc);
	struct stream_gate g;
	struct fed f;

	(void)state;
	assert_true(lc > l2);
	stream_gate_init(&g, 1u << 20);
	feed(&g, dc, lc, 3, &f);
	assert_true(f.rc >= 0);
	assert_int_equal(f.ckpts, 2);
	assert_true(g.ended);
	assert_int_equal(f.released, lc);
	assert_int_equal(stream_gate_held(&g), 0);
	/* anything after END is refused */
	assert_true(stream_gate_feed(&g, dc, 1) < 0);
	assert_non_null(strstr(g.err.msg, "after the stream's END"));
	stream_gate_free(&g);
	free(d2); free(dc);
}

/* A checkpoint larger than the bound fails, naming the checkpoint and
 * the bound; what was complete before stays released, nothing after. */
static void test_gate_bound(void **state)
{
	size_t l1, l2;
	uint8_t *d1 = sample(1, 0, &l1), *d2 = sample(2, 0, &l2);
	struct stream_gate g;
	struct fed f;
	size_t rl;

	(void)state;
	/* bound: one byte less than the second checkpoint (the first, with
	 * the headers, fits) */
	assert_true(l2 - l1 <= l1);
	stream_gate_init(&g, l2 - l1 - 1);
	feed(&g, d1, l1, 16, &f);
	assert_int_equal(f.rc, STREAM_E_TOO_BIG);    /* the first is bigger still */
	stream_gate_free(&g);
	stream_gate_init(&g, l1);
	feed(&g, d2, l2, 16, &f);
	assert_int_equal(f.released, l2);            /* both fit in l1 */
	stream_gate_free(&g);
	stream_gate_init(&g, l2 - l1 - 1);
	feed(&g, d2, l2, 16, &f);
	assert_int_equal(f.released, 0);
	assert_int_equal(f.rc, STREAM_E_TOO_BIG);
	assert_non_null(strstr(g.err.msg, "checkpoint 1 holds more than"));
	stream_gate_released(&g, &rl);
	assert_int_equal(rl, 0);
	assert_true(stream_gate_feed(&g, d2, 1) < 0);    /* stays failed */
	stream_gate_free(&g);
	free(d1); free(d2);
}

/* Bad data inside the second checkpoint: the error is the reader's, with
 * where; the first checkpoint was released, the second never is. */
static void test_gate_bad_data(void **state)
{
	size_t l1, l2;
	uint8_t *d1 = sample(1, 0, &l1), *d2 = sample(2, 0, &l2);
	struct stream_gate g;
	struct fed f;
	size_t rl;

	(void)state;
	d2[l1] ^= 0xff;     /* the type of checkpoint 2's first record */
	stream_gate_init(&g, 1u << 20);
	feed(&g, d2, l2, 5, &f);
	assert_true(f.rc < 0);
	assert_int_equal(f.released, l1);
	assert_non_null(strstr(g.err.msg, "checkpoint gate: "));
	stream_gate_released(&g, &rl);
	assert_int_equal(rl, 0);
	stream_gate_free(&g);
	free(d1); free(d2);
}

/* What completed before bad data is released whatever the cut: bytes
 * after END, or a corrupted second checkpoint, in the same call as the
 * good part (found by the fuzz target: a single call released nothing). */
static void test_gate_failure_keeps_complete(void **state)
{
	static const size_t pieces[] = { 1, 5, 1u << 20 };
	size_t l1, l2, lc;
	uint8_t *d2 = sample(2, 0, &l2), *dc = sample(2, 1, &lc), *dt;
	struct stream_gate g;
	struct fed f;

	(void)state;
	free(sample(1, 0, &l1));
	dt = malloc(lc + 4);
	assert_non_null(dt);
	memcpy(dt, dc, lc);
	memset(dt + lc, 0xab, 4);           /* trailing bytes after END */
	d2[l1] ^= 0xff;                     /* checkpoint 2's first record type */
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		stream_gate_init(&g, 1u << 20);
		feed(&g, dt, lc + 4, pieces[k], &f);
		assert_true(f.rc < 0);
		assert_non_null(strstr(g.err.msg, "after the stream's END"));
		assert_int_equal(f.released, lc);
		assert_true(g.ended);
		stream_gate_free(&g);
		stream_gate_init(&g, 1u << 20);
		feed(&g, d2, l2, pieces[k], &f);
		assert_true(f.rc < 0);
		assert_int_equal(f.released, l1);
		assert_int_equal(g.checkpoints, 1);
		stream_gate_free(&g);
	}
	free(d2); free(dc); free(dt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gate_releases_whole_checkpoints),
		cmocka_unit_test(test_gate_releases_end),
		cmocka_unit_test(test_gate_bound),
		cmocka_unit_test(test_gate_bad_data),
		cmocka_unit_test(test_gate_failure_keeps_complete),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
