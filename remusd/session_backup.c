/*
 * remusd sessions, backup side, for every driver: take a primary's run,
 * receive on the engine thread until the stream stops, then fail over
 * (primary lost, on command, or a planned hand-over) or keep the replica
 * passive (the primary's BYE).  How a run ended is classified here once;
 * the engine only receives and builds the replica.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* Backup engine thread: receive until the stream stops, then the one
 * classification of why. */
static void *backup_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };      /* take_over keeps or replaces the run's */
	char why[REMUS_ERR_MSG_MAX];
	bool handover;
	int rc;

	rc = s->eng->receive_run(s, &err);
	if (rc == 0) {
		remusd_session_move(s, SE_UNPROTECT, "primary ended protection");
		goto ended;
	}
	if (rc == HV_EUNRESTORABLE) {
		/* the primary runs on: no failover from here; tell it why we stop */
		session_send_bye(s, CKPT_BYE_UNRESTORABLE);
		remusd_session_move(s, SE_UNRESTORABLE, err.msg);
		goto ended;
	}
	handover = rc == CKPT_HANDOVER;
	/* the primary lost: the cluster decides whether it is dead (quorum.h);
	 * a failover on command was judged when it was asked for */
	if (!handover && rc != CKPT_ESTOPPED && !session_backup_gate(s, err.msg))
		goto ended;
	/* test builds: the hand-over arrived, nothing restored yet; a non-zero
	 * hook stops here as if this daemon died */
	if (handover && session_hit(s, "handover-started")) {
		remusd_session_move(s, SE_TAKEOVER_FAILED, "stopped at fault point handover-started");
		return NULL;
	}
	snprintf(why, sizeof(why), "%s", rc == CKPT_ESTOPPED ? "failover on command" :
	         handover ? "planned hand-over from the primary" : err.msg);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name }, "guest %s: failing over: %s",
	          s->name, why);
	/* test hold point (hold.h): a failover is in progress, nothing started */
	(void)session_hit(s, "failover-restore");
	if (session_promote_generation(s, &err) < 0) {
		remusd_session_move(s, SE_TAKEOVER_FAILED, err.msg);
		if (handover)
			s->eng->answer(s, false);
		goto ended;
	}
	if (s->eng->take_over(s, rc, &err) == 0)
		remusd_session_move(s, SE_TAKEN_OVER, why);
	else
		remusd_session_move(s, SE_TAKEOVER_FAILED, err.msg);
	if (handover)
		s->eng->answer(s, s->guest != NULL);
	if (s->guest != NULL)
		return NULL;
ended:
	/* no guest runs here: a new run may take the session */
	s->eng->end_run(s);
	session_ended(s);
	return NULL;
}

/* A receiver that ended without failing over (the primary said BYE) is
 * joined so that a new run can start; one still receiving is given a
 * moment to see the BYE that may precede the new connection. */
static void reap_receiver(struct remusd_session *s)
{
	for (int i = 0; session_engine_running(s) && i < 200; i++) {
		if (__atomic_load_n(&s->th_done, __ATOMIC_ACQUIRE)) {
			session_join_engine(s);     /* ended: no wait (unless the loop did) */
			return;
		}
		poll(NULL, 0, 10);
	}
}

bool remusd_session_may_receive(struct remusd_session *s)
{
	bool ok;

	pthread_mutex_lock(&s->lock);
	ok = !s->primary || (s->guest == NULL && !s->th_running &&
	                     remusd_fsm_next(true, s->state, SE_RECEIVE) >= 0);
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* A primary session whose copy is gone becomes a backup: what its runs
 * used goes (the sender, the netbuf, the disk's primary handle: the
 * receive opens the backup's), the image stays as it is for the resync;
 * a replica kept from the hand-over (keep_final) stays to be offered. */
static void drop_primary_side(struct remusd_session *s)
{
	struct ckpt_receiver *kept;

	session_netbuf_close(s);
	pthread_mutex_lock(&s->net_lock);
	s->nic_tx = false;
	pthread_mutex_unlock(&s->net_lock);
	pthread_mutex_lock(&s->lock);       /* status reads them */
	kept = s->rcv;
	s->rcv = NULL;
	s->eng->free(s);
	s->rcv = kept;
	pthread_mutex_unlock(&s->lock);
	session_close_disk(s);
}

int remusd_session_receive(struct remusd_session *s, struct rnet_conn *conn,
                           struct remus_err *err)
{
	char buf[16];
	int rc;

	/* the primary connects again: it lives, a waiting receiver ends
	 * without failing over */
	if (s->guest == NULL && session_state(s) == RS_WAITING_QUORUM)
		session_join_engine(s);
	if (s->guest == NULL)
		reap_receiver(s);
	if (session_engine_running(s) || s->guest != NULL ||
	    remusd_fsm_next(s->primary, s->state, SE_RECEIVE) < 0) {
		rnet_conn_free(conn);
		return remus_err_set(err, -EBUSY, "guest %s is already %s here", s->name,
		                     remusd_state_name(s->state));
	}
	if (s->primary)
		drop_primary_side(s);
	/* a new run starts with no stop request (an ended run's may be left) */
	while (read(s->stop_pipe[0], buf, sizeof(buf)) > 0)
		;
	rnet_conn_free(s->conn);
	s->conn = conn;
	if ((rc = s->eng->receive(s, err)) < 0) {
		rnet_conn_free(s->conn);
		s->conn = NULL;
		return rc;
	}
	remusd_session_move(s, SE_RECEIVE, s->primary ? "the host running the guest protects "
	                    "it to this one" : "");
	if ((rc = session_start_engine(s, backup_main, err)) < 0)
		return remus_err_wrap(err, "receive %s", s->name);
	return 0;
}

int remusd_session_failover(struct remusd_session *s, bool force, struct remus_err *err)
{
	struct remusd_quorum_state st;
	enum remusd_state now;
	int rc;

	if (s->primary)
		return remusd_session_evacuate(s, err);
	now = session_state(s);
	if (!session_engine_running(s) || now == RS_ACTIVE)
		return remus_err_set(err, -EINVAL, "guest %s: nothing to fail over (%s)", s->name,
		                     remusd_state_name(now));
	if (s->qv)
		remusd_quorum_view_get(s->qv, &st);
	/* receiving: the primary's heartbeats still arrive */
	if ((rc = remusd_quorum_failover_refusal(s->qv ? &st : NULL, now != RS_WAITING_QUORUM,
	                                         force, err)) < 0)
		return remus_err_wrap(err, "guest %s: failover refused", s->name);
	if (force)
		log_about(LOG_WARNING, &(struct log_about){ .guest = s->name },
		          "guest %s: failover FORCED by the operator (state %s)", s->name,
		          remusd_state_name(now));
	__atomic_store_n(&s->failover_forced, true, __ATOMIC_RELEASE);
	session_join_engine(s);
	__atomic_store_n(&s->failover_forced, false, __ATOMIC_RELEASE);
	return s->state == RS_ACTIVE ? 0 : remus_err_set(err, -EIO, "guest %s: %s", s->name, s->error);
}
