/* Shared setup of the Xen driver tests: a fake dom0 with a PVH guest "web"
 * (domid 5), an engine whose hooks count calls, and stream helpers. */
#ifndef TEST_XEN_COMMON_H
#define TEST_XEN_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hv/hv.h"

#define MAX_EPOCHS 8

struct engine {
	int suspended_calls, postcopy_calls, waits, ckpt_calls;
	int stop_after;            /* wait hook returns 0 after this many epochs */
	int wait_fail_at, wait_fail_rc;
	int ckpt_rc;               /* what the backup's checkpoint hook returns */
	int ckpt_fd_seen;
	bool postcopy_writes_end;  /* engine hook writes CHECKPOINT_END itself */
	bool not_suspended_in_hook;
	int final_at;              /* hooks.final says epoch N is a hand-over's final one */
	int handed_at;             /* wait hook returns HV_STREAM_HANDED_OVER at this wait */
	bool suspended_at_final;   /* the guest was still suspended when the final wait ran */
	int stream_ends;           /* backup: stream_end hook calls */
	int fd;                    /* the stream fd (to note offsets) */
	off_t ends[MAX_EPOCHS];    /* offset after each checkpoint's CHECKPOINT_END */
};

void xt_setup_host(void);
void xt_engine_init(struct engine *e, struct hv_stream_hooks *h, int fd);
int  xt_memfd(void);
/* Run a protected save of "web" with 3 epochs into fd; returns save's rc. */
int  xt_save(struct engine *e, int fd, bool xs_records);

#endif
