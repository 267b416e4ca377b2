/*
 * Unit tests for lib/stream: writer golden bytes, round trips of every
 * record type, byte-at-a-time reading, stream_buf references and flushing.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "stream/stream.h"
#include "stream/xen_hvm.h"
#include "tests/unit/stream_sample.h"
#include "tests/unit/stream_testlib.h"

#define ok(x) assert_int_equal((x), 0)

/* ---- golden header bytes ------------------------------------------------- */

static void test_golden_libxl_header(void **state)
{
	static const uint8_t want[16] = {
		'L', 'i', 'b', 'x', 'l', 'F', 'm', 't', 0, 0, 0, 2, 0, 0, 0, 0,
	};
	struct stream_buf b;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_libxl_header(&b));
	assert_int_equal(stream_buf_size(&b), 16);
	assert_memory_equal(stream_buf_flat(&b), want, 16);
	stream_buf_free(&b);
}

static void test_golden_libxc_headers(void **state)
{
	static const uint8_t want[40] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'X', 'E', 'N', 'F',
		0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0,
		/* domain header, little-endian: HVM, page shift 12, Xen 4.17 */
		2, 0, 0, 0, 12, 0, 0, 0, 4, 0, 0, 0, 17, 0, 0, 0,
	};
	struct stream_buf b;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_libxc_image_header(&b));
	ok(stream_put_libxc_domain_header(&b, STREAM_DOM_X86_HVM, 4, 17));
	assert_int_equal(stream_buf_size(&b), 40);
	assert_memory_equal(stream_buf_flat(&b), want, 40);
	stream_buf_free(&b);
}

static void test_golden_records(void **state)
{
	static const uint8_t want[] = {
		/* TSC_INFO: type 8, length 24, mode 1, khz 2000000, nsec 5, incarnation 3 */
		8, 0, 0, 0, 24, 0, 0, 0, 1, 0, 0, 0, 0x80, 0x84, 0x1e, 0,
		5, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0,
		/* CHECKPOINT_STATE 7: length 4 + 4 bytes padding */
		5, 0, 0, 0, 4, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0,
		/* EMULATOR_CONTEXT id 0 index 0, 3-byte blob, 5 bytes padding */
		3, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		'a', 'b', 'c', 0, 0, 0, 0, 0,
		/* CHECKPOINT, CHECKPOINT_END */
		0x0e, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0,
	};
	struct stream_tsc_info tsc = { 1, 2000000, 5, 3 };
	struct stream_buf b;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_tsc_info(&b, &tsc));
	ok(stream_put_checkpoint_state(&b, 7));
	ok(stream_put_emulator_context(&b, 0, 0, "abc", 3, 0));
	ok(stream_put_checkpoint(&b));
	ok(stream_put_checkpoint_end(&b));
	assert_int_equal(stream_buf_size(&b), sizeof(want));
	assert_memory_equal(stream_buf_flat(&b), want, sizeof(want));
	stream_buf_free(&b);
}

static void test_golden_xl_header(void **state)
{
	struct stream_buf b;
	const uint8_t *p;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_xl_header(&b, "{}", 2));
	p = stream_buf_flat(&b);
	assert_int_equal(stream_buf_size(&b), 48 + 4 + 2);
	assert_memory_equal(p, "Xen saved domain, xl format\n \0 \r", 32);
	assert_int_equal(get_le32(p + 32), 0x01020304);
	assert_int_equal(get_le32(p + 36), 3);   /* JSON | STREAMv2 */
	assert_int_equal(get_le32(p + 40), 0);
	assert_int_equal(get_le32(p + 44), 6);
	assert_int_equal(get_le32(p + 48), 2);
	assert_memory_equal(p + 52, "{}", 2);
	stream_buf_free(&b);
}

/*
 * Golden two-checkpoint stream: the sample writer must produce exactly the
 * checked-in bytes (tests/data/stream/two-checkpoints.bin).  Set
 * STREAM_REGEN=1 to rewrite the fixtures after an intended format change.
 */
static void check_file(const char *path, const struct stream_buf *b)
{
	size_t len;
	uint8_t *got = sample_flatten(b, &len);
	FILE *f;

	if (getenv("STREAM_REGEN")) {
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(got, 1, len, f), len);
		fclose(f);
	}
	f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("missing fixture %s (run from the source root)", path);
	uint8_t *want = malloc(len + 1);
	size_t n = fread(want, 1, len + 1, f);
	fclose(f);
	assert_int_equal(n, len);
	assert_memory_equal(got, want, len);
	free(want);
	free(got);
}

static void check_fixture(const char *name, const struct stream_buf *b)
{
	char path[256];

	snprintf(path, sizeof(path), "tests/data/stream/%s", name);
	check_file(path, b);
}

/* A small checkpoint: one page (pfn gen), TSC, an HVM blob, one param. */
static void tiny_checkpoint(struct stream_buf *b, unsigned gen)
{
	uint8_t page[STREAM_PAGE_SIZE];
	uint64_t pfn[2] = { gen, 0x20 | (0xfULL << 60) };
	const void *pages[2] = { page, NULL };
	struct stream_tsc_info tsc = { 0, 1000, gen, 0 };
	struct stream_hvm_param p = { HVM_PARAM_STORE_PFN, 0x40 };
	struct stream_buf blob;
	struct hvm_save_header h = { .magic = HVM_FILE_MAGIC, .version = HVM_FILE_VERSION };

	memset(page, (int)gen, sizeof(page));
	ok(stream_put_page_data(b, pfn, pages, gen ? 1 : 2, 0));
	ok(stream_put_tsc_info(b, &tsc));
	stream_buf_init(&blob);
	ok(STREAM_HVM_PUT(&blob, HEADER, 0, &h));
	ok(stream_hvm_put_end(&blob));
	ok(stream_put_hvm_context(b, stream_buf_flat(&blob), stream_buf_size(&blob), 0));
	stream_buf_free(&blob);
	ok(stream_put_hvm_params(b, &p, 1));
}

static void tiny_start(struct stream_buf *b, uint8_t sel, uint8_t piece)
{
	uint8_t pre[2] = { sel, piece };
	struct stream_cpuid_leaf l = { 0, ~0u, 1, 2, 3, 4 };
	struct stream_msr_entry m = { 0xce, 0, 1 };

	ok(stream_buf_append(b, pre, 2));
	ok(stream_put_libxl_header(b));
	ok(stream_put_libxc_context(b));
	ok(stream_put_libxc_image_header(b));
	ok(stream_put_libxc_domain_header(b, STREAM_DOM_X86_HVM, 4, 17));
	ok(stream_put_cpuid_policy(b, &l, 1));
	ok(stream_put_msr_policy(b, &m, 1));
	ok(stream_put_static_data_end(b));
}

static void tiny_libxl(struct stream_buf *b, unsigned gen)
{
	static const struct stream_kv kv[] = { { "k", "v" } };
	struct stream_xs_perm perm = { 1, STREAM_XS_PERM_READ };
	struct stream_xs_entry e[3] = {
		{ .kind = STREAM_XS_NODE, .path_kind = STREAM_XS_RELATIVE, .path = "a/b", .path_len = 3,
		  .value = (const uint8_t *)"\0v", .value_len = 2, .perms = &perm, .nperms = 1 },
		{ .kind = STREAM_XS_WATCH, .path_kind = STREAM_XS_SPECIAL, .path = "@introduceDomain",
		  .path_len = 16, .value = (const uint8_t *)"t", .value_len = 1 },
		{ .kind = STREAM_XS_RM, .path_kind = STREAM_XS_ABSOLUTE, .path = "/x", .path_len = 2 },
	};
	ok(stream_put_emulator_xenstore_data(b, 0, 0, kv, 1));
	ok(stream_put_emulator_context(b, 0, 0, &gen, sizeof(gen), 0));
	ok(stream_put_xenstore(b, gen ? 0 : STREAM_XS_FULL, e, 3));
	ok(stream_put_checkpoint_state(b, gen));
}

/*
 * Seed corpus of the stream fuzz target (tests/fuzz/corpus/stream_reader):
 * small streams of every layout, prefixed with the target's 2 config bytes.
 */
static void check_fuzz_seeds(void)
{
	static const char *dir = "tests/fuzz/corpus/stream_reader";
	struct stream_buf b;
	char path[256];

	stream_buf_init(&b);
	/* plain */
	tiny_start(&b, 0x10, 7);
	tiny_checkpoint(&b, 0);
	ok(stream_put_libxc_end(&b));
	tiny_libxl(&b, 0);
	ok(stream_put_libxl_end(&b));
	snprintf(path, sizeof(path), "%s/plain", dir);
	check_file(path, &b);
	/* checkpointed, failover end, fed byte by byte */
	stream_buf_reset(&b);
	tiny_start(&b, 0x10, 1);
	for (unsigned g = 0; g < 3; g++) {
		tiny_checkpoint(&b, g);
		ok(stream_put_checkpoint(&b));
		tiny_libxl(&b, g);
		ok(stream_put_checkpoint_end(&b));
	}
	snprintf(path, sizeof(path), "%s/remus-failover", dir);
	check_file(path, &b);
	/* the same, clean end, with a small page budget and limits */
	ok(stream_put_libxc_end(&b));
	ok(stream_put_libxl_end(&b));
	b.data[0] = 0x10 | 0x20 | 0x40 | 0x80;
	snprintf(path, sizeof(path), "%s/remus-clean-limits", dir);
	check_file(path, &b);
	/* flat layout (libxc CHECKPOINTs, END, then the libxl records) */
	stream_buf_reset(&b);
	tiny_start(&b, 0x04, 13);
	tiny_checkpoint(&b, 0);
	ok(stream_put_checkpoint(&b));
	tiny_checkpoint(&b, 1);
	ok(stream_put_checkpoint(&b));
	ok(stream_put_libxc_end(&b));
	ok(stream_put_emulator_context(&b, 1, 0, "ab", 2, 0));
	ok(stream_put_checkpoint_end(&b));
	ok(stream_put_libxl_end(&b));
	snprintf(path, sizeof(path), "%s/flat", dir);
	check_file(path, &b);
	/* xl save file */
	stream_buf_reset(&b);
	{
		struct stream_buf s;
		stream_buf_init(&s);
		tiny_start(&s, 0x00, 64);
		tiny_checkpoint(&s, 0);
		ok(stream_put_libxc_end(&s));
		ok(stream_put_libxl_end(&s));
		uint8_t pre[2] = { 0x00, 64 };
		ok(stream_buf_append(&b, pre, 2));
		ok(stream_put_xl_header(&b, "{\"a\":1}", 7));
		ok(stream_buf_append(&b, stream_buf_flat(&s) + 2, stream_buf_size(&s) - 2));
		stream_buf_free(&s);
	}
	snprintf(path, sizeof(path), "%s/xl-save", dir);
	check_file(path, &b);
	/* bare libxc stream */
	stream_buf_reset(&b);
	{
		uint8_t pre[2] = { 0x02, 5 };
		ok(stream_buf_append(&b, pre, 2));
		ok(stream_put_libxc_image_header(&b));
		ok(stream_put_libxc_domain_header(&b, STREAM_DOM_X86_HVM, 4, 17));
		ok(stream_put_static_data_end(&b));
		tiny_checkpoint(&b, 0);
		ok(stream_put_libxc_end(&b));
	}
	snprintf(path, sizeof(path), "%s/libxc", dir);
	check_file(path, &b);
	/* libxl records only (the Xen driver's view) */
	stream_buf_reset(&b);
	{
		uint8_t pre[2] = { 0x18, 3 };
		ok(stream_buf_append(&b, pre, 2));
		ok(stream_put_libxl_header(&b));
		ok(stream_put_libxc_context(&b));
		tiny_libxl(&b, 0);
		ok(stream_put_checkpoint_end(&b));
		tiny_libxl(&b, 1);
		ok(stream_put_checkpoint_end(&b));
		ok(stream_put_libxl_end(&b));
	}
	snprintf(path, sizeof(path), "%s/libxl-only", dir);
	check_file(path, &b);
	/* PV */
	stream_buf_reset(&b);
	{
		uint8_t pre[2] = { 0x00, 9 }, pg[STREAM_PAGE_SIZE] = { 0 };
		uint64_t pfn[2] = { 1ULL << 60 | 3, 0xdULL << 60 | 4 };
		const void *pp[2] = { pg, NULL };
		uint64_t fr = 7;
		struct stream_tsc_info t = { 0 };
		ok(stream_buf_append(&b, pre, 2));
		ok(stream_put_libxl_header(&b));
		ok(stream_put_libxc_context(&b));
		ok(stream_put_libxc_image_header(&b));
		ok(stream_put_libxc_domain_header(&b, STREAM_DOM_X86_PV, 4, 17));
		ok(stream_put_x86_pv_info(&b, 8, 4));
		ok(stream_put_static_data_end(&b));
		ok(stream_put_x86_pv_p2m_frames(&b, 0, 511, &fr, 1));
		ok(stream_put_page_data(&b, pfn, pp, 2, 0));
		ok(stream_put_tsc_info(&b, &t));
		ok(stream_put_shared_info(&b, pg));
		ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_BASIC, 0, "regs", 4));
		ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_MSRS, 0, "msrs", 4));
		ok(stream_put_verify(&b));
		ok(stream_put_libxc_end(&b));
		ok(stream_put_libxl_end(&b));
	}
	snprintf(path, sizeof(path), "%s/pv", dir);
	check_file(path, &b);
	stream_buf_free(&b);
}

static void test_golden_streams(void **state)
{
	struct stream_buf b;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 2, 0, 0));
	check_fixture("two-checkpoints.bin", &b);
	stream_buf_reset(&b);
	ok(sample_plain_stream(&b));
	check_fixture("plain.bin", &b);
	stream_buf_reset(&b);
	ok(stream_put_xl_header(&b, "{\"c_info\":{}}", 14));
	ok(sample_plain_stream(&b));
	check_fixture("xl-save.bin", &b);
	stream_buf_reset(&b);
	ok(sample_checkpointed_stream(&b, 3, 1, 1));
	check_fixture("remus-xenstore-clean-end.bin", &b);
	stream_buf_reset(&b);
	ok(sample_checkpointed_stream(&b, 2, 0, 2));      /* with a pending watch event */
	check_fixture("remus-store-events.bin", &b);
	stream_buf_free(&b);
	check_fuzz_seeds();
}

/* ---- reading -------------------------------------------------------------- */

static const uint32_t plain_types[][2] = {
	{ STREAM_ITEM_LIBXL_HEADER, 0 },
	{ STREAM_ITEM_LIBXL_RECORD, STREAM_XL_LIBXC_CONTEXT },
	{ STREAM_ITEM_LIBXC_IMAGE_HEADER, 0 },
	{ STREAM_ITEM_LIBXC_DOMAIN_HEADER, 0 },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_X86_CPUID_POLICY },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_X86_MSR_POLICY },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_STATIC_DATA_END },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_PAGE_DATA },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_X86_TSC_INFO },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_HVM_CONTEXT },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_HVM_PARAMS },
	{ STREAM_ITEM_LIBXC_RECORD, STREAM_XC_END },
	{ STREAM_ITEM_LIBXL_RECORD, STREAM_XL_EMULATOR_XENSTORE_DATA },
	{ STREAM_ITEM_LIBXL_RECORD, STREAM_XL_EMULATOR_CONTEXT },
	{ STREAM_ITEM_LIBXL_RECORD, STREAM_XL_END },
};

static void test_read_plain(void **state)
{
	struct stream_buf b;
	struct stream_reader r;
	struct seen_list l = { 0 };
	uint8_t *data;
	size_t len, i;
	(void)state;

	stream_buf_init(&b);
	ok(sample_plain_stream(&b));
	data = sample_flatten(&b, &len);
	stream_reader_init(&r, NULL);
	ok(read_all(&r, data, len, len, &l));
	assert_int_equal(l.n, sizeof(plain_types) / sizeof(plain_types[0]));
	for (i = 0; i < l.n; i++) {
		assert_int_equal(l.v[i].item, plain_types[i][0]);
		assert_int_equal(l.v[i].type, plain_types[i][1]);
	}
	assert_int_equal(l.v[0].offset, 0);
	assert_int_equal(l.v[1].offset, 16);
	assert_int_equal(l.v[2].offset, 24);
	assert_int_equal(l.v[3].offset, 48);
	assert_int_equal(l.v[4].offset, 64);
	assert_int_equal(r.pos, STREAM_POS_DONE);
	assert_int_equal(r.off, len);
	seen_free(&l);
	stream_reader_free(&r);
	free(data);
	stream_buf_free(&b);
}

/* Same items, offsets and bodies whatever the piece size. */
static void test_read_piecewise_equal(void **state)
{
	static const size_t chunks[] = { 1, 2, 3, 7, 8, 13, 4095, 4097, 65536 };
	struct stream_buf b;
	struct seen_list whole = { 0 };
	struct stream_reader r;
	uint8_t *data;
	size_t len;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_xl_header(&b, "{}", 2));
	ok(sample_checkpointed_stream(&b, 3, 1, 1));
	data = sample_flatten(&b, &len);
	struct stream_reader_cfg cfg = { .remus_xenstore = true };
	stream_reader_init(&r, &cfg);
	ok(read_all(&r, data, len, len, &whole));
	stream_reader_free(&r);
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		struct seen_list l = { 0 };
		stream_reader_init(&r, &cfg);
		ok(read_all(&r, data, len, chunks[c], &l));
		assert_int_equal(l.n, whole.n);
		for (size_t i = 0; i < l.n; i++) {
			assert_int_equal(l.v[i].item, whole.v[i].item);
			assert_int_equal(l.v[i].type, whole.v[i].type);
			assert_int_equal(l.v[i].offset, whole.v[i].offset);
			assert_int_equal(l.v[i].length, whole.v[i].length);
			assert_int_equal(l.v[i].checkpoint, whole.v[i].checkpoint);
			assert_int_equal(l.v[i].body_len, whole.v[i].body_len);
			assert_memory_equal(l.v[i].body, whole.v[i].body, l.v[i].body_len);
		}
		seen_free(&l);
		stream_reader_free(&r);
	}
	seen_free(&whole);
	free(data);
	stream_buf_free(&b);
}

/* stream_reader_want() never asks for more than the current item. */
static void test_reader_want_exact(void **state)
{
	struct stream_buf b;
	struct stream_reader r;
	uint8_t *data;
	size_t len, pos = 0, items = 0;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 2, 0, 0));
	data = sample_flatten(&b, &len);
	stream_reader_init(&r, NULL);
	while (pos < len) {
		struct stream_rec rec;
		size_t want = stream_reader_want(&r), used;
		assert_true(want > 0);
		assert_true(pos + want <= len);
		int rc = stream_reader_feed(&r, data + pos, want, &used, &rec);
		assert_true(rc >= 0);
		assert_int_equal(used, want);
		pos += used;
		items += rc;
	}
	assert_int_equal(stream_reader_eof(&r), STREAM_EOF_CHECKPOINT);
	assert_int_equal(r.checkpoints, 2);
	assert_true(items > 10);
	stream_reader_free(&r);
	free(data);
	stream_buf_free(&b);
}

/* ---- every record type: written, read back, decoded ----------------------- */

static int next_rec(struct stream_reader *r, const uint8_t *data, size_t len, size_t *pos,
    struct stream_rec *rec)
{
	while (*pos < len) {
		size_t used;
		int rc = stream_reader_feed(r, data + *pos, len - *pos, &used, rec);
		*pos += used;
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void test_roundtrip_hvm_records(void **state)
{
	struct stream_buf b, blob;
	struct stream_reader r;
	struct stream_rec rec;
	uint8_t page[2][STREAM_PAGE_SIZE];
	const void *ptrs[3] = { page[0], NULL, page[1] };
	uint64_t pfns[3] = { 5, 7 | (0xfULL << 60), 9 };
	struct stream_hvm_param params[3] = { { 1, 2 }, { 3, 4 }, { HVM_PARAM_STORE_PFN, 0xfeffc } };
	struct stream_tsc_info tsc = { 2, 1234567, 0x123456789aULL, 9 };
	static const struct stream_kv kv[] = { { "a", "1" }, { "bb", "" } };
	struct stream_xs_perm perms[1] = { { 3, STREAM_XS_PERM_BOTH } };
	struct stream_xs_entry xs[3] = {
		{ .kind = STREAM_XS_NODE, .path_kind = STREAM_XS_ABSOLUTE, .path = "/local/domain/3/x",
		  .path_len = 17, .value = (const uint8_t *)"\0\1\2\0", .value_len = 4, .perms = perms, .nperms = 1 },
		{ .kind = STREAM_XS_WATCH, .path_kind = STREAM_XS_RELATIVE, .path = "device",
		  .path_len = 6, .value = (const uint8_t *)"t\0k", .value_len = 3 },
		{ .kind = STREAM_XS_RM, .path_kind = STREAM_XS_RELATIVE, .path = "old", .path_len = 3 },
	};
	uint8_t *data;
	size_t len, pos = 0;
	(void)state;

	memset(page[0], 0xa5, sizeof(page[0]));
	memset(page[1], 0x5a, sizeof(page[1]));
	stream_buf_init(&b);
	stream_buf_init(&blob);
	ok(sample_hvm_blob(&blob, 3));
	ok(sample_stream_start(&b));
	ok(stream_put_page_data(&b, pfns, ptrs, 3, STREAM_REF));
	ok(stream_put_verify(&b));
	ok(stream_put_tsc_info(&b, &tsc));
	ok(stream_put_hvm_context(&b, stream_buf_flat(&blob), stream_buf_size(&blob), 0));
	ok(stream_put_hvm_params(&b, params, 3));
	ok(stream_put_checkpoint(&b));
	ok(stream_put_emulator_xenstore_data(&b, STREAM_EMU_QEMU_UPSTREAM, 1, kv, 2));
	ok(stream_put_emulator_context(&b, STREAM_EMU_QEMU_TRAD, 2, "state", 5, STREAM_REF));
	ok(stream_put_checkpoint_state(&b, 0x55));
	ok(stream_put_xenstore(&b, 0, xs, 3));
	ok(stream_put_checkpoint_end(&b));
	ok(stream_put_libxc_end(&b));
	ok(stream_put_libxl_end(&b));
	data = sample_flatten(&b, &len);

	struct stream_reader_cfg cfg = { .remus_xenstore = true };
	stream_reader_init(&r, &cfg);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* libxl header */
	assert_int_equal(rec.u.libxl_hdr.version, 2);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* LIBXC_CONTEXT */
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* image header */
	assert_int_equal(rec.u.ihdr.version, 3);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* domain header */
	assert_int_equal(rec.u.dhdr.type, STREAM_DOM_X86_HVM);
	assert_int_equal(rec.u.dhdr.xen_major, 4);
	assert_int_equal(rec.u.dhdr.xen_minor, 17);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* CPUID */
	assert_int_equal(rec.type, STREAM_XC_X86_CPUID_POLICY);
	assert_int_equal(rec.u.policy.count, 2);
	assert_int_equal(get_le32(rec.u.policy.entries + 24 + 8), 0x806ec);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* MSR */
	assert_int_equal(rec.u.policy.count, 1);
	assert_int_equal(get_le32(rec.u.policy.entries), 0xce);
	assert_int_equal(get_le64(rec.u.policy.entries + 8), 0x80000000ULL);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* STATIC_DATA_END */
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* PAGE_DATA */
	assert_int_equal(rec.type, STREAM_XC_PAGE_DATA);
	assert_int_equal(rec.u.page_data.count, 3);
	assert_int_equal(rec.u.page_data.npages, 2);
	assert_int_equal(stream_pd_pfn(&rec.u.page_data, 0), 5);
	assert_int_equal(stream_pd_pfn(&rec.u.page_data, 1), 7 | (0xfULL << 60));
	assert_int_equal(stream_pd_pfn(&rec.u.page_data, 2), 9);
	assert_memory_equal(rec.u.page_data.pages, page[0], STREAM_PAGE_SIZE);
	assert_memory_equal(rec.u.page_data.pages + STREAM_PAGE_SIZE, page[1], STREAM_PAGE_SIZE);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* VERIFY */
	assert_int_equal(rec.type, STREAM_XC_VERIFY);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* TSC */
	assert_int_equal(rec.u.tsc.mode, 2);
	assert_int_equal(rec.u.tsc.khz, 1234567);
	assert_int_equal(rec.u.tsc.nsec, 0x123456789aULL);
	assert_int_equal(rec.u.tsc.incarnation, 9);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* HVM_CONTEXT */
	assert_int_equal(rec.length, stream_buf_size(&blob));
	assert_memory_equal(rec.body, stream_buf_flat(&blob), rec.length);
	{
		struct stream_hvm_iter it;
		struct stream_hvm_entry e;
		struct hvm_hw_cpu cpu;
		stream_hvm_iter_init(&it, rec.body, rec.length);
		assert_int_equal(stream_hvm_next(&it, &e, NULL), 1);
		assert_int_equal(e.typecode, HVM_SAVE_CODE(HEADER));
		assert_int_equal(e.length, sizeof(struct hvm_save_header));
		assert_int_equal(stream_hvm_next(&it, &e, NULL), 1);
		assert_int_equal(e.typecode, HVM_SAVE_CODE(CPU));
		assert_int_equal(e.length, 1032);
		memcpy(&cpu, e.data, sizeof(cpu));
		assert_int_equal(cpu.rip, 0x100003);
		assert_int_equal(stream_hvm_next(&it, &e, NULL), 0);
	}
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* HVM_PARAMS */
	assert_int_equal(rec.u.hvm_params.count, 3);
	assert_int_equal(stream_hvm_param_at(&rec, 2).index, HVM_PARAM_STORE_PFN);
	assert_int_equal(stream_hvm_param_at(&rec, 2).value, 0xfeffc);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* CHECKPOINT */
	assert_int_equal(rec.type, STREAM_XC_CHECKPOINT);
	assert_int_equal(r.pos, STREAM_POS_LIBXL_CKPT);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* EMU XS DATA */
	assert_int_equal(rec.item, STREAM_ITEM_LIBXL_RECORD);
	assert_int_equal(rec.type, STREAM_XL_EMULATOR_XENSTORE_DATA);
	assert_int_equal(rec.u.emu.id, STREAM_EMU_QEMU_UPSTREAM);
	assert_int_equal(rec.u.emu.index, 1);
	assert_int_equal(rec.u.emu.len, 8);
	assert_memory_equal(rec.u.emu.data, "a\0" "1\0" "bb\0" "\0", 8);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* EMU CONTEXT */
	assert_int_equal(rec.u.emu.id, STREAM_EMU_QEMU_TRAD);
	assert_int_equal(rec.u.emu.index, 2);
	assert_int_equal(rec.u.emu.len, 5);
	assert_memory_equal(rec.u.emu.data, "state", 5);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* CHECKPOINT_STATE */
	assert_int_equal(rec.u.checkpoint_state, 0x55);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* XENSTORE */
	assert_int_equal(rec.type, STREAM_XL_REMUS_XENSTORE);
	{
		struct stream_xs_iter it;
		struct stream_xs_entry e;
		ok(stream_xs_iter_init(&it, rec.body, rec.length, NULL));
		assert_int_equal(it.count, 3);
		assert_int_equal(it.flags, 0);
		assert_int_equal(stream_xs_next(&it, &e, NULL), 1);
		assert_int_equal(e.kind, STREAM_XS_NODE);
		assert_int_equal(e.path_kind, STREAM_XS_ABSOLUTE);
		assert_int_equal(e.path_len, 17);
		assert_memory_equal(e.path, "/local/domain/3/x", 17);
		assert_int_equal(e.value_len, 4);
		assert_memory_equal(e.value, "\0\1\2\0", 4);
		assert_int_equal(e.nperms, 1);
		assert_int_equal(stream_xs_perm_at(&e, 0).domid, 3);
		assert_int_equal(stream_xs_perm_at(&e, 0).perm, STREAM_XS_PERM_BOTH);
		assert_int_equal(stream_xs_next(&it, &e, NULL), 1);
		assert_int_equal(e.kind, STREAM_XS_WATCH);
		assert_int_equal(e.path_kind, STREAM_XS_RELATIVE);
		assert_memory_equal(e.path, "device", 6);
		assert_int_equal(e.value_len, 3);
		assert_memory_equal(e.value, "t\0k", 3);
		assert_int_equal(stream_xs_next(&it, &e, NULL), 1);
		assert_int_equal(e.kind, STREAM_XS_RM);
		assert_memory_equal(e.path, "old", 3);
		assert_int_equal(stream_xs_next(&it, &e, NULL), 0);
	}
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* CHECKPOINT_END */
	assert_int_equal(rec.type, STREAM_XL_CHECKPOINT_END);
	assert_int_equal(r.checkpoints, 1);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* libxc END */
	assert_int_equal(rec.item, STREAM_ITEM_LIBXC_RECORD);
	assert_int_equal(next_rec(&r, data, len, &pos, &rec), 1);   /* libxl END */
	assert_int_equal(rec.item, STREAM_ITEM_LIBXL_RECORD);
	assert_int_equal(r.pos, STREAM_POS_DONE);
	assert_int_equal(pos, len);
	ok(stream_reader_eof(&r));
	stream_reader_free(&r);
	free(data);
	stream_buf_free(&blob);
	stream_buf_free(&b);
}

static void test_roundtrip_pv_records(void **state)
{
	struct stream_buf b;
	struct stream_reader r;
	struct seen_list l = { 0 };
	uint8_t shinfo[STREAM_PAGE_SIZE], page[STREAM_PAGE_SIZE];
	uint64_t frames[2] = { 0x1000, 0x1001 };
	uint64_t pfns[2] = { 1 | (1ULL << 60), 2 | (0xeULL << 60) };  /* L1TAB, XALLOC */
	const void *ptrs[2] = { page, NULL };
	struct stream_tsc_info tsc = { 0, 1000000, 0, 0 };
	static const struct stream_cpuid_leaf cpuid = { 0, ~0u, 1, 2, 3, 4 };
	static const struct stream_msr_entry msr = { 1, 0, 2 };
	static const uint32_t want[] = {
		STREAM_XC_X86_PV_INFO, STREAM_XC_X86_CPUID_POLICY, STREAM_XC_X86_MSR_POLICY,
		STREAM_XC_STATIC_DATA_END, STREAM_XC_X86_PV_P2M_FRAMES, STREAM_XC_PAGE_DATA,
		STREAM_XC_X86_TSC_INFO, STREAM_XC_SHARED_INFO, STREAM_XC_X86_PV_VCPU_BASIC,
		STREAM_XC_X86_PV_VCPU_EXTENDED, STREAM_XC_X86_PV_VCPU_XSAVE,
		STREAM_XC_X86_PV_VCPU_MSRS, STREAM_XC_END,
	};
	uint8_t *data;
	size_t len;
	(void)state;

	memset(shinfo, 1, sizeof(shinfo));
	memset(page, 2, sizeof(page));
	stream_buf_init(&b);
	ok(stream_put_libxl_header(&b));
	ok(stream_put_libxc_context(&b));
	ok(stream_put_libxc_image_header(&b));
	ok(stream_put_libxc_domain_header(&b, STREAM_DOM_X86_PV, 4, 17));
	ok(stream_put_x86_pv_info(&b, 8, 4));
	ok(stream_put_cpuid_policy(&b, &cpuid, 1));
	ok(stream_put_msr_policy(&b, &msr, 1));
	ok(stream_put_static_data_end(&b));
	ok(stream_put_x86_pv_p2m_frames(&b, 0, 0x3ff, frames, 2));
	ok(stream_put_page_data(&b, pfns, ptrs, 2, 0));
	ok(stream_put_tsc_info(&b, &tsc));
	ok(stream_put_shared_info(&b, shinfo));
	ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_BASIC, 0, "ctx", 3));
	ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_EXTENDED, 0, "e", 1));
	ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_XSAVE, 0, "x", 1));
	ok(stream_put_x86_pv_vcpu(&b, STREAM_XC_X86_PV_VCPU_MSRS, 1, "m", 1));
	ok(stream_put_libxc_end(&b));
	ok(stream_put_libxl_end(&b));
	data = sample_flatten(&b, &len);
	stream_reader_init(&r, NULL);
	ok(read_all(&r, data, len, 5, &l));
	assert_int_equal(l.n, 4 + sizeof(want) / sizeof(want[0]) + 1);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_int_equal(l.v[4 + i].type, want[i]);
	/* p2m frames body: start, end, frames */
	assert_int_equal(l.v[8].length, 8 + 16);
	assert_int_equal(get_le32(l.v[8].body + 4), 0x3ff);
	assert_int_equal(get_le64(l.v[8].body + 16), 0x1001);
	/* PAGE_DATA: one data page (L1TAB) + one XALLOC */
	assert_int_equal(l.v[9].length, 8 + 16 + STREAM_PAGE_SIZE);
	assert_int_equal(get_le32(l.v[12].body), 0);   /* vcpu id */
	assert_int_equal(get_le32(l.v[15].body), 1);
	seen_free(&l);
	stream_reader_free(&r);
	free(data);
	stream_buf_free(&b);
}

/* COLO's dirty pfn list: written as Xen does, refused in a forward stream. */
static void test_dirty_pfn_list(void **state)
{
	static const uint8_t want[] = {
		0x0f, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0,
	};
	uint64_t pfns[2] = { 1, 2 };
	struct stream_buf b;
	(void)state;

	stream_buf_init(&b);
	ok(stream_put_dirty_pfn_list(&b, pfns, 2));
	assert_memory_equal(stream_buf_flat(&b), want, sizeof(want));
	stream_buf_free(&b);
}

/* ---- writer argument checks ----------------------------------------------- */

static void test_writer_rejects_bad_args(void **state)
{
	struct stream_buf b;
	uint8_t page[STREAM_PAGE_SIZE] = { 0 };
	const void *ptrs[2] = { page, page };
	uint64_t pfns[1025];
	(void)state;

	stream_buf_init(&b);
	for (int i = 0; i < 1025; i++)
		pfns[i] = (uint64_t)i;
	assert_int_equal(stream_put_page_data_ram(&b, pfns, 0, page, 0), -EINVAL);
	assert_int_equal(stream_put_page_data_ram(&b, pfns, 1025, page, 0), -EINVAL);
	pfns[0] = 1ULL << 55;    /* reserved bit */
	assert_int_equal(stream_put_page_data(&b, pfns, ptrs, 1, 0), -EINVAL);
	pfns[0] = 5ULL << 60;    /* invalid type */
	assert_int_equal(stream_put_page_data(&b, pfns, ptrs, 1, 0), -EINVAL);
	pfns[0] = 0xfULL << 60;  /* XTAB with a page pointer */
	assert_int_equal(stream_put_page_data(&b, pfns, ptrs, 1, 0), -EINVAL);
	assert_int_equal(stream_put_hvm_context(&b, page, 0, 0), -EINVAL);
	assert_int_equal(stream_put_cpuid_policy(&b, NULL, 0), -EINVAL);
	assert_int_equal(stream_put_libxc_domain_header(&b, 3, 4, 17), -EINVAL);
	{
		struct stream_xs_entry e = { .kind = STREAM_XS_NODE, .path_kind = STREAM_XS_ABSOLUTE,
			.path = "rel", .path_len = 3 };
		assert_int_equal(stream_put_xenstore(&b, 0, &e, 1), -EINVAL);
		e.path_kind = STREAM_XS_SPECIAL;  /* '@' only for watches */
		e.path = "@x";
		e.path_len = 2;
		assert_int_equal(stream_put_xenstore(&b, 0, &e, 1), -EINVAL);
	}
	/* failed writers leave nothing behind */
	assert_int_equal(stream_buf_size(&b), 0);
	stream_buf_free(&b);
}

/* ---- stream_buf ---------------------------------------------------------- */

/* Pages by reference: no copy in the buffer, same bytes on the wire. */
static void test_buf_ref_pages(void **state)
{
	static uint8_t ram[8 * STREAM_PAGE_SIZE];
	uint64_t pfns[3] = { 1, 2, 6 };
	struct stream_buf copy, ref;
	uint8_t *a, *b;
	size_t la, lb;
	(void)state;

	for (size_t i = 0; i < sizeof(ram); i++)
		ram[i] = (uint8_t)(i * 7 + i / 4096);
	stream_buf_init(&copy);
	stream_buf_init(&ref);
	ok(stream_put_page_data_ram(&copy, pfns, 3, ram, 0));
	ok(stream_put_page_data_ram(&ref, pfns, 3, ram, STREAM_REF));
	assert_int_equal(stream_buf_size(&copy), stream_buf_size(&ref));
	assert_true(ref.len < 100);      /* only headers and pfns are owned */
	assert_null(stream_buf_flat(&ref));
	/* pfns 1 and 2 are adjacent in RAM: one merged reference segment */
	assert_int_equal(ref.nsegs, 3);
	a = sample_flatten(&copy, &la);
	b = sample_flatten(&ref, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(a, b, la);
	free(a);
	free(b);
	stream_buf_free(&copy);
	stream_buf_free(&ref);
}

/* Non-blocking flush: -EAGAIN when the pipe is full, resumes exactly. */
static void test_buf_flush_nonblocking(void **state)
{
	struct stream_buf b;
	int fds[2];
	uint8_t *want, *got;
	size_t len, n = 0;
	int rc, eagain = 0;
	(void)state;

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 40, 1, 0));
	want = sample_flatten(&b, &len);
	assert_true(len > 65536 * 2);  /* more than a pipe holds */
	assert_int_equal(pipe(fds), 0);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	got = malloc(len);
	while ((rc = stream_buf_flush(&b, fds[1])) == -EAGAIN) {
		ssize_t r;
		eagain++;
		while ((r = read(fds[0], got + n, len - n)) > 0)
			n += (size_t)r;
	}
	ok(rc);
	assert_int_equal(stream_buf_pending(&b), 0);
	for (;;) {
		ssize_t r = read(fds[0], got + n, len - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	assert_true(eagain > 0);
	assert_int_equal(n, len);
	assert_memory_equal(got, want, len);
	close(fds[0]);
	close(fds[1]);
	free(got);
	free(want);
	stream_buf_free(&b);
}

/* A socket whose peer is gone: -EPIPE, no SIGPIPE. */
static void test_buf_flush_epipe(void **state)
{
	struct stream_buf b;
	int sv[2];
	(void)state;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	stream_buf_init(&b);
	ok(stream_put_libxl_header(&b));
	assert_int_equal(stream_buf_flush(&b, sv[0]), -EPIPE);
	assert_int_equal(stream_buf_pending(&b), 16);
	close(sv[0]);
	stream_buf_free(&b);
}

/* A record built piecewise (begin/end) equals the one-shot writer. */
static void test_begin_end_record(void **state)
{
	struct stream_buf a, b;
	(void)state;

	stream_buf_init(&a);
	stream_buf_init(&b);
	ok(stream_begin_record(&a, STREAM_XC_HVM_CONTEXT));
	assert_int_equal(stream_begin_record(&a, STREAM_XC_HVM_CONTEXT), -EBUSY);
	ok(sample_hvm_blob(&a, 1));
	ok(stream_end_record(&a));
	{
		struct stream_buf blob;
		stream_buf_init(&blob);
		ok(sample_hvm_blob(&blob, 1));
		ok(stream_put_hvm_context(&b, stream_buf_flat(&blob), stream_buf_size(&blob), 0));
		stream_buf_free(&blob);
	}
	assert_int_equal(stream_buf_size(&a), stream_buf_size(&b));
	assert_memory_equal(stream_buf_flat(&a), stream_buf_flat(&b), stream_buf_size(&a));
	stream_buf_free(&a);
	stream_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_libxl_header),
		cmocka_unit_test(test_golden_libxc_headers),
		cmocka_unit_test(test_golden_records),
		cmocka_unit_test(test_golden_xl_header),
		cmocka_unit_test(test_golden_streams),
		cmocka_unit_test(test_read_plain),
		cmocka_unit_test(test_read_piecewise_equal),
		cmocka_unit_test(test_reader_want_exact),
		cmocka_unit_test(test_roundtrip_hvm_records),
		cmocka_unit_test(test_roundtrip_pv_records),
		cmocka_unit_test(test_dirty_pfn_list),
		cmocka_unit_test(test_writer_rejects_bad_args),
		cmocka_unit_test(test_buf_ref_pages),
		cmocka_unit_test(test_buf_flush_nonblocking),
		cmocka_unit_test(test_buf_flush_epipe),
		cmocka_unit_test(test_begin_end_record),
	};
	return cmocka_run_group_tests_name("stream", tests, NULL, NULL);
}
