/*
 * A session's side of a live update of remusd (remusd/upgrade.c): its
 * guest handed off paused, and adopted by the new daemon (or by this one
 * again when the new one refused), with the session's NIC hook in place
 * before the guest runs again.
 */
#include <errno.h>
#include <string.h>

#include "remusd/session_impl.h"
#include "util/log.h"

int remusd_session_hand_off(struct remusd_session *s, struct hv_handoff *h,
                            struct remus_err *err)
{
	struct hv_info in;
	int rc;

	for (int i = 0; i < HV_HANDOFF_FDS; i++)
		h->fd[i] = -1;
	h->blob = (struct hv_blob){ 0 };
	if (session_engine_running(s))
		return remus_err_set(err, -EBUSY, "guest %s is %s: carrying a running protection or "
		                     "replica over a live update is not implemented yet; unprotect it "
		                     "first", s->name, remusd_state_name(session_state(s)));
	if (s->guest == NULL)
		return 0;
	if (s->hv->hand_off == NULL || s->hv->adopt == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: driver %s cannot hand a guest over",
		                     s->name, s->hv->name);
	if (s->disk != NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: its disk replication state is not "
		                     "carried over a live update yet", s->name);
	if (s->hv->info(s->guest, &in) < 0 || (in.state != HV_RUNNING && in.state != HV_PAUSED))
		return remus_err_set(err, -EBUSY, "guest %s is not running", s->name);
	bool was_running = in.state == HV_RUNNING;
	if (was_running && (rc = s->hv->suspend(s->guest, err)) < 0)
		return rc;
	if ((rc = s->hv->hand_off(s->guest, h, err)) < 0) {
		struct remus_err e2 = { 0 };
		if (was_running && s->hv->resume(s->guest, &e2) < 0)
			log_warnx("guest %s: resume after a refused hand-off: %s", s->name, e2.msg);
		return rc;
	}
	pthread_mutex_lock(&s->net_lock);
	s->guest = NULL;
	s->nic_tx = false;
	pthread_mutex_unlock(&s->net_lock);
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
	if (cfg.disk && s->dr != NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: its disk replication state is not "
		                     "carried over a live update yet", s->name);
	if (cfg.tap) {
		cfg.net.arg = s;
		cfg.net.guest_tx = session_guest_tx;
	}
	if ((rc = s->hv->adopt(&cfg, h, &g, err)) < 0)
		return rc;
	pthread_mutex_lock(&s->net_lock);   /* publishes s->guest to the hook */
	s->guest = g;
	s->nic_tx = cfg.tap != NULL;
	pthread_mutex_unlock(&s->net_lock);
	pthread_mutex_lock(&s->lock);
	s->state = state;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int remusd_session_resume_adopted(struct remusd_session *s, struct remus_err *err)
{
	return s->guest ? s->hv->resume(s->guest, err) : 0;
}
