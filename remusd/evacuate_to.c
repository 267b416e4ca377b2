/* remusctl evacuate --to: see evacuate_to.h. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "remusd/check_peer.h"
#include "remusd/check_proto.h"
#include "remusd/evacuate_to.h"
#include "remusd/session_impl.h"
#include "util/log.h"

/* prepare: the destination's remusd judges whether it could hold the
 * guest (check_peer.c's judge_here); nothing changes anywhere. */
static int prepare(struct remusd_session *s, const struct remusd_env *env, const char *host,
                   uint16_t port, struct remus_err *err)
{
	struct remusd_check_answer a;
	struct remus_err e = { 0 };
	char why[512];
	uint32_t r;
	bool linked;

	/* what the driver and the disk here would refuse a protect for */
	if ((r = remusd_session_driver_check(s, s->gc.unsafe, NULL, 0)) != 0) {
		ctl_check_reasons_text(r, why, sizeof(why));
		return remus_err_set(err, -EPERM, "evacuate %s: cannot protect it from here: %s; "
		                     "nothing changed", s->name, why);
	}
	memset(&a, 0, sizeof(a));
	if (remusd_check_contact(env, &s->gc, host, port, &a, &linked, &e) < 0)
		return remus_err_set(err, -EHOSTUNREACH, "evacuate %s --to %s:%u: prepare: %s; "
		                     "nothing changed", s->name, host, port, e.msg);
	if (a.problems != 0)
		return remus_err_set(err, -EPERM, "evacuate %s --to %s:%u: refused at prepare: %s; "
		                     "nothing changed", s->name, host, port, a.text);
	log_info("guest %s: evacuate --to %s:%u: prepared (the destination can hold it)",
	         s->name, host, port);
	return 0;
}

/* perform's pre-copy: wait until the destination acknowledged checkpoint 1
 * (state protected) or the run ended.  The engine thread moves the state;
 * this worker only watches it, bounded. */
static enum remusd_state wait_synced(struct remusd_session *s)
{
	enum remusd_state st = session_state(s);

	for (unsigned waited = 0; st == RS_SYNCING && waited < REMUSD_EVACUATE_TO_SYNC_MS;
	     waited += 20) {
		poll(NULL, 0, 20);
		remusd_session_refresh(s);
		st = session_state(s);
	}
	return st;
}

/* Add what became of the guest here to err's message (kept as is before). */
static void add_outcome(struct remus_err *err, const char *what, const char *more)
{
	char msg[REMUS_ERR_MSG_MAX];

	snprintf(msg, sizeof(msg), "%s", err->msg);
	/* cut if need be: the message is for humans */
	if (snprintf(err->msg, sizeof(err->msg), "%.600s; %s%s", msg, what, more) < 0)
		snprintf(err->msg, sizeof(err->msg), "%.600s", msg);
}

/* perform failed with the guest running here: protect it to its old
 * backup again (its replica is offered: only what changed travels). */
static int back_to_backup(struct remusd_session *s, const struct remusd_env *env,
                          const char *old, int rc, struct remus_err *err)
{
	struct remus_err e = { 0 };
	char more[REMUS_ERR_MSG_MAX];

	if (session_engine_running(s))
		session_join_engine(s);
	if (old[0] == 0 || s->guest == NULL ||
	    remusd_fsm_next(true, session_state(s), SE_PROTECT) < 0) {
		add_outcome(err, s->guest ? "the guest runs on here, unprotected, state " :
		            "the guest no longer runs here, state ", remusd_state_name(session_state(s)));
		return rc;
	}
	if (remusd_session_protect(s, env, old, 0, &e) < 0) {
		snprintf(more, sizeof(more), "%.200s failed: %.300s", old, e.msg);
		add_outcome(err, "the guest runs on here, unprotected; protecting it again to ", more);
	} else {
		add_outcome(err, "the guest runs on here, being protected again to ", old);
	}
	return rc;
}

int remusd_session_evacuate_to(struct remusd_session *s, const struct remusd_env *env,
                               const char *to, struct remus_err *err)
{
	char host[REMUSD_HOST_MAX], dest[REMUSD_HOST_MAX + 8], old[REMUSD_HOST_MAX + 8] = "";
	uint16_t port = REMUSD_DEFAULT_PORT;
	enum remusd_state st;
	const char *why;
	int rc;

	if (!s->primary || s->guest == NULL)
		return remus_err_set(err, -EINVAL, "guest %s does not run here (%s): evacuate runs "
		                     "on the primary", s->name, remusd_state_name(session_state(s)));
	if ((why = remusd_split_hostport(to, true, host, sizeof(host), &port)) != NULL)
		return remus_err_set(err, -EINVAL, "evacuate --to '%s'%s", to, why);
	if (port == 0)
		port = REMUSD_DEFAULT_PORT;
	snprintf(dest, sizeof(dest), "%s:%u", host, port);
	remusd_session_refresh(s);
	st = session_state(s);
	pthread_mutex_lock(&s->lock);
	if (st == RS_PROTECTED)
		snprintf(old, sizeof(old), "%s", s->peer);
	pthread_mutex_unlock(&s->lock);
	if (st == RS_PROTECTED && s->conn == NULL)
		return remus_err_set(err, -EINVAL, "guest %s: a blackhole run cannot be evacuated",
		                     s->name);
	if (st == RS_PROTECTED && strcmp(old, dest) == 0)
		return remus_err_set(err, -EINVAL, "guest %s: %s is its backup already: evacuate "
		                     "without --to", s->name, dest);
	if (st != RS_PROTECTED && remusd_fsm_next(true, st, SE_PROTECT) < 0)
		return remus_err_set(err, -EBUSY, "guest %s is %s: cannot evacuate it now", s->name,
		                     remusd_state_name(st));
	/* 1. prepare at the destination */
	if ((rc = prepare(s, env, host, port, err)) < 0)
		return rc;
	(void)session_hit(s, "evacto-prepared");
	/* 2. perform: the backup lets go (BYE END: it keeps its replica and
	 * does not fail over), the destination is synchronised */
	if (st == RS_PROTECTED) {
		log_info("guest %s: evacuate --to %s: protection moves from %s to it", s->name,
		         dest, old);
		/* a run that ended meanwhile: the protect below starts one */
		(void)remusd_session_unprotect(s, &(struct remus_err){ 0 });
	}
	(void)session_hit(s, "evacto-perform");
	if ((rc = remusd_session_protect(s, env, dest, 0, err)) < 0) {
		remus_err_wrap(err, "evacuate %s --to %s: perform", s->name, dest);
		return back_to_backup(s, env, old, rc, err);
	}
	if ((st = wait_synced(s)) != RS_PROTECTED) {
		remus_err_set(err, -EIO, "evacuate %s --to %s: perform: the pre-copy ended %s (%s)",
		              s->name, dest, remusd_state_name(st), s->error);
		return back_to_backup(s, env, old, -EIO, err);
	}
	(void)session_hit(s, "evacto-synced");
	/* 3. finish and 4. confirm: the planned hand-over to the destination */
	if ((rc = remusd_session_evacuate(s, err)) < 0) {
		if (rc == -EINPROGRESS)
			return rc;      /* in doubt: in_doubt.c asks the destination */
		remus_err_wrap(err, "evacuate %s --to %s", s->name, dest);
		return back_to_backup(s, env, old, rc, err);
	}
	log_info("guest %s: evacuated --to %s (its backup was %s)", s->name, dest,
	         old[0] ? old : "none");
	return 0;
}
