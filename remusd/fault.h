/*
 * Fault injection for the namespace fault trials (tests/fault/
 * remusd_trials.sh): REMUSD_FAULT=POINT@EPOCH installs the engine's
 * ckpt_fault hook in every session of this daemon.  At the first hit of
 * POINT with an epoch >= EPOCH the daemon really dies or freezes:
 *   paused, sent-checkpoint, sent (primary)  -> SIGKILL to itself (its pvm
 *                                               guests die with it)
 *   applying (backup)                        -> SIGSTOP to itself; whoever
 *                                               drives the trial kills the
 *                                               primary, then SIGCONTs it
 *   keep-final (old primary: hand-over confirmed, its copy not yet kept as
 *   the reverse replica; EPOCH: the final checkpoint) -> SIGKILL
 * Unset: no hook, the engine runs exactly as without this file.
 */
#ifndef REMUS_REMUSD_FAULT_H
#define REMUS_REMUSD_FAULT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/ckpt.h"
#include "util/err.h"

#define REMUSD_FAULT_ENV "REMUSD_FAULT"

enum remusd_fault_action {
	REMUSD_FAULT_KILL,      /* SIGKILL this process */
	REMUSD_FAULT_STOP,      /* SIGSTOP this process, carry on when continued */
};

struct remusd_fault {
	bool armed;
	char point[24];
	uint64_t min_epoch;
	enum remusd_fault_action action;
	atomic_flag fired;      /* fires once, whichever session hits it */
};

/* Parse "POINT@EPOCH" (NULL or empty: not armed).  Refuses unknown points
 * and epochs that are not a decimal number >= 1, naming what was wrong. */
int remusd_fault_parse(struct remusd_fault *f, const char *spec, struct remus_err *err);
/* The hook to put into ckpt_sender_cfg / ckpt_receiver_cfg (hit == NULL
 * when not armed).  f must outlive every engine using the hook. */
struct ckpt_fault remusd_fault_hook(struct remusd_fault *f);

#endif
