/* The engine's counters shared by both senders: the pause histogram. */
#include "ckpt/ckpt.h"

/* From a fast pvm checkpoint (~100 us) to a Xen one stretched by a slow
 * device model (~1 s); the +Inf bucket takes the rest. */
const uint64_t ckpt_pause_bounds_us[CKPT_PAUSE_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

void ckpt_stats_add_pause(struct ckpt_stats *st, uint64_t us)
{
	unsigned b = 0;

	while (b < CKPT_PAUSE_BUCKETS && us > ckpt_pause_bounds_us[b])
		b++;
	st->pause_hist[b]++;
	st->pauses++;
	st->last_pause_us = us;
	st->total_pause_us += us;
	if (us > st->max_pause_us)
		st->max_pause_us = us;
}
