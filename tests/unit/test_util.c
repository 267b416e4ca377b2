/* Unit tests for lib/util: error contexts, checked arithmetic, log lines. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "util/checked.h"
#include "util/err.h"
#include "util/io.h"
#include "util/log.h"

#include <stdio.h>
#include <unistd.h>

static void test_err_set_returns_code(void **state)
{
	struct remus_err err = { 0 };
	(void)state;
	assert_int_equal(remus_err_set(&err, -7, "record at offset %d", 16), -7);
	assert_int_equal(err.code, -7);
	assert_string_equal(err.msg, "record at offset 16");
}

static void test_err_sys_appends_strerror(void **state)
{
	struct remus_err err = { 0 };
	(void)state;
	assert_int_equal(remus_err_sys(&err, ENOENT, "open %s", "x.img"), -ENOENT);
	assert_string_equal(err.msg, "open x.img: No such file or directory");
}

static void test_err_wrap_prefixes(void **state)
{
	struct remus_err err = { 0 };
	(void)state;
	remus_err_set(&err, -1, "truncated record");
	remus_err_wrap(&err, "restore %s", "g1");
	assert_string_equal(err.msg, "restore g1: truncated record");
	assert_int_equal(err.code, -1);
}

static void test_checked_overflow(void **state)
{
	size_t out = 5;
	uint64_t o64 = 0;
	(void)state;
	assert_false(ck_add_size(SIZE_MAX, 1, &out));
	assert_int_equal(out, 5);
	assert_true(ck_mul_size(4096, 1024, &out));
	assert_int_equal(out, 4096 * 1024);
	assert_false(ck_mul_size(SIZE_MAX / 2, 3, &out));
	assert_true(ck_align8(9, &out));
	assert_int_equal(out, 16);
	assert_false(ck_align8(SIZE_MAX - 3, &out));
	assert_false(ck_add_u64(UINT64_MAX, 2, &o64));
}

/* Whole-buffer I/O: a round trip at an offset, EOF as -EIO, errors as -errno. */
static void test_io_all(void **state)
{
	FILE *f = tmpfile();
	uint8_t out[10000], in[10000];
	int fd;
	(void)state;
	assert_non_null(f);
	fd = dup(fileno(f));
	fclose(f);
	assert_true(fd >= 0);
	for (size_t i = 0; i < sizeof(out); i++)
		out[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(io_pwrite_all(fd, out, sizeof(out), 4096), 0);
	assert_int_equal(io_pread_all(fd, in, sizeof(in), 4096), 0);
	assert_memory_equal(in, out, sizeof(out));
	assert_int_equal(io_pread_all(fd, in, 100, 4096 + sizeof(out) - 50), -EIO);
	close(fd);
	assert_int_equal(io_pread_all(fd, in, 1, 0), -EBADF);
}

/* ISO 8601 UTC with milliseconds, truncated (a line is never stamped in
 * the future), from fixed times. */
static void test_log_format_time(void **state)
{
	char buf[64];
	struct timespec ts = { 1796648701, 123999999 };
	(void)state;
	assert_int_equal(log_format_time(&ts, buf, sizeof(buf)), 24);
	assert_string_equal(buf, "2026-12-07T13:05:01.123Z");
	ts = (struct timespec){ 0, 0 };
	log_format_time(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	ts = (struct timespec){ 951782400, 7000000 };            /* a leap day */
	log_format_time(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2000-02-29T00:00:00.007Z");
	ts = (struct timespec){ 4102444799, 999999999 };
	log_format_time(&ts, buf, sizeof(buf));
	assert_string_equal(buf, "2099-12-31T23:59:59.999Z");
	/* too small a buffer, or a nanosecond field out of range: refused */
	assert_int_equal(log_format_time(&ts, buf, 24), -1);
	assert_int_equal(log_format_time(&ts, buf, 10), -1);
	ts.tv_nsec = 1000000000L;
	assert_int_equal(log_format_time(&ts, buf, sizeof(buf)), -1);
	ts.tv_nsec = -1;
	assert_int_equal(log_format_time(&ts, buf, sizeof(buf)), -1);
}

static void test_log_format_line(void **state)
{
	char buf[128], small[40];
	struct timespec ts = { 1796648701, 123456789 };
	(void)state;
	assert_int_equal(log_format_line(buf, sizeof(buf), &ts, "remusd", 123, "kvstore: protected"),
	                 (int)strlen("2026-12-07T13:05:01.123Z remusd[123]: kvstore: protected"));
	assert_string_equal(buf, "2026-12-07T13:05:01.123Z remusd[123]: kvstore: protected");
	/* truncated like snprintf, never past the buffer */
	assert_int_equal(log_format_line(small, sizeof(small), &ts, "remusd", 123, "kvstore: protected"),
	                 (int)sizeof(small) - 1);
	assert_string_equal(small, "2026-12-07T13:05:01.123Z remusd[123]: k");
	ts.tv_nsec = 2000000000L;
	assert_int_equal(log_format_line(buf, sizeof(buf), &ts, "remusd", 1, "x"), -1);
}

/* stderr is the journal only when JOURNAL_STREAM names that very stream. */
static void test_log_stream_is_journal(void **state)
{
	struct stat st = { .st_dev = 8, .st_ino = 123456 };
	(void)state;
	assert_true(log_stream_is_journal("8:123456", &st));
	assert_false(log_stream_is_journal(NULL, &st));
	assert_false(log_stream_is_journal("", &st));
	assert_false(log_stream_is_journal("8:123457", &st));      /* inherited, redirected */
	assert_false(log_stream_is_journal("9:123456", &st));
	assert_false(log_stream_is_journal("8:123456x", &st));
	assert_false(log_stream_is_journal("8", &st));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_set_returns_code),
		cmocka_unit_test(test_err_sys_appends_strerror),
		cmocka_unit_test(test_err_wrap_prefixes),
		cmocka_unit_test(test_checked_overflow),
		cmocka_unit_test(test_io_all),
		cmocka_unit_test(test_log_format_time),
		cmocka_unit_test(test_log_format_line),
		cmocka_unit_test(test_log_stream_is_journal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
