/*
 * Hold points: a test hook of remusd for the engine's named fault points
 * (struct ckpt_fault).  With REMUSD_HOLD=POINT:DIR in remusd's
 * environment, the daemon, on reaching POINT, creates DIR/POINT.reached
 * and waits until DIR/POINT.go exists (bounded by REMUSD_HOLD_MAX_MS), so
 * an integration test acts at exactly that moment (cuts the link, kills a
 * daemon) instead of guessing with sleeps.  Unset: no hook at all.
 * Points: the engine's, plus remusd's own on the primary,
 * "protect-connect" (protect, before its connect), "handover-prepare"
 * (evacuate, the engine stopped for the hand-over), "keep-final"
 * (evacuate confirmed, the copy here not yet kept for the reverse run);
 * evacuate --to's "evacto-prepared", "evacto-perform", "evacto-synced"
 * (evacuate_to.h);
 * a live update's "upgrade-sent" (old daemon: stream and descriptors sent,
 * no answer yet) and "upgrade-adopted" (new daemon: every guest adopted,
 * not answered).
 */
#ifndef REMUS_REMUSD_HOLD_H
#define REMUS_REMUSD_HOLD_H

#include <stdint.h>

#include "remusd/config.h"
#include "util/err.h"

#define REMUSD_HOLD_MAX_MS 60000u

struct remusd_hold {
	char point[64];
	char dir[REMUSD_PATH_MAX];
};

/* Parse "POINT:DIR" (DIR absolute, an existing folder). */
int remusd_hold_parse(const char *spec, struct remusd_hold *h, struct remus_err *err);
/* The ckpt_fault hook: holds at the configured point, returns 0 (go on). */
int remusd_hold_hit(void *arg, const char *point, uint64_t epoch);

#endif
