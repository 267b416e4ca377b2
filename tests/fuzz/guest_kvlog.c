/*
 * Fuzz target for kvstore's log replay: the input is a disk image; replay
 * must stop cleanly at anything that is not an intact, continuing batch.
 * An odd last byte asks the harness to repair the first batch's CRCs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/apps/kvlog.h"
#include "guest/rt/rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_disk {
	const uint8_t *p;
	size_t size;
};

/* Read sectors of the fuzz input (zero beyond its end). */
static int fz_read(void *user, uint64_t sector, void *buf, uint64_t nsec)
{
	struct fz_disk *d = user;
	uint64_t off = sector * KVLOG_SECTOR, len = nsec * KVLOG_SECTOR;

	memset(buf, 0, len);
	if (off < d->size)
		memcpy(buf, d->p + off, d->size - off < len ? d->size - off : len);
	return 0;
}

/* Make the first batch's CRCs right so mutations reach the record walker. */
static void fz_fix_first_batch(uint8_t *p, size_t size)
{
	uint32_t bytes, crc;

	if (size < KVLOG_HDR)
		return;
	bytes = (uint32_t)p[8] | (uint32_t)p[9] << 8 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 24;
	if (bytes > size - KVLOG_HDR)
		return;
	crc = rt_crc32(0, p + KVLOG_HDR, bytes);
	memcpy(p + 12, &crc, 4);              /* x86-64: little endian */
	crc = rt_crc32(0, p, 24);
	memcpy(p + 24, &crc, 4);
}

/* Check each applied record is within the documented bounds. */
static void fz_apply(void *user, uint64_t seq, const uint8_t *k, size_t klen,
		     const uint8_t *v, size_t vlen)
{
	(void)user;
	(void)seq;
	if (!klen || klen > KVLOG_KEY_MAX || vlen > KVLOG_VAL_MAX)
		abort();
	volatile uint8_t sink = k[klen - 1];
	if (vlen)
		sink = v[vlen - 1];
	(void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kvlog_replay rp;
	uint8_t *buf = malloc(KVLOG_BATCH_MAX), *img = malloc(size ? size : 1);
	struct fz_disk d = { img, size };

	if (!buf || !img) {
		free(buf);
		free(img);
		return 0;
	}
	memcpy(img, data, size);
	if (size && (data[size - 1] & 1))     /* last byte odd: repair the CRCs */
		fz_fix_first_batch(img, size);
	kvlog_replay(fz_read, &d, (size + KVLOG_SECTOR - 1) / KVLOG_SECTOR + 2, buf,
		     fz_apply, NULL, &rp);
	free(buf);
	free(img);
	return 0;
}
