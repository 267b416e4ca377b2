/*
 * Protection the daemon starts by itself (issue 17): after a hand-over
 * that asked for role reversal, the new primary protects the guest back to
 * the old one; with `reprotect = auto` a primary left running unprotected
 * (it took the guest over, or lost its backup) protects it again to its
 * peer as soon as that remusd answers.  The loop polls every session's
 * armed re-protection (session.h struct remusd_rp) and runs it as
 * an ordinary protect operation on a worker, with no control client; a
 * failed try backs off (1 s doubling to 30 s), each try is logged.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "remusd/daemon.h"
#include "util/log.h"

/* Whether the loop may start a protection of s now: no operation owns
 * it, its copy runs here, and its state takes protect. */
static bool may_try(struct daemon *d, struct remusd_session *s)
{
	bool ok;

	if (guest_ops_busy(&d->ops, s) != NULL)
		return false;
	pthread_mutex_lock(&s->lock);
	ok = s->primary && s->guest != NULL && remusd_fsm_next(true, s->state, SE_PROTECT) >= 0;
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* Start one try on a worker: the protect of remusctl, no client. */
static void try_protect(struct daemon *d, struct remusd_session *s, const char *peer,
                        unsigned try)
{
	struct remus_err err = { 0 };
	struct ctl_msg m = { .type = CTL_PROTECT };

	snprintf(m.guest, sizeof(m.guest), "%s", s->name);
	snprintf(m.peer, sizeof(m.peer), "%.*s", (int)sizeof(m.peer) - 1, peer);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name },
	          "guest %s: protecting it again to %s by itself (try %u)", s->name, peer, try);
	if (guest_ops_start(&d->ops, s, NULL, &m, &d->env, &err) < 0)
		daemon_reprotect_failed(d, s, err.msg);
}

void daemon_reprotect_tick(struct daemon *d)
{
	uint64_t now = rnet_now_ms();

	for (size_t i = 0; i < d->nsessions; i++) {
		struct remusd_session *s = d->sessions[i];
		char peer[sizeof(s->rp.peer)];
		unsigned try;
		bool due;

		pthread_mutex_lock(&s->lock);
		due = s->rp.armed && now >= s->rp.due_ms;
		pthread_mutex_unlock(&s->lock);
		if (!due || !may_try(d, s))
			continue;
		pthread_mutex_lock(&s->lock);
		snprintf(peer, sizeof(peer), "%s", s->rp.peer);
		try = ++s->rp.tries;
		/* a try that starts a run is judged by the run (synced or lost) */
		s->rp.due_ms = UINT64_MAX;
		pthread_mutex_unlock(&s->lock);
		try_protect(d, s, peer, try);
	}
}

void daemon_reprotect_failed(struct daemon *d, struct remusd_session *s, const char *why)
{
	struct remusd_rp *rp = &s->rp;
	char peer[sizeof(rp->peer)];
	uint32_t wait_ms;
	bool gave_up;
	unsigned try;

	(void)d;
	pthread_mutex_lock(&s->lock);
	if (!rp->armed) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	gave_up = rp->max_tries && rp->tries >= rp->max_tries;
	wait_ms = rp->backoff_ms;
	if (gave_up) {
		rp->armed = false;
	} else {
		rp->due_ms = rnet_now_ms() + wait_ms;
		rp->backoff_ms = wait_ms * 2 > REMUSD_REPROTECT_MAX_MS ? REMUSD_REPROTECT_MAX_MS
		                                                       : wait_ms * 2;
	}
	snprintf(peer, sizeof(peer), "%s", rp->peer);
	try = rp->tries;
	pthread_mutex_unlock(&s->lock);
	if (gave_up)
		log_about(LOG_WARNING, &(struct log_about){ .guest = s->name },
		          "guest %s: gave up protecting it again to %s after %u tries: %s", s->name,
		          peer, try, why);
	else
		log_about(LOG_WARNING, &(struct log_about){ .guest = s->name },
		          "guest %s: protecting it again to %s failed (try %u): %s; next in %u ms",
		          s->name, peer, try, why, wait_ms);
}
