/*
 * The initial synchronisation's copies (issue 15): a live pre-copy frame
 * goes from guest RAM to the socket, not through the link's queue.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ckpt/ckpt.h"
#include "hv/pvm/pvm.h"
#include "tests/unit/pvm_testlib.h"
#include "tests/unit/test_net_util.h"

#define SYNC_MEM    (32u << 20)     /* 32 frames of pre-copy */

struct sync_rig {
	struct tkeys keys;
	struct side pri, bak;
	struct hv_guest_config gcfg;
	struct hv_guest *g;
	struct ckpt_receiver *rcv;
	struct ckpt_sender *snd;
	pthread_t rth;
	int rrc;
	struct remus_err rerr;
};

static void *receiver_main(void *arg)
{
	struct sync_rig *r = arg;

	r->rrc = ckpt_receiver_run(r->rcv, -1, &r->rerr);
	return NULL;
}

/* The waiter guest (idle: what it dirties while synced is a few pages)
 * synced over an authenticated rnet socketpair without compression. */
static void sync_waiter(struct sync_rig *r)
{
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = SYNC_MEM };
	struct remus_err err = { 0 };

	memset(r, 0, sizeof(*r));
	tkeys_setup(&r->keys);
	side_pair_up(&r->pri, &r->bak, r->keys.good);
	pt_config(&r->gcfg, "ckpt-sync", "waiter", SYNC_MEM, -1);
	r->g = pt_boot(&r->gcfg);
	rc.conn = r->bak.conn;
	assert_int_equal(ckpt_receiver_new(&rc, &r->rcv, &err), 0);
	assert_int_equal(pthread_create(&r->rth, NULL, receiver_main, r), 0);
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .guest = r->g, .conn = r->pri.conn,
	                              .interval_ms = 5 };
	assert_int_equal(ckpt_sender_new(&sc, &r->snd, &err), 0);
	if (ckpt_sender_sync(r->snd, &err) != 0)
		fail_msg("sync: %s", err.msg);
}

static void sync_down(struct sync_rig *r)
{
	/* the primary's link goes down: the backup's loop ends */
	shutdown(rnet_conn_fd(r->pri.conn), SHUT_RDWR);
	pthread_join(r->rth, NULL);
	pvm_hv_ops.destroy(r->g);
	ckpt_sender_free(r->snd);
	ckpt_receiver_free(r->rcv);
	side_free(&r->pri);
	side_free(&r->bak);
	tkeys_cleanup(&r->keys);
}

/* Before, a sender faster than the backup copied each pre-copy frame into
 * the link's queue behind the ones not yet written (up to its 8 MiB
 * bound): every page was copied once more than plain TCP copies it.  Now
 * each frame waits for the queue to empty and goes straight from guest
 * RAM; at most the unwritten end of one frame is queued, so the data
 * lane's buffer never needs more than one frame (rounded up to 2 MiB). */
static void test_precopy_frames_not_queued(void **state)
{
	struct sync_rig r;
	struct rnet_stats ns;

	(void)state;
	sync_waiter(&r);
	rnet_conn_stats(r.pri.conn, &ns);
	assert_true(ns.stream_bytes_tx >= SYNC_MEM);
	/* data lane + receive buffer (one frame) + priority lane (64 KiB) */
	if (ns.queue_cap_bytes > (2u << 20) + RNET_HDR_LEN + RNET_BODY_MAX + (64u << 10))
		fail_msg("link queue grew to %llu bytes during the sync",
		         (unsigned long long)ns.queue_cap_bytes);
	sync_down(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precopy_frames_not_queued),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
