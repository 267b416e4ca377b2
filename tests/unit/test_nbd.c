/*
 * The NBD server (diskrep/nbd*.c) against an independent client, libnbd
 * (the NBD project's own client library), over a socketpair: the export's
 * size and flags, reads and writes through the disk hook, FLUSH and FUA
 * reaching the hook's flush, refusals (outside the disk, unaligned,
 * read-only, unknown export), a clean DISC; then hostile clients written
 * byte by byte: each ends with an error naming what was wrong and with
 * the disk untouched.
 */
#include <errno.h>
#include <libnbd.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "diskrep/diskrep.h"
#include "diskrep/nbd.h"
#include "diskrep/nbd_impl.h"

#define DISK (1u << 20)

struct disk {
	uint8_t bytes[DISK];
	unsigned flushes, writes;
};

static int disk_read(void *arg, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, ((struct disk *)arg)->bytes + off, len);
	return 0;
}

static int disk_write(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct disk *d = arg;

	memcpy(d->bytes + off, buf, len);
	d->writes++;
	return 0;
}

static int disk_flush(void *arg)
{
	((struct disk *)arg)->flushes++;
	return 0;
}

struct server {
	pthread_t th;
	int fd;
	struct nbd_export ex;
	struct nbd_stats st;
	struct remus_err err;
	int rc;
};

static void *server_main(void *arg)
{
	struct server *s = arg;

	s->rc = nbd_serve(s->fd, -1, &s->ex, &s->st, &s->err);
	close(s->fd);
	return NULL;
}

/* A server on one end of a socketpair; the other end returned. */
static int server_start(struct server *s, struct disk *d, const char *name, bool ro)
{
	int sv[2];

	memset(s, 0, sizeof(*s));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	s->fd = sv[0];
	s->ex = (struct nbd_export){ .name = name, .size = DISK, .read_only = ro,
	                             .io = { d, disk_read, disk_write, disk_flush } };
	assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
	return sv[1];
}

static struct nbd_handle *client(int fd, const char *name)
{
	struct nbd_handle *h = nbd_create();

	assert_non_null(h);
	assert_int_equal(nbd_set_export_name(h, name), 0);
	assert_int_equal(nbd_set_strict_mode(h, 0), 0);   /* let the server judge requests */
	if (nbd_connect_socket(h, fd) < 0) {
		nbd_close(h);
		return NULL;
	}
	return h;
}

static void test_read_write_flush_fua(void **state)
{
	static struct disk d;
	struct server s;
	struct nbd_handle *h;
	uint8_t buf[8192], back[8192];

	(void)state;
	memset(&d, 0, sizeof(d));
	h = client(server_start(&s, &d, "disk0", false), "disk0");
	assert_non_null(h);
	assert_int_equal(nbd_get_size(h), DISK);
	assert_int_equal(nbd_is_read_only(h), 0);
	assert_int_equal(nbd_can_flush(h), 1);
	assert_int_equal(nbd_can_fua(h), 1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(nbd_pwrite(h, buf, sizeof(buf), 8192, 0), 0);
	assert_memory_equal(d.bytes + 8192, buf, sizeof(buf));        /* through the hook */
	assert_int_equal(nbd_pread(h, back, sizeof(back), 8192, 0), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(d.flushes, 0);
	assert_int_equal(nbd_flush(h, 0), 0);
	assert_int_equal(d.flushes, 1);
	assert_int_equal(nbd_pwrite(h, buf, 512, DISK - 512, LIBNBD_CMD_FLAG_FUA), 0);
	assert_int_equal(d.flushes, 2);                               /* FUA: flushed before the reply */
	assert_memory_equal(d.bytes + DISK - 512, buf, 512);
	assert_int_equal(nbd_shutdown(h, 0), 0);
	nbd_close(h);
	pthread_join(s.th, NULL);
	assert_int_equal(s.rc, 0);                                    /* DISC: a clean end */
	assert_int_equal(s.st.writes, 2);
	assert_int_equal(s.st.fua_writes, 1);
	assert_int_equal(s.st.reads, 1);
	assert_int_equal(s.st.refused, 0);
}

static void test_bad_requests_refused(void **state)
{
	static struct disk d;
	struct server s;
	struct nbd_handle *h;
	uint8_t buf[4096] = { 1 };

	(void)state;
	memset(&d, 0, sizeof(d));
	h = client(server_start(&s, &d, NULL, false), "");
	assert_non_null(h);
	assert_int_equal(nbd_pread(h, buf, 4096, DISK - 2048, 0), -1);   /* past the end */
	assert_int_equal(nbd_get_errno(), EINVAL);
	assert_int_equal(nbd_pwrite(h, buf, 100, 0, 0), -1);             /* not whole sectors */
	assert_int_equal(nbd_get_errno(), EINVAL);
	assert_int_equal(nbd_pwrite(h, buf, 512, 100, 0), -1);           /* unaligned */
	assert_int_equal(nbd_get_errno(), EINVAL);
	assert_int_equal(d.writes, 0);
	assert_int_equal(nbd_pread(h, buf, 512, 0, 0), 0);               /* still serving */
	nbd_shutdown(h, 0);
	nbd_close(h);
	pthread_join(s.th, NULL);
	assert_int_equal(s.rc, 0);
	assert_int_equal(s.st.refused, 3);
}

static void test_read_only_and_unknown_export(void **state)
{
	static struct disk d;
	struct server s;
	struct nbd_handle *h;
	uint8_t buf[512] = { 0 };

	(void)state;
	memset(&d, 0, sizeof(d));
	h = client(server_start(&s, &d, "ro", true), "ro");
	assert_non_null(h);
	assert_int_equal(nbd_is_read_only(h), 1);
	assert_int_equal(nbd_pwrite(h, buf, 512, 0, 0), -1);
	assert_int_equal(nbd_get_errno(), EPERM);
	assert_int_equal(d.writes, 0);
	nbd_shutdown(h, 0);
	nbd_close(h);
	pthread_join(s.th, NULL);
	assert_int_equal(s.st.refused, 1);   /* the server said EPERM, not the client */

	h = client(server_start(&s, &d, "disk0", false), "disk1");
	assert_null(h);                      /* GO answered "unknown export" */
	pthread_join(s.th, NULL);
	assert_int_equal(s.rc, 0);          /* libnbd then sent ABORT */
	assert_int_equal(s.st.reads + s.st.writes, 0);
}

/* ---- hostile clients, byte by byte ------------------------------------ */

/* Send `len` raw client bytes after the greeting, close, return the server's result. */
static int raw_client(const uint8_t *p, size_t len, struct server *s)
{
	static struct disk d;
	uint8_t greet[18], sink[4096];
	int fd;

	memset(&d, 0, sizeof(d));
	fd = server_start(s, &d, NULL, false);
	assert_int_equal(read(fd, greet, sizeof(greet)), (ssize_t)sizeof(greet));
	assert_int_equal(nbd_get64(greet), NBD_INIT_MAGIC);
	assert_int_equal(nbd_get64(greet + 8), NBD_OPTS_MAGIC);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	shutdown(fd, SHUT_WR);
	while (read(fd, sink, sizeof(sink)) > 0)
		;
	close(fd);
	pthread_join(s->th, NULL);
	assert_int_equal(d.writes, 0);
	return s->rc;
}

static size_t put_opt(uint8_t *p, uint32_t opt, uint32_t len)
{
	nbd_put64(p, NBD_OPTS_MAGIC);
	nbd_put32(p + 8, opt);
	nbd_put32(p + 12, len);
	return 16;
}

static void expect_error(const uint8_t *p, size_t len, const char *what)
{
	struct server s;
	int rc = raw_client(p, len, &s);

	if (rc >= 0 || strstr(s.err.msg, what) == NULL)
		fail_msg("rc %d, message '%s', expected one naming '%s'", rc, s.err.msg, what);
}

static void test_hostile_negotiation(void **state)
{
	uint8_t p[16 * 70];
	size_t n;

	(void)state;
	nbd_put32(p, 0x80);                                   /* unknown client flag */
	expect_error(p, 4, "client flags 0x80");
	nbd_put32(p, 3);
	put_opt(p + 4, NBD_OPT_GO, 0);
	p[4] ^= 0xff;                                          /* bad option magic */
	expect_error(p, 20, "expected IHAVEOPT");
	put_opt(p + 4, NBD_OPT_GO, NBD_OPT_DATA_MAX + 1);      /* oversized option */
	expect_error(p, 20, "bound 4096");
	n = 4;
	for (int i = 0; i < 65; i++)                           /* never starts */
		n += put_opt(p + n, 99, 0);
	expect_error(p, n, "options without starting");
	n = 4 + put_opt(p + 4, NBD_OPT_EXPORT_NAME, 5);
	memcpy(p + n, "other", 5);
	expect_error(p, n + 5, "export named 'other'");
	n = 4 + put_opt(p + 4, NBD_OPT_GO, 8);                 /* torn: 8 announced, 3 sent */
	expect_error(p, n + 3, "option 7 data");
}

static void test_hostile_transmission(void **state)
{
	uint8_t p[256];
	size_t n = 4;
	struct server s;

	(void)state;
	nbd_put32(p, 3);                                       /* fixed newstyle, no zeroes */
	n += put_opt(p + n, NBD_OPT_EXPORT_NAME, 0);
	/* a write of 64 MiB: its payload cannot be taken */
	nbd_put32(p + n, NBD_REQ_MAGIC);
	nbd_put16(p + n + 4, 0);
	nbd_put16(p + n + 6, NBDC_WRITE);
	nbd_put64(p + n + 8, 1);
	nbd_put64(p + n + 16, 0);
	nbd_put32(p + n + 24, 64u << 20);
	expect_error(p, n + 28, "NBD write of 67108864 bytes");
	nbd_put16(p + n + 4, 0x8000);                          /* unknown command flag */
	nbd_put32(p + n + 24, 512);
	expect_error(p, n + 28, "flags 0x8000");
	nbd_put16(p + n + 4, 0);
	nbd_put32(p + n, 0x12345678);                          /* bad request magic */
	expect_error(p, n + 28, "NBD request: magic 0x12345678");
	nbd_put32(p + n, NBD_REQ_MAGIC);                       /* payload cut short */
	expect_error(p, n + 28 + 100, "NBD write payload of 512 bytes");
	expect_error(p, n + 10, "NBD request");                /* header cut short */
	/* closing between requests is a clean end */
	assert_int_equal(raw_client(p, n, &s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_read_write_flush_fua),
		cmocka_unit_test(test_bad_requests_refused),
		cmocka_unit_test(test_read_only_and_unknown_export),
		cmocka_unit_test(test_hostile_negotiation),
		cmocka_unit_test(test_hostile_transmission),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
