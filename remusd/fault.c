/* Fault injection of remusd: see fault.h.  Test-only by intent: nothing
 * happens unless REMUSD_FAULT is set in the daemon's environment. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remusd/fault.h"
#include "util/log.h"

/* The engine's fault points and what dying there means. */
static const struct {
	const char *name;
	enum remusd_fault_action action;
} fault_points[] = {
	{ "paused", REMUSD_FAULT_KILL },          /* guest suspended, nothing sent */
	{ "store-saved", REMUSD_FAULT_KILL },     /* ... its store saved (quiesced) */
	{ "sent-checkpoint", REMUSD_FAULT_KILL }, /* CHECKPOINT out, CHECKPOINT_END not */
	{ "sent", REMUSD_FAULT_KILL },            /* whole checkpoint out, no ACK yet */
	{ "applying", REMUSD_FAULT_STOP },        /* backup: complete, not yet applied */
	/* role reversal (issue 17), epoch: the hand-over's final checkpoint */
	{ "keep-final", REMUSD_FAULT_KILL },      /* old primary: confirmed, copy not kept yet */
};

int remusd_fault_parse(struct remusd_fault *f, const char *spec, struct remus_err *err)
{
	const char *at;
	char *end;
	size_t len;
	unsigned long long v;

	memset(f, 0, sizeof(*f));
	atomic_flag_clear(&f->fired);
	if (spec == NULL || spec[0] == 0)
		return 0;
	if ((at = strchr(spec, '@')) == NULL)
		return remus_err_set(err, -EINVAL, "%s='%s': expected POINT@EPOCH", REMUSD_FAULT_ENV,
		                     spec);
	len = (size_t)(at - spec);
	for (size_t i = 0; i < sizeof(fault_points) / sizeof(fault_points[0]); i++) {
		if (strlen(fault_points[i].name) == len && memcmp(fault_points[i].name, spec, len) == 0) {
			memcpy(f->point, spec, len);
			f->point[len] = 0;
			f->action = fault_points[i].action;
		}
	}
	if (f->point[0] == 0)
		return remus_err_set(err, -EINVAL, "%s: unknown fault point '%.*s' (paused, "
		                     "store-saved, sent-checkpoint, sent, applying, keep-final)",
		                     REMUSD_FAULT_ENV,
		                     (int)(len < 32 ? len : 32), spec);
	errno = 0;
	v = strtoull(at + 1, &end, 10);
	if (at[1] < '0' || at[1] > '9' || *end != 0 || errno != 0 || v == 0)
		return remus_err_set(err, -EINVAL, "%s: epoch '%.32s' is not a number >= 1",
		                     REMUSD_FAULT_ENV, at + 1);
	f->min_epoch = v;
	f->armed = true;
	return 0;
}

/* The hook: at the armed point, die or freeze for real. */
static int fault_hit(void *arg, const char *point, uint64_t epoch)
{
	struct remusd_fault *f = arg;

	if (epoch < f->min_epoch || strcmp(point, f->point) != 0 || atomic_flag_test_and_set(&f->fired))
		return 0;
	if (f->action == REMUSD_FAULT_KILL) {
		log_warnx("fault injection: %s at epoch %" PRIu64 ": SIGKILL", point, epoch);
		kill(getpid(), SIGKILL);
	} else {
		log_warnx("fault injection: %s at epoch %" PRIu64 ": SIGSTOP", point, epoch);
		kill(getpid(), SIGSTOP);
		log_warnx("fault injection: continued at %s, epoch %" PRIu64, point, epoch);
	}
	return 0;
}

struct ckpt_fault remusd_fault_hook(struct remusd_fault *f)
{
	return (struct ckpt_fault){ .arg = f, .hit = f->armed ? fault_hit : NULL };
}
