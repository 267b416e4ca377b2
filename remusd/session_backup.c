/*
 * remusd sessions, backup side: receive a primary's checkpoints on an
 * engine thread, fail over when the primary is lost or on command.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "remusd/session_impl.h"
#include "util/log.h"

static void do_failover(struct remusd_session *s, const char *why)
{
	struct hv_guest_config cfg;
	struct ckpt_failover_times t;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;

	log_about(LOG_INFO, &(struct log_about){ .guest = s->name }, "guest %s: failing over: %s",
	          s->name, why);
	remusd_guest_hvcfg(&s->gc, &cfg);
	if (ckpt_receiver_failover(s->rcv, &cfg, &g, &t, &err) < 0) {
		remusd_session_set_state(s, RS_FAILED, err.msg);
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->guest = g;
	s->fo = t;
	s->failover_done = true;
	pthread_mutex_unlock(&s->lock);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name, .epoch = t.checkpoint, .has_epoch = true },
	          "guest %s: restored checkpoint %" PRIu64 " in %" PRIu64 " us (total %" PRIu64 " us)",
	          s->name, t.checkpoint, t.restore_us, t.total_us);
	remusd_session_set_state(s, RS_ACTIVE, why);
}

/* Backup engine thread: receive until the stream stops, then fail over. */
static void *backup_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	int rc;

	rc = ckpt_receiver_run(s->rcv, s->stop_pipe[0], &err);
	if (rc == CKPT_HANDOVER) {
		/* test builds: the hand-over arrived, nothing restored yet; a
		 * non-zero hook stops here as if this daemon died */
		if (s->fault.hit && s->fault.hit(s->fault.arg, "handover-started", 0)) {
			remusd_session_set_state(s, RS_FAILED, "stopped at fault point handover-started");
			return NULL;
		}
		do_failover(s, "planned hand-over from the primary");
		if (ckpt_receiver_confirm(s->rcv, s->state == RS_ACTIVE, &err) < 0)
			log_warnx("guest %s: hand-over answer: %s", s->name, err.msg);
		return NULL;
	}
	if (rc == 0) {
		remusd_session_set_state(s, RS_UNPROTECTED, "primary ended protection");
		session_disk_detach(s);
		__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
		return NULL;
	}
	do_failover(s, rc == CKPT_ESTOPPED ? "failover on command" : err.msg);
	if (s->guest == NULL) {     /* failed (e.g. lost before checkpoint 1): a new run may come */
		session_disk_detach(s);
		__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* A receiver that ended without failing over (the primary said BYE) is
 * joined so that a new run can start; one still receiving is given a
 * moment to see the BYE that may precede the new connection. */
static void reap_receiver(struct remusd_session *s)
{
	for (int i = 0; s->th_running && i < 200; i++) {
		if (__atomic_load_n(&s->th_done, __ATOMIC_ACQUIRE)) {
			pthread_join(s->th, NULL);
			s->th_running = false;
			return;
		}
		poll(NULL, 0, 10);
	}
}

int remusd_session_receive(struct remusd_session *s, struct rnet_conn *conn,
                           struct remus_err *err)
{
	struct ckpt_receiver_cfg rc = { .hv = s->hv, .conn = conn,
	                                .ram_bytes = (uint64_t)s->gc.mem_mb << 20,
	                                .fault = s->fault };
	int e;

	if (s->guest == NULL)
		reap_receiver(s);
	if (s->th_running || s->guest != NULL) {
		rnet_conn_free(conn);
		return remus_err_set(err, -EBUSY, "guest %s is already %s here", s->name,
		                     remusd_state_name(s->state));
	}
	if (remusd_session_driver_loop(s)) {   /* Xen: the driver owns the loop */
		rnet_conn_free(s->conn);
		s->conn = conn;
		return remusd_session_stream_receive(s, err);
	}
	if ((e = session_open_disk(s, DISKREP_BACKUP, err)) < 0) {
		rnet_conn_free(conn);
		return e;
	}
	/* a new run: whatever the last one left staged or half-received goes */
	if (s->disk && ((e = s->dr->discard_uncommitted(s->disk, err)) < 0 ||
	                (e = session_disk_channel(s, err)) < 0)) {
		rnet_conn_free(conn);
		return e;
	}
	if (s->disk) {
		rc.dr = s->dr;
		rc.disk = s->disk;
		rc.disk_fd = s->disk_sp[1];
	}
	rnet_conn_free(s->conn);
	s->conn = conn;
	pthread_mutex_lock(&s->lock);
	/* a replica kept from an earlier run (BYE, unprotect) is offered to
	 * the primary by page hashes: only what changed is sent again */
	if (s->rcv == NULL || ckpt_receiver_restart(s->rcv, &rc, err) < 0) {
		ckpt_receiver_free(s->rcv);
		s->rcv = NULL;
		e = ckpt_receiver_new(&rc, &s->rcv, err);
	} else {
		e = 0;
	}
	pthread_mutex_unlock(&s->lock);
	if (e < 0)
		return e;
	remusd_session_set_state(s, RS_RECEIVING, "");
	if ((e = pthread_create(&s->th, NULL, backup_main, s)) != 0)
		return remus_err_sys(err, e, "receive %s: thread", s->name);
	s->th_done = false;
	s->th_running = true;
	return 0;
}

int remusd_session_failover(struct remusd_session *s, struct remus_err *err)
{
	if (s->primary)
		return remusd_session_evacuate(s, err);
	if (!s->th_running || s->state == RS_ACTIVE)
		return remus_err_set(err, -EINVAL, "guest %s: nothing to fail over (%s)", s->name,
		                     remusd_state_name(s->state));
	session_join_engine(s);
	return s->state == RS_ACTIVE ? 0 : remus_err_set(err, -EIO, "guest %s: %s", s->name, s->error);
}
