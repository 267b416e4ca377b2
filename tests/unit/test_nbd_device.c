/*
 * A guest disk served as an NBD device (diskrep/nbd_device.c), driven by
 * libnbd over the unix socket the kernel's client would use: the route of
 * the I/O switched under a connected client (straight to the image, through
 * a disk hook, refused while this host holds a replica), the live counters,
 * and the failures of opening and binding, each with its message.
 */
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "diskrep/diskrep.h"
#include "diskrep/nbd_device.h"

#define DISK (256u << 10)

struct fixture {
	char dir[64], image[96], sock[96];
	int image_fd;
};

/* What a disk hook (the builtin backend's primary handle) was given. */
struct hook_disk {
	uint8_t bytes[DISK];
	unsigned reads, writes, flushes;
};

static int hook_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct hook_disk *h = arg;

	memcpy(buf, h->bytes + off, len);
	h->reads++;
	return 0;
}

static int hook_write(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct hook_disk *h = arg;

	memcpy(h->bytes + off, buf, len);
	h->writes++;
	return 0;
}

static int hook_flush(void *arg)
{
	((struct hook_disk *)arg)->flushes++;
	return 0;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/nbddev.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->image, sizeof(f->image), "%s/disk.img", f->dir);
	snprintf(f->sock, sizeof(f->sock), "%s/nbd.sock", f->dir);
	f->image_fd = open(f->image, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(f->image_fd >= 0);
	assert_int_equal(ftruncate(f->image_fd, DISK), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->image_fd);
	unlink(f->image);
	unlink(f->sock);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct nbd_device *serve(struct fixture *f)
{
	struct nbd_device_config c = { .name = "g1", .image = f->image, .socket = f->sock };
	struct remus_err err = { 0 };
	struct nbd_device *d = NULL;

	assert_int_equal(nbd_device_open(&c, &d, &err), 0);
	assert_non_null(d);
	return d;
}

static struct nbd_handle *client(const struct fixture *f)
{
	struct nbd_handle *h = nbd_create();

	assert_non_null(h);
	assert_int_equal(nbd_set_export_name(h, "g1"), 0);
	assert_int_equal(nbd_connect_unix(h, f->sock), 0);
	return h;
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 13 + seed);
}

static void image_at(const struct fixture *f, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(pread(f->image_fd, buf, len, (off_t)off), (ssize_t)len);
}

/* One client stays connected (as the kernel does) while the route
 * changes under it: direct, through the hook, refused, back to direct. */
static void test_route_switched_under_a_client(void **state)
{
	struct fixture *f = *state;
	static struct hook_disk hd;
	struct hv_disk_hook hook = { &hd, hook_read, hook_write, hook_flush };
	struct nbd_device_status st;
	uint8_t a[4096], b[4096], back[4096], img[4096];
	struct nbd_device *d = serve(f);
	struct nbd_handle *h = client(f);

	memset(&hd, 0, sizeof(hd));
	assert_int_equal(nbd_get_size(h), DISK);
	assert_int_equal(nbd_is_read_only(h), 0);       /* a promoted replica writes through it */
	nbd_device_status(d, &st);
	assert_int_equal(st.mode, NBD_DEVICE_DIRECT);
	assert_false(st.bound);

	/* direct: the image itself */
	fill(a, sizeof(a), 1);
	assert_int_equal(nbd_pwrite(h, a, sizeof(a), 8192, 0), 0);
	image_at(f, 8192, img, sizeof(img));
	assert_memory_equal(img, a, sizeof(a));

	/* through the hook: the image is left alone, reads come from the hook */
	nbd_device_route(d, NBD_DEVICE_HOOK, &hook);
	fill(b, sizeof(b), 2);
	assert_int_equal(nbd_pwrite(h, b, sizeof(b), 8192, LIBNBD_CMD_FLAG_FUA), 0);
	assert_int_equal(hd.writes, 1);
	assert_int_equal(hd.flushes, 1);                /* FUA reached the hook's flush */
	assert_memory_equal(hd.bytes + 8192, b, sizeof(b));
	image_at(f, 8192, img, sizeof(img));
	assert_memory_equal(img, a, sizeof(a));
	assert_int_equal(nbd_pread(h, back, sizeof(back), 8192, 0), 0);
	assert_memory_equal(back, b, sizeof(b));
	assert_int_equal(hd.reads, 1);

	/* read-only: a write is refused with EPERM and changes nothing */
	nbd_device_route(d, NBD_DEVICE_READ_ONLY, NULL);
	assert_int_equal(nbd_pwrite(h, b, sizeof(b), 0, 0), -1);
	assert_int_equal(nbd_get_errno(), EPERM);
	assert_int_equal(hd.writes, 1);
	image_at(f, 0, img, sizeof(img));
	memset(back, 0, sizeof(back));
	assert_memory_equal(img, back, sizeof(img));
	assert_int_equal(nbd_pread(h, back, sizeof(back), 8192, 0), 0);  /* reads the image */
	assert_memory_equal(back, a, sizeof(a));

	/* a hook without a write is never written around: read-only */
	nbd_device_route(d, NBD_DEVICE_HOOK, &(struct hv_disk_hook){ &hd, hook_read, NULL, NULL });
	assert_int_equal(nbd_pwrite(h, b, sizeof(b), 0, 0), -1);
	nbd_device_status(d, &st);
	assert_int_equal(st.mode, NBD_DEVICE_READ_ONLY);

	/* back to direct: the same connection writes the image again */
	nbd_device_route(d, NBD_DEVICE_DIRECT, NULL);
	assert_int_equal(nbd_pwrite(h, b, sizeof(b), 0, 0), 0);
	image_at(f, 0, img, sizeof(img));
	assert_memory_equal(img, b, sizeof(b));
	assert_int_equal(nbd_flush(h, 0), 0);

	/* live counters, while the client is still connected */
	nbd_device_status(d, &st);
	assert_int_equal(st.st.writes, 3);
	assert_int_equal(st.st.write_bytes, 3 * 4096);
	assert_int_equal(st.st.reads, 2);
	assert_int_equal(st.st.flushes, 2);             /* the FUA's and the FLUSH */
	assert_int_equal(st.st.refused, 2);
	assert_int_equal(st.clients, 0);
	assert_int_equal(st.size, DISK);
	assert_string_equal(nbd_device_mode_name(st.mode), "direct");

	assert_int_equal(nbd_shutdown(h, 0), 0);
	nbd_close(h);
	nbd_device_close(d);
}

/* A client that stays connected does not keep close from returning. */
static void test_close_with_a_client_connected(void **state)
{
	struct fixture *f = *state;
	struct nbd_device *d = serve(f);
	struct nbd_handle *h = client(f);
	uint8_t buf[512] = { 1 };

	assert_int_equal(nbd_pwrite(h, buf, sizeof(buf), 0, 0), 0);
	nbd_device_close(d);
	assert_int_equal(nbd_pread(h, buf, sizeof(buf), 0, 0), -1);  /* the server is gone */
	nbd_close(h);
	/* the socket went with it: a second device may serve the path again */
	d = serve(f);
	h = client(f);
	assert_int_equal(nbd_pread(h, buf, sizeof(buf), 0, 0), 0);
	assert_int_equal(buf[0], 1);
	nbd_close(h);
	nbd_device_close(d);
}

static void expect_open_error(const struct nbd_device_config *c, int code, const char *needle)
{
	struct remus_err err = { 0 };
	struct nbd_device *d = (struct nbd_device *)1;

	assert_int_equal(nbd_device_open(c, &d, &err), code);
	assert_null(d);
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' does not say '%s'", err.msg, needle);
}

static void test_open_failures_say_what(void **state)
{
	struct fixture *f = *state;
	struct nbd_device_config c = { .name = "g1", .image = f->image, .socket = f->sock };
	char missing[128], odd[128];
	int fd;

	snprintf(missing, sizeof(missing), "%s/none.img", f->dir);
	c.image = missing;
	expect_open_error(&c, -ENOENT, "disk image");
	snprintf(odd, sizeof(odd), "%s/odd.img", f->dir);
	fd = open(odd, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1000), 0);       /* not whole sectors */
	close(fd);
	c.image = odd;
	expect_open_error(&c, -EINVAL, "not a non-zero multiple of 512");
	unlink(odd);
	c.image = f->image;
	/* the kernel binding fails (no module, device busy): said, nothing left */
	c.device = "/dev/nbd-test";
	c.client = "false";
	expect_open_error(&c, DISKREP_ETOOL, "is the nbd kernel module loaded");
	assert_int_equal(access(f->sock, F_OK), -1);    /* the socket went too */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_route_switched_under_a_client, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_a_client_connected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_failures_say_what, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
