/*
 * Planned hand-over of a protected guest to its backup (evacuation), in
 * three phases like libvirt's migration protocol — prepare, perform,
 * finish — with confirm/cancel, so that exactly one copy runs:
 *  - until the final checkpoint N is acknowledged, the backup holds only
 *    what it holds during protection; a failure cancels and the guest
 *    resumes here (as after any backup loss while protected);
 *  - once ACK(N) arrived the backup can run the guest from N — it fails
 *    over by itself if it loses the link, and BYE(HANDOVER) tells it to —
 *    so only an explicit BYE(REFUSED) cancels; a lost link or a missing
 *    answer leaves the guest paused here, *in doubt* (CKPT_EINDOUBT), for
 *    the operator to resolve after looking at the backup;
 *  - BYE(RUNNING) confirms: the caller destroys the paused copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>

#include "ckpt/fault_impl.h"
#include "ckpt/handover_impl.h"
#include "ckpt/sender_impl.h"
#include "netbuf/netbuf.h"

/* Cancel: the guest runs here again, unprotected (held output released). */
int handover_cancel(const struct hv_ops *hv, struct hv_guest *g, struct netbuf *nb, int rc,
               const char *phase, struct remus_err *err)
{
	struct remus_err e2 = { 0 };
	struct hv_info in;

	hv->info(g, &in);
	if (in.state == HV_PAUSED && hv->resume(g, &e2) < 0)
		remus_err_wrap(err, "and resume failed: %.200s", e2.msg);
	if (nb)
		netbuf_release_all(nb);
	remus_err_wrap(err, "evacuation cancelled in %s, guest resumed here", phase);
	return rc < 0 ? rc : CKPT_EPEER;
}

static int cancel(struct ckpt_sender *s, int rc, const char *phase, struct remus_err *err)
{
	s->final = false;
	return handover_cancel(s->cfg.hv, s->cfg.guest, s->cfg.nb, rc, phase, err);
}

/* In doubt: the backup may run the guest from checkpoint N, so nothing is
 * resumed nor released here (the guest stays paused, its output after N
 * held); err says why and what to look at. */
int handover_in_doubt_error(uint64_t epoch, struct remus_err *err)
{
	char why[REMUS_ERR_MSG_MAX];

	snprintf(why, sizeof(why), "%s", err->msg);
	return remus_err_set(err, CKPT_EINDOUBT, "evacuation in doubt after final checkpoint %"
	                     PRIu64 " (%.250s): the backup may run the guest; guest paused here",
	                     epoch, why);
}

int handover_answer(uint64_t bye, struct remus_err *err)
{
	if (bye == CKPT_BYE_RUNNING)
		return 0;
	remus_err_set(err, CKPT_EPEER, "backup refused to take over (reason %" PRIu64 ")", bye);
	return bye == CKPT_BYE_REFUSED ? 1 : CKPT_EPEER;
}

/* Wait for the backup's answer to BYE(HANDOVER): 0 on BYE(RUNNING),
 * 1 on BYE(REFUSED) (err says so), <0 when no answer came (link lost,
 * timeout).  Heartbeats are not judged here: the backup is busy
 * restoring, not sending them. */
int handover_wait_confirm(struct rnet_conn *c, uint32_t confirm_ms, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + confirm_ms;
	struct rnet_msg m;
	int rc;

	for (;;) {
		struct pollfd p = { rnet_conn_fd(c), (short)(POLLIN |
		                    (rnet_conn_want_write(c) ? POLLOUT : 0)), 0 };
		uint64_t now = rnet_now_ms();
		if (now >= deadline)
			return remus_err_set(err, CKPT_EPEER, "backup did not confirm within %" PRIu32
			                     " ms", confirm_ms);
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
		if (rnet_conn_want_write(c) && (rc = rnet_conn_flush(c, err)) < 0)
			return rc;
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		int frc = rnet_conn_feed(c, rnet_now_ms(), err);
		while ((rc = rnet_conn_next(c, &m, err)) == 1)
			if (m.type == RNET_MSG_BYE)
				return handover_answer(m.u64, err);
		if (rc < 0 && rc != RNET_ECLOSED)
			return rc;
		if (frc < 0 || rc == RNET_ECLOSED) {
			char why[300];   /* err->msg is rewritten below */
			snprintf(why, sizeof(why), "%.290s", err->msg[0] ? err->msg : "connection closed");
			return remus_err_set(err, CKPT_EPEER, "backup lost before confirming: %s", why);
		}
	}
}

static int sender_handover(struct ckpt_sender *s, uint32_t confirm_ms, struct remus_err *err)
{
	int rc;

	if (s->cfg.blackhole)
		return remus_err_set(err, CKPT_ENOREPLICA, "a blackhole run has no backup to hand over to");
	/* prepare: the replica holds every checkpoint taken so far */
	if (s->acked == 0)
		return cancel(s, remus_err_set(err, CKPT_ENOREPLICA, "no checkpoint acknowledged yet"),
		              "prepare", err);
	if ((rc = sender_guest_alive(s, err)) < 0)
		return rc;
	if ((rc = sender_drain(s, err)) || (rc = sender_wait_ack(s, s->epoch, s->ack_timeout_ms, err)))
		return cancel(s, rc, "prepare", err);
	/* perform: the final checkpoint, guest paused from here on */
	s->final = true;
	if ((rc = sender_take_checkpoint(s, err)) || (rc = sender_drain(s, err)) ||
	    (rc = sender_wait_ack(s, s->epoch, s->ack_timeout_ms, err)))
		return cancel(s, rc, "perform", err);
	/* the backup holds N: from here on it may run the guest */
	if ((rc = sender_fault(s, CKPT_FAULT_FINAL_ACKED, s->epoch, err)) < 0)
		return rc;
	/* finish: the backup restores checkpoint N and confirms */
	if (rnet_conn_send_bye(s->cfg.conn, s->reverse ? CKPT_BYE_HANDOVER_REVERSE :
	                       CKPT_BYE_HANDOVER, err) < 0)
		return handover_in_doubt_error(s->epoch, err);
	rc = handover_wait_confirm(s->cfg.conn, confirm_ms, err);
	if (rc == 1)
		return cancel(s, CKPT_EPEER, "finish", err);
	return rc < 0 ? handover_in_doubt_error(s->epoch, err) : 0;
}

static int sender_pause_final(struct ckpt_sender *s, struct remus_err *err)
{
	struct remus_err e2 = { 0 };
	int rc;

	if (s->cfg.blackhole || s->acked == 0)
		return remus_err_set(err, CKPT_ENOREPLICA, "no backup holds a checkpoint");
	if ((rc = sender_guest_alive(s, err)) < 0)
		return rc;
	if ((rc = sender_drain(s, err)) || (rc = sender_wait_ack(s, s->epoch, s->ack_timeout_ms, err)))
		return sender_lost(s, rc, err);
	s->final = true;
	if ((rc = sender_take_checkpoint(s, err)) || (rc = sender_drain(s, err)) ||
	    (rc = sender_wait_ack(s, s->epoch, s->ack_timeout_ms, err))) {
		s->final = false;       /* the guest runs here again, as after any loss */
		if (s->cfg.hv->resume(s->cfg.guest, &e2) < 0)
			remus_err_wrap(err, "and resume failed: %.200s", e2.msg);
		return sender_lost(s, rc, err);
	}
	s->final = false;
	return 0;
}

int ckpt_sender_pause_final(struct ckpt_sender *s, struct remus_err *err)
{
	int rc = rnet_conn_keepalive(s->cfg.conn, true, err);

	if (rc < 0)
		return rc;
	rc = sender_pause_final(s, err);
	rnet_conn_keepalive(s->cfg.conn, false, NULL);
	return rc;
}

void ckpt_sender_set_reverse(struct ckpt_sender *s, bool reverse)
{
	s->reverse = reverse;
}

/* The hand-over with the connection's keepalive on (see ckpt_sender_sync). */
int ckpt_sender_handover(struct ckpt_sender *s, uint32_t confirm_ms, struct remus_err *err)
{
	int rc = rnet_conn_keepalive(s->cfg.conn, true, err);

	if (rc < 0)
		return rc;
	rc = sender_handover(s, confirm_ms, err);
	rnet_conn_keepalive(s->cfg.conn, false, NULL);
	return rc;
}
