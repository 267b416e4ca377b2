/* Whole-buffer positional I/O (see io.h). */
#include "util/io.h"

#include <errno.h>
#include <stdbool.h>
#include <unistd.h>

/* pread/pwrite until done; -errno, or -EIO when a transfer returns 0. */
static int io_rw_all(int fd, uint8_t *p, size_t len, uint64_t off, bool wr)
{
	while (len > 0) {
		ssize_t n = wr ? pwrite(fd, p, len, (off_t)off) : pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

int io_pread_all(int fd, void *buf, size_t len, uint64_t off)
{
	return io_rw_all(fd, buf, len, off, false);
}

int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	return io_rw_all(fd, (uint8_t *)buf, len, off, true);
}
