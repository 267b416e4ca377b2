/*
 * The backup of a guest with a device model (HVM with QEMU): the engine's
 * stream receiver in whole-checkpoint mode (lib/stream/gate.c) in front of
 * the Xen driver's libxl restore, over a real rnet connection and the fake
 * libxl (test_xen_fake.c), which keeps every byte it reads.  libxl gets
 * exactly the complete checkpoints, in order, never a torn one; ACK(N)
 * leaves only once checkpoint N is whole; failover (link lost) and the
 * planned hand-over (END) build the replica; a failing libxl restore is
 * named; a disk replication that cannot serve such a replica is refused;
 * no fd, handle or domain is left behind.
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
#include "stream_sample.h"
#include "test_net_util.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"

#define PEER_WAIT_MS 10000u

static const char json[] = "{\"c_info\":{\"type\":\"hvm\"}}";

/* ---- the stream: xl's header (HVM), then a Remus stream ----------------- */

struct dm_stream {
	uint8_t *data;
	size_t len;
	size_t hdr;                 /* bytes of xl's header (not for libxl) */
	size_t end[4];              /* end[n]: where checkpoint n ends in data */
};

static size_t ckpt_end(const struct dm_stream *s, unsigned n)
{
	return s->end[n];
}

/* The sample guest's checkpointed stream of n checkpoints (libxc records,
 * then libxl's emulator records and CHECKPOINT_END each); clean: the libxc
 * and libxl END of a hand-over behind the last. */
static uint8_t *sample(unsigned n, int clean, size_t *len)
{
	struct stream_buf b;
	uint8_t *d;

	stream_buf_init(&b);
	assert_int_equal(sample_checkpointed_stream(&b, n, clean, 0), 0);
	d = sample_flatten(&b, len);
	assert_non_null(d);
	stream_buf_free(&b);
	return d;
}

/* xl's header naming an HVM guest, then three checkpoints (with_end: and
 * END); the backup host has dom0 only. */
static void make_stream(struct dm_stream *s, bool with_end)
{
	struct stream_buf b;
	uint8_t *d;
	size_t n;

	memset(s, 0, sizeof(*s));
	stream_buf_init(&b);
	assert_int_equal(stream_put_xl_header(&b, json, sizeof(json)), 0);
	s->hdr = b.len;
	for (unsigned k = 1; k <= 3; k++) {
		free(sample(k, 0, &n));
		s->end[k] = s->hdr + n;
	}
	d = sample(3, with_end, &n);
	s->len = s->hdr + n;
	s->data = malloc(s->len);
	assert_non_null(s->data);
	stream_buf_copy_out(&b, s->data);
	memcpy(s->data + s->hdr, d, n);
	free(d);
	stream_buf_free(&b);
	assert_true(s->end[1] < s->end[2] && s->end[2] < s->end[3] && s->end[3] <= s->len);
	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	fake.json_hvm = true;
}

/* ---- the test's primary ------------------------------------------------ */

/* After the last message: die (close), BYE(END), BYE(HANDOVER), or
 * nothing (the link stays up: the receiver ends on its own). */
enum prim_end { PRIM_CLOSE, PRIM_BYE_END, PRIM_BYE_HANDOVER, PRIM_IDLE };

struct fake_primary {
	struct rnet_conn *c;
	const struct dm_stream *s;
	size_t cut[4];              /* send data[cut[i-1]..cut[i]) as one message */
	uint64_t want_ack[4];       /* then wait for this ACK (0: do not wait) */
	int ncut;
	enum prim_end end;
	/* results */
	uint64_t acks;              /* the last ACK received */
	uint64_t ack_seen[4];       /* the first ACK received after message i */
	int early_acks;             /* ACKs naming a checkpoint not yet sent whole */
	size_t sent;
	pthread_t th;
};

/* Complete checkpoints in the first `sent` bytes of the stream. */
static uint64_t whole_ckpts(const struct dm_stream *s, size_t sent)
{
	uint64_t n = 0;

	while (n < 3 && ckpt_end(s, (unsigned)n + 1) <= sent)
		n++;
	return n;
}

static void prim_wait_ack(struct fake_primary *p, int i)
{
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;
	struct rnet_msg m;

	while (p->acks < p->want_ack[i] && rnet_now_ms() < until) {
		struct pollfd pf = { .fd = rnet_conn_fd(p->c), .events = POLLIN };

		poll(&pf, 1, 50);
		if (rnet_conn_feed(p->c, rnet_now_ms(), &err) < 0)
			return;
		while (rnet_conn_next(p->c, &m, &err) == 1) {
			if (m.type != RNET_MSG_ACK)
				continue;
			if (m.u64 > whole_ckpts(p->s, p->sent))
				p->early_acks++;
			if (p->ack_seen[i] == 0)
				p->ack_seen[i] = m.u64;
			p->acks = m.u64;
		}
		rnet_conn_tick(p->c, rnet_now_ms(), &err);
		rnet_conn_flush(p->c, &err);
	}
}

static void *primary_main(void *arg)
{
	struct fake_primary *p = arg;
	struct remus_err err = { 0 };

	for (int i = 0; i < p->ncut; i++) {
		if (p->cut[i] > p->sent)
			assert_int_equal(rnet_conn_send_stream(p->c, p->s->data + p->sent,
			                                       p->cut[i] - p->sent, &err), 0);
		conn_flush_all(p->c, PEER_WAIT_MS);
		p->sent = p->cut[i];
		prim_wait_ack(p, i);
	}
	if (p->end == PRIM_IDLE)
		return NULL;
	if (p->end == PRIM_CLOSE) {
		shutdown(rnet_conn_fd(p->c), SHUT_RDWR);   /* the primary dies */
		return NULL;
	}
	assert_int_equal(rnet_conn_send_bye(p->c, p->end == PRIM_BYE_END ? CKPT_BYE_END :
	                                    CKPT_BYE_HANDOVER, &err), 0);
	conn_flush_all(p->c, PEER_WAIT_MS);
	return NULL;
}

/* ---- the receiver ------------------------------------------------------ */

static int prepare_cb(void *arg, const char *js, size_t len, struct hv_guest_config *gcfg,
                      char *name_buf, size_t name_cap, struct remus_err *err)
{
	(void)arg; (void)err;
	assert_int_equal(len, sizeof(json));
	assert_string_equal(js, json);
	snprintf(name_buf, name_cap, "%s--backup", gcfg->name);
	gcfg->name = name_buf;
	return 0;
}

/* A disk backend the engine must refuse for such a guest. */
struct diskrep {
	int used;
};

static int fdisk_noop(struct diskrep *dr, uint64_t epoch, struct remus_err *err)
{
	(void)dr; (void)epoch; (void)err;
	fail_msg("the disk must not be used for a replica restored whole");
	return 0;
}

static int fdisk_noop2(struct diskrep *dr, struct remus_err *err)
{
	(void)dr; (void)err;
	fail_msg("the disk must not be used for a replica restored whole");
	return 0;
}

static const struct diskrep_ops fdisk_ops = {
	.name = "fake", .epoch_mark = fdisk_noop, .epoch_acked = fdisk_noop,
	.commit = fdisk_noop, .discard_uncommitted = fdisk_noop2, .promote = fdisk_noop2,
};

/* Set by a test: the receiver's fault hook (test builds' fault points). */
static struct ckpt_fault dm_fault;

static int receive_run(struct tlink *l, struct fake_primary *p, bool with_disk,
                       struct hv_guest **g, struct ckpt_stats *st, struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct ckpt_stream_receiver_cfg rc = { .hv = &xen_hv_ops, .guest_cfg = &cfg,
	                                       .conn = l->bak.conn, .xl_header = true,
	                                       .prepare = prepare_cb, .fault = dm_fault };
	struct ckpt_stream_receiver *r = NULL;
	struct diskrep disk = { 0 };
	int rv;

	if (with_disk) {
		rc.dr_ops = &fdisk_ops;
		rc.dr = &disk;
	}
	assert_int_equal(ckpt_stream_receiver_new(&rc, &r, err), 0);
	p->c = l->pri.conn;
	assert_int_equal(pthread_create(&p->th, NULL, primary_main, p), 0);
	rv = ckpt_stream_receiver_run(r, -1, g, err);
	pthread_join(p->th, NULL);
	ckpt_stream_receiver_stats(r, st);
	ckpt_stream_receiver_free(r);
	return rv;
}

/* libxl read exactly the libxl stream up to `upto` in data (xl's header
 * is the engine's, never libxl's). */
static void assert_libxl_got(const struct dm_stream *s, size_t upto)
{
	assert_int_equal(fake.libxl_restore_bytes, upto - s->hdr);
	assert_memory_equal(fake.libxl_restore_data, s->data + s->hdr, upto - s->hdr);
	assert_string_equal(fake.libxl_restore_name, "web--backup");
}

/* After a replica was destroyed or never built: nothing left. */
static void assert_backup_clean(int fds_before)
{
	assert_false(fake.exists);
	assert_int_equal(fake.domains_destroyed, fake.domains_created);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_int_equal(fake.libxl_open, 0);
	assert_int_equal(open_fd_count(), fds_before);
}

/* Checkpoint 2 arrives without its last byte, then the rest of it with
 * checkpoint 3 cut before its CHECKPOINT_END, then the primary dies:
 * ACK(1) and ACK(2) each only once whole, libxl reads checkpoints 1 and 2
 * and not a byte of 3, and builds the replica (paused) at the failover. */
static void test_dm_failover_torn_last(void **state)
{
	struct dm_stream s;
	struct fake_primary p = { .ncut = 2, .end = PRIM_CLOSE };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	make_stream(&s, false);
	p.s = &s;
	p.cut[0] = ckpt_end(&s, 2) - 1;
	p.want_ack[0] = 1;
	p.cut[1] = ckpt_end(&s, 3) - 8;                 /* CHECKPOINT_END 3 cut */
	p.want_ack[1] = 2;
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, false, &g, &st, &err), CKPT_EPEER);
	if (strstr(err.msg, "primary lost after checkpoint 2") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(g);
	assert_int_equal(p.early_acks, 0);
	assert_int_equal(p.ack_seen[0], 1);
	assert_int_equal(p.ack_seen[1], 2);
	assert_int_equal(st.checkpoints, 2);
	assert_int_equal(st.acked, 2);
	assert_libxl_got(&s, ckpt_end(&s, 2));
	assert_int_equal(fake.domains_created, 1);
	assert_true(fake.paused);                      /* the caller starts it */
	assert_int_equal(fake.restore_checkpoints, 0);  /* libxc's restore not ours */
	/* the caller starts it through libxl (QEMU with it), then ends it */
	assert_int_equal(xen_hv_ops.start(g, &err), 0);
	assert_false(fake.paused);
	assert_int_equal(fake.unpauses, 1);
	xen_hv_ops.destroy(g);
	assert_int_equal(fake_calls("libxl_domain_destroy"), 1);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(s.data);
}

/* Stop at "applying" of checkpoint 2 (fault point, test builds): libxl
 * gets checkpoint 1 only, ACK(2) never goes out, the run ends stopped. */
static int stop_applying_2(void *arg, const char *point, uint64_t epoch)
{
	int *fired = arg;

	if (strcmp(point, "applying") != 0 || epoch != 2)
		return 0;
	++*fired;
	return 1;
}

static void test_dm_fault_applying(void **state)
{
	struct dm_stream s;
	struct fake_primary p = { .ncut = 2, .end = PRIM_CLOSE };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	int fds, fired = 0;

	(void)state;
	make_stream(&s, false);
	p.s = &s;
	p.cut[0] = ckpt_end(&s, 1);
	p.want_ack[0] = 1;
	p.cut[1] = ckpt_end(&s, 3);
	dm_fault = (struct ckpt_fault){ &fired, stop_applying_2 };
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, false, &g, &st, &err), CKPT_ESTOPPED);
	dm_fault = (struct ckpt_fault){ 0 };
	if (strstr(err.msg, "stopped at fault point applying (epoch 2) after checkpoint 1") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_int_equal(fired, 1);
	assert_non_null(g);
	assert_int_equal(st.acked, 1);
	assert_int_equal(p.acks, 1);
	assert_libxl_got(&s, ckpt_end(&s, 1));
	xen_hv_ops.destroy(g);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(s.data);
}

/* A planned hand-over: END right behind checkpoint 3 reaches libxl (it
 * completes the restore normally), the receiver reports the hand-over. */
static void test_dm_handover_end(void **state)
{
	struct dm_stream s;
	struct fake_primary p = { .ncut = 2, .end = PRIM_BYE_HANDOVER };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	make_stream(&s, true);
	p.s = &s;
	p.cut[0] = ckpt_end(&s, 1);
	p.want_ack[0] = 1;
	p.cut[1] = s.len;                               /* checkpoints 2, 3 and END */
	p.want_ack[1] = 3;
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, false, &g, &st, &err), CKPT_HANDOVER);
	assert_non_null(g);
	assert_int_equal(p.early_acks, 0);
	assert_int_equal(p.ack_seen[0], 1);
	assert_int_equal(p.acks, 3);
	assert_int_equal(st.checkpoints, 3);
	assert_libxl_got(&s, s.len);
	assert_true(fake.paused);
	xen_hv_ops.destroy(g);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(s.data);
}

/* BYE(END): protection ended on purpose; libxl's replica is destroyed. */
static void test_dm_bye_keeps_nothing(void **state)
{
	struct dm_stream s;
	struct fake_primary p = { .ncut = 1, .end = PRIM_BYE_END };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	make_stream(&s, false);
	p.s = &s;
	p.cut[0] = ckpt_end(&s, 2);
	p.want_ack[0] = 2;
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, false, &g, &st, &err), 0);
	assert_null(g);
	assert_int_equal(p.acks, 2);
	assert_libxl_got(&s, ckpt_end(&s, 2));
	assert_int_equal(fake.domains_created, 1);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(s.data);
}

/* libxl_domain_create_restore fails: the error names it, no replica, no
 * libxl context, fd or domain left. */
static void test_dm_libxl_restore_fails(void **state)
{
	struct dm_stream s;
	struct fake_primary p = { .ncut = 1, .end = PRIM_CLOSE };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	int fds, rc;

	(void)state;
	make_stream(&s, false);
	fake.fail = (struct fake_fail){ "libxl_domain_create_restore", 1, EIO };
	p.end = PRIM_IDLE;
	p.s = &s;
	p.cut[0] = ckpt_end(&s, 1);
	tlink_up(&l);
	fds = open_fd_count();
	rc = receive_run(&l, &p, false, &g, &st, &err);
	assert_true(rc < 0);
	assert_true(rc != CKPT_EPEER && rc != CKPT_HANDOVER);
	if (strstr(err.msg, "restore: libxl_domain_create_restore (Remus stream, with the device "
	                    "model) failed (libxl error -3)") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_null(g);
	assert_int_equal(fake_calls("libxl_domain_create_restore"), 1);
	assert_int_equal(fake.domains_created, 0);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(s.data);
}

/* A disk replication backend with such a guest is refused before libxl
 * is called (libxl attaches the disk and starts QEMU on it inside its
 * restore as soon as the stream ends, before the engine could promote
 * the backup's disk). */
static void test_dm_diskrep_refused(void **state)
{
	struct dm_stream s;
	struct fake_primary p = { .ncut = 1, .end = PRIM_CLOSE };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	make_stream(&s, false);
	p.end = PRIM_IDLE;
	p.s = &s;
	p.cut[0] = ckpt_end(&s, 1);
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, true, &g, &st, &err), CKPT_ECONFIG);
	if (strstr(err.msg, "diskrep fake cannot serve a replica the driver restores whole") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_null(g);
	assert_int_equal(fake_calls("libxl_domain_create_restore"), 0);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(s.data);
}

static int teardown(void **state)
{
	(void)state;
	fake_reset();   /* frees what the fake libxl kept */
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_dm_failover_torn_last, teardown),
		cmocka_unit_test_teardown(test_dm_fault_applying, teardown),
		cmocka_unit_test_teardown(test_dm_handover_end, teardown),
		cmocka_unit_test_teardown(test_dm_bye_keeps_nothing, teardown),
		cmocka_unit_test_teardown(test_dm_libxl_restore_fails, teardown),
		cmocka_unit_test_teardown(test_dm_diskrep_refused, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
