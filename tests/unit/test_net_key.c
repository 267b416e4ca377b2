/*
 * Key files (rnet_key_load): every refusal named, and the accepted forms
 * decoded exactly.  A key is a regular file of hex or base64 text holding
 * at least 32 bytes (256 bits); a FIFO at the path does not hang us.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/net.h"
#include "test_net_util.h"


/* Write `len` bytes to dir/name, mode 0600; the path into buf. */
static void write_bytes(const char *name, const void *data, size_t len, char *buf, size_t cap)
{
	int fd;

	snprintf(buf, cap, "%s/%s", tkeys_group.dir, name);
	fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Load must fail with RNET_EKEY and a message holding `why`. */
static void refused(const char *path, const char *why)
{
	struct remus_err err = { 0 };
	struct rnet_key k;

	assert_int_equal(rnet_key_load(path, &k, &err), RNET_EKEY);
	if (strstr(err.msg, why) == NULL)
		fail_msg("expected '%s' in '%s'", why, err.msg);
	assert_int_equal(k.len, 0);
}

static void test_hex_and_base64_decoded(void **state)
{
	/* openssl rand -hex 32 / -base64 32 of the same 32 bytes 0x00..0x1f */
	static const char hex[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n";
	static const char b64[] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n";
	struct remus_err err = { 0 };
	struct rnet_key a, b;
	char path[256];

	(void)state;
	write_bytes("hex.key", hex, strlen(hex), path, sizeof(path));
	assert_int_equal(rnet_key_load(path, &a, &err), 0);
	write_bytes("b64.key", b64, strlen(b64), path, sizeof(path));
	assert_int_equal(rnet_key_load(path, &b, &err), 0);
	assert_int_equal(a.len, 32);
	assert_int_equal(b.len, 32);
	for (int i = 0; i < 32; i++)
		assert_int_equal(a.bytes[i], i);
	assert_memory_equal(a.bytes, b.bytes, 32);
}

/* The case: 16 ASCII letters (12 bytes as base64) are refused. */
static void test_short_keys_refused(void **state)
{
	char path[256];

	(void)state;
	write_bytes("letters.key", "abcdefghijklmnop", 16, path, sizeof(path));
	refused(path, "key is 12 bytes (96 bits), need at least 32 (256 bits)");
	write_bytes("hex16.key", "0123456789abcdef0123456789abcdef\n", 33, path, sizeof(path));
	refused(path, "key is 16 bytes (128 bits)");
	write_bytes("empty.key", "\n", 1, path, sizeof(path));
	refused(path, "empty");
}

/* Raw bytes, bad base64: named, not guessed at. */
static void test_not_hex_nor_base64(void **state)
{
	uint8_t raw[32];
	char path[256];

	(void)state;
	for (int i = 0; i < 32; i++)
		raw[i] = (uint8_t)(0x80 + i);
	write_bytes("raw.key", raw, sizeof(raw), path, sizeof(path));
	refused(path, "neither hex nor base64 (byte 0 is 0x80)");
	write_bytes("b64len.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8", 43, path, sizeof(path));
	refused(path, "base64 length 43 is not a multiple of 4");
	write_bytes("b64pad.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdH=8=", 44, path, sizeof(path));
	refused(path, "neither hex nor base64 (byte 41 is 0x3d)");
}

/* Sizes are exact: a 4097-byte file is read whole (no cut at 4096), the
 * longest key is accepted and one byte more is refused, as is a file
 * beyond the limit. */
static void test_exact_sizes(void **state)
{
	struct remus_err err = { 0 };
	size_t cap = 2 * RNET_KEY_MAX + 16;
	char *t = malloc(cap), path[256];
	struct rnet_key k;

	(void)state;
	assert_non_null(t);
	for (size_t i = 0; i < cap; i++)
		t[i] = "0123456789abcdef"[i % 16];
	t[4094] = 'f';
	t[4095] = 'e';                  /* the last hex pair of a 4096-char key */
	t[4096] = '\n';                 /* a 4097-byte file */
	write_bytes("k4097.key", t, 4097, path, sizeof(path));
	assert_int_equal(rnet_key_load(path, &k, &err), 0);
	assert_int_equal(k.len, 2048);
	assert_int_equal(k.bytes[2047], 0xfe);
	for (size_t i = 0; i < cap; i++)
		t[i] = "0123456789abcdef"[i % 16];
	write_bytes("kmax.key", t, 2 * RNET_KEY_MAX, path, sizeof(path));
	assert_int_equal(rnet_key_load(path, &k, &err), 0);
	assert_int_equal(k.len, RNET_KEY_MAX);
	write_bytes("kmax1.key", t, 2 * RNET_KEY_MAX + 2, path, sizeof(path));
	refused(path, "key longer than 4096 bytes");
	write_bytes("khuge.key", t, cap, path, sizeof(path));
	refused(path, "size 8208 outside 1..8194 bytes");
	free(t);
}

/* A FIFO at the key path: refused at once (O_NONBLOCK open), not a hang;
 * a directory and a symlink likewise. */
static void test_not_regular_refused(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_key k;
	char path[256];

	(void)state;
	snprintf(path, sizeof(path), "%s/fifo.key", tkeys_group.dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	refused(path, "not a regular file");
	snprintf(path, sizeof(path), "%s/dir.key", tkeys_group.dir);
	assert_int_equal(mkdir(path, 0700), 0);
	refused(path, "not a regular file");
	snprintf(path, sizeof(path), "%s/link.key", tkeys_group.dir);
	assert_int_equal(symlink(tkeys_group.good, path), 0);
	assert_int_equal(rnet_key_load(path, &k, &err), -ELOOP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hex_and_base64_decoded),
		cmocka_unit_test(test_short_keys_refused),
		cmocka_unit_test(test_not_hex_nor_base64),
		cmocka_unit_test(test_exact_sizes),
		cmocka_unit_test(test_not_regular_refused),
	};

	return cmocka_run_group_tests(tests, tkeys_group_setup, tkeys_group_teardown);
}
