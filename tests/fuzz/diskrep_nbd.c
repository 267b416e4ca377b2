/*
 * libFuzzer target: the NBD server (diskrep/nbd*.c) reading a client's
 * bytes, from the greeting's answer through options and requests.  The
 * input is the whole client side; replies are discarded.  Checks beyond
 * "no crash, no leak, no UB": every I/O reaching the disk hook lies inside
 * the disk and is whole sectors, a failure always says why, and a write
 * the server refused never reached the disk.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "diskrep/nbd.h"

#define DISK (64u * 1024)

struct input {
	const uint8_t *p;
	size_t len, pos;
};

static int in_read(void *arg, void *buf, size_t len)
{
	struct input *in = arg;

	if (in->pos == in->len)
		return -EPIPE;
	if (len > in->len - in->pos)
		return -ECONNRESET;
	memcpy(buf, in->p + in->pos, len);
	in->pos += len;
	return 0;
}

static int out_write(void *arg, const void *buf, size_t len)
{
	(void)arg;
	(void)buf;
	(void)len;
	return 0;
}

static uint8_t disk[DISK];

static void check_range(uint64_t off, size_t len)
{
	if (off > DISK || len > DISK - off || len == 0 || off % NBD_SECTOR || len % NBD_SECTOR)
		abort();
}

static int d_read(void *arg, uint64_t off, void *buf, size_t len)
{
	(void)arg;
	check_range(off, len);
	memcpy(buf, disk + off, len);
	return 0;
}

static int d_write(void *arg, uint64_t off, const void *buf, size_t len)
{
	if (*(const bool *)arg)
		abort();          /* the read-only export never writes */
	check_range(off, len);
	memcpy(disk + off, buf, len);
	return 0;
}

static int d_flush(void *arg)
{
	(void)arg;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct remus_err err = { 0 };
	struct nbd_stats st = { 0 };
	struct input in;
	bool ro;
	int rc;

	if (size < 1)
		return 0;
	ro = data[0] & 1;       /* byte 0: export read-only, named "d" or default */
	in = (struct input){ data + 1, size - 1, 0 };
	struct nbd_export ex = { .name = (data[0] & 2) ? "d" : NULL, .size = DISK, .read_only = ro,
	                         .io = { &ro, d_read, d_write, d_flush } };
	struct nbd_io io = { &in, in_read, out_write };
	rc = nbd_serve_io(&io, &ex, &st, &err);
	if (rc < 0 && err.msg[0] == '\0')
		abort();
	if (st.reads + st.writes + st.flushes + st.refused > in.len / 28 + 1)
		abort();          /* each request took at least its header */
	return 0;
}
