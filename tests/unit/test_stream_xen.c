/*
 * Xen's own stream checker as an external judge: verify-stream-v2 from
 * xen-utils-4.17 (unpacked into $BUILD/tools/xen-utils-4.17 by
 * tools/remus-stream/fetch-xen-verify.sh) must accept our plain streams
 * (-f libxl, -f xl), each checkpoint's libxc slice (-f libxc) and a whole
 * checkpointed stream in the "flat" layout it can follow.
 *
 * Its Python 3 bug: it compares bytes with str on a non-empty
 * EMULATOR_XENSTORE_DATA and fails "Data not NUL terminated".  Streams with
 * such a record are judged by a copy with exactly that comparison fixed;
 * the unfixed checker is shown to fail on them for that reason only.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "stream/stream.h"
#include "tests/unit/stream_sample.h"
#include "tests/unit/stream_testlib.h"

#define ok(x) assert_int_equal((x), 0)

static char root[512];     /* unpacked package */
static char fixed[600];    /* PYTHONPATH of the copy with the bytes/str fix */
static char tmpdir[64];

/* Replace the one occurrence of `from` by `to` in s (of size cap). */
static int replace_once(char *s, size_t cap, const char *from, const char *to)
{
	char *p = strstr(s, from);
	size_t fl = strlen(from), tl = strlen(to), rest;

	if (p == NULL || strlen(s) - fl + tl + 1 > cap)
		return -1;
	rest = strlen(p + fl) + 1;
	memmove(p + tl, p + fl, rest);
	memcpy(p, to, tl);
	return 0;
}

/* Fix exactly the bytes-vs-str comparison of libxl.py (Python 3 bug). */
static int fix_python3_bug(const char *pydir)
{
	static char text[1 << 16];
	char path[700];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/xen/migration/libxl.py", pydir);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	if (replace_once(text, sizeof(text), "if content[-1] != '\\x00':",
	    "if content[-1:] != b'\\x00':") < 0 ||
	    replace_once(text, sizeof(text), "content[:-1].split(\"\\x00\")",
	    "content[:-1].split(b\"\\x00\")") < 0)
		return -1;
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

static int setup(void **state)
{
	const char *b = getenv("BUILD") ? getenv("BUILD") : "build";
	const char *env = getenv("REMUS_XEN_VERIFY_ROOT");
	char cmd[2048], path[700];
	(void)state;

	snprintf(root, sizeof(root), "%s", env ? env : "");
	if (!env)
		snprintf(root, sizeof(root), "%s/tools/xen-utils-4.17/root", b);
	snprintf(path, sizeof(path), "%s/usr/lib/xen-4.17/bin/verify-stream-v2", root);
	if (access(path, X_OK) != 0) {
		root[0] = '\0';
		return 0;
	}
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/remus-xenverify-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(fixed, sizeof(fixed), "%s/python", tmpdir);
	snprintf(cmd, sizeof(cmd), "cp -r '%s/usr/lib/xen-4.17/lib/python' '%s'", root, fixed);
	if (system(cmd) != 0 || fix_python3_bug(fixed) != 0) {
		fprintf(stderr, "cannot make the fixed copy of verify-stream-v2\n");
		return -1;
	}
	return 0;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;

	if (tmpdir[0]) {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
		if (system(cmd) != 0)
			return -1;
	}
	return 0;
}

#define NEED_JUDGE() do { if (!root[0]) { \
	fprintf(stderr, "verify-stream-v2 not available (run make check to fetch it)\n"); \
	skip(); } } while (0)

/*
 * Run the judge on `len` bytes; returns its exit status and leaves its
 * output in `out`.  `use_fixed`: the copy with the bytes/str fix.
 */
static int judge(const char *fmt, const uint8_t *d, size_t len, bool use_fixed, char *out, size_t outlen)
{
	char file[128], log[128], cmd[2048];
	FILE *f;
	int st;
	size_t n;

	snprintf(file, sizeof(file), "%s/stream.bin", tmpdir);
	snprintf(log, sizeof(log), "%s/verify.log", tmpdir);
	f = fopen(file, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(d, 1, len, f), len);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s' python3 '%s/usr/lib/xen-4.17/bin/verify-stream-v2' "
	    "-f %s -i '%s' >'%s' 2>&1", use_fixed ? fixed : "", root, fmt, file, log);
	if (!use_fixed)
		snprintf(cmd, sizeof(cmd), "PYTHONPATH='%s/usr/lib/xen-4.17/lib/python' python3 "
		    "'%s/usr/lib/xen-4.17/bin/verify-stream-v2' -f %s -i '%s' >'%s' 2>&1",
		    root, root, fmt, file, log);
	st = system(cmd);
	f = fopen(log, "r");
	assert_non_null(f);
	n = fread(out, 1, outlen - 1, f);
	out[n] = '\0';
	fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void expect_accept(const char *fmt, const struct stream_buf *b, bool use_fixed)
{
	static char out[1 << 16];
	size_t len;
	uint8_t *d = sample_flatten(b, &len);
	int rc = judge(fmt, d, len, use_fixed, out, sizeof(out));

	if (rc != 0)
		fail_msg("verify-stream-v2 -f %s%s rejected our stream (exit %d):\n%s", fmt,
		    use_fixed ? " (bytes/str fix)" : "", rc, out);
	free(d);
}

/* The layout pvm save writes: no EMULATOR_XENSTORE_DATA. */
static void pvm_like_stream(struct stream_buf *b, size_t devlen)
{
	uint8_t dev[64];

	memset(dev, 0x3c, sizeof(dev));
	ok(sample_stream_start(b));
	ok(sample_checkpoint_body(b, 0));
	ok(stream_put_libxc_end(b));
	ok(stream_put_emulator_context(b, STREAM_EMU_UNKNOWN, 0, dev, devlen, 0));
	ok(stream_put_libxl_end(b));
}

static void test_plain_stream_accepted(void **state)
{
	struct stream_buf b;
	(void)state;
	NEED_JUDGE();

	stream_buf_init(&b);
	pvm_like_stream(&b, 64);
	expect_accept("libxl", &b, false);
	stream_buf_reset(&b);
	ok(stream_put_xl_header(&b, "{\"c_info\":{\"type\":\"pvh\"}}", 25));
	pvm_like_stream(&b, 61);
	expect_accept("xl", &b, false);
	stream_buf_free(&b);
}

/* With EMULATOR_XENSTORE_DATA: the unfixed checker trips on its own bug. */
static void test_xenstore_data_and_the_python3_bug(void **state)
{
	static char out[1 << 16];
	struct stream_buf b;
	uint8_t *d;
	size_t len;
	(void)state;
	NEED_JUDGE();

	stream_buf_init(&b);
	ok(sample_plain_stream(&b));
	expect_accept("libxl", &b, true);
	d = sample_flatten(&b, &len);
	assert_int_equal(judge("libxl", d, len, false, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "Data not NUL terminated"));
	/* the record is NUL-terminated: its last body byte is 0 */
	assert_non_null(strstr(out, "verify_record_emulator_xenstore_data"));
	free(d);
	stream_buf_free(&b);
}

/* Byte ranges of items, by checkpoint, from our own reader. */
struct layout {
	struct seen_list l;
	uint8_t *d;
	size_t len;
};

static size_t rec_size(const struct seen *s)
{
	if (s->item == STREAM_ITEM_LIBXL_RECORD || s->item == STREAM_ITEM_LIBXC_RECORD)
		return 8 + s->length + (8 - s->length % 8) % 8;
	return s->length;
}

static void layout_of(const struct stream_buf *b, struct layout *lo, int want_eof)
{
	struct stream_reader r;
	struct stream_reader_cfg cfg = { .remus_xenstore = true };

	memset(lo, 0, sizeof(*lo));
	lo->d = sample_flatten(b, &lo->len);
	stream_reader_init(&r, &cfg);
	assert_int_equal(read_all(&r, lo->d, lo->len, lo->len, &lo->l), want_eof);
	stream_reader_free(&r);
}

static void append_item(struct stream_buf *out, const struct layout *lo, const struct seen *s)
{
	ok(stream_buf_append(out, lo->d + s->offset, rec_size(s)));
}

/* Each checkpoint's libxc records, cut out of a real checkpointed stream. */
static void test_checkpoint_slices_accepted(void **state)
{
	struct stream_buf b, slice;
	struct layout lo;
	const struct seen *ihdr = NULL, *dhdr = NULL;
	(void)state;
	NEED_JUDGE();

	stream_buf_init(&b);
	ok(sample_checkpointed_stream(&b, 3, 0, 0));
	layout_of(&b, &lo, STREAM_EOF_CHECKPOINT);
	for (size_t i = 0; i < lo.l.n; i++) {
		if (lo.l.v[i].item == STREAM_ITEM_LIBXC_IMAGE_HEADER)
			ihdr = &lo.l.v[i];
		if (lo.l.v[i].item == STREAM_ITEM_LIBXC_DOMAIN_HEADER)
			dhdr = &lo.l.v[i];
	}
	assert_non_null(ihdr);
	assert_non_null(dhdr);
	stream_buf_init(&slice);
	for (uint64_t ck = 1; ck <= 3; ck++) {
		size_t n = 0;
		stream_buf_reset(&slice);
		append_item(&slice, &lo, ihdr);
		append_item(&slice, &lo, dhdr);
		for (size_t i = 0; i < lo.l.n; i++) {
			const struct seen *s = &lo.l.v[i];
			if (s->item == STREAM_ITEM_LIBXC_RECORD && s->checkpoint == ck) {
				append_item(&slice, &lo, s);
				n++;
			}
		}
		assert_true(n >= 5);   /* PAGE_DATA, TSC, HVM_CONTEXT, HVM_PARAMS, CHECKPOINT */
		ok(stream_put_libxc_end(&slice));
		expect_accept("libxc", &slice, false);
	}
	stream_buf_free(&slice);
	seen_free(&lo.l);
	free(lo.d);
	stream_buf_free(&b);
}

/*
 * The whole checkpointed stream rearranged as the checker can read it: all
 * libxc records (several CHECKPOINTs) + libxc END, then all libxl records.
 * Our reader reads the same bytes with flat_checkpoints.
 */
static void test_flat_layout_accepted(void **state)
{
	struct stream_buf b, flat;
	struct layout lo;
	(void)state;
	NEED_JUDGE();

	stream_buf_init(&b);
	stream_buf_init(&flat);
	ok(sample_checkpointed_stream(&b, 3, 0, 0));
	layout_of(&b, &lo, STREAM_EOF_CHECKPOINT);
	for (size_t i = 0; i < lo.l.n; i++) {
		const struct seen *s = &lo.l.v[i];
		if (s->item != STREAM_ITEM_LIBXL_RECORD || s->type == STREAM_XL_LIBXC_CONTEXT)
			append_item(&flat, &lo, s);
	}
	ok(stream_put_libxc_end(&flat));
	for (size_t i = 0; i < lo.l.n; i++) {
		const struct seen *s = &lo.l.v[i];
		if (s->item == STREAM_ITEM_LIBXL_RECORD && s->type != STREAM_XL_LIBXC_CONTEXT)
			append_item(&flat, &lo, s);
	}
	ok(stream_put_libxl_end(&flat));
	expect_accept("libxl", &flat, true);
	{
		struct stream_reader_cfg cfg = { .flat_checkpoints = true };
		size_t len;
		uint8_t *d = sample_flatten(&flat, &len);
		struct stream_reader r;
		stream_reader_init(&r, &cfg);
		ok(read_all(&r, d, len, 4096, NULL));
		assert_int_equal(r.checkpoints, 3);
		stream_reader_free(&r);
		free(d);
	}
	seen_free(&lo.l);
	free(lo.d);
	stream_buf_free(&flat);
	stream_buf_free(&b);
}

/* The judge is awake: it rejects bad padding and our own record type. */
static void test_judge_rejects(void **state)
{
	static char out[1 << 16];
	struct stream_buf b;
	uint8_t *d;
	size_t len;
	(void)state;
	NEED_JUDGE();

	stream_buf_init(&b);
	pvm_like_stream(&b, 61);   /* 3 bytes of padding before the libxl END */
	d = sample_flatten(&b, &len);
	d[len - 8 - 1] = 1;
	assert_int_equal(judge("libxl", d, len, false, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "Padding containing non0 bytes found"));
	free(d);

	/* REMUS_XENSTORE is ours: a plain Xen receiver does not know it */
	stream_buf_reset(&b);
	ok(sample_stream_start(&b));
	ok(sample_checkpoint_body(&b, 0));
	ok(stream_put_libxc_end(&b));
	{
		struct stream_xs_entry e = { .kind = STREAM_XS_WATCH, .path_kind = STREAM_XS_SPECIAL,
			.path = "@releaseDomain", .path_len = 14, .value = (const uint8_t *)"t", .value_len = 1 };
		ok(stream_put_xenstore(&b, 0, &e, 1));
	}
	ok(stream_put_libxl_end(&b));
	d = sample_flatten(&b, &len);
	assert_int_equal(judge("libxl", d, len, false, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "Unrecognised record type 524d5853"));
	free(d);
	stream_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_plain_stream_accepted),
		cmocka_unit_test(test_xenstore_data_and_the_python3_bug),
		cmocka_unit_test(test_checkpoint_slices_accepted),
		cmocka_unit_test(test_flat_layout_accepted),
		cmocka_unit_test(test_judge_rejects),
	};
	return cmocka_run_group_tests_name("stream_xen_verify", tests, setup, teardown);
}
