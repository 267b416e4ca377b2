/*
 * Ownership generations on the loop (generation.h): tell the other
 * daemons which generation of each guest this host holds and whether a
 * copy runs here; when another daemon says a newer copy runs there, the
 * copy here yields (a worker destroys it); when it says an older one
 * does, log that it will yield.  Only with quorum = corosync: the group
 * is the cluster's own.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "remusd/daemon.h"
#include "remusd/generation.h"
#include "util/log.h"

/* What runs here of s, as the group message's flags. */
static uint32_t copy_flags(struct remusd_session *s)
{
	uint32_t f = 0;

	pthread_mutex_lock(&s->lock);
	if (s->guest != NULL && s->state != RS_EVACUATED)
		f |= REMUSD_GEN_RUNS;
	if (s->state == RS_FENCED || s->state == RS_IN_DOUBT)
		f |= REMUSD_GEN_FENCED;
	if (s->state == RS_EVACUATED && __atomic_load_n(&s->yielded, __ATOMIC_ACQUIRE))
		f |= REMUSD_GEN_YIELDED;
	pthread_mutex_unlock(&s->lock);
	return f;
}

static void announce(struct daemon *d, struct remusd_session *s)
{
	struct remusd_gen_msg m = { .generation = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE),
	                            .flags = copy_flags(s) };
	uint8_t b[REMUSD_GEN_MSG_LEN];
	struct remus_err err = { 0 };
	int rc;

	snprintf(m.guest, sizeof(m.guest), "%s", s->name);
	if (remusd_gen_msg_encode(&m, b) < 0)
		return;
	if ((rc = d->qops->send(d->qb, b, sizeof(b), &err)) == -EAGAIN)
		return;         /* corosync syncs a membership: the flag stays */
	__atomic_store_n(&s->announce, false, __ATOMIC_RELEASE);
	if (rc < 0)
		log_warnx("guest %s: cannot announce its generation: %s", s->name, err.msg);
	else
		log_debug("guest %s: announced generation %" PRIu64 "%s", s->name, m.generation,
		          m.flags & REMUSD_GEN_RUNS ? " (runs here)" : "");
}

void ownership_announce_all(struct daemon *d)
{
	for (size_t i = 0; i < d->nsessions; i++)
		__atomic_store_n(&d->sessions[i]->announce, true, __ATOMIC_RELEASE);
}

/* One message of another node's daemon. */
static void judge(struct daemon *d, const struct remusd_gen_msg *m, uint32_t node)
{
	struct remusd_session *s = daemon_find_session(d, m->guest);
	uint64_t ours, seen;
	bool runs;

	if (s == NULL)
		return;         /* nothing of that guest here */
	seen = __atomic_load_n(&s->peer_generation, __ATOMIC_ACQUIRE);
	if (m->generation > seen)
		__atomic_store_n(&s->peer_generation, m->generation, __ATOMIC_RELEASE);
	ours = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
	runs = (copy_flags(s) & REMUSD_GEN_RUNS) != 0;
	switch (remusd_gen_judge(ours, runs, m)) {
	case GEN_YIELD:
		if (m->generation <= s->yield_to)
			break;          /* known already: the tick yields */
		log_about(LOG_WARNING, &(struct log_about){ .guest = s->name },
		          "guest %s: cluster node %u runs generation %" PRIu64 ", newer than ours "
		          "(%" PRIu64 "): the copy here yields", s->name, node, m->generation, ours);
		s->yield_to = m->generation;
		s->yield_node = node;
		break;
	case GEN_CONFLICT:
		log_about(LOG_ERR, &(struct log_about){ .guest = s->name },
		          "guest %s: cluster node %u runs it too, with the same generation %" PRIu64
		          ": two copies; the operator decides (remusctl destroy on one host)",
		          s->name, node, ours);
		break;
	case GEN_KEEP:
		if (runs && (m->flags & REMUSD_GEN_YIELDED) && m->generation == ours)
			log_about(LOG_WARNING, &(struct log_about){ .guest = s->name },
			          "guest %s: cluster node %u destroyed its older copy: it yielded to "
			          "ours (generation %" PRIu64 ")", s->name, node, ours);
		if (runs && (m->flags & REMUSD_GEN_RUNS)) {
			log_about(LOG_WARNING, &(struct log_about){ .guest = s->name },
			          "guest %s: cluster node %u holds an older copy (generation %" PRIu64
			          "%s) than ours (%" PRIu64 "): it yields, the copy here runs on",
			          s->name, node, m->generation,
			          m->flags & REMUSD_GEN_FENCED ? ", fenced" : "", ours);
		}
		break;
	}
}

void ownership_receive(struct daemon *d)
{
	uint8_t b[REMUSD_GEN_MSG_LEN + 1];
	struct remusd_gen_msg m;
	struct remus_err err = { 0 };
	uint32_t node;
	size_t n;

	if (d->qops->recv == NULL)
		return;
	while ((n = d->qops->recv(d->qb, b, sizeof(b), &node)) > 0) {
		if (remusd_gen_msg_parse(b, n, &m, &err) < 0)
			log_warnx("cluster node %u: %s: ignored", node, err.msg);
		else
			judge(d, &m, node);
	}
}

/* A copy told to yield does so once no other operation runs on it. */
static void yield_due(struct daemon *d, struct remusd_session *s)
{
	struct remus_err err = { 0 };
	char why[64];

	if (s->yield_to <= __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE) ||
	    guest_ops_busy(&d->ops, s) != NULL)
		return;
	snprintf(why, sizeof(why), "the copy on cluster node %u", s->yield_node);
	if (guest_ops_start_yield(&d->ops, s, s->yield_to, why, &err) < 0)
		log_warnx("guest %s: cannot yield: %s", s->name, err.msg);
	s->yield_to = 0;        /* the worker decides; a failure is logged there */
}

void ownership_tick(struct daemon *d)
{
	if (d->qops->send == NULL || !d->qstate.known)
		return;
	/* what runs here is told before it yields: the newer side hears of
	 * the older copy it met */
	for (size_t i = 0; i < d->nsessions; i++) {
		if (__atomic_load_n(&d->sessions[i]->announce, __ATOMIC_ACQUIRE))
			announce(d, d->sessions[i]);
		yield_due(d, d->sessions[i]);
	}
}
