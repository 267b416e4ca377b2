/*
 * quorum = corosync: votequorum says whether this node's partition is
 * quorate (tracking callbacks, so every change arrives on the loop's poll),
 * and a CPG group of the remusd daemons says whether the peer's daemon is
 * in that partition: corosync removes a member whose process dies, so a
 * killed remusd is seen gone at once while a cut replication link alone
 * leaves it present.  Everything arrives by callbacks dispatched from the
 * loop; the one synchronous call (votequorum_getinfo, for the vote counts)
 * goes to the local corosync right after it sent us a notification.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/uio.h>
#include <corosync/cpg.h>
#include <corosync/votequorum.h>

#include "net/net.h"
#include "remusd/quorum.h"

#define REMUSD_CPG_GROUP "remusd"
/* corosync answers TRY_AGAIN while it syncs a new membership */
#define COROSYNC_TRIES 50
#define COROSYNC_TRY_MS 100
/* group messages kept between two dispatches (generation.h's are 96 bytes) */
#define GROUP_QUEUE 16u
#define GROUP_MSG_MAX 128u
/* how often a quorum device's vote is read again (votequorum does not
 * announce it) */
#define QDEVICE_REFRESH_MS 500u

struct quorum_backend {
	votequorum_handle_t vq;
	cpg_handle_t cpg;
	bool vq_open, cpg_open;
	bool gone;              /* corosync went away: polled no more */
	int vq_fd, cpg_fd;
	uint32_t nodeid;
	bool quorate, quorate_known, members_known;
	uint32_t members;
	bool peer_present;
	uint64_t changes;
	uint64_t info_at_ms;    /* votequorum_getinfo last asked (rnet_now_ms) */
	/* messages of other nodes' daemons, oldest first; dropped beyond */
	struct { uint8_t b[GROUP_MSG_MAX]; size_t len; uint32_t nodeid; } queue[GROUP_QUEUE];
	unsigned qhead, qlen;
	uint64_t dropped;
};

static void on_quorum(votequorum_handle_t h, uint64_t context, uint32_t quorate,
                      uint32_t n, votequorum_node_t nodes[])
{
	struct quorum_backend *q = (struct quorum_backend *)(uintptr_t)context;
	uint32_t members = 0;

	(void)h;
	for (uint32_t i = 0; i < n; i++)
		if (nodes[i].state == VOTEQUORUM_NODESTATE_MEMBER)
			members++;
	q->quorate = quorate != 0;
	q->quorate_known = true;
	q->members = members;
	q->changes++;
}

static void on_expected(votequorum_handle_t h, uint64_t context, uint32_t expected)
{
	struct quorum_backend *q = (struct quorum_backend *)(uintptr_t)context;

	(void)h;
	(void)expected;
	q->changes++;
}

static void on_confchg(cpg_handle_t h, const struct cpg_name *group,
                       const struct cpg_address *members, size_t n,
                       const struct cpg_address *left, size_t nleft,
                       const struct cpg_address *joined, size_t njoined)
{
	struct quorum_backend *q = NULL;
	bool peer = false;

	(void)group;
	(void)left;
	(void)nleft;
	(void)joined;
	(void)njoined;
	if (cpg_context_get(h, (void **)&q) != CS_OK || q == NULL)
		return;
	/* any remusd of another node: a two-host cluster has one peer (the
	 * witness runs no remusd) */
	for (size_t i = 0; i < n; i++)
		if (members[i].nodeid != q->nodeid)
			peer = true;
	q->peer_present = peer;
	q->members_known = true;
	q->changes++;
}

static void on_deliver(cpg_handle_t h, const struct cpg_name *group, uint32_t nodeid,
                       uint32_t pid, void *msg, size_t len)
{
	struct quorum_backend *q = NULL;
	unsigned slot;

	(void)group;
	(void)pid;
	if (cpg_context_get(h, (void **)&q) != CS_OK || q == NULL || nodeid == q->nodeid)
		return;         /* ours come back to us too */
	if (len > GROUP_MSG_MAX || q->qlen == GROUP_QUEUE) {
		q->dropped++;   /* the parser would refuse it; or the loop is behind */
		return;
	}
	slot = (q->qhead + q->qlen++) % GROUP_QUEUE;
	memcpy(q->queue[slot].b, msg, len);
	q->queue[slot].len = len;
	q->queue[slot].nodeid = nodeid;
}

static void coro_close(struct quorum_backend *q)
{
	if (q == NULL)
		return;
	if (q->vq_open)
		votequorum_finalize(q->vq);
	if (q->cpg_open)
		cpg_finalize(q->cpg);
	free(q);
}

static int coro_fail(struct quorum_backend *q, struct remus_err *err, const char *what,
                     cs_error_t e)
{
	coro_close(q);
	return remus_err_set(err, -EIO, "quorum = corosync: %s: %s (error %d; is corosync "
	                     "running here?)", what, cs_strerror(e), (int)e);
}

static int coro_open(struct quorum_backend **out, struct remus_err *err)
{
	static votequorum_callbacks_t vcb = { .votequorum_quorum_notify_fn = on_quorum,
	                                      .votequorum_expectedvotes_notify_fn = on_expected };
	cpg_model_v1_data_t model = { .model = CPG_MODEL_V1, .cpg_deliver_fn = on_deliver,
	                              .cpg_confchg_fn = on_confchg };
	struct cpg_name group = { .length = sizeof(REMUSD_CPG_GROUP) - 1 };
	struct quorum_backend *q = calloc(1, sizeof(*q));
	cs_error_t e;
	int i;

	if (q == NULL)
		return remus_err_set(err, -ENOMEM, "quorum backend");
	memcpy(group.value, REMUSD_CPG_GROUP, group.length);
	if ((e = votequorum_initialize(&q->vq, &vcb)) != CS_OK)
		return coro_fail(q, err, "votequorum_initialize", e);
	q->vq_open = true;
	if ((e = cpg_model_initialize(&q->cpg, CPG_MODEL_V1, (cpg_model_data_t *)&model, q)) != CS_OK)
		return coro_fail(q, err, "cpg_initialize", e);
	q->cpg_open = true;
	if ((e = cpg_local_get(q->cpg, &q->nodeid)) != CS_OK)
		return coro_fail(q, err, "cpg_local_get", e);
	if ((e = votequorum_trackstart(q->vq, (uint64_t)(uintptr_t)q,
	                               CS_TRACK_CURRENT | CS_TRACK_CHANGES)) != CS_OK)
		return coro_fail(q, err, "votequorum_trackstart", e);
	for (i = 0; (e = cpg_join(q->cpg, &group)) == CS_ERR_TRY_AGAIN && i < COROSYNC_TRIES; i++)
		poll(NULL, 0, COROSYNC_TRY_MS);     /* start-up only, before the loop */
	if (e != CS_OK)
		return coro_fail(q, err, "cpg_join " REMUSD_CPG_GROUP, e);
	if ((e = votequorum_fd_get(q->vq, &q->vq_fd)) != CS_OK)
		return coro_fail(q, err, "votequorum_fd_get", e);
	if ((e = cpg_fd_get(q->cpg, &q->cpg_fd)) != CS_OK)
		return coro_fail(q, err, "cpg_fd_get", e);
	*out = q;
	return 0;
}

static unsigned coro_pollfds(struct quorum_backend *q, struct pollfd *pfd, unsigned max)
{
	if (q == NULL || q->gone || max < 2)
		return 0;
	pfd[0] = (struct pollfd){ q->vq_fd, POLLIN, 0 };
	pfd[1] = (struct pollfd){ q->cpg_fd, POLLIN, 0 };
	return 2;
}

static int coro_dispatch(struct quorum_backend *q, const struct pollfd *pfd,
                         struct remusd_quorum_state *st, struct remus_err *err)
{
	struct votequorum_info info;
	uint64_t before = q->changes;
	cs_error_t e = CS_OK;

	if (pfd[0].revents && (e = votequorum_dispatch(q->vq, CS_DISPATCH_ALL)) != CS_OK &&
	    e != CS_ERR_TRY_AGAIN)
		goto gone;
	if (pfd[1].revents && (e = cpg_dispatch(q->cpg, CS_DISPATCH_ALL)) != CS_OK &&
	    e != CS_ERR_TRY_AGAIN)
		goto gone;
	/* votequorum notifies quorum and membership changes, not a quorum
	 * device's vote alone (the witness lost with both hosts still members:
	 * 3 votes to 2, quorate all along): with a device, its vote is read
	 * again every QDEVICE_REFRESH_MS (the loop calls us at least every
	 * 100 ms) */
	if (q->changes == before && st->known &&
	    !(st->qdevice && rnet_now_ms() - q->info_at_ms >= QDEVICE_REFRESH_MS))
		return 0;
	st->known = q->quorate_known && q->members_known;
	st->quorate = q->quorate;
	st->peer_present = q->peer_present;
	st->nodeid = q->nodeid;
	st->members = q->members;
	st->changes = q->changes;
	q->info_at_ms = rnet_now_ms();
	if (votequorum_getinfo(q->vq, q->nodeid, &info) == CS_OK) {
		st->votes = info.node_votes;
		st->expected_votes = info.highest_expected;
		st->total_votes = info.total_votes;
		st->quorum = info.quorum;
		st->qdevice = (info.flags & VOTEQUORUM_INFO_QDEVICE_REGISTERED) != 0;
		/* alive: the qdevice daemon polls corosync; cast vote: it has
		 * the witness's vote (ffsplit) — "witness alive" means both */
		st->qdevice_alive = (info.flags & VOTEQUORUM_INFO_QDEVICE_ALIVE) &&
		                    (info.flags & VOTEQUORUM_INFO_QDEVICE_CAST_VOTE);
	}
	return 0;
gone:
	/* corosync went away: nothing proves quorum any more */
	q->gone = true;
	st->known = true;
	st->quorate = false;
	st->peer_present = false;
	st->changes = ++q->changes;
	return remus_err_set(err, -EIO, "corosync connection lost: %s", cs_strerror(e));
}

static int coro_send(struct quorum_backend *q, const void *msg, size_t len,
                     struct remus_err *err)
{
	struct iovec iov = { (void *)msg, len };
	cs_error_t e;

	if (q == NULL || q->gone)
		return remus_err_set(err, -ENOTCONN, "corosync connection lost");
	if ((e = cpg_mcast_joined(q->cpg, CPG_TYPE_AGREED, &iov, 1)) == CS_ERR_TRY_AGAIN)
		return -EAGAIN;
	if (e != CS_OK)
		return remus_err_set(err, -EIO, "cpg_mcast_joined: %s", cs_strerror(e));
	return 0;
}

static size_t coro_recv(struct quorum_backend *q, uint8_t *buf, size_t cap, uint32_t *nodeid)
{
	size_t len;

	while (q != NULL && q->qlen > 0) {
		len = q->queue[q->qhead].len;
		*nodeid = q->queue[q->qhead].nodeid;
		if (len <= cap)
			memcpy(buf, q->queue[q->qhead].b, len);
		q->qhead = (q->qhead + 1) % GROUP_QUEUE;
		q->qlen--;
		if (len <= cap && len > 0)
			return len;
		q->dropped++;
	}
	return 0;
}

const struct quorum_ops quorum_corosync_ops = {
	.name = "corosync",
	.open = coro_open,
	.pollfds = coro_pollfds,
	.dispatch = coro_dispatch,
	.close = coro_close,
	.send = coro_send,
	.recv = coro_recv,
};
