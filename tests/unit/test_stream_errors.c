/*
 * Every malformed input the reader knows yields its own error code and a
 * message naming the offset and the problem.  Each case is read both in one
 * piece and byte at a time.
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
#include "tests/unit/stream_sample.h"
#include "tests/unit/stream_testlib.h"

#define ok(x) assert_int_equal((x), 0)

/*
 * Read `b` (in one piece, then byte at a time) and check the error code,
 * that the message names `off` ("offset N") and contains `what`.
 */
static void expect_cfg(struct stream_buf *b, const struct stream_reader_cfg *cfg, int code,
    uint64_t off, const char *what)
{
	size_t len;
	uint8_t *data = sample_flatten(b, &len);
	char at[64];

	snprintf(at, sizeof(at), "offset %llu ", (unsigned long long)off);
	for (size_t chunk = len ? len : 1; ; chunk = 1) {
		struct stream_reader r;
		int rc;

		stream_reader_init(&r, cfg);
		rc = read_all(&r, data, len, chunk, NULL);
		if (rc != code || !strstr(r.err.msg, at) || !strstr(r.err.msg, what))
			fail_msg("chunk %zu: got %d (%s) \"%s\"; want %d (%s) at \"%s\" with \"%s\"",
			    chunk, rc, stream_strerror(rc), r.err.msg, code, stream_strerror(code), at, what);
		/* the reader stays failed */
		{
			struct stream_rec rec;
			size_t used;
			if (r.pos == STREAM_POS_FAILED)
				assert_int_equal(stream_reader_feed(&r, data, 1, &used, &rec), code);
		}
		stream_reader_free(&r);
		if (chunk == 1)
			break;
	}
	free(data);
}

static void expect(struct stream_buf *b, int code, uint64_t off, const char *what)
{
	expect_cfg(b, NULL, code, off, what);
}

static size_t at(const struct stream_buf *b)
{
	return stream_buf_size(b);
}

/* Patch byte `i` of an owned buffer. */
static void poke(struct stream_buf *b, size_t i, uint8_t v)
{
	assert_non_null(stream_buf_flat(b));
	b->data[i] = v;
}

static void poke32(struct stream_buf *b, size_t i, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		poke(b, i + (size_t)k, (uint8_t)(v >> (8 * k)));
}

/* libxl header + LIBXC_CONTEXT + libxc headers + static data. */
static void start(struct stream_buf *b)
{
	stream_buf_init(b);
	ok(sample_stream_start(b));
}

/* start() plus one complete checkpoint's libxc records. */
static void start_ckpt(struct stream_buf *b)
{
	start(b);
	ok(sample_checkpoint_body(b, 0));
}

/* ---- magic / version / endianness / reserved bits ------------------------- */

static void test_bad_magic(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	start(&b);
	poke(&b, 0, 'X');                         /* neither xl, libxl nor libxc */
	expect(&b, STREAM_E_MAGIC, 0, "not an xl save file");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 2, 'B');                         /* libxl ident, reader told it is libxl */
	struct stream_reader_cfg cfg = { .start = STREAM_START_LIBXL };
	expect_cfg(&b, &cfg, STREAM_E_MAGIC, 0, "ident");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 24 + 3, 0xfe);                   /* libxc marker */
	expect(&b, STREAM_E_MAGIC, 24, "marker");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 24 + 8, 'Y');                    /* libxc ident */
	expect(&b, STREAM_E_MAGIC, 24, "XENF");
	stream_buf_free(&b);

	stream_buf_init(&b);
	ok(stream_put_xl_header(&b, NULL, 0));
	ok(sample_plain_stream(&b));
	poke(&b, 20, '!');                        /* xl magic past the first 8 bytes */
	expect(&b, STREAM_E_MAGIC, 0, "xl save-file magic");
	stream_buf_free(&b);
	(void)o;
}

static void test_bad_version(void **state)
{
	struct stream_buf b;
	(void)state;

	start(&b);
	poke(&b, 11, 3);                          /* libxl version 3 */
	expect(&b, STREAM_E_VERSION, 0, "version 3");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 24 + 15, 4);                     /* libxc version 4 */
	expect(&b, STREAM_E_VERSION, 24, "version 4");
	stream_buf_free(&b);

	stream_buf_init(&b);
	ok(stream_put_xl_header(&b, NULL, 0));
	ok(sample_plain_stream(&b));
	poke32(&b, 36, 0);                        /* no STREAMv2 flag: legacy stream */
	expect(&b, STREAM_E_VERSION, 0, "legacy");
	stream_buf_free(&b);
}

static void test_big_endian(void **state)
{
	struct stream_buf b;
	(void)state;

	start(&b);
	poke(&b, 15, 1);                          /* libxl options bit 0 */
	expect(&b, STREAM_E_ENDIAN, 0, "big-endian");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 24 + 17, 1);                     /* libxc options bit 0 */
	expect(&b, STREAM_E_ENDIAN, 24, "big-endian");
	stream_buf_free(&b);
}

static void test_reserved_bits(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	start(&b);
	poke(&b, 15, 4);                          /* libxl options bit 2 */
	expect(&b, STREAM_E_RESERVED, 0, "reserved option bits 0x4");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 24 + 23, 1);                     /* libxc image header reserved u32 */
	expect(&b, STREAM_E_RESERVED, 24, "reserved fields");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 48 + 6, 1);                      /* domain header reserved u16 */
	expect(&b, STREAM_E_RESERVED, 48, "reserved field");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	ok(sample_checkpoint_body(&b, 0));
	poke(&b, o + 8 + 4, 1);                   /* PAGE_DATA reserved u32 */
	expect(&b, STREAM_E_RESERVED, o, "PAGE_DATA");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	{
		struct stream_tsc_info t = { 0 };
		ok(stream_put_tsc_info(&b, &t));
	}
	poke(&b, o + 8 + 20, 1);                  /* TSC_INFO reserved u32 */
	expect(&b, STREAM_E_RESERVED, o, "X86_TSC_INFO");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	{
		struct stream_hvm_param p = { 1, 2 };
		ok(stream_put_hvm_params(&b, &p, 1));
	}
	poke(&b, o + 8 + 4, 9);                   /* HVM_PARAMS reserved u32 */
	expect(&b, STREAM_E_RESERVED, o, "HVM_PARAMS");
	stream_buf_free(&b);
}

/* ---- framing ---------------------------------------------------------------- */

static void test_nonzero_padding(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_emulator_context(&b, 0, 0, "abc", 3, 0));
	poke(&b, o + 8 + 11 + 2, 0x20);           /* third padding byte */
	expect(&b, STREAM_E_PADDING, o, "padding byte 2 is 0x20");
	stream_buf_free(&b);
}

static void test_truncated(void **state)
{
	struct stream_buf b;
	size_t len;
	uint8_t *d;
	(void)state;

	start_ckpt(&b);
	ok(stream_put_libxc_end(&b));
	ok(stream_put_libxl_end(&b));
	d = sample_flatten(&b, &len);
	/* inside the HVM_PARAMS body (last libxc record before END) */
	b.total -= 16 + 8 + 4;
	b.segs[b.nsegs - 1].len -= 16 + 8 + 4;
	expect(&b, STREAM_E_TRUNCATED, len - 16 - 48, "inside");
	/* inside a record header */
	b.total = b.segs[b.nsegs - 1].len = len - 16 - 48 + 3;
	expect(&b, STREAM_E_TRUNCATED, len - 16 - 48, "record header");
	/* inside the libxl header */
	b.total = b.segs[b.nsegs - 1].len = 10;
	expect(&b, STREAM_E_TRUNCATED, 0, "libxl header");
	b.total = b.segs[b.nsegs - 1].len = 0;
	expect(&b, STREAM_E_TRUNCATED, 0, "empty");
	free(d);
	stream_buf_free(&b);
}

static void test_length_overflow(void **state)
{
	struct stream_buf b;
	uint8_t h[8] = { 3, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	size_t o;
	(void)state;

	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_buf_append(&b, h, 8));          /* EMULATOR_CONTEXT, length 2^32-1 */
	struct stream_reader_cfg cfg = { .lim.max_body = SIZE_MAX };
	expect_cfg(&b, &cfg, STREAM_E_OVERFLOW, o, "overflows");
	stream_buf_free(&b);
}

static void test_over_limit(void **state)
{
	struct stream_buf b;
	uint8_t blob[2000] = { 0 };
	size_t o;
	(void)state;

	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_emulator_context(&b, 0, 0, blob, sizeof(blob), 0));
	struct stream_reader_cfg cfg = { .lim.max_body = 1500 };
	expect_cfg(&b, &cfg, STREAM_E_TOO_BIG, o, "EMULATOR_CONTEXT, length 2008): over the record limit of 1500");
	stream_buf_free(&b);

	/* PAGE_DATA longer than max_pages pages can be */
	start(&b);
	o = at(&b);
	ok(sample_checkpoint_body(&b, 0));        /* 6 data pages */
	struct stream_reader_cfg cfg2 = { .lim.max_pages = 4 };
	expect_cfg(&b, &cfg2, STREAM_E_TOO_BIG, o, "PAGE_DATA limit");
	stream_buf_free(&b);
}

static void test_unknown_type(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	start(&b);
	o = at(&b);
	ok(stream_put_record(&b, 0x13, NULL, 0));
	expect(&b, STREAM_E_UNKNOWN_TYPE, o, "unknown libxc record type 0x13");
	stream_buf_free(&b);

	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_record(&b, 6, NULL, 0));
	expect(&b, STREAM_E_UNKNOWN_TYPE, o, "unknown libxl record type 0x6");
	stream_buf_free(&b);

	/* our xenstore record is unknown unless negotiated */
	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 1, 0, 1));
	o = 0;
	{
		struct stream_reader r;
		struct seen_list l = { 0 };
		size_t len;
		uint8_t *d = sample_flatten(&b, &len);
		stream_reader_init(&r, NULL);
		assert_int_equal(read_all(&r, d, len, len, &l), STREAM_E_UNKNOWN_TYPE);
		o = l.v[l.n - 1].offset + 8 + l.v[l.n - 1].length + (8 - l.v[l.n - 1].length % 8) % 8;
		seen_free(&l);
		stream_reader_free(&r);
		free(d);
	}
	expect(&b, STREAM_E_UNKNOWN_TYPE, o, "unknown libxl record type 0x524d5853");
	stream_buf_free(&b);
}

static void test_obsolete_toolstack(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	start(&b);
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XC_TOOLSTACK, "x", 1));
	expect(&b, STREAM_E_OBSOLETE, o, "TOOLSTACK");
	stream_buf_free(&b);
}

static void test_bad_lengths(void **state)
{
	struct stream_buf b;
	uint8_t body[24] = { 0 };
	size_t o;
	(void)state;

	start(&b);
	o = at(&b);
	ok(sample_checkpoint_body(&b, 0));
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XC_X86_TSC_INFO, body, 16));
	expect(&b, STREAM_E_LENGTH, o, "must be 24 bytes");
	stream_buf_free(&b);

	start_ckpt(&b);
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XC_END, body, 8));
	expect(&b, STREAM_E_LENGTH, o, "must be empty");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	body[0] = 2;                              /* HVM_PARAMS count 2, one entry */
	ok(stream_put_record(&b, STREAM_XC_HVM_PARAMS, body, 24));
	expect(&b, STREAM_E_LENGTH, o, "count 2 needs 40 bytes");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XC_X86_CPUID_POLICY, body, 20));
	expect(&b, STREAM_E_LENGTH, o, "multiple of 24");
	stream_buf_free(&b);
}

/* ---- PAGE_DATA ------------------------------------------------------------ */

static void test_page_count_mismatch(void **state)
{
	struct stream_buf b;
	uint8_t body[8 + 16 + 4096] = { 0 };
	size_t o;
	(void)state;

	start(&b);
	o = at(&b);
	body[0] = 2;                              /* 2 data pfns, 1 page of data */
	body[8] = 1;
	body[16] = 2;
	ok(stream_put_record(&b, STREAM_XC_PAGE_DATA, body, sizeof(body)));
	expect(&b, STREAM_E_PAGE_COUNT, o, "2 pfns with 2 data pages need 8216 bytes");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	memset(body, 0, 16);                      /* count 0 */
	ok(stream_put_record(&b, STREAM_XC_PAGE_DATA, body, 16));
	expect(&b, STREAM_E_PAGE_COUNT, o, "count 0");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	body[0] = 3;                              /* 3 pfns, room for 1 */
	ok(stream_put_record(&b, STREAM_XC_PAGE_DATA, body, 16));
	expect(&b, STREAM_E_PAGE_COUNT, o, "count 3 needs 24 bytes of pfns");
	stream_buf_free(&b);
}

static void test_page_limit(void **state)
{
	struct stream_buf b;
	size_t n = 1025, o;
	uint8_t *body = calloc(1, 8 + 8 * n);
	(void)state;

	body[0] = (uint8_t)n;
	body[1] = (uint8_t)(n >> 8);
	for (size_t i = 0; i < n; i++)            /* XTAB holes: no page data */
		body[8 + 8 * i + 7] = 0xf0;
	start(&b);
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XC_PAGE_DATA, body, 8 + 8 * n));
	expect(&b, STREAM_E_PAGE_LIMIT, o, "count 1025 over the limit 1024");
	stream_buf_free(&b);
	free(body);
}

static void test_pfn_reserved_and_type(void **state)
{
	struct stream_buf b;
	uint8_t body[8 + 8] = { 1, 0, 0, 0, 0, 0, 0, 0 };
	size_t o;
	(void)state;

	start(&b);
	o = at(&b);
	body[8 + 6] = 0x80;                       /* bit 55 */
	body[8 + 7] = 0xf0;
	ok(stream_put_record(&b, STREAM_XC_PAGE_DATA, body, sizeof(body)));
	expect(&b, STREAM_E_PFN_RESERVED, o, "pfn[0] 0xf080000000000000 has reserved bits");
	stream_buf_free(&b);

	start(&b);
	o = at(&b);
	body[8 + 6] = 0;
	body[8 + 7] = 0x60;                       /* type 6 */
	ok(stream_put_record(&b, STREAM_XC_PAGE_DATA, body, sizeof(body)));
	expect(&b, STREAM_E_PFN_TYPE, o, "invalid type 6");
	stream_buf_free(&b);
}

/* ---- headers and ids ------------------------------------------------------ */

static void test_bad_domain(void **state)
{
	struct stream_buf b;
	(void)state;

	start(&b);
	poke(&b, 48, 3);                          /* domain type 3 */
	expect(&b, STREAM_E_DOMAIN, 48, "unknown domain type 3");
	stream_buf_free(&b);

	start(&b);
	poke(&b, 48 + 4, 13);                     /* page shift 13 */
	expect(&b, STREAM_E_DOMAIN, 48, "page shift 13");
	stream_buf_free(&b);
}

static void test_bad_emulator_id(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_emulator_context(&b, 3, 0, "x", 1, 0));
	expect(&b, STREAM_E_EMULATOR, o, "unknown emulator id 3");
	stream_buf_free(&b);
}

/* ---- ordering --------------------------------------------------------------- */

static void test_wrong_place(void **state)
{
	struct stream_buf b;
	uint64_t pfn = 1;
	uint8_t page[STREAM_PAGE_SIZE] = { 0 };
	const void *pp = page;
	size_t o;
	(void)state;

	/* PAGE_DATA before STATIC_DATA_END */
	stream_buf_init(&b);
	ok(stream_put_libxl_header(&b));
	ok(stream_put_libxc_context(&b));
	ok(stream_put_libxc_image_header(&b));
	ok(stream_put_libxc_domain_header(&b, STREAM_DOM_X86_HVM, 4, 17));
	o = at(&b);
	ok(stream_put_page_data(&b, &pfn, &pp, 1, 0));
	expect(&b, STREAM_E_ORDER, o, "PAGE_DATA before STATIC_DATA_END");
	stream_buf_free(&b);

	/* policy after STATIC_DATA_END */
	start(&b);
	o = at(&b);
	{
		struct stream_cpuid_leaf l = { 0 };
		ok(stream_put_cpuid_policy(&b, &l, 1));
	}
	expect(&b, STREAM_E_ORDER, o, "X86_CPUID_POLICY after STATIC_DATA_END");
	stream_buf_free(&b);

	/* emulator record before LIBXC_CONTEXT */
	stream_buf_init(&b);
	ok(stream_put_libxl_header(&b));
	o = at(&b);
	ok(stream_put_emulator_context(&b, 0, 0, "x", 1, 0));
	expect(&b, STREAM_E_ORDER, o, "EMULATOR_CONTEXT before LIBXC_CONTEXT");
	stream_buf_free(&b);

	/* libxl END inside a checkpoint */
	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_libxl_end(&b));
	expect(&b, STREAM_E_ORDER, o, "END inside checkpoint 1");
	stream_buf_free(&b);

	/* CHECKPOINT_END after the libxc END (plain stream) */
	start_ckpt(&b);
	ok(stream_put_libxc_end(&b));
	o = at(&b);
	ok(stream_put_checkpoint_end(&b));
	expect(&b, STREAM_E_ORDER, o, "CHECKPOINT_END after the libxc END");
	stream_buf_free(&b);

	/* second LIBXC_CONTEXT */
	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_libxc_context(&b));
	expect(&b, STREAM_E_ORDER, o, "second LIBXC_CONTEXT");
	stream_buf_free(&b);

	/* PV record in an HVM stream */
	start(&b);
	o = at(&b);
	ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_BASIC, 0, "x", 1));
	expect(&b, STREAM_E_ORDER, o, "PV record in an HVM stream");
	stream_buf_free(&b);

	/* COLO back-channel record in a forward stream */
	start(&b);
	o = at(&b);
	ok(stream_put_dirty_pfn_list(&b, &pfn, 1));
	expect(&b, STREAM_E_ORDER, o, "back channel");
	stream_buf_free(&b);

	/* second HVM_CONTEXT in one checkpoint */
	start_ckpt(&b);
	o = at(&b);
	{
		struct stream_buf blob;
		stream_buf_init(&blob);
		ok(sample_hvm_blob(&blob, 0));
		ok(stream_put_hvm_context(&b, stream_buf_flat(&blob), stream_buf_size(&blob), 0));
		stream_buf_free(&blob);
	}
	expect(&b, STREAM_E_ORDER, o, "second HVM_CONTEXT in checkpoint 1");
	stream_buf_free(&b);
}

static void test_checkpoint_missing_state(void **state)
{
	struct stream_buf b;
	uint64_t pfn = 1;
	uint8_t page[STREAM_PAGE_SIZE] = { 0 };
	const void *pp = page;
	size_t o;
	(void)state;

	start(&b);
	ok(stream_put_page_data(&b, &pfn, &pp, 1, 0));
	o = at(&b);
	ok(stream_put_checkpoint(&b));
	expect(&b, STREAM_E_MISSING, o, "checkpoint 1 ends without X86_TSC_INFO");
	stream_buf_free(&b);
}

static void test_after_end(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	stream_buf_init(&b);
	ok(sample_plain_stream(&b));
	o = at(&b);
	ok(stream_buf_append(&b, "\n", 1));
	expect(&b, STREAM_E_AFTER_END, o, "after the final END");
	stream_buf_free(&b);
}

/* ---- payload formats ------------------------------------------------------ */

static void test_bad_xenstore(void **state)
{
	struct stream_buf b;
	struct stream_reader_cfg cfg = { .remus_xenstore = true };
	/* flags, count 1, NODE of length 20 whose path_len says 9 */
	uint8_t body[8 + 8 + 16 + 4] = { 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 20, 0, 0, 0,
		9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 'a', 'b', 'c', 'd' };
	size_t o;
	(void)state;

	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XL_REMUS_XENSTORE, body, sizeof(body)));
	expect_cfg(&b, &cfg, STREAM_E_XENSTORE, o, "does not match");
	stream_buf_free(&b);

	/* a relative path that starts with '/' */
	body[16] = 4;
	body[32] = '/';
	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XL_REMUS_XENSTORE, body, sizeof(body)));
	expect_cfg(&b, &cfg, STREAM_E_XENSTORE, o, "relative path starting with '/'");
	stream_buf_free(&b);

	/* EMULATOR_XENSTORE_DATA whose key/value data is not NUL-terminated */
	start_ckpt(&b);
	ok(stream_put_checkpoint(&b));
	o = at(&b);
	ok(stream_put_record(&b, STREAM_XL_EMULATOR_XENSTORE_DATA, "\0\0\0\0\0\0\0\0k\0v", 11));
	expect(&b, STREAM_E_XENSTORE, o, "not NUL-terminated");
	stream_buf_free(&b);
}

static void test_bad_hvm_blob(void **state)
{
	struct stream_buf b, blob;
	size_t o;
	(void)state;

	stream_buf_init(&blob);
	ok(stream_hvm_put(&blob, 1, 0, "0123456789abcdef01234567", 24));  /* no END */
	start(&b);
	o = at(&b);
	ok(stream_put_hvm_context(&b, stream_buf_flat(&blob), stream_buf_size(&blob), 0));
	expect(&b, STREAM_E_HVM_BLOB, o, "no END descriptor");
	stream_buf_free(&b);
	stream_buf_free(&blob);
}

/* ---- where a checkpointed stream may end ------------------------------------ */

static void test_incomplete_checkpoint(void **state)
{
	struct stream_buf b;
	size_t o;
	(void)state;

	/* after CHECKPOINT, before CHECKPOINT_END */
	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 1, 0, 0));
	ok(sample_checkpoint_body(&b, 1));
	ok(stream_put_checkpoint(&b));
	ok(sample_libxl_records(&b, 1, 0));
	o = at(&b);
	expect(&b, STREAM_E_INCOMPLETE, o, "inside checkpoint 2 (after CHECKPOINT");
	stream_buf_free(&b);

	/* in the middle of checkpoint 2's libxc records */
	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 1, 0, 0));
	ok(sample_checkpoint_body(&b, 1));
	o = at(&b);
	expect(&b, STREAM_E_INCOMPLETE, o, "inside checkpoint 2 (no CHECKPOINT)");
	stream_buf_free(&b);

	/* a plain stream without its libxl END */
	start_ckpt(&b);
	ok(stream_put_libxc_end(&b));
	o = at(&b);
	expect(&b, STREAM_E_INCOMPLETE, o, "before the final END");
	stream_buf_free(&b);
}

/* Each code has its own description. */
static void test_strerror_distinct(void **state)
{
	(void)state;
	for (int a = STREAM_E_MAGIC; a < STREAM_E_LAST; a++) {
		assert_non_null(stream_strerror(a));
		for (int b = a + 1; b < STREAM_E_LAST; b++)
			assert_string_not_equal(stream_strerror(a), stream_strerror(b));
	}
	assert_string_equal(stream_strerror(-ENOMEM), strerror(ENOMEM));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_magic),
		cmocka_unit_test(test_bad_version),
		cmocka_unit_test(test_big_endian),
		cmocka_unit_test(test_reserved_bits),
		cmocka_unit_test(test_nonzero_padding),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_length_overflow),
		cmocka_unit_test(test_over_limit),
		cmocka_unit_test(test_unknown_type),
		cmocka_unit_test(test_obsolete_toolstack),
		cmocka_unit_test(test_bad_lengths),
		cmocka_unit_test(test_page_count_mismatch),
		cmocka_unit_test(test_page_limit),
		cmocka_unit_test(test_pfn_reserved_and_type),
		cmocka_unit_test(test_bad_domain),
		cmocka_unit_test(test_bad_emulator_id),
		cmocka_unit_test(test_wrong_place),
		cmocka_unit_test(test_checkpoint_missing_state),
		cmocka_unit_test(test_after_end),
		cmocka_unit_test(test_bad_xenstore),
		cmocka_unit_test(test_bad_hvm_blob),
		cmocka_unit_test(test_incomplete_checkpoint),
		cmocka_unit_test(test_strerror_distinct),
	};
	return cmocka_run_group_tests_name("stream_errors", tests, NULL, NULL);
}
