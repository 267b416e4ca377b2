/*
 * xl's migration header from a peer: the one strict check
 * (stream_xl_header_take).  Every bad case of xl_header_cases.h is refused
 * with its own reason and code, a good header is taken whole from any
 * prefix on (0 until it is all there, never a byte of what follows), and
 * a stream of another kind is refused at its first byte.  The Xen
 * driver's and the engine's readers run the same cases (test_xen.c,
 * test_stream_link.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "stream/stream.h"
#include "tests/unit/xl_header_cases.h"

static void test_bad_headers_refused(void **state)
{
	(void)state;
	for (size_t i = 0; i < XL_NBAD; i++) {
		const struct xl_case *c = &xl_bad_cases[i];
		struct remus_err err = { 0 };
		const char *cfg = "x";
		uint32_t cl = 7;
		size_t len, need;
		uint8_t *p = xl_case_bytes(c, &len);
		int rc = stream_xl_header_take(p, len, &need, &cfg, &cl, &err);

		if (rc != c->code || strstr(err.msg, c->why) == NULL)
			fail_msg("%s: %d '%s', want %d '%s'", c->name, rc, err.msg, c->code, c->why);
		assert_null(cfg);
		assert_int_equal(cl, 0);
		free(p);
	}
}

/* A good header followed by the libxl stream: 0 for every shorter prefix
 * (needing at least the fixed part, then exactly the whole header), then
 * 1 with the configuration pointing into the bytes given. */
static void test_good_header_any_prefix(void **state)
{
	static const char json[] = "{\"c_info\":{\"name\":\"web\"}}";
	struct stream_buf b;
	struct remus_err err = { 0 };
	const uint8_t *p;
	const char *cfg;
	uint32_t cl;
	size_t hl, need;

	(void)state;
	stream_buf_init(&b);
	assert_int_equal(stream_put_xl_header(&b, json, sizeof(json)), 0);
	hl = stream_buf_size(&b);
	assert_int_equal(stream_put_libxl_header(&b), 0);
	p = stream_buf_flat(&b);
	for (size_t n = 0; n < hl; n++) {
		assert_int_equal(stream_xl_header_take(p, n, &need, &cfg, &cl, &err), 0);
		assert_int_equal(need, n < STREAM_XL_HDR_SIZE ? STREAM_XL_HDR_SIZE : hl);
	}
	for (size_t n = hl; n <= stream_buf_size(&b); n++) {
		assert_int_equal(stream_xl_header_take(p, n, &need, &cfg, &cl, &err), 1);
		assert_int_equal(need, hl);
		assert_int_equal(cl, sizeof(json));
		assert_string_equal(cfg, json);
		assert_true((const uint8_t *)cfg > p && (const uint8_t *)cfg + cl <= p + hl);
	}
	stream_buf_free(&b);
}

/* A bare libxl stream, or garbage, is not an xl header: refused as soon
 * as its first byte differs, not after waiting for 48. */
static void test_other_stream_refused(void **state)
{
	struct stream_buf b;
	struct remus_err err = { 0 };
	const char *cfg;
	uint32_t cl;
	size_t need;

	(void)state;
	stream_buf_init(&b);
	assert_int_equal(stream_put_libxl_header(&b), 0);
	assert_int_equal(stream_xl_header_take(stream_buf_flat(&b), 1, &need, &cfg, &cl, &err),
	                 STREAM_E_MAGIC);
	assert_non_null(strstr(err.msg, "does not start with xl's migration header"));
	stream_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_headers_refused),
		cmocka_unit_test(test_good_header_any_prefix),
		cmocka_unit_test(test_other_stream_refused),
	};
	return cmocka_run_group_tests_name("stream_xlhdr", tests, NULL, NULL);
}
