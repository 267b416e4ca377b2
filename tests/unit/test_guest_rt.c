/*
 * Unit tests for the guest runtime pieces that run anywhere: formatting,
 * heap, CRC-32, decimal parsing, the kvstore log codec/replay and the
 * HTTP head parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "guest/apps/http_parse.h"
#include "guest/apps/kvlog.h"
#include "guest/rt/rt.h"

/* Console and exit stubs: fmt.c's rt_printf/rt_panic need them. */
static char console[1024];
static size_t console_len;

int64_t hc_console_write(const char *buf, uint64_t len)
{
	if (len > sizeof(console) - console_len)
		len = sizeof(console) - console_len;
	memcpy(console + console_len, buf, len);
	console_len += len;
	return (int64_t)len;
}

_Noreturn void hc_exit(int64_t code)
{
	exit((int)code);
}

/* Compare rt_snprintf against libc for one format. */
#define CHECK_FMT(...) do { \
	char a[128], b[128]; \
	int na = rt_snprintf(a, sizeof(a), __VA_ARGS__); \
	int nb = snprintf(b, sizeof(b), __VA_ARGS__); \
	assert_string_equal(a, b); \
	assert_int_equal(na, nb); \
} while (0)

static void test_fmt_matches_libc(void **state)
{
	(void)state;
	CHECK_FMT("%d %i %u", -42, 7, 3000000000u);
	CHECK_FMT("%5d|%-5d|%05d|%3d", 42, 42, -42, 12345);
	CHECK_FMT("%x %X %08x", 0xbeefu, 0xbeefu, 0x1fu);
	CHECK_FMT("%lld %llu %zu", -9223372036854775807LL - 1, 18446744073709551615ULL,
		  (size_t)12345);
	CHECK_FMT("%s|%10s|%-10s|%.3s|%.*s", "abc", "right", "left", "truncate", 2, "xyz");
	CHECK_FMT("%c%c %% done", 'o', 'k');
	CHECK_FMT("%hhu %hd", 300, 70000);
	CHECK_FMT("%s", "");
}

static void test_fmt_truncates(void **state)
{
	char buf[8];
	int n;

	(void)state;
	n = rt_snprintf(buf, sizeof(buf), "0123456789");
	assert_int_equal(n, 10);
	assert_string_equal(buf, "0123456");
	n = rt_snprintf(NULL, 0, "%d", 12345);
	assert_int_equal(n, 5);
	console_len = 0;
	rt_printf("hello %d\n", 5);
	assert_int_equal(console_len, 8);
	assert_memory_equal(console, "hello 5\n", 8);
}

static void test_heap_reuse_and_exhaustion(void **state)
{
	static uint8_t region[1 << 16];
	struct rt_heap h;
	void *a, *b, *c;

	(void)state;
	rt_heap_init(&h, region, sizeof(region));
	a = rt_heap_alloc(&h, 100);
	b = rt_heap_alloc(&h, 100);
	assert_non_null(a);
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal((uintptr_t)a % 16, 0);
	memset(a, 0xaa, 100);
	memset(b, 0xbb, 100);
	rt_heap_free(&h, a);
	c = rt_heap_alloc(&h, 90);          /* same class: reuses a */
	assert_ptr_equal(c, a);
	assert_int_equal(((uint8_t *)b)[99], 0xbb);
	assert_null(rt_heap_alloc(&h, sizeof(region)));
	assert_null(rt_heap_alloc(&h, SIZE_MAX - 4));
	while (rt_heap_alloc(&h, 1000))
		;
	assert_true(h.in_use <= sizeof(region));
	rt_heap_free(&h, NULL);
}

static void test_crc_and_parse(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(rt_crc32(0, "123456789", 9), 0xCBF43926u);
	assert_int_equal(rt_crc32(rt_crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
	assert_true(rt_parse_u64("18446744073709551615", 20, &v));
	assert_true(v == UINT64_MAX);
	assert_false(rt_parse_u64("18446744073709551616", 20, &v));
	assert_false(rt_parse_u64("12a", 3, &v));
	assert_false(rt_parse_u64("", 0, &v));
	assert_true(rt_parse_u64("007", 3, &v) && v == 7);
}

/* ---- kvlog: build images in memory, replay them ---- */
struct mem_disk {
	uint8_t *p;
	size_t sectors;
};

static int mem_read(void *user, uint64_t sector, void *buf, uint64_t nsec)
{
	struct mem_disk *d = user;

	if (sector + nsec > d->sectors)
		return -5;
	memcpy(buf, d->p + sector * KVLOG_SECTOR, nsec * KVLOG_SECTOR);
	return 0;
}

struct applied {
	unsigned n;
	uint64_t last_seq;
	char last_key[KVLOG_KEY_MAX + 1];
};

static void count_apply(void *user, uint64_t seq, const uint8_t *k, size_t klen,
			const uint8_t *v, size_t vlen)
{
	struct applied *a = user;

	(void)v;
	(void)vlen;
	a->n++;
	a->last_seq = seq;
	memcpy(a->last_key, k, klen);
	a->last_key[klen] = '\0';
}

/* Append a batch of n records "kI"="vI" at *sector; returns its size in sectors. */
static uint32_t put_batch(struct mem_disk *d, uint64_t *sector, uint64_t first, unsigned n)
{
	struct kvlog_batch b = { .buf = malloc(KVLOG_BATCH_MAX) };
	char k[16], v[16];
	uint32_t nsec;

	kvlog_batch_reset(&b, first);
	for (unsigned i = 0; i < n; i++) {
		int kl = snprintf(k, sizeof(k), "k%u", i), vl = snprintf(v, sizeof(v), "v%u", i);
		assert_true(kvlog_batch_add(&b, (uint8_t *)k, (size_t)kl, (uint8_t *)v, (size_t)vl));
	}
	nsec = kvlog_batch_seal(&b);
	memcpy(d->p + *sector * KVLOG_SECTOR, b.buf, nsec * KVLOG_SECTOR);
	*sector += nsec;
	free(b.buf);
	return nsec;
}

static void test_kvlog_replay(void **state)
{
	struct mem_disk d = { calloc(64, KVLOG_SECTOR), 64 };
	uint8_t *buf = malloc(KVLOG_BATCH_MAX);
	struct kvlog_replay rp;
	struct applied a = { 0 };
	uint64_t sector = 0;
	uint32_t second;

	(void)state;
	put_batch(&d, &sector, 1, 3);
	second = put_batch(&d, &sector, 4, 200);
	assert_int_equal(kvlog_replay(mem_read, &d, d.sectors, buf, count_apply, &a, &rp), 0);
	assert_int_equal(a.n, 203);
	assert_int_equal(rp.records, 203);
	assert_int_equal(rp.batches, 2);
	assert_true(rp.next_seq == 204 && rp.next_sector == sector);
	assert_string_equal(rp.stop, "no batch magic");
	assert_int_equal(a.last_seq, 203);
	assert_string_equal(a.last_key, "k199");

	/* a torn second batch is not applied at all */
	d.p[(sector - 1) * KVLOG_SECTOR] ^= 1;
	memset(&a, 0, sizeof(a));
	kvlog_replay(mem_read, &d, d.sectors, buf, count_apply, &a, &rp);
	assert_int_equal(a.n, 3);
	assert_string_equal(rp.stop, "batch payload checksum mismatch");
	assert_true(rp.next_sector == sector - second);

	/* a stale batch (sequence gap) after the tail is ignored */
	sector -= second;
	put_batch(&d, &sector, 99, 1);
	memset(&a, 0, sizeof(a));
	kvlog_replay(mem_read, &d, d.sectors, buf, count_apply, &a, &rp);
	assert_int_equal(a.n, 3);
	assert_string_equal(rp.stop, "batch sequence does not continue the log");
	free(buf);
	free(d.p);
}

static void test_kvlog_limits(void **state)
{
	struct kvlog_batch b = { .buf = malloc(KVLOG_BATCH_MAX) };
	uint8_t big[KVLOG_VAL_MAX + 1] = { 0 };
	unsigned n = 0;

	(void)state;
	kvlog_batch_reset(&b, 1);
	assert_false(kvlog_batch_add(&b, big, 0, big, 1));
	assert_false(kvlog_batch_add(&b, big, KVLOG_KEY_MAX + 1, big, 1));
	assert_false(kvlog_batch_add(&b, big, 1, big, KVLOG_VAL_MAX + 1));
	while (kvlog_batch_add(&b, big, KVLOG_KEY_MAX, big, KVLOG_VAL_MAX))
		n++;
	assert_true(n > 100 && b.len <= KVLOG_BATCH_MAX);
	free(b.buf);
}

static void test_http_parse(void **state)
{
	struct http_req r;
	const char *why = NULL;
	const char *ok = "POST /sum HTTP/1.1\r\nContent-Length: 12\r\nConnection: close\r\n\r\nbody";

	(void)state;
	assert_int_equal(http_parse_head(ok, strlen(ok), &r, &why), 1);
	assert_int_equal(r.head_len, strlen(ok) - 4);
	assert_true(r.has_length && r.content_length == 12 && r.close);
	assert_int_equal(r.path_len, 4);
	assert_int_equal(http_parse_head(ok, 30, &r, &why), 0);
	assert_int_equal(http_parse_head("GET / HTTP/1.0\r\n\r\n", 18, &r, &why), 1);
	assert_true(r.close);
	assert_int_equal(http_parse_head("GET nopath HTTP/1.1\r\n\r\n", 23, &r, &why), -1);
	assert_string_equal(why, "request line has no absolute path");
	const char *dup = "GET / HTTP/1.1\r\nContent-Length: 1\r\ncontent-length: 2\r\n\r\n";
	assert_int_equal(http_parse_head(dup, strlen(dup), &r, &why), -1);
	const char *te = "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(http_parse_head(te, strlen(te), &r, &why), -1);
	char *huge = malloc(HTTP_HEAD_MAX + 10);
	memcpy(huge, "GET / HTTP/1.1\r\nX: ", 19);
	memset(huge + 19, 'a', HTTP_HEAD_MAX + 10 - 19);
	assert_int_equal(http_parse_head(huge, HTTP_HEAD_MAX + 10, &r, &why), -1);
	free(huge);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fmt_matches_libc),
		cmocka_unit_test(test_fmt_truncates),
		cmocka_unit_test(test_heap_reuse_and_exhaustion),
		cmocka_unit_test(test_crc_and_parse),
		cmocka_unit_test(test_kvlog_replay),
		cmocka_unit_test(test_kvlog_limits),
		cmocka_unit_test(test_http_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
