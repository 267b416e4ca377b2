/*
 * The quorum view the sessions read, and the verdicts on a lost peer
 * (quorum.h).  The verdicts are pure so a unit test walks them whole.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "net/net.h"
#include "remusd/config.h"
#include "remusd/quorum.h"

const struct quorum_ops *remusd_quorum_ops(uint32_t kind)
{
	return kind == REMUSD_QUORUM_COROSYNC ? &quorum_corosync_ops : &quorum_none_ops;
}

const char *remusd_quorum_name(uint32_t kind)
{
	return kind == REMUSD_QUORUM_COROSYNC ? "corosync" : "none";
}

void remusd_quorum_view_init(struct remusd_quorum_view *v, const char *backend,
                             uint32_t settle_ms)
{
	memset(v, 0, sizeof(*v));
	pthread_mutex_init(&v->lock, NULL);
	v->backend = backend;
	v->settle_ms = settle_ms;
}

void remusd_quorum_view_destroy(struct remusd_quorum_view *v)
{
	pthread_mutex_destroy(&v->lock);
}

bool remusd_quorum_view_set(struct remusd_quorum_view *v, const struct remusd_quorum_state *st)
{
	bool changed;

	uint64_t since;

	pthread_mutex_lock(&v->lock);
	changed = !v->st.known || v->st.quorate != st->quorate ||
	          v->st.peer_present != st->peer_present || v->st.known != st->known ||
	          v->st.qdevice_alive != st->qdevice_alive;
	since = v->st.stable_since_ms;
	if (changed || v->st.total_votes != st->total_votes || v->st.members != st->members)
		since = rnet_now_ms();
	v->st = *st;
	v->st.stable_since_ms = since;
	pthread_mutex_unlock(&v->lock);
	return changed;
}

void remusd_quorum_view_get(struct remusd_quorum_view *v, struct remusd_quorum_state *out)
{
	pthread_mutex_lock(&v->lock);
	*out = v->st;
	pthread_mutex_unlock(&v->lock);
}

void remusd_quorum_describe(const struct remusd_quorum_state *st, char *buf, size_t cap)
{
	if (!st->known) {
		snprintf(buf, cap, "unknown (no answer from the cluster yet)");
		return;
	}
	snprintf(buf, cap, "%s, %u/%u votes (quorum %u), %u member%s, peer's remusd %s%s",
	         st->quorate ? "quorate" : "NOT quorate", st->total_votes, st->expected_votes,
	         st->quorum, st->members, st->members == 1 ? "" : "s",
	         st->peer_present ? "present" : "absent",
	         !st->qdevice ? "" : st->qdevice_alive ? ", witness alive" : ", witness lost");
}

enum remusd_backup_verdict remusd_quorum_backup_verdict(const struct remusd_quorum_state *st,
                                                        bool settled)
{
	if (!st->known || !st->quorate)
		return QV_B_WAIT_QUORUM;
	/* the quorate partition is the only one that may run the guest; the
	 * primary's daemon absent from it cannot release anything (it fences).
	 * With a quorum device that answer waits for the settle time: after a
	 * membership change votequorum still counts the device's vote of the
	 * old membership until qdevice hears qnetd's verdict (ffsplit) or
	 * times out, so a host cut off from its peer and the witness reads
	 * "quorate, peer absent" for a moment (seen for ~1 s in
	 * tests/fault/remusd_qdevice.sh: a second copy without this) */
	if (!st->peer_present)
		return st->qdevice && !settled ? QV_B_WAIT_SETTLE : QV_B_FAIL_OVER;
	/* still seen: either alive beyond a cut replication link (it carries
	 * on, quorate like us), or the cluster has not noticed it leave yet */
	return settled ? QV_B_PEER_ALIVE : QV_B_WAIT_SETTLE;
}

enum remusd_primary_verdict remusd_quorum_primary_verdict(const struct remusd_quorum_state *st,
                                                          bool settled)
{
	/* before the settle time a quorate answer may be stale: an isolated
	 * host is still quorate until its token times out */
	if (!settled)
		return QV_P_WAIT;
	return st->known && st->quorate ? QV_P_CARRY_ON : QV_P_FENCE;
}

int remusd_quorum_failover_refusal(const struct remusd_quorum_state *st, bool receiving,
                                   bool force, struct remus_err *err)
{
	char q[160];

	if (force)
		return 0;
	if (receiving)
		return remus_err_set(err, -EBUSY, "the primary still answers heartbeats: failing "
		                     "over would run a second copy (evacuate on the primary, or "
		                     "failover --force)");
	if (st != NULL && !(st->known && st->quorate)) {
		remusd_quorum_describe(st, q, sizeof(q));
		return remus_err_set(err, -EPERM, "this node is not quorate (%s): the primary may "
		                     "run in the other partition (failover --force overrides)", q);
	}
	return 0;
}
