/*
 * Whole-buffer positional I/O for disk images, journals and bitmaps.
 * Short transfers and EINTR are retried; a read that meets end of file
 * fails with -EIO, because every caller expects the bytes to exist.
 */
#ifndef REMUS_UTIL_IO_H
#define REMUS_UTIL_IO_H

#include <stddef.h>
#include <stdint.h>

/* 0, or -errno (-EIO at end of file). */
int io_pread_all(int fd, void *buf, size_t len, uint64_t off);
int io_pwrite_all(int fd, const void *buf, size_t len, uint64_t off);

#endif
