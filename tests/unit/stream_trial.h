/* What the fault trials on the driver-owned (Xen) path share
 * (test_stream_fault.c, test_stream_diskrep.c): the fault hook, the
 * checkpoint ends of a stream, the backup host's fake Xen. */
#ifndef TEST_STREAM_TRIAL_H
#define TEST_STREAM_TRIAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt/disk_impl.h"
#include "net/net.h"
#include "stream/stream.h"

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

/* ---- what a link carried, in order (STREAM and DISK frames) ---- */

struct frame {
	uint32_t type;
	uint8_t *data;
	size_t len;
	size_t stream_end;          /* STREAM: stream bytes up to and with it */
};

struct recording {
	struct frame *f;
	size_t n, cap;
	struct stream_buf stream;   /* the STREAM frames' bytes (init before use) */
};

void rec_add(struct recording *r, uint32_t type, const uint8_t *p, size_t len);
void rec_free(struct recording *r);

/* A backup that records every STREAM and DISK frame of link c, acknowledges
 * each complete checkpoint, and answers the disk resync through its own
 * backup diskrep (ops, d; dl: into it), until the link ends, a BYE
 * comes, or wait_ms. */
struct rec_backup {
	struct rnet_conn *c;
	struct recording *rec;
	struct disk_channel dl;
	const struct diskrep_ops *ops;
	struct diskrep *d;
	unsigned wait_ms;
	uint64_t acked;
	pthread_t th;
};
void *rec_backup_main(void *arg);

/* The primary replayed: every recorded frame in order on c, the ACK of each
 * of checkpoints 1..wait_upto awaited once its end went out; then EOF. */
struct replayer {
	struct rnet_conn *c;
	const struct recording *rec;
	unsigned wait_ms;
	uint64_t acks, wait_upto;
	pthread_t th;
};
void *replayer_main(void *arg);

#endif
