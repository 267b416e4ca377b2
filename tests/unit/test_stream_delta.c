/*
 * Delta compression of a driver-owned loop's stream (lib/ckpt/
 * stream_delta.c on the primary, the stream receiver's mirror on the
 * backup) with the Xen driver over the fake Xen, for a guest with real
 * pages (test_xen_fake_pages.c: 64 pages, 4 of them changing a little in
 * each checkpoint), on a real rnet link with delta negotiated.
 *  - sender: the stream rebuilt from the wire is byte for byte the stream
 *    the same guest gives without delta, and it took fewer wire bytes than
 *    stream bytes (the ratio is printed);
 *  - receiver: libxc's restore reads byte for byte what libxc's save wrote;
 *  - a corrupted delta frame is refused with a clear error and nothing of
 *    its checkpoint reaches libxc: the replica is the last complete one.
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

#include "ckpt/delta_impl.h"
#include "ckpt/stream_delta_impl.h"
#include "ckpt/stream_link.h"
#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "test_net_util.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"
#include "test_xen_fake_pages.h"

#define GUEST_PAGES 64u
#define DIRTY 4u
#define CKPTS 6u
#define PEER_WAIT_MS 10000u

static const char json[] = "{\"c_info\":{}}";

/* Two authenticated rnet ends; with delta, both ask for it. */
static void link_up(struct tlink *l, bool delta)
{
	memset(l, 0, sizeof(*l));
	tkeys_setup(&l->keys);
	side_init(&l->pri, l->keys.good, true);
	side_init(&l->bak, l->keys.good, false);
	if (delta) {
		l->pri.p.caps.compress_mask |= RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA);
		l->bak.p.caps.compress_mask |= RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA);
		l->pri.p.caps.compress = l->bak.p.caps.compress = RNET_COMPRESS_DELTA;
	}
	l->pri.p.hb_timeout_ms = l->bak.p.hb_timeout_ms = 30000;
	side_pair_handshake(&l->pri, &l->bak);
	assert_int_equal(l->pri.rc, 0);
	assert_int_equal(l->bak.rc, 0);
	assert_int_equal(rnet_compress_delta(rnet_conn_compress(l->pri.conn)), delta);
}

/* ---- the sender against a backup that rebuilds what it receives ------- */

struct bak {
	struct rnet_conn *c;
	bool delta;
	struct delta_rx dx;
	struct stream_reader rd;    /* finds the checkpoints in the rebuilt bytes */
	struct stream_buf got;      /* the stream as rebuilt */
	uint64_t acked;
	int done;
	pthread_t th;
};

/* Stream bytes in: acknowledge each checkpoint once its CHECKPOINT_END is here. */
static void bak_take(struct bak *b, const uint8_t *p, size_t len)
{
	struct remus_err err = { 0 };
	struct stream_rec rec;
	size_t used;

	assert_int_equal(stream_buf_append(&b->got, p, len), 0);
	while (len > 0) {
		int rc = stream_reader_feed(&b->rd, p, len, &used, &rec);

		if (rc < 0)
			fail_msg("the rebuilt stream is not valid: %s", b->rd.err.msg);
		p += used;
		len -= used;
		if (rc == 1 && rec.item == STREAM_ITEM_LIBXL_RECORD && rec.type == STREAM_XL_CHECKPOINT_END) {
			assert_int_equal(rnet_conn_send_ack(b->c, ++b->acked, &err), 0);
			conn_flush_all(b->c, PEER_WAIT_MS);
		}
	}
}

static void *bak_main(void *arg)
{
	struct bak *b = arg;
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;
	struct rnet_msg m;

	while (rnet_now_ms() < until && !__atomic_load_n(&b->done, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = rnet_conn_fd(b->c), .events = POLLIN };

		bool gone;

		poll(&p, 1, 50);
		/* the primary gone: the frames read with its EOF still count */
		gone = rnet_conn_feed(b->c, rnet_now_ms(), &err) < 0;
		while (rnet_conn_next(b->c, &m, &err) == 1) {
			if (m.type != RNET_MSG_STREAM)
				continue;
			if (!b->delta) {
				bak_take(b, m.body, m.len);
				continue;
			}
			if (delta_rx_feed(&b->dx, m.body, m.len, &err) < 0)
				fail_msg("backup: %s", err.msg);
			bak_take(b, b->dx.plain, b->dx.plain_len);
		}
		if (gone)
			break;
		rnet_conn_tick(b->c, rnet_now_ms(), &err);
		if (rnet_conn_want_write(b->c))
			rnet_conn_flush(b->c, &err);
	}
	return NULL;
}

/* Protect the guest for CKPTS checkpoints; *got: the stream the backup
 * rebuilt (the caller frees it). */
static void send_run(bool delta, struct ckpt_stats *st, struct stream_buf *got)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct ckpt_stream_sender_cfg sc = { .hv = &xen_hv_ops, .interval_ms = 1,
	                                     .ack_timeout_ms = PEER_WAIT_MS };
	struct stream_reader_cfg rcfg = { .start = STREAM_START_AUTO };
	struct ckpt_stream_sender *s = NULL;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf pre;
	struct bak b = { .delta = delta };
	struct tlink l;
	int fds;

	xt_setup_host();
	fake_pages_on(GUEST_PAGES, DIRTY);
	link_up(&l, delta);
	fds = open_fd_count();
	stream_buf_init(&pre);
	assert_int_equal(stream_put_xl_header(&pre, json, sizeof(json)), 0);
	sc.preamble = stream_buf_flat(&pre);
	sc.preamble_len = stream_buf_size(&pre);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	sc.guest = g;
	sc.conn = l.pri.conn;
	assert_int_equal(ckpt_stream_sender_new(&sc, &s, &err), 0);
	b.c = l.bak.conn;
	stream_buf_init(&b.got);
	stream_reader_init(&b.rd, &rcfg);
	if (delta)
		delta_rx_init_announced(&b.dx, STREAM_PFN_MASK + 1);
	assert_int_equal(pthread_create(&b.th, NULL, bak_main, &b), 0);
	if (ckpt_stream_sender_run(s, -1, CKPTS, &err) != 0)
		fail_msg("sender: %s", err.msg);
	__atomic_store_n(&b.done, 1, __ATOMIC_RELEASE);
	pthread_join(b.th, NULL);
	ckpt_stream_sender_stats(s, st);
	ckpt_stream_sender_free(s);
	xen_hv_ops.destroy(g);
	assert_int_equal(b.acked, CKPTS);
	assert_int_equal(open_fd_count(), fds);
	*got = b.got;
	stream_reader_free(&b.rd);
	delta_rx_free(&b.dx);
	stream_buf_free(&pre);
	tlink_down(&l);
}

/* A guest whose pages change little: the stream rebuilt from delta frames
 * is the plain stream, byte for byte, and took fewer wire bytes. */
static void test_sender_delta_fewer_wire_bytes(void **state)
{
	struct ckpt_stats plain, delta;
	struct stream_buf a, b;

	(void)state;
	send_run(false, &plain, &a);
	send_run(true, &delta, &b);
	assert_int_equal(stream_buf_size(&a), stream_buf_size(&b));
	assert_memory_equal(stream_buf_flat(&a), stream_buf_flat(&b), stream_buf_size(&a));
	assert_int_equal(delta.bytes, stream_buf_size(&a));
	assert_int_equal(plain.bytes, delta.bytes);
	assert_int_equal(delta.pages, GUEST_PAGES + (CKPTS - 1) * DIRTY);
	assert_true(delta.wire_bytes < delta.bytes);
	assert_true(delta.wire_bytes < plain.wire_bytes);
	print_message("delta: %u checkpoints, %llu stream bytes, %llu wire bytes (%.3f; "
	              "without delta %llu, %.3f)\n", CKPTS, (unsigned long long)delta.bytes,
	              (unsigned long long)delta.wire_bytes,
	              (double)delta.wire_bytes / (double)delta.bytes,
	              (unsigned long long)plain.wire_bytes,
	              (double)plain.wire_bytes / (double)plain.bytes);
	stream_buf_free(&a);
	stream_buf_free(&b);
	fake_pages_off();
}

/* ---- the receiver against a primary that sends delta frames ------------ */

struct prim {
	struct rnet_conn *c;
	struct stream_buf frames[CKPTS];   /* checkpoint i's container bytes */
	unsigned n;
	uint64_t acks;
	pthread_t th;
};

static void prim_wait_ack(struct prim *p, uint64_t n)
{
	conn_wait_ack(p->c, &p->acks, n, PEER_WAIT_MS);
}

/* Each checkpoint's frames, its ACK awaited; then the primary dies. */
static void *prim_main(void *arg)
{
	struct prim *p = arg;
	struct remus_err err = { 0 };

	for (unsigned i = 0; i < p->n; i++) {
		const uint8_t *d = stream_buf_flat(&p->frames[i]);
		size_t len = stream_buf_size(&p->frames[i]);

		for (size_t off = 0; off < len; off += RNET_BODY_MAX) {
			size_t k = len - off < RNET_BODY_MAX ? len - off : RNET_BODY_MAX;

			assert_int_equal(rnet_conn_send_stream(p->c, d + off, k, &err), 0);
			conn_flush_all(p->c, PEER_WAIT_MS);
		}
		if (i + 1 < p->n)
			prim_wait_ack(p, i + 1);
	}
	shutdown(rnet_conn_fd(p->c), SHUT_RDWR);
	return NULL;
}

/* The primary's stream of CKPTS checkpoints (xl header first), delta
 * encoded checkpoint by checkpoint as the stream sender does; *lib: the
 * libxc bytes the fake save wrote, *ends: where each checkpoint ends. */
static void encode_stream(struct prim *p, struct stream_buf *lib, size_t *ends)
{
	struct stream_reader_cfg rcfg = { .start = STREAM_START_AUTO };
	struct remus_err err = { 0 };
	struct stream_delta_tx tx;
	struct stream_reader rd;
	struct stream_rec rec;
	struct ckpt_stats st;
	struct stream_buf plain;
	const uint8_t *d;
	size_t len, off = 0, from = 0, used;

	send_run(false, &st, &plain);
	stream_buf_init(lib);
	assert_int_equal(stream_buf_append(lib, stream_buf_flat(&fpages.saved),
	                                   stream_buf_size(&fpages.saved)), 0);
	memcpy(ends, fpages.saved_ckpt_end, sizeof(size_t) * (CKPTS + 1));
	assert_int_equal(stream_delta_init(&tx, delta_slots(GUEST_PAGES), &err), 0);
	stream_reader_init(&rd, &rcfg);
	d = stream_buf_flat(&plain);
	len = stream_buf_size(&plain);
	while (off < len) {
		int rc = stream_reader_feed(&rd, d + off, len - off, &used, &rec);

		assert_true(rc >= 0);
		off += used;
		if (rc == 1 && rec.item == STREAM_ITEM_LIBXL_RECORD && rec.type == STREAM_XL_CHECKPOINT_END) {
			assert_int_equal(stream_delta_feed(&tx, d + from, off - from, &err), 0);
			stream_buf_init(&p->frames[p->n]);
			assert_int_equal(stream_buf_append(&p->frames[p->n], tx.out + tx.out_off,
			                                   stream_delta_pending(&tx)), 0);
			tx.out_off = tx.out_len;
			p->n++;
			from = off;
		}
	}
	assert_int_equal(p->n, CKPTS);
	stream_reader_free(&rd);
	stream_delta_free(&tx);
	stream_buf_free(&plain);
}

/* Receive p's frames on a delta link; returns ckpt_stream_receiver_run's code. */
static int receive_run(struct prim *p, struct hv_guest **g, struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct ckpt_stream_receiver_cfg rc = { .hv = &xen_hv_ops, .guest_cfg = &cfg,
	                                       .xl_header = true };
	struct ckpt_stream_receiver *r = NULL;
	struct tlink l;
	int rv;

	/* the backup host: dom0 only, the same guest's pages */
	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	fake_pages_on(GUEST_PAGES, DIRTY);
	link_up(&l, true);
	rc.conn = l.bak.conn;
	assert_int_equal(ckpt_stream_receiver_new(&rc, &r, err), 0);
	p->c = l.pri.conn;
	assert_int_equal(pthread_create(&p->th, NULL, prim_main, p), 0);
	rv = ckpt_stream_receiver_run(r, -1, g, err);
	pthread_join(p->th, NULL);
	ckpt_stream_receiver_free(r);
	tlink_down(&l);
	return rv;
}

static void prim_free(struct prim *p)
{
	for (unsigned i = 0; i < p->n; i++)
		stream_buf_free(&p->frames[i]);
}

/* libxc's restore reads exactly what libxc's save wrote, all checkpoints. */
static void test_receiver_delta_exact_stream(void **state)
{
	struct prim p = { 0 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf lib;
	size_t ends[CKPTS + 1];

	(void)state;
	encode_stream(&p, &lib, ends);
	assert_int_equal(receive_run(&p, &g, &err), CKPT_EPEER);
	assert_non_null(g);
	assert_int_equal(fake.restore_checkpoints, CKPTS);
	assert_int_equal(stream_buf_size(&fpages.restored), stream_buf_size(&lib));
	assert_memory_equal(stream_buf_flat(&fpages.restored), stream_buf_flat(&lib),
	                    stream_buf_size(&lib));
	xen_hv_ops.destroy(g);
	stream_buf_free(&lib);
	prim_free(&p);
	fake_pages_off();
}

/* Make the first DELTA item of a container claim a run longer than a page. */
static void corrupt_first_delta(struct stream_buf *f)
{
	uint8_t *d = f->data;
	size_t off = 0;

	while (off < f->len) {
		switch (d[off]) {
		case CKDX_RAW:   off += 5 + get_le32(d + off + 1); break;
		case CKDX_CACHE: off += 5; break;
		case CKDX_PAGE:  off += 9 + STREAM_PAGE_SIZE; break;
		case CKDX_DELTA:
			put_le16(d + off + 13, 0xffff);
			return;
		default:
			fail_msg("unknown container item %u", d[off]);
		}
	}
	fail_msg("no DELTA item to corrupt");
}

/* Checkpoint 3's frame is corrupted: refused with the reason, nothing of
 * checkpoint 3 reaches libxc, the replica is checkpoint 2. */
static void test_receiver_delta_corrupt_frame(void **state)
{
	struct prim p = { 0 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf lib;
	size_t ends[CKPTS + 1];

	(void)state;
	encode_stream(&p, &lib, ends);
	corrupt_first_delta(&p.frames[2]);
	assert_int_equal(receive_run(&p, &g, &err), CKPT_EPEER);
	if (strstr(err.msg, "corrupt delta frame after checkpoint 2: delta: run of") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(g);
	assert_int_equal(fake.restore_checkpoints, 2);
	assert_true(fake.restore_failed_over);
	assert_int_equal(stream_buf_size(&fpages.restored), ends[2]);
	assert_memory_equal(stream_buf_flat(&fpages.restored), stream_buf_flat(&lib), ends[2]);
	xen_hv_ops.destroy(g);
	stream_buf_free(&lib);
	prim_free(&p);
	fake_pages_off();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender_delta_fewer_wire_bytes),
		cmocka_unit_test(test_receiver_delta_exact_stream),
		cmocka_unit_test(test_receiver_delta_corrupt_frame),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
