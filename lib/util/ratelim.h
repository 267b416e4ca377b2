/*
 * A rate limiter for log lines that outsiders can trigger (refused peers,
 * refused control clients): at most `burst` events per `window_ms`; what
 * is dropped is counted so the next line that gets through can say how
 * many were suppressed.  Time is passed in (any monotonic milliseconds),
 * so tests drive it without sleeping.
 */
#ifndef REMUS_UTIL_RATELIM_H
#define REMUS_UTIL_RATELIM_H

#include <stdbool.h>
#include <stdint.h>

struct ratelim {
	uint32_t burst;             /* events allowed per window (0: none) */
	uint32_t window_ms;         /* window length */
	uint64_t window_start;      /* start of the current window */
	uint32_t used;              /* events allowed in the current window */
	bool started;               /* window_start is valid */
	uint64_t suppressed;        /* dropped since the last allowed event */
	uint64_t suppressed_total;  /* dropped since init, for counters */
};

#define RATELIM_INIT(burst_, window_ms_) \
	((struct ratelim){ .burst = (burst_), .window_ms = (window_ms_) })

/* One event at now_ms: true if it may be reported, and then *suppressed
 * (if not NULL) is the number dropped since the previous reported one
 * (the count restarts from 0).  false: counted as suppressed. */
bool ratelim_allow(struct ratelim *rl, uint64_t now_ms, uint64_t *suppressed);
/* Once the window in which events were suppressed is over: their count
 * (then restarted from 0), so a flood that stopped is still reported;
 * 0 otherwise.  Call it from a periodic path. */
uint64_t ratelim_flush(struct ratelim *rl, uint64_t now_ms);

#endif
