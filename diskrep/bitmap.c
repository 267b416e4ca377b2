/*
 * The primary's persistent dirty bitmap: one bit per block written locally
 * and not yet known to be on the backup.  The file is mapped shared, so the
 * bits survive a crash of remusd; a reconnect after a link cut resyncs only
 * the blocks set here.  A missing or invalid file means "everything dirty".
 * File: { "RMSDBMAP", u32 version, u32 block_size, u64 nr_blocks, u64 zero }
 * then ceil(nr_blocks / 8) bytes of bits.
 */
#include "diskrep/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define BM_HDR 32u

/* Does the mapped header describe this image's geometry? */
static bool header_matches(const uint8_t *h, uint32_t block_size, uint64_t nr_blocks)
{
	return memcmp(h, "RMSDBMAP", 8) == 0 && get_le32(h + 8) == 1 &&
	    get_le32(h + 12) == block_size && get_le64(h + 16) == nr_blocks &&
	    get_le64(h + 24) == 0;
}

/* Open or create the bitmap for an image of image_bytes. */
int dr_bitmap_open(struct dr_bitmap *b, const char *path, uint64_t image_bytes,
                   uint32_t block_size, struct remus_err *err)
{
	struct stat sb;
	uint8_t hdr[BM_HDR] = { 0 };
	int rc;

	memset(b, 0, sizeof(*b));
	b->block_size = block_size;
	b->nr_blocks = (image_bytes + block_size - 1) / block_size;
	b->map_len = BM_HDR + (size_t)((b->nr_blocks + 7) / 8);
	b->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (b->fd < 0)
		return remus_err_sys(err, errno, "open bitmap %s", path);
	if (fstat(b->fd, &sb) < 0) {
		rc = remus_err_sys(err, errno, "stat bitmap %s", path);
		goto err;
	}
	if ((uint64_t)sb.st_size != b->map_len ||
	    io_pread_all(b->fd, hdr, BM_HDR, 0) < 0 ||
	    !header_matches(hdr, block_size, b->nr_blocks)) {
		b->was_reset = true;
		if (ftruncate(b->fd, 0) < 0 || ftruncate(b->fd, (off_t)b->map_len) < 0) {
			rc = remus_err_sys(err, errno, "size bitmap %s", path);
			goto err;
		}
	}
	b->map = mmap(NULL, b->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, b->fd, 0);
	if (b->map == MAP_FAILED) {
		b->map = NULL;
		rc = remus_err_sys(err, errno, "map bitmap %s", path);
		goto err;
	}
	if (b->was_reset) {
		memcpy(b->map, "RMSDBMAP", 8);
		put_le32(b->map + 8, 1);
		put_le32(b->map + 12, block_size);
		put_le64(b->map + 16, b->nr_blocks);
		dr_bitmap_set_range(b, 0, image_bytes);
	}
	return 0;
err:
	close(b->fd);
	b->fd = -1;
	return rc;
}

/* Unmap and close; the bits stay in the file. */
void dr_bitmap_close(struct dr_bitmap *b)
{
	if (b->map)
		munmap(b->map, b->map_len);
	if (b->fd >= 0)
		close(b->fd);
	b->map = NULL;
	b->fd = -1;
}

/* Mark every block touched by [off, off+len). */
void dr_bitmap_set_range(struct dr_bitmap *b, uint64_t off, uint64_t len)
{
	if (len == 0)
		return;
	uint64_t last = (off + len - 1) / b->block_size;
	for (uint64_t i = off / b->block_size; i <= last && i < b->nr_blocks; i++)
		b->map[BM_HDR + i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Is block `block` dirty? */
bool dr_bitmap_test(const struct dr_bitmap *b, uint64_t block)
{
	return b->map[BM_HDR + block / 8] & (1u << (block % 8));
}

/* The backup has block `block`. */
void dr_bitmap_clear(struct dr_bitmap *b, uint64_t block)
{
	b->map[BM_HDR + block / 8] &= (uint8_t)~(1u << (block % 8));
}

/* After a completed resync nothing is dirty. */
void dr_bitmap_clear_all(struct dr_bitmap *b)
{
	memset(b->map + BM_HDR, 0, b->map_len - BM_HDR);
}

/* How many blocks a DIRTY resync would send. */
uint64_t dr_bitmap_count(const struct dr_bitmap *b)
{
	uint64_t n = 0;
	for (size_t i = BM_HDR; i < b->map_len; i++)
		n += (uint64_t)__builtin_popcount(b->map[i]);
	return n;
}

/* Make the bits durable (at guest flush and when closing). */
int dr_bitmap_sync(struct dr_bitmap *b, struct remus_err *err)
{
	if (msync(b->map, b->map_len, MS_SYNC) < 0)
		return remus_err_sys(err, errno, "msync dirty bitmap");
	return 0;
}
