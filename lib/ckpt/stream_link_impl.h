/* Helpers shared by the stream sender and receiver (stream_link.c). */
#ifndef REMUS_CKPT_STREAM_LINK_IMPL_H
#define REMUS_CKPT_STREAM_LINK_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "util/err.h"

/* A condition variable timed on CLOCK_MONOTONIC (ckpt_now_us). */
void cond_init_monotonic(pthread_cond_t *c);
/* Wait until signalled or until deadline_us (ckpt_now_us clock). */
void cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, uint64_t deadline_us);
/* sp[0] for the driver (blocking), sp[1] for the pump (non-blocking); both
 * with large buffers so a checkpoint rarely waits on the pump. */
int  wake_pair_open(int sp[2], struct remus_err *err);
void wake_pair_close(int sp[2]);

#endif
