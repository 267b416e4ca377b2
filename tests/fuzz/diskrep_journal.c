/*
 * libFuzzer target: the backup's commit journal and state file, read back
 * after a crash (a torn or corrupted file is hostile input).  Every record
 * the scanner hands to the replay callback must lie inside the image.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "diskrep/internal.h"

#define IMG (64u * 1024)

static int check_record(void *arg, uint64_t off, const void *data, uint32_t len,
                        struct remus_err *err)
{
	uint8_t *img = arg;
	(void)err;
	if (off > IMG || len > IMG - off || len % DISKREP_SECTOR)
		abort();
	memcpy(img + off, data, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t img[IMG];
	struct dr_journal_info info;
	struct remus_err err = { 0 };
	struct dr_state st;
	int fd = memfd_create("journal", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	int rc = dr_journal_scan(fd, IMG, &info, check_record, img, &err);
	if (rc < 0 && (rc != DISKREP_ECORRUPT || err.msg[0] == '\0'))
		abort();
	close(fd);
	(void)dr_state_parse(data, size, &st, &err);
	return 0;
}
