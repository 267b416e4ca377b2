/*
 * Fuzz target for kvstore's log replay: the input is a disk image; replay
 * must stop cleanly at anything that is not an intact, continuing batch.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/apps/kvlog.h"

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
	struct fz_disk d = { data, size };
	struct kvlog_replay rp;
	uint8_t *buf = malloc(KVLOG_BATCH_MAX);

	if (!buf)
		return 0;
	kvlog_replay(fz_read, &d, (size + KVLOG_SECTOR - 1) / KVLOG_SECTOR + 2, buf,
		     fz_apply, NULL, &rp);
	free(buf);
	return 0;
}
