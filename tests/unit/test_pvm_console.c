/*
 * The pvm console never blocks the monitor: with a pipe nobody reads the
 * guest can still be paused and saved, and what did not fit is counted
 * (hv_info.console_dropped); on a log file control characters arrive
 * escaped, on a pipe raw.  pvm_console_escape itself, byte by byte.
 */
#include <fcntl.h>
#include <sys/mman.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

#define MEM (16ULL << 20)

static void test_escape_bytes(void **state)
{
	const uint8_t in[] = "a\x1b[1m\r\n\tz\x7f\x01\xc3\xa9";
	uint8_t out[64];
	size_t used, n;

	(void)state;
	n = pvm_console_escape(in, sizeof(in) - 1, out, sizeof(out), &used);
	assert_int_equal(used, sizeof(in) - 1);
	assert_int_equal(n, strlen("a\\x1b[1m\\x0d\n\tz\\x7f\\x01\xc3\xa9"));
	assert_memory_equal(out, "a\\x1b[1m\\x0d\n\tz\\x7f\\x01\xc3\xa9", n);
	/* an escape that does not fit is not split */
	n = pvm_console_escape(in, sizeof(in) - 1, out, 3, &used);
	assert_int_equal(n, 1);
	assert_int_equal(used, 1);
}

/* Poll info until at least `min` console bytes were dropped (bounded). */
static uint64_t wait_dropped(struct hv_guest *g, uint64_t min)
{
	struct timespec t0, t;
	struct hv_info in;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pvm_hv_ops.info(g, &in);
		if (in.console_dropped >= min)
			return in.console_dropped;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 20)
			fail_msg("console_dropped %llu after 20 s", (unsigned long long)in.console_dropped);
		usleep(10000);
	}
}

/* A pipe nobody reads: the guest keeps running, suspend/save answer, the
 * dropped bytes are counted; the pipe holds raw (unescaped) output. */
static void test_unread_pipe_never_blocks(void **state)
{
	struct remus_err err = { 0 };
	struct hv_guest_config cfg;
	struct hv_blob hvm = { 0 }, emu = { 0 };
	struct hv_guest *g;
	char head[16];
	int pfd[2];

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	pt_config(&cfg, "chatty", "chatty", MEM, pfd[1]);
	g = pt_boot(&cfg);
	wait_dropped(g, 1);              /* the pipe (64 KiB) and our buffer are full */
	for (int i = 0; i < 20; i++) {   /* pauses keep working */
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		assert_int_equal(pvm_hv_ops.save_cpu(g, &hvm, &err), 0);
		assert_int_equal(pvm_hv_ops.save_devices(g, &emu, &err), 0);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
	}
	assert_int_equal(read(pfd[0], head, sizeof(head)), (ssize_t)sizeof(head));
	assert_memory_equal(head, "chatty \x1b[31mred\x1b", sizeof(head));
	pvm_hv_ops.destroy(g);
	hv_blob_free(&hvm);
	hv_blob_free(&emu);
	close(pfd[0]);
	close(pfd[1]);
}

/* A log file: escape sequences and carriage returns arrive escaped. */
static void test_log_file_escaped(void **state)
{
	char buf[256];
	struct hv_guest_config cfg;
	struct hv_guest *g;
	struct timespec t0, t;
	ssize_t n = 0;
	int fd;

	(void)state;
	fd = memfd_create("console-log", MFD_CLOEXEC);     /* a regular file */
	assert_true(fd >= 0);
	pt_config(&cfg, "chatty", "chatty", MEM, fd);
	g = pt_boot(&cfg);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (n < 100) {
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 20);
	}
	pvm_hv_ops.destroy(g);
	buf[n] = 0;
	assert_non_null(strstr(buf, "chatty \\x1b[31mred\\x1b[0m\\x0d line 0\nchatty "));
	assert_null(strchr(buf, 0x1b));
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escape_bytes),
		cmocka_unit_test(test_unread_pipe_never_blocks),
		cmocka_unit_test(test_log_file_escaped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
