/*
 * A lost peer judged by the cluster (quorum = corosync, quorum.h), on the
 * session's engine thread: the backup waits until it may fail over, the
 * primary keeps its guest paused and its output held until it may carry
 * on.  The wait wakes on the session's stop pipe (a new run, a forced
 * failover, the daemon stopping) and re-reads the view every
 * QUORUM_RECHECK_MS: the view is written by the loop, which has no way to
 * wake engine threads, and a change is never older than that when read.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "remusd/generation.h"
#include "remusd/session_impl.h"
#include "util/log.h"

#define QUORUM_RECHECK_MS 100u

/* Wait until the deadline (or a recheck), or the stop pipe: true when a
 * stop was asked (the byte is consumed). */
static bool wait_or_stop(struct remusd_session *s, uint64_t deadline)
{
	uint64_t now = rnet_now_ms();
	uint32_t ms = QUORUM_RECHECK_MS;
	struct pollfd p = { s->stop_pipe[0], POLLIN, 0 };
	char buf[16];

	if (deadline > now && deadline - now < ms)
		ms = (uint32_t)(deadline - now);
	if (poll(&p, 1, (int)ms) > 0 && (p.revents & POLLIN)) {
		while (read(s->stop_pipe[0], buf, sizeof(buf)) > 0)
			;
		return true;
	}
	return false;
}

/* The settle time has passed since the loss, and, with a quorum device,
 * since the cluster's last change too: votequorum counts the device's vote
 * of the old membership for a moment after each change (quorum_view.c). */
static bool settled(const struct remusd_session *s, const struct remusd_quorum_state *st,
                    uint64_t deadline)
{
	uint64_t now = rnet_now_ms();

	if (now < deadline)
		return false;
	return !st->qdevice || now >= st->stable_since_ms + s->qv->settle_ms;
}

static void say(struct remusd_session *s, int prio, const char *what,
                const struct remusd_quorum_state *st)
{
	char q[192];

	remusd_quorum_describe(st, q, sizeof(q));
	log_about(prio, &(struct log_about){ .guest = s->name }, "guest %s: %s (cluster: %s)",
	          s->name, what, q);
}

bool session_backup_gate(struct remusd_session *s, const char *lost)
{
	struct remusd_quorum_state st;
	uint64_t deadline;
	bool waiting = false;
	char why[REMUS_ERR_MSG_MAX + 64];

	if (s->qv == NULL && !s->failover_by_cluster)
		return true;            /* quorum = none: a lost primary is a dead one */
	deadline = rnet_now_ms() + (s->qv ? s->qv->settle_ms : 0);
	for (;;) {
		enum remusd_backup_verdict v = QV_B_WAIT_QUORUM;
		if (s->qv != NULL) {
			remusd_quorum_view_get(s->qv, &st);
			v = remusd_quorum_backup_verdict(&st, settled(s, &st, deadline));
		} else {
			memset(&st, 0, sizeof(st));
		}
		if (s->failover_by_cluster && v == QV_B_FAIL_OVER)
			v = QV_B_WAIT_QUORUM;   /* the cluster manager promotes, not us */
		if (v == QV_B_FAIL_OVER) {
			say(s, LOG_INFO, "the primary's daemon is gone from our quorate partition: "
			    "failing over", &st);
			return true;
		}
		if (v == QV_B_PEER_ALIVE) {
			snprintf(why, sizeof(why), "primary lost on the replication link only (%.200s): "
			         "its daemon is in our quorate partition and carries on; no failover, "
			         "replica kept", lost);
			say(s, LOG_WARNING, why, &st);
			remusd_session_move(s, SE_PEER_ALIVE, why);
			return false;
		}
		if (v == QV_B_WAIT_QUORUM && !waiting) {
			snprintf(why, sizeof(why), s->failover_by_cluster ?
			         "primary lost (%.200s): failover = cluster, waiting for the cluster "
			         "manager to promote this copy (remusctl failover --force)" :
			         "primary lost (%.200s): not quorate, waiting for quorum to fail over",
			         lost);
			say(s, LOG_WARNING, why, &st);
			remusd_session_move(s, SE_NO_QUORUM, why);
			waiting = true;
		}
		if (wait_or_stop(s, deadline)) {
			if (__atomic_load_n(&s->failover_forced, __ATOMIC_ACQUIRE)) {
				say(s, LOG_WARNING, "failover forced by the operator", &st);
				return true;
			}
			remusd_session_move(s, waiting ? SE_UNPROTECT : SE_PEER_ALIVE,
			                    "stopped while waiting for the cluster's verdict "
			                    "(a new run or the daemon stopping): no failover");
			return false;
		}
	}
}

/* The paused copy's message: what it waits for, or how to resolve it. */
static void fence_message(struct remusd_session *s, char *buf, size_t cap, const char *lost,
                          bool final)
{
	if (!final)
		snprintf(buf, cap, "backup lost (%.200s): guest paused, output held until the "
		         "cluster says this copy is the only one", lost);
	else
		snprintf(buf, cap, "fenced: backup lost (%.200s) without quorum; the backup may "
		         "run the guest. Check on %s (remusctl status): if it runs %s there, "
		         "`remusctl destroy %s` here; if not, `remusctl resume %s --force` here",
		         lost, s->peer, s->name, s->name, s->name);
}

void session_primary_gate(struct remusd_session *s, const char *lost)
{
	struct remusd_quorum_state st = { 0 };
	struct remus_err err = { 0 };
	struct hv_info info;
	uint64_t deadline = rnet_now_ms() + s->qv->settle_ms;
	char msg[2 * REMUS_ERR_MSG_MAX];

	/* nothing more leaves until the verdict: the guest stops producing */
	if (s->hv->info(s->guest, &info) == 0 && info.state == HV_RUNNING &&
	    s->hv->suspend(s->guest, &err) < 0)
		log_warnx("guest %s: pause after the backup's loss: %s (its output stays held)",
		          s->name, err.msg);
	fence_message(s, msg, sizeof(msg), lost, false);
	remusd_session_move(s, SE_NO_QUORUM, msg);
	for (;;) {
		remusd_quorum_view_get(s->qv, &st);
		switch (remusd_quorum_primary_verdict(&st, settled(s, &st, deadline))) {
		case QV_P_CARRY_ON:
			say(s, LOG_INFO, "quorate after the backup's loss: releasing the held output, "
			    "running on unprotected", &st);
			if (s->nb_open)
				netbuf_release_all(&s->nb);
			if (s->hv->resume(s->guest, &err) < 0)
				log_warnx("guest %s: resume: %s", s->name, err.msg);
			snprintf(msg, sizeof(msg), "%.400s; quorate: carries on unprotected", lost);
			remusd_session_move(s, SE_LOST, msg);
			return;
		case QV_P_FENCE:
			fence_message(s, msg, sizeof(msg), lost, true);
			say(s, LOG_WARNING, msg, &st);
			remusd_session_move(s, SE_NO_QUORUM, msg);
			return;
		case QV_P_WAIT:
			break;
		}
		if (wait_or_stop(s, deadline)) {
			fence_message(s, msg, sizeof(msg), lost, true);
			log_warnx("guest %s: stopped before the cluster's verdict: %s", s->name, msg);
			remusd_session_move(s, SE_NO_QUORUM, msg);
			return;
		}
	}
}

int remusd_session_yield(struct remusd_session *s, uint64_t newer, const char *why,
                         struct remus_err *err)
{
	char msg[REMUS_ERR_MSG_MAX];
	uint64_t ours = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
	int rc;

	if (newer <= ours)
		return remus_err_set(err, -EINVAL, "guest %s: generation %" PRIu64 " is not newer "
		                     "than ours (%" PRIu64 ")", s->name, newer, ours);
	/* a fenced copy's engine may still wait for its verdict: it ends
	 * (fenced) first; a backup's ended when it took over */
	session_join_engine(s);
	if (s->guest == NULL)
		return 0;
	if (remusd_fsm_next(s->primary, session_state(s), SE_YIELD) < 0)
		return remus_err_set(err, -EBUSY, "guest %s: %s here, cannot yield to %s", s->name,
		                     remusd_state_name(session_state(s)), why);
	/* whatever it holds never leaves: a newer copy answers the clients */
	if (s->nb_open)
		netbuf_discard(&s->nb);
	session_destroy_copy(s);
	if ((rc = remusd_gen_store(s->state_dir, s->name, newer, err)) < 0)
		log_warnx("guest %s: keeping generation %" PRIu64 ": %s", s->name, newer, err->msg);
	__atomic_store_n(&s->generation, newer, __ATOMIC_RELEASE);
	__atomic_store_n(&s->yielded, true, __ATOMIC_RELEASE);
	__atomic_store_n(&s->announce, true, __ATOMIC_RELEASE);   /* no copy here now */
	snprintf(msg, sizeof(msg), "yielded: %.300s runs generation %" PRIu64 ", newer than "
	         "ours (%" PRIu64 "); the copy here was destroyed, its held output discarded",
	         why, newer, ours);
	log_about(LOG_WARNING, &(struct log_about){ .guest = s->name }, "guest %s: %s", s->name, msg);
	remusd_session_move(s, SE_YIELD, msg);
	return 0;
}

int session_promote_generation(struct remusd_session *s, struct remus_err *err)
{
	uint64_t ours = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
	uint64_t peer = __atomic_load_n(&s->peer_generation, __ATOMIC_ACQUIRE);
	uint64_t next = (ours > peer ? ours : peer) + 1;
	int rc;

	if (s->qv == NULL)
		return 0;       /* quorum = none: no generations */
	if (next > REMUSD_GEN_MAX)
		return remus_err_set(err, -ERANGE, "guest %s: generation exhausted", s->name);
	/* durable before the copy runs: a crash after this never lets the
	 * older generation win */
	if ((rc = remusd_gen_store(s->state_dir, s->name, next, err)) < 0)
		return remus_err_wrap(err, "guest %s: cannot record the promotion's generation",
		                      s->name);
	__atomic_store_n(&s->generation, next, __ATOMIC_RELEASE);
	__atomic_store_n(&s->announce, true, __ATOMIC_RELEASE);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name }, "guest %s: promoted: "
	          "generation %" PRIu64 " (was %" PRIu64 ", the primary's %" PRIu64 ")",
	          s->name, next, ours, peer);
	return 0;
}
