/* Fixed-window rate limiting with a suppressed-events count (ratelim.h). */
#include <stddef.h>

#include "util/ratelim.h"

/* Open a new window when the current one is over (or none started yet);
 * a clock that goes backwards also starts a new window. */
static void ratelim_roll(struct ratelim *rl, uint64_t now_ms)
{
	if (!rl->started || now_ms < rl->window_start ||
	    now_ms - rl->window_start >= rl->window_ms) {
		rl->window_start = now_ms;
		rl->used = 0;
		rl->started = true;
	}
}

bool ratelim_allow(struct ratelim *rl, uint64_t now_ms, uint64_t *suppressed)
{
	ratelim_roll(rl, now_ms);
	if (rl->used >= rl->burst) {
		rl->suppressed++;
		rl->suppressed_total++;
		return false;
	}
	rl->used++;
	if (suppressed != NULL)
		*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}

uint64_t ratelim_flush(struct ratelim *rl, uint64_t now_ms)
{
	uint64_t n = rl->suppressed;

	if (n == 0 || (rl->started && now_ms >= rl->window_start &&
		       now_ms - rl->window_start < rl->window_ms))
		return 0;
	rl->suppressed = 0;
	return n;
}
