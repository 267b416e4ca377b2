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
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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
	                              .interval_ms = 5, .fault = { r, rig_hook },
	                              .nb = r->nb.ops ? &r->nb : NULL };
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

	side_pair_up(&r->pri, &r->bak, r->keys.good);
	rc.conn = r->bak.conn;
	if (ckpt_receiver_resume(r->rcv, &rc, &r->rerr) < 0)
		fail_msg("receiver resume: %s", r->rerr.msg);
	assert_int_equal(pthread_create(&r->rth, NULL, receive, r), 0);
}

static void test_resume_carries_numbers_on(void **state)
{
	struct netbuf_stats ns;
	struct ckpt_stats st;
	struct rig r;

	(void)state;
	/* netbuf on: the rig hands in one frame per pause, of the epoch after
	 * it, and fails the test if one leaves before the backup applied it */
	rig_up(&r, true, RNET_COMPRESS_NONE);
	old_run(&r);
	/* the epoch in flight at the stop (5) was acknowledged, so its output
	 * left; only the frame handed in during the final pause (epoch 6) is
	 * held, for the carried-on run's ACK(6) */
	netbuf_get_stats(&r.nb, &ns);
	assert_int_equal(r.frames_out, 4);
	assert_int_equal(ns.held_packets, 1);
	new_link(&r);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 5);        /* kept across the links */
	r.snd = sender(&r, r.pri.conn);
	if (ckpt_sender_resume(r.snd, 5, &r.serr) < 0)
		fail_msg("resume: %s", r.serr.msg);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, 6);              /* 5 + 1, taken at once */
	assert_int_equal(st.checkpoints, 1);
	assert_int_equal(st.precopy_rounds, 0);     /* nothing pre-copied */
	assert_int_equal(st.sync_bytes, 0);
	if (ckpt_sender_run(r.snd, -1, 8, &r.serr) < 0)
		fail_msg("run: %s", r.serr.msg);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, 8);
	assert_int_equal(st.checkpoints, 3);        /* 6, 7, 8: this sender's */
	assert_int_equal(r.frames_out, 7);          /* epochs 2..8 left, after their ACKs */
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

/* A backup daemon's live update: the replica leaves the old receiver as
 * its RAM memfd and encoded state, a new receiver (the new daemon's) is
 * built from them, and the primary's run carries on to it. */
static void test_export_import_resumes(void **state)
{
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = MEM };
	struct ckpt_receiver *imp = NULL;
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	uint8_t *blob = NULL;
	size_t len = 0;
	int fd = -1;
	struct rig r;

	(void)state;
	rig_up(&r, false, RNET_COMPRESS_NONE);
	old_run(&r);
	if (ckpt_receiver_export(r.rcv, &fd, &blob, &len, &err) < 0)
		fail_msg("export: %s", err.msg);
	ckpt_receiver_free(r.rcv);              /* the old daemon is gone */
	r.rcv = NULL;
	if (ckpt_receiver_import(&rc, fd, blob, len, &imp, &err) < 0)
		fail_msg("import: %s", err.msg);
	free(blob);
	r.rcv = imp;
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 5);
	new_link(&r);
	r.snd = sender(&r, r.pri.conn);
	if (ckpt_sender_resume(r.snd, 5, &r.serr) < 0 || ckpt_sender_run(r.snd, -1, 7, &r.serr) < 0)
		fail_msg("carried on: %s", r.serr.msg);
	r.dead = true;
	pvm_hv_ops.destroy(r.g);
	r.g = NULL;
	shutdown(rnet_conn_fd(r.pri.conn), SHUT_WR);
	pthread_join(r.rth, NULL);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 7);
	failover_and_check(&r, r.counter_at[7]);
	rig_down(&r);
}

/* The exported state's decoder: what it refuses, by name. */
static void test_replica_state_decoder(void **state)
{
	static const uint8_t hvm[24] = { 1 }, emu[8] = { 2 }, store[5] = { 3 };
	struct ckpt_replica_state s = { .ram_bytes = MEM, .applied = 9, .checkpoints = 9,
	                                .pages = 77, .hvm = hvm, .hvm_len = sizeof(hvm),
	                                .emu = emu, .emu_len = sizeof(emu),
	                                .store = store, .store_len = sizeof(store) }, d;
	struct remus_err err = { 0 };
	uint8_t *b = NULL;
	size_t len = 0;

	(void)state;
	assert_int_equal(ckpt_replica_encode(&s, &b, &len, &err), 0);
	assert_int_equal(len, 56 + 24 + 8 + 5);
	assert_int_equal(ckpt_replica_decode(b, len, &d, &err), 0);
	assert_int_equal(d.applied, 9);
	assert_int_equal(d.pages, 77);
	assert_memory_equal(d.hvm, hvm, sizeof(hvm));
	assert_memory_equal(d.emu, emu, sizeof(emu));
	assert_memory_equal(d.store, store, sizeof(store));
	/* one byte short, one too many (the lengths must add up exactly) */
	assert_int_equal(ckpt_replica_decode(b, len - 1, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "its lengths say"));
	assert_null(d.hvm);
	assert_int_equal(ckpt_replica_decode(b, 10, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "header"));
	b[0] ^= 1;
	assert_int_equal(ckpt_replica_decode(b, len, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "magic"));
	b[0] ^= 1;
	b[4] = 2;
	assert_int_equal(ckpt_replica_decode(b, len, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "version 2"));
	b[4] = 1;
	memset(b + 16, 0, 8);                   /* checkpoint 0 */
	assert_int_equal(ckpt_replica_decode(b, len, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "no replica"));
	b[16] = 9;
	b[43] = 0x80;                           /* a huge vCPU context */
	assert_int_equal(ckpt_replica_decode(b, len, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "context lengths"));
	b[43] = 0;
	b[52] = 1;
	assert_int_equal(ckpt_replica_decode(b, len, &d, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "reserved"));
	free(b);
}

/* An import whose RAM does not fit the guest is refused, the fd kept. */
static void test_import_wrong_ram_refused(void **state)
{
	static const uint8_t ctx[8] = { 1 };
	struct ckpt_replica_state s = { .ram_bytes = MEM, .applied = 3, .hvm = ctx, .hvm_len = 8,
	                                .emu = ctx, .emu_len = 8 };
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = MEM };
	struct ckpt_receiver *r = NULL;
	struct remus_err err = { 0 };
	uint8_t *b = NULL;
	size_t len = 0;
	int fd = memfd_create("short", MFD_CLOEXEC);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEM / 2), 0);
	assert_int_equal(ckpt_replica_encode(&s, &b, &len, &err), 0);
	assert_int_equal(ckpt_receiver_import(&rc, fd, b, len, &r, &err), CKPT_ECONFIG);
	assert_non_null(strstr(err.msg, "RAM descriptor"));
	assert_null(r);
	assert_int_equal(fcntl(fd, F_GETFD), FD_CLOEXEC);   /* still ours */
	close(fd);
	free(b);
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
		cmocka_unit_test(test_export_import_resumes),
		cmocka_unit_test(test_replica_state_decoder),
		cmocka_unit_test(test_import_wrong_ram_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
