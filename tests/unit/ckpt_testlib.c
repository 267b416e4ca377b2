/* The checkpoint-engine test rig (see ckpt_testlib.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "ckpt_testlib.h"

/* Receiver thread body. */
static void *receiver_main(void *arg)
{
	struct rig *r = arg;

	r->rrc = ckpt_receiver_run(r->rcv, -1, &r->rerr);
	return NULL;
}

/* Copy-on-write rig, guest running during copy-out with the helper held:
 * when the capture holds the counter guest's state page (it does unless
 * the guest did not run since the last capture, as right after the sync),
 * wait (bounded) until the guest's next write to it was served by copying
 * it first. */
static void rig_cow_wait_fault(struct rig *r)
{
	struct pvm_cow_stats st;
	struct timespec t0, now, d = { 0, 200000 };

	if (!pvm_cow_captured(r->g, COUNTER_OFF / PVM_PAGE_SIZE))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pvm_cow_get_stats(r->g, &st);
		if (st.fault_copies > r->cow_fault_copies)    /* since the pause */
			break;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			fail_msg("the guest never wrote a captured page during copy-out");
		nanosleep(&d, NULL);
	}
	r->cow_fault_copies = st.fault_copies;
	r->cow_copied_writes++;
}

/* Fault hook: note the counter at every pause, stop at the chosen point. */
int rig_hook(void *arg, const char *point, uint64_t epoch)
{
	struct rig *r = arg;

	if (strcmp(point, "paused") == 0 && epoch <= MAX_EPOCHS)
		r->counter_at[epoch] = pt_peek(r->g, COUNTER_OFF);
	if (r->cow && strcmp(point, "paused") == 0) {
		struct pvm_cow_stats st;
		pvm_cow_hold(r->g, true);       /* only the guest's writes copy, until the wait */
		pvm_cow_get_stats(r->g, &st);
		r->cow_fault_copies = st.fault_copies;
	}
	if (r->cow && strcmp(point, "copy-out") == 0)
		rig_cow_wait_fault(r);
	if (strcmp(point, "paused") == 0 && r->nb.ops != NULL) {
		/* one frame per epoch, sent while epoch `epoch` is still open */
		uint8_t frame[64] = { 0 };
		memcpy(frame, &epoch, sizeof(epoch));
		assert_int_equal(netbuf_guest_tx(&r->nb, frame, sizeof(frame)), 0);
	}
	return epoch == r->stop_epoch && strcmp(point, r->stop_point) == 0;
}

/* A released frame leaves: it must belong to an epoch the backup applied. */
static int frame_out(void *arg, const void *frame, size_t len)
{
	struct rig *r = arg;
	struct ckpt_stats st;
	uint64_t epoch;

	if (r->dead)
		return 0;       /* a dead primary sends nothing */
	assert_int_equal(len, 64);
	memcpy(&epoch, frame, sizeof(epoch));
	/* handed in while paused at checkpoint E, after netbuf closed E: it
	 * belongs to epoch E+1, which the backup must have applied */
	ckpt_receiver_stats(r->rcv, &st);
	if (st.checkpoints < epoch + 1)
		fail_msg("frame of epoch %llu released, backup applied only %llu",
		         (unsigned long long)epoch + 1, (unsigned long long)st.checkpoints);
	r->frames_out++;
	return 0;
}

static void rig_up_opts(struct rig *r, bool with_netbuf, uint32_t compress, bool cow)
{
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = MEM };
	struct remus_err err = { 0 };

	memset(r, 0, sizeof(*r));
	tkeys_setup(&r->keys);
	side_init(&r->pri, r->keys.good, true);
	side_init(&r->bak, r->keys.good, false);
	/* a loaded test machine (ASan, shared CPUs) must not fake a peer loss */
	r->pri.p.hb_timeout_ms = r->bak.p.hb_timeout_ms = 30000;
	r->pri.p.caps.compress_mask |= RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA) |
	        RNET_COMPRESS_BIT(RNET_COMPRESS_ZSTD) | RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA_ZSTD);
	r->bak.p.caps.compress_mask = r->pri.p.caps.compress_mask;
	r->pri.p.caps.compress = compress;
	side_pair_handshake(&r->pri, &r->bak);
	assert_int_equal(r->pri.rc, 0);
	assert_int_equal(r->bak.rc, 0);
	pt_config(&r->gcfg, "ckpt-counter", "counter", MEM, -1);
	r->gcfg.cow_capture = r->cow = cow;
	r->g = pt_boot(&r->gcfg);
	rc.conn = r->bak.conn;
	assert_int_equal(ckpt_receiver_new(&rc, &r->rcv, &err), 0);
	assert_int_equal(pthread_create(&r->rth, NULL, receiver_main, r), 0);
	if (with_netbuf) {
		struct netbuf_config nc = { .backend = "inline", .tag = "ckpt-test", .first_epoch = 1,
		                            .tx_fd = -1, .tx = frame_out, .tx_arg = r };
		assert_int_equal(netbuf_open(&r->nb, &nc), 0);
	}
}

void rig_up(struct rig *r, bool with_netbuf, uint32_t compress)
{
	rig_up_opts(r, with_netbuf, compress, false);
}

void rig_up_cow(struct rig *r, bool with_netbuf, uint32_t compress)
{
	rig_up_opts(r, with_netbuf, compress, true);
}

void rig_down(struct rig *r)
{
	if (r->g)
		pvm_hv_ops.destroy(r->g);
	if (r->nb.ops)
		netbuf_close(&r->nb);
	ckpt_sender_free(r->snd);
	ckpt_receiver_free(r->rcv);
	side_free(&r->pri);
	side_free(&r->bak);
	tkeys_cleanup(&r->keys);
}

/* Run the sender until it stops at (stop_point, stop_epoch). */
void run_until_fault(struct rig *r)
{
	struct ckpt_sender_cfg sc = {
		.hv = &pvm_hv_ops, .guest = r->g, .conn = r->pri.conn, .interval_ms = 5,
		.nb = r->nb.ops ? &r->nb : NULL, .fault = { r, rig_hook }, .cow_capture = r->cow,
	};
	struct ckpt_stats st;
	struct ckpt_sender *snd = NULL;

	assert_int_equal(ckpt_sender_new(&sc, &snd, &r->serr), 0);
	__atomic_store_n(&r->snd, snd, __ATOMIC_RELEASE);   /* a killer thread may look */
	r->src = ckpt_sender_sync(r->snd, &r->serr);
	if (r->src == 0)
		r->src = ckpt_sender_run(r->snd, -1, 0, &r->serr);
	ckpt_sender_stats(r->snd, &st);
	if (!r->dead)
		r->acked_at_stop = st.acked;
	r->dead = true;
	/* the primary "dies": its guest and its end of the link go away */
	pvm_hv_ops.destroy(r->g);
	r->g = NULL;
	/* what was written arrives, then EOF (a close with unread ACKs would
	 * reset the socketpair and make the test depend on timing) */
	shutdown(rnet_conn_fd(r->pri.conn), SHUT_WR);
	pthread_join(r->rth, NULL);
	side_free(&r->pri);
}

void rig_kill(struct rig *r)
{
	struct ckpt_stats st;

	ckpt_sender_stats(r->snd, &st);
	r->acked_at_stop = st.acked;
	r->dead = true;
	shutdown(rnet_conn_fd(r->pri.conn), SHUT_RDWR);
}

/* Restore the replica and check it runs on from exactly `expect`. */
void failover_and_check(struct rig *r, uint64_t expect)
{
	struct ckpt_failover_times t;
	struct remus_err err = { 0 };
	struct hv_info in;
	uint64_t v = 0;
	struct timespec t0, now, d = { 0, 2000000 };

	assert_int_equal(ckpt_receiver_failover(r->rcv, &r->gcfg, &r->g, &t, &err), 0);
	assert_true(t.total_us >= t.restore_us);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {    /* bounded: the counter must pass its checkpointed value */
		assert_int_equal(pvm_hv_ops.suspend(r->g, &err), 0);
		v = pt_peek(r->g, COUNTER_OFF);
		assert_int_equal(pvm_hv_ops.resume(r->g, &err), 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
		assert_true(now.tv_sec - t0.tv_sec < 10);
		nanosleep(&d, NULL);
	} while (v < expect + 100000);
	pvm_hv_ops.info(r->g, &in);
	assert_int_equal(in.state, HV_RUNNING);   /* counter exits 11..14 on any mismatch */
}

