/*
 * A session's side of a live update of remusd (remusd/upgrade.c): its
 * guest handed off paused, and adopted by the new daemon (or by this one
 * again when the new one refused), with the session's NIC hook in place
 * before the guest runs again.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* A protected primary's run: stop it at an epoch boundary, guest paused
 * (primary_outcome's upgrade branch).  0, or why it cannot be carried. */
static int stop_protection(struct remusd_session *s, struct remus_err *err)
{
	remusd_session_refresh(s);
	if (!s->primary || session_state(s) != RS_PROTECTED || s->conn == NULL ||
	    s->eng != &session_step_engine)
		return remus_err_set(err, -EBUSY, "guest %s is %s: carrying this over a live update "
		                     "is not implemented yet (only a protected pvm primary's run is); "
		                     "unprotect it first", s->name, remusd_state_name(session_state(s)));
	s->upgrade_stop = true;
	session_join_engine(s);
	s->upgrade_stop = false;
	if (session_state(s) != RS_UNPROTECTED)
		return remus_err_set(err, -EIO, "guest %s: its protection ended otherwise (%s: %s)",
		                     s->name, remusd_state_name(session_state(s)), s->error);
	return 0;
}

/* Run a guest that was to be handed off again here: protected again if
 * its run was stopped for the upgrade, else resumed. */
static void restart_here(struct remusd_session *s, const struct remusd_env *env, bool reprotect)
{
	struct remus_err e2 = { 0 };
	char peer[sizeof(s->peer)];

	snprintf(peer, sizeof(peer), "%s", s->peer);
	if (reprotect && remusd_session_protect(s, env, peer, 0, &e2) == 0)
		return;
	if (reprotect)
		log_warnx("guest %s: protecting it again: %s; it runs unprotected", s->name, e2.msg);
	if (s->guest != NULL && s->hv->resume(s->guest, &e2) < 0)
		log_warnx("guest %s: resume: %s", s->name, e2.msg);
}

int remusd_session_hand_off(struct remusd_session *s, const struct remusd_env *env,
                            struct hv_handoff *h, bool *reprotect, struct remus_err *err)
{
	struct hv_info in;
	int rc;

	for (int i = 0; i < HV_HANDOFF_FDS; i++)
		h->fd[i] = -1;
	h->blob = (struct hv_blob){ 0 };
	*reprotect = false;
	if (s->guest == NULL && session_engine_running(s))
		return remus_err_set(err, -EBUSY, "guest %s is %s here: carrying a replica over a "
		                     "live update is not implemented yet", s->name,
		                     remusd_state_name(session_state(s)));
	if (s->guest == NULL)
		return 0;
	if (s->hv->hand_off == NULL || s->hv->adopt == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: driver %s cannot hand a guest over",
		                     s->name, s->hv->name);
	if (s->dr != NULL && s->dr->adopts_device)
		return remus_err_set(err, -ENOTSUP, "guest %s: its %s disk replication is not "
		                     "carried over a live update yet", s->name, s->dr->name);
	if (session_engine_running(s)) {
		if ((rc = stop_protection(s, err)) < 0)
			return rc;
		*reprotect = true;
	}
	if (s->hv->info(s->guest, &in) < 0 || (in.state != HV_RUNNING && in.state != HV_PAUSED))
		return remus_err_set(err, -EBUSY, "guest %s is not running", s->name);
	bool was_running = in.state == HV_RUNNING;
	if (was_running && (rc = s->hv->suspend(s->guest, err)) < 0)
		return rc;
	if ((rc = s->hv->hand_off(s->guest, h, err)) < 0) {
		if (was_running || *reprotect)
			restart_here(s, env, *reprotect);
		*reprotect = false;
		return rc;
	}
	pthread_mutex_lock(&s->net_lock);
	s->guest = NULL;
	s->nic_tx = false;
	pthread_mutex_unlock(&s->net_lock);
	session_close_disk(s);          /* its state is in IMAGE.remus/: the adopter opens it */
	return 0;
}

int remusd_session_adopt(struct remusd_session *s, const struct hv_handoff *h,
                         enum remusd_state state, struct remus_err *err)
{
	struct hv_guest_config cfg;
	struct hv_guest *g = NULL;
	int rc;

	if (s->hv == NULL || s->hv->adopt == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: driver cannot adopt a guest", s->name);
	if (s->guest != NULL)
		return remus_err_set(err, -EEXIST, "guest %s is already running here", s->name);
	remusd_guest_hvcfg(&s->gc, &cfg);
	if (cfg.tap) {
		cfg.net.arg = s;
		cfg.net.guest_tx = session_guest_tx;
	}
	/* the guest's disk I/O goes through this daemon's diskrep handle */
	if ((rc = session_open_disk(s, DISKREP_PRIMARY, err)) < 0)
		return rc;
	if (s->disk)
		cfg.disk_io = s->dhook_io;
	if ((rc = s->hv->adopt(&cfg, h, &g, err)) < 0) {
		session_close_disk(s);
		return rc;
	}
	pthread_mutex_lock(&s->net_lock);   /* publishes s->guest to the hook */
	s->guest = g;
	s->nic_tx = cfg.tap != NULL;
	pthread_mutex_unlock(&s->net_lock);
	pthread_mutex_lock(&s->lock);
	s->state = state;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int remusd_session_resume_adopted(struct remusd_session *s, const struct remusd_env *env,
                                  bool reprotect, struct remus_err *err)
{
	int rc;

	if (s->guest == NULL)
		return 0;
	if (!reprotect)
		return s->hv->resume(s->guest, err);
	/* paused until the run's pre-copy resumes it; its output is held from
	 * epoch 1 on, as in any protection run */
	char peer[sizeof(s->peer)];
	snprintf(peer, sizeof(peer), "%s", s->peer);
	if ((rc = remusd_session_protect(s, env, peer, 0, err)) == 0)
		return 0;
	struct remus_err e2 = { 0 };
	if (s->hv->resume(s->guest, &e2) < 0)
		log_warnx("guest %s: resume: %s", s->name, e2.msg);
	return remus_err_wrap(err, "guest %s runs unprotected: ", s->name);
}
