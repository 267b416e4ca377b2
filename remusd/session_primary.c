/*
 * remusd sessions, primary side, for every driver: run the guest (its NIC
 * output straight to the TAP, or through netbuf while protected), protect
 * it towards a peer (connect, then the engine's run on the engine thread),
 * unprotect, evacuate, resolve a hand-over in doubt.  How a run ends is
 * classified here once (primary_outcome); the engine only checkpoints.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* A frame onto the guest NIC's backend, where the guest's own frames
 * would go (netbuf's released frames, and the pass-through below). */
int session_nic_tx(void *arg, const void *frame, size_t len)
{
	struct remusd_session *s = arg;

	return s->hv->net_transmit(s->guest, frame, len);
}

/* The guest sent a frame (pvm monitor thread): out to the NIC, or held
 * by netbuf for its epoch while protected. */
int session_guest_tx(void *arg, const void *frame, size_t len)
{
	struct remusd_session *s = arg;
	int rc;

	pthread_mutex_lock(&s->net_lock);
	/* nfqueue holds in the kernel, after the TAP: frames go out at once */
	if (s->nb_open && s->gc.netbuf == REMUSD_NETBUF_INLINE)
		rc = netbuf_guest_tx(&s->nb, frame, len);
	else
		rc = s->nic_tx ? session_nic_tx(s, frame, len) : -EIO;
	pthread_mutex_unlock(&s->net_lock);
	return rc;
}

int remusd_session_start_guest(struct remusd_session *s, struct remus_err *err)
{
	struct hv_guest_config cfg;
	struct hv_info info;
	int rc;

	if (s->hv == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: hypervisor driver %s not built in",
		                     s->name, remusd_guest_type_name(s->gc.type));
	if (s->guest != NULL)
		return remus_err_set(err, -EEXIST, "guest %s is already running", s->name);
	if (s->state == RS_EVACUATED)
		return remus_err_set(err, -EEXIST, "guest %s was evacuated to %s and runs there",
		                     s->name, s->peer);
	if (remusd_fsm_next(s->primary, s->state, SE_START) < 0)
		return remus_err_set(err, -EBUSY, "guest %s: this host holds its replica (%s)",
		                     s->name, remusd_state_name(s->state));
	remusd_guest_hvcfg(&s->gc, &cfg);
	if (cfg.tap && s->hv->net_transmit == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: driver %s cannot transmit held "
		                     "frames on a TAP", s->name, s->hv->name);
	if (cfg.tap) {
		cfg.net.arg = s;
		cfg.net.guest_tx = session_guest_tx;
	}
	if ((rc = session_open_disk(s, DISKREP_PRIMARY, err)) < 0)
		return rc;
	if (s->disk)
		cfg.disk_io = s->dhook_io;
	if ((rc = s->hv->create(&cfg, &s->guest, err)) < 0)
		return rc;
	pthread_mutex_lock(&s->net_lock);   /* publishes s->guest to the hook */
	s->nic_tx = cfg.tap != NULL;
	pthread_mutex_unlock(&s->net_lock);
	/* a driver that attaches to a running guest (Xen) has nothing to start */
	if ((s->hv->info(s->guest, &info) < 0 || info.state != HV_RUNNING) &&
	    (rc = s->hv->start(s->guest, err)) < 0) {
		s->hv->destroy(s->guest);
		s->guest = NULL;
		return rc;
	}
	remusd_session_move(s, SE_START, "guest started");
	return 0;
}

/* The hand-over is unconfirmed but the backup may run the guest: keep it
 * paused here and tell the operator what to check and how to resolve. */
static void set_in_doubt(struct remusd_session *s, const char *why)
{
	char msg[2 * REMUS_ERR_MSG_MAX];    /* status keeps what fits */

	snprintf(msg, sizeof(msg), "%.240s. Check on %s whether %s runs there (remusctl status): "
	         "if it does, `remusctl destroy %s` here; if not, `remusctl resume %s --force` "
	         "here", why, s->peer, s->name, s->name, s->name);
	log_about(LOG_WARNING, &(struct log_about){ .guest = s->name }, "guest %s: %s", s->name, msg);
	remusd_session_move(s, SE_HANDOVER_DOUBT, msg);
}

/* A run stopped for a live update with its final checkpoint acknowledged
 * (ckpt_sender_pause_final): the next run, by the new daemon or by this
 * one taking the guest back, carries it on from there. */
static void carry_run(struct remusd_session *s)
{
	struct ckpt_stats st = { 0 };

	pthread_mutex_lock(&s->lock);
	(void)s->eng->stats(s, &st);
	s->resume_from = st.acked == st.epoch ? st.acked : 0;
	pthread_mutex_unlock(&s->lock);
}

/* How a run ended, for every engine: the state it leaves, and what the
 * peer and the held output are told. */
static void primary_outcome(struct remusd_session *s, int rc, const struct remus_err *err)
{
	if (rc == 0 && session_state(s) == RS_EVACUATING) {
		remusd_session_move(s, SE_HANDED_OVER, "handed over, running on the backup");
	} else if (rc == CKPT_EINDOUBT) {
		set_in_doubt(s, err->msg);      /* netbuf kept: it holds what follows N */
	} else if (rc == CKPT_ESTOPPED && s->upgrade_stop) {
		/* a live update takes the guest (session_upgrade.c): paused at the
		 * final checkpoint, whose ACK released what netbuf held
		 * (ckpt_sender_pause_final); anything still held (nothing, the
		 * guest was paused) is dropped, never released; the backup keeps
		 * its replica passive for the run carried on from there */
		struct remus_err e2 = { 0 };
		struct hv_info in;
		if (s->guest != NULL && (s->hv->info(s->guest, &in) < 0 || in.state != HV_PAUSED) &&
		    s->hv->suspend(s->guest, &e2) < 0)
			log_warnx("guest %s: pause for the upgrade: %s", s->name, e2.msg);
		if (s->nb_open)
			netbuf_discard(&s->nb);
		session_send_bye(s, CKPT_BYE_END);
		carry_run(s);
		remusd_session_move(s, SE_UNPROTECT, "protection paused for a live update of remusd");
	} else if (rc == CKPT_ESTOPPED) {
		/* unprotected from now on: what netbuf holds leaves, later output
		 * passes at once; the backup keeps its replica passive */
		if (s->nb_open)
			netbuf_release_all(&s->nb);
		session_send_bye(s, CKPT_BYE_END);
		remusd_session_move(s, SE_UNPROTECT, "unprotected on request");
	} else if (rc == CKPT_EGUEST) {
		remusd_session_move(s, SE_GUEST_GONE, err->msg);
	} else if (rc == HV_EUNRESTORABLE) {
		/* protected must mean restorable: the checkpoint was not sent, the
		 * backup keeps the last good one and must not fail over from it */
		session_send_bye(s, CKPT_BYE_END);
		if (s->nb_open && s->eng->hold_on_loss)
			netbuf_release_all(&s->nb);
		remusd_session_move(s, SE_UNRESTORABLE, err->msg);
	} else if (s->qv != NULL && s->eng->hold_on_loss && rc == CKPT_EPEER &&
	           (remusd_session_refresh(s), session_state(s) != RS_SYNCING)) {
		/* the backup may hold a checkpoint and fail over: only quorum
		 * says whether this copy's held output may leave */
		session_primary_gate(s, err->msg);
	} else {
		/* the backup holds no checkpoint, or quorum = none */
		if (s->nb_open && s->eng->hold_on_loss)
			netbuf_release_all(&s->nb);
		remusd_session_move(s, SE_LOST, rc == 0 ? "protection ended" : err->msg);
	}
}

/* Primary engine thread: the engine's run, a hand-over if one was asked
 * for, then the one classification of how it ended. */
static void *primary_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	int rc;

	rc = s->eng->run(s, &err);
	if (session_state(s) == RS_EVACUATING && s->eng->hand_over != NULL)
		rc = s->eng->hand_over(s, rc, &err);
	primary_outcome(s, rc, &err);
	s->eng->end_run(s);
	return NULL;
}

/* Why this session cannot start a protection run now (0: it can). */
static int protect_refusal(struct remusd_session *s, bool blackhole, struct remus_err *err)
{
	if (s->guest == NULL)
		return remus_err_set(err, -ESRCH, "guest %s is not running here", s->name);
	if (s->state == RS_FENCED)
		return remus_err_set(err, -EBUSY, "guest %s: fenced after its backup's loss (%s); "
		                     "resolve it first (remusctl resume --force, or destroy)",
		                     s->name, s->error);
	if (s->state == RS_IN_DOUBT)
		return remus_err_set(err, -EBUSY, "guest %s: evacuation in doubt, resolve it first "
		                     "(remusctl resume --force, or destroy)", s->name);
	if (!s->primary)
		return remus_err_set(err, -EINVAL, "guest %s: this host holds its replica (%s); "
		                     "protect it from the host that runs it", s->name,
		                     remusd_state_name(s->state));
	if (remusd_fsm_next(true, s->state, SE_PROTECT) < 0)
		return remus_err_set(err, -EALREADY, "guest %s is already %s", s->name,
		                     remusd_state_name(s->state));
	if (blackhole && !s->eng->blackhole)
		return remus_err_set(err, -ENOTSUP, "guest %s: blackhole is for guests remusd "
		                     "checkpoints itself (pvm); a %s driver's stream needs a backup",
		                     s->name, remusd_guest_type_name(s->gc.type));
	if (blackhole && s->disk)
		return remus_err_set(err, -EINVAL, "guest %s: blackhole: its disk is replicated "
		                     "(diskrep = builtin) and there is no backup; run it with "
		                     "diskrep = none and unsafe = no-diskrep", s->name);
	return 0;
}

int remusd_session_protect(struct remusd_session *s, const struct remusd_env *env,
                           const char *peer, uint32_t unsafe, struct remus_err *err)
{
	/* unsafe = blackhole (or --unsafe blackhole): no backup at all */
	bool blackhole = ((unsafe | s->gc.unsafe) & REMUSD_UNSAFE_BLACKHOLE) != 0;   /* = CTL_UNSAFE_* */
	struct rnet_params p;
	char host[REMUSD_HOST_MAX];
	uint16_t port = s->gc.peer_port;
	const char *why;
	uint64_t resume;
	char buf[16];
	int rc;

	if ((rc = protect_refusal(s, blackhole, err)) < 0)
		return rc;
	if (blackhole) {
		peer = "(blackhole)";
	} else if (peer == NULL || peer[0] == 0) {
		if (s->gc.peer_host[0] == 0)
			return remus_err_set(err, -EINVAL, "guest %s: no peer given or configured", s->name);
		peer = s->gc.peer_host;
	}
	if (!blackhole && (why = remusd_split_hostport(peer, true, host, sizeof(host), &port)))
		return remus_err_set(err, -EINVAL, "peer '%s'%s", peer, why);
	if (port == 0)
		port = REMUSD_DEFAULT_PORT;
	session_join_engine(s);
	while (read(s->stop_pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&s->lock);      /* status reads the engine */
	s->eng->free(s);
	/* taken once: a guest that runs on without this run is not carried */
	resume = blackhole ? 0 : s->resume_from;
	s->resume_from = 0;
	pthread_mutex_unlock(&s->lock);
	rnet_conn_free(s->conn);
	s->conn = NULL;
	remusd_rnet_params(env, &s->gc, &p);
	if (resume)
		p.caps.flags |= RNET_CAP_RESUME;
	/* test hold point (hold.h): protect is connecting */
	(void)session_hit(s, "protect-connect");
	if (!blackhole && resume && (rc = rnet_connect(host, port, &p, &s->conn, err)) < 0) {
		/* a backup that cannot resume (an older remusd): a new run */
		log_warnx("guest %s: carrying the run on from checkpoint %" PRIu64 " refused (%s); "
		          "protecting it anew", s->name, resume, err->msg);
		p.caps.flags &= ~RNET_CAP_RESUME;
		resume = 0;
		*err = (struct remus_err){ 0 };
	}
	if (!blackhole && s->conn == NULL && (rc = rnet_connect(host, port, &p, &s->conn, err)) < 0) {
		if (strstr(err->msg, REMUSD_CAPS_COPY_HERE) != NULL)
			return remus_err_set(err, -EEXIST, "protect %s: %s:%u runs a copy of %s (or "
			                     "its copy there may run): protecting to it would make two "
			                     "copies; stop it there first", s->name, host, port, s->name);
		return remus_err_wrap(err, "protect %s", s->name);
	}
	pthread_mutex_lock(&s->lock);      /* status reads it */
	s->run_from = resume;
	if (blackhole)
		snprintf(s->peer, sizeof(s->peer), "%s", peer);
	else
		snprintf(s->peer, sizeof(s->peer), "%s:%u", host, port);
	pthread_mutex_unlock(&s->lock);
	if (blackhole)
		log_warnx("guest %s: blackhole run: checkpoints are taken and dropped, no backup "
		          "holds them (unsafe)", s->name);
	if ((rc = s->eng->protect(s, env, blackhole, err)) < 0)
		return rc;
	/* syncing before the reply: a client polling status after protect's
	 * "ok" never sees the state of before */
	remusd_session_move(s, SE_PROTECT, "");
	if ((rc = session_start_engine(s, primary_main, err)) < 0) {
		remus_err_wrap(err, "protect %s", s->name);
		remusd_session_move(s, SE_LOST, err->msg);
		s->eng->end_run(s);
		return rc;
	}
	return 0;
}

int remusd_session_unprotect(struct remusd_session *s, struct remus_err *err)
{
	if (!s->primary || !session_engine_running(s))
		return remus_err_set(err, -EINVAL, "guest %s is not protected from here", s->name);
	session_join_engine(s);
	return 0;
}

/* The primary's copy after a hand-over: a driver that attached to a guest
 * it did not build ends it for good and forgets the handle. */
void session_destroy_copy(struct remusd_session *s)
{
	struct remus_err err = { 0 };
	struct hv_guest *g;

	/* status reads s->guest under the lock (this runs on a worker) */
	pthread_mutex_lock(&s->lock);
	g = s->guest;
	s->guest = NULL;
	pthread_mutex_unlock(&s->lock);
	if (g == NULL)
		return;
	if (s->hv->destroy_copy != NULL && s->hv->release != NULL) {
		if (s->hv->destroy_copy(g, &err) < 0)
			log_warnx("guest %s: %s", s->name, err.msg);
		s->hv->release(g);
		return;
	}
	s->hv->destroy(g);
}

/* The last checkpoint the backup acknowledged (the hand-over's final). */
static uint64_t final_checkpoint(struct remusd_session *s)
{
	struct ckpt_stats st;

	pthread_mutex_lock(&s->lock);
	(void)remusd_session_stats_locked(s, &st);
	pthread_mutex_unlock(&s->lock);
	return st.acked;
}

int remusd_session_evacuate(struct remusd_session *s, struct remus_err *err)
{
	enum remusd_state st;

	if (!s->primary)
		return remus_err_set(err, -EINVAL, "guest %s: evacuate runs on the primary; "
		                     "this host holds its replica", s->name);
	remusd_session_refresh(s);
	if (!session_engine_running(s) || session_state(s) != RS_PROTECTED)
		return remus_err_set(err, -EINVAL, "guest %s is not protected (%s%s%s), nothing "
		                     "to hand over to", s->name, remusd_state_name(s->state),
		                     s->error[0] ? ": " : "", s->error);
	if (s->conn == NULL)
		return remus_err_set(err, -EINVAL, "guest %s: a blackhole run has no backup to hand "
		                     "over to", s->name);
	/* the engine thread reads it when its run stops */
	if (remusd_session_move(s, SE_EVACUATE, "") < 0)
		return remus_err_set(err, -EINVAL, "guest %s: protection ended meanwhile (%s: %s)",
		                     s->name, remusd_state_name(s->state), s->error);
	if (s->eng->request_handover != NULL)
		s->eng->request_handover(s);
	session_join_engine(s);
	if ((st = session_state(s)) != RS_EVACUATED)
		return remus_err_set(err, st == RS_IN_DOUBT ? -EINPROGRESS : -EIO,
		                     "guest %s: %s", s->name, s->error);
	if (s->evac_reverse && s->eng->keep_final != NULL) {
		/* test hook: the backup runs the guest, our copy is not kept yet */
		(void)session_hit_at(s, "keep-final", final_checkpoint(s));
		s->eng->keep_final(s);
	}
	session_destroy_copy(s);  /* paused since the final checkpoint */
	log_info("guest %s: evacuated to %s, local copy destroyed%s", s->name, s->peer,
	         s->evac_reverse ? "; it protects the guest back to this host" : "");
	if (s->eng->after_evacuation != NULL)
		s->eng->after_evacuation(s);
	return 0;
}

int remusd_session_stop(struct remusd_session *s, struct remus_err *err)
{
	enum remusd_state st = session_state(s);

	if (!s->primary || s->guest == NULL)
		return remus_err_set(err, -EINVAL, "guest %s does not run here as a primary (%s)",
		                     s->name, remusd_state_name(st));
	if (remusd_fsm_next(true, st, SE_STOP) < 0)
		return remus_err_set(err, -EBUSY, "guest %s is %s: %s", s->name,
		                     remusd_state_name(st), st == RS_FENCED || st == RS_IN_DOUBT ?
		                     "resolve it (remusctl destroy or resume --force)" :
		                     "unprotect or evacuate it first");
	session_join_engine(s);         /* a run that ended: nothing waits */
	session_destroy_copy(s);
	log_info("guest %s: stopped on request, its copy here destroyed", s->name);
	remusd_session_move(s, SE_STOP, "stopped on request");
	return 0;
}

/* Resolve an evacuation in doubt: see remusd_session_resolve; why: the
 * state's message. */
static int resolve(struct remusd_session *s, bool resume_here, const char *why,
                   struct remus_err *err)
{
	int rc;

	/* a fenced copy's engine thread may still wait for the verdict: it
	 * stops (and stays fenced) before the operator's word applies */
	if (session_state(s) == RS_FENCED)
		session_join_engine(s);
	if ((s->state != RS_IN_DOUBT && s->state != RS_FENCED) || s->guest == NULL)
		return remus_err_set(err, -EINVAL, "guest %s is %s, not in doubt: nothing to resolve",
		                     s->name, remusd_state_name(s->state));
	if (!resume_here) {
		/* the backup runs it: what the paused copy still holds never leaves */
		if (s->nb_open)
			netbuf_discard(&s->nb);
		session_destroy_copy(s);
		remusd_session_move(s, SE_DESTROY_HERE, why);
		return 0;
	}
	if (s->nb_open)
		netbuf_release_all(&s->nb);
	if ((rc = s->hv->resume(s->guest, err)) < 0)
		return remus_err_wrap(err, "guest %s: resume", s->name);
	remusd_session_move(s, SE_RESUME_HERE, why);
	return 0;
}

int remusd_session_resolve(struct remusd_session *s, bool resume_here, struct remus_err *err)
{
	return resolve(s, resume_here, resume_here ? "resumed here by the operator (forced) after "
	               "an evacuation in doubt" : "copy here destroyed by the operator after an "
	               "evacuation in doubt; the guest runs on the backup", err);
}

int remusd_session_resolve_auto(struct remusd_session *s, bool resume_here, const char *why,
                                struct remus_err *err)
{
	return resolve(s, resume_here, why, err);
}
