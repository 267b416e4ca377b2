/* What the fault trials on the driver-owned (Xen) path share
 * (test_stream_fault.c, test_stream_diskrep.c): the fault hook, the
 * checkpoint ends of a stream, the backup host's fake Xen. */
#ifndef TEST_STREAM_TRIAL_H
#define TEST_STREAM_TRIAL_H

#include <stddef.h>
#include <stdint.h>

/* The fault hook: stop at (point, epoch), once; remember that it fired. */
struct fault_at {
	const char *point;
	uint64_t epoch;
	int fired;
};

int fault_hit(void *arg, const char *point, uint64_t epoch);
/* Byte offsets just after each CHECKPOINT_END of a stream (at most max);
 * fails the test on a stream that does not parse. */
unsigned find_ckpt_ends(const uint8_t *d, size_t len, size_t *ends, unsigned max);
/* The backup host: dom0 only, a guest of `pages` real pages (dirty: those
 * each later checkpoint changes) behind the fake libxc. */
void backup_host_setup(unsigned pages, unsigned dirty);

#endif
