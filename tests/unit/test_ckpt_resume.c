/*
 * A run carried on over a new link (a live update of the primary's
 * daemon, issue 18): the old run stops with a final checkpoint N
 * acknowledged and the guest paused (ckpt_sender_pause_final), the
 * receiver resumes on the new link (ckpt_receiver_resume) and the new
 * sender at N + 1 (ckpt_sender_resume) with no pre-copy: numbers go on,
 * the replica fails over to what was acknowledged; a sender that names a
 * checkpoint the replica does not hold is refused before anything is sent.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ckpt_testlib.h"

static void *receive(void *arg)
{
	struct rig *r = arg;

	r->rrc = ckpt_receiver_run(r->rcv, -1, &r->rerr);
	return NULL;
}

static struct ckpt_sender *sender(struct rig *r, struct rnet_conn *c)
{
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .guest = r->g, .conn = c,
	                              .interval_ms = 5, .fault = { r, rig_hook } };
	struct ckpt_sender *s = NULL;

	assert_int_equal(ckpt_sender_new(&sc, &s, &r->serr), 0);
	return s;
}

/* The old run: sync, 4 epochs, then the final checkpoint 5 with the guest
 * paused; the link ends with BYE(END), the receiver keeps its replica. */
static void old_run(struct rig *r)
{
	struct remus_err err = { 0 };
	struct hv_info in;
	struct ckpt_stats st;

	r->snd = sender(r, r->pri.conn);
	if (ckpt_sender_sync(r->snd, &r->serr) < 0 || ckpt_sender_run(r->snd, -1, 4, &r->serr) < 0 ||
	    ckpt_sender_pause_final(r->snd, &r->serr) < 0)
		fail_msg("old run: %s", r->serr.msg);
	ckpt_sender_stats(r->snd, &st);
	assert_int_equal(st.epoch, 5);
	assert_int_equal(st.acked, 5);
	pvm_hv_ops.info(r->g, &in);
	assert_int_equal(in.state, HV_PAUSED);
	/* paused since the final capture: the replica holds the guest as it is */
	assert_int_equal(pt_peek(r->g, COUNTER_OFF), r->counter_at[5]);
	assert_int_equal(rnet_conn_send_bye(r->pri.conn, CKPT_BYE_END, &err), 0);
	assert_int_equal(rnet_conn_flush(r->pri.conn, &err), 0);
	shutdown(rnet_conn_fd(r->pri.conn), SHUT_WR);
	pthread_join(r->rth, NULL);
	assert_int_equal(r->rrc, 0);
	ckpt_sender_free(r->snd);
	r->snd = NULL;
	side_free(&r->pri);
	side_free(&r->bak);
}

/* A new authenticated link, the receiver resumed on it and running. */
static void new_link(struct rig *r)
{
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = MEM };

	side_init(&r->pri, r->keys.good, true);
	side_init(&r->bak, r->keys.good, false);
	r->pri.p.hb_timeout_ms = r->bak.p.hb_timeout_ms = 30000;
	side_pair_handshake(&r->pri, &r->bak);
	assert_int_equal(r->pri.rc, 0);
	assert_int_equal(r->bak.rc, 0);
	rc.conn = r->bak.conn;
	if (ckpt_receiver_resume(r->rcv, &rc, &r->rerr) < 0)
		fail_msg("receiver resume: %s", r->rerr.msg);
	assert_int_equal(pthread_create(&r->rth, NULL, receive, r), 0);
}

static void test_resume_carries_numbers_on(void **state)
{
	struct ckpt_stats st;
	struct rig r;

	(void)state;
	rig_up(&r, false, RNET_COMPRESS_NONE);
	old_run(&r);
	new_link(&r);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 5);        /* kept across the links */
	r.snd = sender(&r, r.pri.conn);
	if (ckpt_sender_resume(r.snd, 5, &r.serr) < 0)
		fail_msg("resume: %s", r.serr.msg);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, 5);
	assert_int_equal(st.precopy_rounds, 0);     /* nothing pre-copied */
	if (ckpt_sender_run(r.snd, -1, 8, &r.serr) < 0)
		fail_msg("run: %s", r.serr.msg);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, 8);
	assert_int_equal(st.checkpoints, 3);        /* 6, 7, 8: this sender's */
	/* the primary dies: the replica is checkpoint 8, numbered on */
	r.dead = true;
	pvm_hv_ops.destroy(r.g);
	r.g = NULL;
	shutdown(rnet_conn_fd(r.pri.conn), SHUT_WR);
	pthread_join(r.rth, NULL);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 8);
	assert_int_equal(st.acked, 8);
	failover_and_check(&r, r.counter_at[8]);
	rig_down(&r);
}

/* Resume from a checkpoint the replica does not hold (behind, ahead):
 * refused before any checkpoint is taken, the guest runs on unprotected
 * and the backup keeps its replica passive (BYE(END)), which still fails
 * over to 5 when asked. */
static void resume_mismatch(uint64_t n, int want)
{
	struct ckpt_stats st;
	struct hv_info in;
	struct rig r;

	rig_up(&r, false, RNET_COMPRESS_NONE);
	old_run(&r);
	new_link(&r);
	r.snd = sender(&r, r.pri.conn);
	assert_int_equal(ckpt_sender_resume(r.snd, n, &r.serr), CKPT_EPEER);
	assert_int_equal(r.serr.code, want);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.checkpoints, 0);
	pvm_hv_ops.info(r.g, &in);
	assert_int_equal(in.state, HV_RUNNING);    /* on, unprotected */
	/* the backup was told BYE(END): it ends passive, replica kept */
	pthread_join(r.rth, NULL);
	assert_int_equal(r.rrc, 0);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 5);
	pvm_hv_ops.destroy(r.g);        /* the primary's copy goes: one copy */
	r.g = NULL;
	failover_and_check(&r, r.counter_at[5]);
	rig_down(&r);
}

static void test_resume_behind_replica_refused(void **state)
{
	(void)state;
	resume_mismatch(4, CKPT_ESTREAM);       /* the backup acknowledged 5 > 4 */
}

static void test_resume_ahead_of_replica_refused(void **state)
{
	(void)state;
	resume_mismatch(6, CKPT_ENOREPLICA);
}

/* No checkpoint applied: nothing to resume from, nothing changed. */
static void test_receiver_resume_needs_a_checkpoint(void **state)
{
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = MEM };
	struct ckpt_receiver *r = NULL;
	struct remus_err err = { 0 };

	(void)state;
	assert_int_equal(ckpt_receiver_new(&rc, &r, &err), 0);
	assert_int_equal(ckpt_receiver_resume(r, &rc, &err), CKPT_ENOREPLICA);
	assert_non_null(strstr(err.msg, "no checkpoint"));
	ckpt_receiver_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_resume_carries_numbers_on),
		cmocka_unit_test(test_resume_behind_replica_refused),
		cmocka_unit_test(test_resume_ahead_of_replica_refused),
		cmocka_unit_test(test_receiver_resume_needs_a_checkpoint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
