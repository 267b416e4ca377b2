/*
 * The engine's fault points on the driver-owned (Xen) path, through the one
 * mechanism the pvm engine uses (struct ckpt_fault, fault_impl.h), with the
 * Xen driver over the fake Xen and a guest with real pages
 * (test_xen_fake_pages.c).  As the pvm trials do (ckpt_testlib.c): the
 * primary stops at POINT of checkpoint 3 as if killed, everything it had
 * put on the wire goes to a stream receiver, then the link ends.  The
 * torn checkpoint is dropped and the replica is the last complete one:
 *   paused           nothing of 3 sent           replica 2
 *   sent-checkpoint  CHECKPOINT of 3 sent, not its CHECKPOINT_END    2
 *   sent             all of 3 sent, no ACK       replica 3
 *   applying (backup) 3 complete, not committed  replica 2, ACK(3) never sent
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ckpt/stream_link.h"
#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "test_net_util.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"
#include "test_xen_fake_pages.h"
#include "stream_trial.h"

#define PAGES 16u
#define DIRTY 2u
#define FAULT_EPOCH 3u
#define PEER_WAIT_MS 10000u

static const char json[] = "{\"c_info\":{}}";

/* ---- the primary, stopped at a fault point ------------------------------ */

struct bak {
	struct rnet_conn *c;
	struct stream_buf got;      /* every stream byte that reached the backup */
	uint64_t acked;
	pthread_t th;
};

/* Collect the stream and acknowledge each complete checkpoint, until EOF. */
static void *bak_main(void *arg)
{
	struct bak *b = arg;
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;
	size_t ends[FAKE_PAGES_MAX_CKPT];
	struct rnet_msg m;

	while (rnet_now_ms() < until) {
		struct pollfd p = { .fd = rnet_conn_fd(b->c), .events = POLLIN };
		bool more = false, gone;

		poll(&p, 1, 50);
		/* the primary gone: the frames read with its EOF still count */
		gone = rnet_conn_feed(b->c, rnet_now_ms(), &err) < 0;
		while (rnet_conn_next(b->c, &m, &err) == 1) {
			if (m.type == RNET_MSG_STREAM) {
				assert_int_equal(stream_buf_append(&b->got, m.body, m.len), 0);
				more = true;
			}
		}
		if (more && !gone) {   /* a gone primary waits for no ACK */
			unsigned n = find_ckpt_ends(stream_buf_flat(&b->got), stream_buf_size(&b->got),
			                            ends, FAKE_PAGES_MAX_CKPT);

			while (b->acked < n) {
				assert_int_equal(rnet_conn_send_ack(b->c, ++b->acked, &err), 0);
				conn_flush_all(b->c, PEER_WAIT_MS);
			}
		}
		if (gone)
			break;
		rnet_conn_tick(b->c, rnet_now_ms(), &err);
		if (rnet_conn_want_write(b->c))
			rnet_conn_flush(b->c, &err);
	}
	return NULL;
}

/* Protect the guest (every epoch, no limit) with the fault armed; the
 * stream the backup got is in *got once the primary "died". */
static void primary_until_fault(struct fault_at *f, struct stream_buf *got,
                                struct stream_buf *lib, size_t *lib_ends)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct ckpt_stream_sender_cfg sc = { .hv = &xen_hv_ops, .interval_ms = 1,
	                                     .ack_timeout_ms = PEER_WAIT_MS };
	struct ckpt_stream_sender *s = NULL;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf pre;
	struct bak b = { 0 };
	struct tlink l;
	char want[96];
	int rc;

	xt_setup_host();
	fake_pages_on(PAGES, DIRTY);
	tlink_up(&l);
	stream_buf_init(&pre);
	assert_int_equal(stream_put_xl_header(&pre, json, sizeof(json)), 0);
	sc.preamble = stream_buf_flat(&pre);
	sc.preamble_len = stream_buf_size(&pre);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	sc.guest = g;
	sc.conn = l.pri.conn;
	if (f != NULL)
		sc.fault = (struct ckpt_fault){ f, fault_hit };
	assert_int_equal(ckpt_stream_sender_new(&sc, &s, &err), 0);
	b.c = l.bak.conn;
	stream_buf_init(&b.got);
	assert_int_equal(pthread_create(&b.th, NULL, bak_main, &b), 0);
	rc = ckpt_stream_sender_run(s, -1, f != NULL ? 0 : FAULT_EPOCH + 1, &err);
	if (f != NULL) {
		snprintf(want, sizeof(want), "stopped at fault point %s (epoch %u)", f->point,
		         FAULT_EPOCH);
		if (rc != CKPT_ESTOPPED || strstr(err.msg, want) == NULL)
			fail_msg("%d '%s', want CKPT_ESTOPPED '%s'", rc, err.msg, want);
		assert_int_equal(f->fired, 1);
	} else if (rc != 0) {
		fail_msg("sender: %d %s", rc, err.msg);
	}
	/* the primary dies: what it wrote arrives, then EOF */
	shutdown(rnet_conn_fd(l.pri.conn), SHUT_WR);
	pthread_join(b.th, NULL);
	ckpt_stream_sender_free(s);
	xen_hv_ops.destroy(g);
	*got = b.got;
	stream_buf_init(lib);
	assert_int_equal(stream_buf_append(lib, stream_buf_flat(&fpages.saved),
	                                   stream_buf_size(&fpages.saved)), 0);
	memcpy(lib_ends, fpages.saved_ckpt_end, sizeof(fpages.saved_ckpt_end));
	stream_buf_free(&pre);
	tlink_down(&l);
}

/* ---- the backup, from what the primary got out ------------------------- */

struct prim {
	struct rnet_conn *c;
	const uint8_t *data;
	size_t len;
	uint64_t acks, wait_upto;
	pthread_t th;
};

static void prim_wait_ack(struct prim *p, uint64_t n)
{
	conn_wait_ack(p->c, &p->acks, n, PEER_WAIT_MS);
}

/* Replay: checkpoints 1..wait_upto each acknowledged in turn, then the
 * rest as it was sent, then EOF (the primary is dead). */
static void *prim_main(void *arg)
{
	struct prim *p = arg;
	struct remus_err err = { 0 };
	size_t ends[FAKE_PAGES_MAX_CKPT], from = 0;
	unsigned n = find_ckpt_ends(p->data, p->len, ends, FAKE_PAGES_MAX_CKPT);

	for (unsigned i = 0; i <= n; i++) {
		size_t to = i < n && i < p->wait_upto ? ends[i] : p->len;

		for (size_t off = from; off < to; off += RNET_BODY_MAX) {
			size_t k = to - off < RNET_BODY_MAX ? to - off : RNET_BODY_MAX;

			assert_int_equal(rnet_conn_send_stream(p->c, p->data + off, k, &err), 0);
			conn_flush_all(p->c, PEER_WAIT_MS);
		}
		from = to;
		if (i < p->wait_upto)
			prim_wait_ack(p, i + 1);
		if (to == p->len)
			break;
	}
	shutdown(rnet_conn_fd(p->c), SHUT_WR);
	return NULL;
}

static int receive(const struct stream_buf *got, struct fault_at *f, struct prim *p,
                   struct hv_guest **g, struct ckpt_stats *st, struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct ckpt_stream_receiver_cfg rc = { .hv = &xen_hv_ops, .guest_cfg = &cfg,
	                                       .xl_header = true };
	struct ckpt_stream_receiver *r = NULL;
	struct tlink l;
	int rv;

	backup_host_setup(PAGES, DIRTY);
	tlink_up(&l);
	rc.conn = l.bak.conn;
	if (f != NULL)
		rc.fault = (struct ckpt_fault){ f, fault_hit };
	assert_int_equal(ckpt_stream_receiver_new(&rc, &r, err), 0);
	p->c = l.pri.conn;
	p->data = stream_buf_flat(got);
	p->len = stream_buf_size(got);
	assert_int_equal(pthread_create(&p->th, NULL, prim_main, p), 0);
	rv = ckpt_stream_receiver_run(r, -1, g, err);
	pthread_join(p->th, NULL);
	ckpt_stream_receiver_stats(r, st);
	ckpt_stream_receiver_free(r);
	tlink_down(&l);
	return rv;
}

/* The replica is checkpoint `keep`: libxc's restore read checkpoints
 * 1..keep whole (and perhaps the torn one's libxc part, never used). */
static void assert_replica(struct hv_guest *g, uint64_t keep, const struct stream_buf *lib,
                           const size_t *ends)
{
	assert_non_null(g);
	assert_int_equal(fake.restore_checkpoints, keep);
	assert_true(fake.restore_failed_over);
	assert_true(stream_buf_size(&fpages.restored) >= ends[keep]);
	assert_memory_equal(stream_buf_flat(&fpages.restored), stream_buf_flat(lib), ends[keep]);
	xen_hv_ops.destroy(g);
}

static void sender_point(const char *point, uint64_t keep)
{
	struct fault_at f = { point, FAULT_EPOCH, 0 };
	struct prim p = { .wait_upto = FAULT_EPOCH - 1 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf got, lib;
	struct ckpt_stats st;
	size_t ends[FAKE_PAGES_MAX_CKPT];

	primary_until_fault(&f, &got, &lib, ends);
	assert_int_equal(receive(&got, NULL, &p, &g, &st, &err), CKPT_EPEER);
	assert_int_equal(st.acked, keep);       /* ACK(keep) was the last sent */
	assert_replica(g, keep, &lib, ends);
	stream_buf_free(&got);
	stream_buf_free(&lib);
	fake_pages_off();
}

static void test_fault_paused(void **state)
{
	(void)state;
	sender_point("paused", FAULT_EPOCH - 1);
}

static void test_fault_sent_checkpoint(void **state)
{
	(void)state;
	sender_point("sent-checkpoint", FAULT_EPOCH - 1);
}

static void test_fault_sent(void **state)
{
	(void)state;
	sender_point("sent", FAULT_EPOCH);
}

/* The backup stops at "applying" of checkpoint 3: not committed, never
 * acknowledged, the replica is checkpoint 2. */
static void test_fault_applying(void **state)
{
	struct fault_at f = { "applying", FAULT_EPOCH, 0 };
	struct prim p = { .wait_upto = FAULT_EPOCH - 1 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf got, lib;
	struct ckpt_stats st;
	size_t ends[FAKE_PAGES_MAX_CKPT];

	(void)state;
	primary_until_fault(NULL, &got, &lib, ends);
	assert_int_equal(receive(&got, &f, &p, &g, &st, &err), CKPT_ESTOPPED);
	if (strstr(err.msg, "stopped at fault point applying (epoch 3) after checkpoint 2") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_int_equal(f.fired, 1);
	assert_int_equal(st.acked, FAULT_EPOCH - 1);     /* never ACK(3) */
	assert_replica(g, FAULT_EPOCH - 1, &lib, ends);
	stream_buf_free(&got);
	stream_buf_free(&lib);
	fake_pages_off();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fault_paused),
		cmocka_unit_test(test_fault_sent_checkpoint),
		cmocka_unit_test(test_fault_sent),
		cmocka_unit_test(test_fault_applying),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
