/*
 * Liveness under bulk data (issue: a 256 MiB guest's sync starved the
 * heartbeats and both sides took the other for dead):
 *  - HEARTBEAT and ACK overtake queued bulk data: with 64 MiB of stream
 *    data queued on each side, the peer sees them after at most one
 *    frame of what was still unsent, not behind the whole backlog;
 *  - the keepalive thread answers for an owner that does not run, and
 *    stops doing so after stall_max (a wedged owner must look dead);
 *  - giving up (BYE now) drops queued data frames not yet begun, so the
 *    BYE is heard at once, and the frame being written stays whole.
 * No timing thresholds: the assertions count bytes and frames.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/net_impl.h"
#include "test_net_util.h"

#define BULK (64u << 20)


static void pair(struct side *pri, struct side *bak, size_t outq, uint32_t stall_max)
{
	side_init(pri, tkeys_group.good, true);
	side_init(bak, tkeys_group.good, false);
	pri->p.outq_max = bak->p.outq_max = outq;
	pri->p.stall_max_ms = bak->p.stall_max_ms = stall_max;
	side_pair_handshake(pri, bak);
	assert_int_equal(pri->rc, 0);
	assert_int_equal(bak->rc, 0);
}

/* Queue `len` bytes of stream data in 1 MiB pieces. */
static void queue_bulk(struct rnet_conn *c, const uint8_t *buf, size_t len)
{
	struct remus_err err = { 0 };

	for (size_t off = 0; off < len; off += RNET_BODY_MAX)
		assert_int_equal(rnet_conn_send_stream(c, buf + off, RNET_BODY_MAX, &err), 0);
}

struct watch {
	struct rnet_conn *c;
	uint64_t stream_at_first_hb;    /* stream bytes delivered when it arrived */
	uint64_t ack;                   /* ACK value seen */
	uint64_t stream_at_ack;
	bool seen_hb;
};

/* Read what is there; note how much bulk came before the first heartbeat
 * and before the ACK. */
static void watch_read(struct watch *w)
{
	struct remus_err err = { 0 };
	struct rnet_stats st;
	struct rnet_msg m;
	int rc;

	rc = rnet_conn_feed(w->c, 1000, &err);
	assert_true(rc == 0);
	while ((rc = rnet_conn_next(w->c, &m, &err)) == 1) {
		rnet_conn_stats(w->c, &st);
		if (!w->seen_hb && st.heartbeats_rx > 0) {
			w->seen_hb = true;
			w->stream_at_first_hb = st.stream_bytes_rx - (m.type == RNET_MSG_STREAM ? m.len : 0);
		}
		if (m.type == RNET_MSG_ACK && w->ack == 0) {
			w->ack = m.u64;
			w->stream_at_ack = st.stream_bytes_rx;
		}
	}
	assert_int_equal(rc, 0);
	rnet_conn_stats(w->c, &st);
	if (!w->seen_hb && st.heartbeats_rx > 0) {
		w->seen_hb = true;
		w->stream_at_first_hb = st.stream_bytes_rx;
	}
}

/* 64 MiB in flight each way; a heartbeat from each side, an ACK from the
 * backup: each reaches the peer after at most the frame that was being
 * written when it was queued (plus what had already left the queue). */
static void test_heartbeat_overtakes_bulk_each_way(void **state)
{
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats sp, sb;
	uint8_t *buf = malloc(BULK);
	struct watch wp = { 0 }, wb = { 0 };
	uint64_t pri_sent_before, bak_sent_before;

	(void)state;
	assert_non_null(buf);
	memset(buf, 0x5a, BULK);
	pair(&pri, &bak, BULK + (1u << 20), 0);
	wp.c = pri.conn;
	wb.c = bak.conn;
	queue_bulk(pri.conn, buf, BULK);
	queue_bulk(bak.conn, buf, BULK);
	/* some bulk leaves first: the priority frames then cut in mid-stream */
	assert_int_equal(rnet_conn_flush(pri.conn, &err), 1);
	assert_int_equal(rnet_conn_flush(bak.conn, &err), 1);
	assert_int_equal(rnet_conn_tick(pri.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_tick(bak.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_tick(pri.conn, 1020, &err), 0);   /* heartbeat queued */
	assert_int_equal(rnet_conn_tick(bak.conn, 1020, &err), 0);
	assert_int_equal(rnet_conn_send_ack(bak.conn, 7, &err), 0);
	rnet_conn_stats(pri.conn, &sp);
	rnet_conn_stats(bak.conn, &sb);
	assert_true(sp.queued_bytes > BULK / 2);   /* most of the backlog still waits */
	assert_true(sb.queued_bytes > BULK / 2);
	pri_sent_before = sp.bytes_tx;
	bak_sent_before = sb.bytes_tx;
	while (!(wp.seen_hb && wb.seen_hb && wp.ack)) {
		struct pollfd p[2] = { { rnet_conn_fd(pri.conn), POLLIN | POLLOUT, 0 },
		                       { rnet_conn_fd(bak.conn), POLLIN | POLLOUT, 0 } };
		assert_true(poll(p, 2, 5000) > 0);
		assert_true(rnet_conn_flush(pri.conn, &err) >= 0);
		assert_true(rnet_conn_flush(bak.conn, &err) >= 0);
		watch_read(&wp);
		watch_read(&wb);
	}
	/* bytes of bulk the peer got before the priority frame: what had been
	 * written already, plus at most the rest of one frame */
	assert_true(wb.stream_at_first_hb <= pri_sent_before + RNET_BODY_MAX);
	assert_true(wp.stream_at_first_hb <= bak_sent_before + RNET_BODY_MAX);
	assert_int_equal(wp.ack, 7);
	assert_true(wp.stream_at_ack <= bak_sent_before + RNET_BODY_MAX);
	assert_true(wb.stream_at_first_hb < BULK / 2);
	assert_true(wp.stream_at_ack < BULK / 2);
	/* and the bulk itself arrives whole and in order afterwards */
	while (true) {
		rnet_conn_stats(pri.conn, &sp);
		rnet_conn_stats(bak.conn, &sb);
		if (sp.stream_bytes_rx == BULK && sb.stream_bytes_rx == BULK)
			break;
		struct pollfd p[2] = { { rnet_conn_fd(pri.conn), POLLIN | POLLOUT, 0 },
		                       { rnet_conn_fd(bak.conn), POLLIN | POLLOUT, 0 } };
		assert_true(poll(p, 2, 5000) > 0);
		assert_true(rnet_conn_flush(pri.conn, &err) >= 0);
		assert_true(rnet_conn_flush(bak.conn, &err) >= 0);
		watch_read(&wp);
		watch_read(&wb);
	}
	side_free(&pri);
	side_free(&bak);
	free(buf);
}

/* Read from c until `want` heartbeats have arrived (bounded wait). */
static void await_heartbeats(struct rnet_conn *c, uint64_t want)
{
	struct remus_err err = { 0 };
	struct rnet_stats st;
	struct rnet_msg m;

	for (;;) {
		struct pollfd p = { rnet_conn_fd(c), POLLIN, 0 };
		rnet_conn_stats(c, &st);
		if (st.heartbeats_rx >= want)
			return;
		assert_true(poll(&p, 1, 10000) == 1);
		assert_int_equal(rnet_conn_feed(c, 1000, &err), 0);
		while (rnet_conn_next(c, &m, &err) == 1)
			assert_int_equal(m.type, RNET_MSG_STREAM);   /* bulk the keepalive pushed */
	}
}

/* The owner does not run at all: its keepalive sends heartbeats for it,
 * even with bulk data queued (heartbeats at frame boundaries, and the
 * bulk is pushed out meanwhile too). */
static void test_keepalive_answers_for_busy_owner(void **state)
{
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats st;
	uint8_t *buf = malloc(8u << 20);

	(void)state;
	assert_non_null(buf);
	memset(buf, 1, 8u << 20);
	pair(&pri, &bak, 16u << 20, 0);
	queue_bulk(bak.conn, buf, 8u << 20);
	assert_int_equal(rnet_conn_keepalive(bak.conn, true, &err), 0);
	assert_int_equal(rnet_conn_keepalive(bak.conn, true, &err), 0);   /* idempotent */
	/* the backup's owner is "applying" from here on: nothing calls bak */
	await_heartbeats(pri.conn, 3);
	assert_int_equal(rnet_conn_keepalive(bak.conn, false, &err), 0);
	rnet_conn_stats(bak.conn, &st);
	assert_true(st.heartbeats_ka >= 3);
	assert_int_equal(st.heartbeats_ka, st.heartbeats_tx);
	side_free(&pri);
	side_free(&bak);
	free(buf);
}

/* Past stall_max of owner silence the keepalive stops: a wedged owner
 * looks dead to its peer, whose tick then times it out. */
static void test_keepalive_gives_up_on_wedged_owner(void **state)
{
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats a, b;
	struct rnet_msg m;

	(void)state;
	pair(&pri, &bak, 0, 100);
	assert_int_equal(rnet_conn_keepalive(bak.conn, true, &err), 0);
	await_heartbeats(pri.conn, 1);
	/* wait until the keepalive's count stops moving (bounded) */
	rnet_conn_stats(bak.conn, &a);
	for (int i = 0; i < 100; i++) {
		struct pollfd p = { rnet_conn_fd(pri.conn), POLLIN, 0 };
		(void)poll(&p, 1, 100);
		if (p.revents & POLLIN) {
			assert_int_equal(rnet_conn_feed(pri.conn, 1000, &err), 0);
			assert_int_equal(rnet_conn_next(pri.conn, &m, &err), 0);
		}
		rnet_conn_stats(bak.conn, &b);
		if (b.heartbeats_ka == a.heartbeats_ka && i > 3)
			break;
		a = b;
	}
	/* the owner has been away longer than stall_max: nothing more comes */
	rnet_conn_stats(bak.conn, &a);
	{
		struct pollfd p = { rnet_conn_fd(pri.conn), POLLIN, 0 };
		assert_int_equal(poll(&p, 1, 500), 0);
	}
	rnet_conn_stats(bak.conn, &b);
	assert_int_equal(a.heartbeats_ka, b.heartbeats_ka);
	/* the owner is back: it is itself again, the keepalive covers anew */
	assert_int_equal(rnet_conn_tick(bak.conn, 5000, &err), 0);
	rnet_conn_stats(bak.conn, &b);
	assert_int_equal(rnet_conn_keepalive(bak.conn, false, &err), 0);
	side_free(&pri);
	side_free(&bak);
}

/* BYE now: queued data frames not yet begun are dropped, the frame being
 * written is finished, and the BYE follows it. */
static void test_bye_now_drops_unbegun_frames(void **state)
{
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats st;
	struct rnet_msg m;
	uint8_t *buf = malloc(16u << 20);
	bool bye = false;
	int rc;

	(void)state;
	assert_non_null(buf);
	memset(buf, 3, 16u << 20);
	pair(&pri, &bak, 32u << 20, 0);
	queue_bulk(pri.conn, buf, 16u << 20);
	assert_int_equal(rnet_conn_flush(pri.conn, &err), 1);   /* some of it left */
	assert_int_equal(rnet_conn_send_bye_now(pri.conn, 0, &err), 0);
	rnet_conn_stats(pri.conn, &st);
	assert_true(st.queued_bytes <= RNET_BODY_MAX + 2 * RNET_HDR_LEN + 4);
	while (!bye) {
		struct pollfd p[2] = { { rnet_conn_fd(pri.conn), POLLOUT, 0 },
		                       { rnet_conn_fd(bak.conn), POLLIN, 0 } };
		assert_true(poll(p, 2, 5000) > 0);
		assert_true(rnet_conn_flush(pri.conn, &err) >= 0);
		assert_int_equal(rnet_conn_feed(bak.conn, 1000, &err), 0);
		while ((rc = rnet_conn_next(bak.conn, &m, &err)) == 1) {
			assert_false(bye);
			if (m.type == RNET_MSG_BYE)
				bye = true;
			else
				assert_int_equal(m.type, RNET_MSG_STREAM);
		}
		assert_int_equal(rc, 0);
	}
	rnet_conn_stats(bak.conn, &st);
	assert_true(st.stream_bytes_rx < 16u << 20);             /* the rest was dropped */
	assert_int_equal(st.stream_bytes_rx % RNET_BODY_MAX, 0); /* whole frames only */
	side_free(&pri);
	side_free(&bak);
	free(buf);
}

/* A record-sized frame written straight from the caller's pieces: when
 * the socket takes only part of it, the rest is queued as the begun
 * frame, a heartbeat queued meanwhile follows that frame (not inside
 * it), and the peer gets the bytes exactly. */
static void test_streamv_direct_partial_write(void **state)
{
	struct remus_err err = { 0 };
	struct side pri, bak;
	struct rnet_stats st;
	struct rnet_msg m;
	struct iovec v[3];
	uint8_t *a = malloc(400000), *b = malloc(600000), *got = malloc(1000000);
	size_t have = 0, frames = 0;
	int small = 65536;

	(void)state;
	assert_true(a && b && got);
	for (size_t i = 0; i < 400000; i++)
		a[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < 600000; i++)
		b[i] = (uint8_t)(i * 13 + 1);
	pair(&pri, &bak, 0, 0);
	setsockopt(rnet_conn_fd(pri.conn), SOL_SOCKET, SO_SNDBUF, &small, sizeof(small));
	v[0] = (struct iovec){ a, 400000 };
	v[1] = (struct iovec){ b, 600000 };
	v[2] = (struct iovec){ a, 0 };
	assert_int_equal(rnet_conn_send_streamv(pri.conn, v, 3, &err), 0);
	rnet_conn_stats(pri.conn, &st);
	assert_true(st.queued_bytes > 0);          /* the socket took only part */
	assert_int_equal(st.frames_tx, 1);
	assert_int_equal(rnet_conn_tick(pri.conn, 1000, &err), 0);
	assert_int_equal(rnet_conn_tick(pri.conn, 1020, &err), 0);   /* heartbeat now */
	while (have < 1000000) {
		struct pollfd p[2] = { { rnet_conn_fd(pri.conn), POLLOUT, 0 },
		                       { rnet_conn_fd(bak.conn), POLLIN, 0 } };
		assert_true(poll(p, 2, 5000) > 0);
		assert_true(rnet_conn_flush(pri.conn, &err) >= 0);
		assert_int_equal(rnet_conn_feed(bak.conn, 1000, &err), 0);
		while (rnet_conn_next(bak.conn, &m, &err) == 1) {
			assert_int_equal(m.type, RNET_MSG_STREAM);
			assert_int_equal(m.len, 1000000);          /* one frame, whole */
			memcpy(got + have, m.body, m.len);
			have += m.len;
			frames++;
		}
	}
	conn_flush_all(pri.conn, 5000);
	assert_int_equal(frames, 1);
	assert_memory_equal(got, a, 400000);
	assert_memory_equal(got + 400000, b, 600000);
	await_heartbeats(bak.conn, 1);
	side_free(&pri);
	side_free(&bak);
	free(a);
	free(b);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heartbeat_overtakes_bulk_each_way),
		cmocka_unit_test(test_keepalive_answers_for_busy_owner),
		cmocka_unit_test(test_keepalive_gives_up_on_wedged_owner),
		cmocka_unit_test(test_bye_now_drops_unbegun_frames),
		cmocka_unit_test(test_streamv_direct_partial_write),
	};
	return cmocka_run_group_tests(tests, tkeys_group_setup, tkeys_group_teardown);
}
