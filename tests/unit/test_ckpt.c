/*
 * Checkpoint engine over an authenticated rnet connection (socketpair),
 * replicating pvm's counter guest: the backup applies only complete
 * checkpoints, drops the partial one, and the restored replica continues
 * exactly from the last applied checkpoint.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ckpt_testlib.h"

/* Stop between CHECKPOINT and CHECKPOINT_END of checkpoint 6: the backup
 * holds exactly checkpoint 5, dropped 6, and the replica continues. */
static void test_partial_dropped_replica_continues(void **state)
{
	struct rig r;
	struct ckpt_stats st;
	uint64_t replica;

	(void)state;
	rig_up(&r, false);
	r.stop_epoch = 6;
	r.stop_point = "sent-checkpoint";
	run_until_fault(&r);
	assert_int_equal(r.src, CKPT_ESTOPPED);
	assert_int_equal(r.rrc, CKPT_EPEER);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 5);
	assert_int_equal(st.discarded, 1);
	memcpy(&replica, ckpt_receiver_ram(r.rcv) + COUNTER_OFF, sizeof(replica));
	assert_int_equal(replica, r.counter_at[5]);
	failover_and_check(&r, r.counter_at[5]);
	rig_down(&r);
}

/* Stop while paused at checkpoint 4 (nothing of 4 sent): 3 applied, none
 * discarded; output of unacknowledged epochs (4, 5) never left. */
static void test_netbuf_released_on_ack(void **state)
{
	struct rig r;
	struct ckpt_stats st;
	struct netbuf_stats ns;

	(void)state;
	rig_up(&r, true);
	r.stop_epoch = 4;
	r.stop_point = "paused";
	run_until_fault(&r);
	assert_int_equal(r.src, CKPT_ESTOPPED);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 3);
	assert_int_equal(st.discarded, 0);
	netbuf_get_stats(&r.nb, &ns);
	/* epochs 2 and 3 leave once their ACK is processed (3's may still be
	 * in flight at the stop); 4 and 5 were never acknowledged */
	assert_int_equal(r.frames_out + ns.held_packets, 4);
	assert_true(r.frames_out <= 2);
	assert_int_equal(ns.epochs[ns.nr_epochs - 1].epoch, 5);
	failover_and_check(&r, r.counter_at[3]);
	rig_down(&r);
}

/* Xen-layout stream bytes straight into a receiver: a checkpoint is
 * applied only once its CHECKPOINT_END is in, and only whole. */
static void test_feed_applies_complete_checkpoints_only(void **state)
{
	struct ckpt_receiver_cfg cfg = { .hv = &pvm_hv_ops, .ram_bytes = 64 * 4096 };
	struct ckpt_receiver *r;
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	uint8_t buf[65536], zero[4096] = { 0 };
	FILE *f = fopen("tests/data/stream/two-checkpoints.bin", "rb");
	size_t n;

	(void)state;
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_true(n > 16 && n < sizeof(buf));
	assert_int_equal(ckpt_receiver_new(&cfg, &r, &err), 0);
	/* all but checkpoint 2's CHECKPOINT_END (the last 8 bytes) */
	assert_int_equal(ckpt_receiver_feed(r, buf, n - 8, &err), 0);
	ckpt_receiver_stats(r, &st);
	assert_int_equal(st.checkpoints, 1);
	assert_memory_not_equal(ckpt_receiver_ram(r), zero, 4096);     /* pfn 0 from ckpt 1 */
	assert_int_equal(ckpt_receiver_feed(r, buf + n - 8, 8, &err), 0);
	ckpt_receiver_stats(r, &st);
	assert_int_equal(st.checkpoints, 2);
	/* garbage after a complete checkpoint: refused, nothing more applied */
	assert_int_equal(ckpt_receiver_feed(r, "garbage!", 8, &err), CKPT_ESTREAM);
	ckpt_receiver_stats(r, &st);
	assert_int_equal(st.checkpoints, 2);
	ckpt_receiver_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_dropped_replica_continues),
		cmocka_unit_test(test_netbuf_released_on_ack),
		cmocka_unit_test(test_feed_applies_complete_checkpoints_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
