/*
 * A one-way byte relay with a silence watchdog: what arrives on in_fd is
 * passed on to out_fd until the input ends, stays silent for silence_ms,
 * the output is closed, or stop_fd becomes readable.  The caller then
 * closes out_fd, and its reader sees the end of the stream: a sender that
 * hangs without closing looks like one that died.
 *
 * Silence counts only while the relay waits for input with nothing
 * pending: time spent blocked on a slow reader of out_fd (our own
 * back-pressure) never counts, so a busy receiver does not take a live
 * sender for a dead one.
 */
#ifndef REMUS_UTIL_RELAY_H
#define REMUS_UTIL_RELAY_H

#include <stdint.h>

#include "util/err.h"

struct relay_cfg {
	int in_fd, out_fd;
	int stop_fd;                /* -1: none */
	unsigned silence_ms;        /* 0: wait for input forever */
	uint64_t (*clock_us)(void); /* NULL: CLOCK_MONOTONIC (tests inject one) */
};

enum relay_end {
	RELAY_EOF,                  /* the input ended */
	RELAY_SILENCE,              /* no input for silence_ms */
	RELAY_STOPPED,              /* stop_fd became readable */
	RELAY_OUT_CLOSED,           /* the reader of out_fd went away */
	RELAY_ERROR,                /* err says what failed */
};

struct relay_result {
	enum relay_end end;
	uint64_t bytes;             /* passed on to out_fd */
	uint64_t last_in_us;        /* when input last arrived (clock_us) */
	uint64_t end_us;            /* when the relay noticed the end */
	struct remus_err err;
};

/* Runs until one of the ends above; returns res->end (RELAY_ERROR: <0). */
int relay_run(const struct relay_cfg *cfg, struct relay_result *res);
const char *relay_end_name(enum relay_end end);

#endif
