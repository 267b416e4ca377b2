/*
 * Planned hand-over (evacuation) in the driver-owned loop: the stream
 * sender with the Xen driver over the fake Xen (test_xen_fake.c) and a real
 * rnet connection to a backup the test plays on a thread.  Checkpoint 1 is
 * acknowledged, then the hand-over is requested; with a long epoch the
 * final checkpoint is always checkpoint 2.  Each outcome is checked on the
 * guest (left suspended or resumed through the cooperative cancel), on the
 * wire (END after the final checkpoint, or none) and for leaks.
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
#include "diskrep/diskrep.h"
#include "hv/xen/xen.h"
#include "test_net_util.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"

#define BASE (4u + 16u + 8u)               /* preamble, libxl header, LIBXC_CONTEXT */
#define CKPT_BYTES (FAKE_CHUNK + 8u)        /* libxc chunk + CHECKPOINT_END */
#define END_BYTES 16u                       /* libxc END + libxl END */
#define PEER_WAIT_MS 10000u

/* What the test's backup does once the final checkpoint arrived. */
enum bak_mode {
	BAK_CONFIRM,            /* ACK(2), BYE(RUNNING) after BYE(HANDOVER) */
	BAK_CONFIRM_EARLY,      /* ACK(2), BYE(RUNNING) as soon as END arrived */
	BAK_REFUSE,             /* ACK(2), BYE(REFUSED) as soon as END arrived */
	BAK_LOST_BEFORE_ACK,    /* the link closes instead of ACK(2) */
	BAK_LOST_AFTER_ACK,     /* ACK(2), then the link closes unanswered */
	BAK_LOST_IN_PREPARE,    /* the link closes instead of ACK(1) */
};

struct hbackup {
	struct rnet_conn *c;
	enum bak_mode mode;
	int stop_w;
	uint64_t bytes, acked;
	uint8_t data[256];
	bool saw_handover;
	bool answered;              /* linger (read on) until `done`, as remusd does */
	int done;
	pthread_t th;
};

/* A disk with one writer at a time (drbd 8.4's shape): records the
 * hand-over's window and role changes in order, and what the guest was
 * doing at each. */
struct diskrep {
	char seq[128];              /* "open,promote,demote,close" */
	unsigned saves_at_open;     /* checkpoints taken when the window opened */
	bool suspended_at_close;    /* the guest still suspended when it closed */
	bool fail_open, fail_finish;
};

static void wdisk_note(struct diskrep *d, const char *what)
{
	size_t n = strlen(d->seq);

	snprintf(d->seq + n, sizeof(d->seq) - n, "%s%s", n ? "," : "", what);
}

static int wdisk_mark(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	(void)d; (void)epoch; (void)err;
	return 0;
}

static int wdisk_nop(struct diskrep *d, struct remus_err *err)
{
	(void)d; (void)err;
	return 0;
}

static int wdisk_window(struct diskrep *d, bool allow, struct remus_err *err)
{
	if (allow && d->fail_open)
		return remus_err_set(err, DISKREP_ETOOL, "fake net-options refused");
	if (allow)
		d->saves_at_open = fake.save_checkpoints;
	else
		d->suspended_at_close = fake.suspended;
	wdisk_note(d, allow ? "open" : "close");
	return 0;
}

static int wdisk_promote(struct diskrep *d, struct remus_err *err)
{
	(void)err;
	wdisk_note(d, "promote");
	return 0;
}

static int wdisk_demote(struct diskrep *d, struct remus_err *err)
{
	(void)err;
	wdisk_note(d, "demote");
	return 0;
}

static const struct diskrep_ops wdisk_ops = {
	.name = "window", .epoch_mark = wdisk_mark, .epoch_acked = wdisk_mark,
	.commit = wdisk_mark, .discard_uncommitted = wdisk_nop, .promote = wdisk_promote,
	.dual_primary = wdisk_window, .demote = wdisk_demote,
};

/* Set by a test before run_handover: the primary's disk (NULL: none). */
static struct diskrep *hand_disk;
/* Set by a test: the sender's fault hook (test builds' fault points). */
static struct ckpt_fault hand_fault;

static void bak_send(struct hbackup *b, bool ack, uint64_t v)
{
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;

	assert_int_equal(ack ? rnet_conn_send_ack(b->c, v, &err) :
	                 rnet_conn_send_bye(b->c, (uint32_t)v, &err), 0);
	while (rnet_conn_flush(b->c, &err) == 1 && rnet_now_ms() < until) {
		struct pollfd p = { .fd = rnet_conn_fd(b->c), .events = POLLOUT };
		poll(&p, 1, 100);
	}
}

static bool bak_saw_end(const struct hbackup *b)
{
	static const uint8_t zero[END_BYTES];
	uint64_t at = BASE + 2 * CKPT_BYTES;

	return b->bytes == at + END_BYTES && memcmp(b->data + at, zero, END_BYTES) == 0;
}

/* One step of the backup's script; true when it is done. */
static bool bak_step(struct hbackup *b)
{
	if (b->acked == 0 && b->bytes >= BASE + CKPT_BYTES) {
		if (b->mode == BAK_LOST_IN_PREPARE) {
			assert_int_equal(write(b->stop_w, "e", 1), 1);
			return true;
		}
		bak_send(b, true, ++b->acked);
		assert_int_equal(write(b->stop_w, "e", 1), 1);  /* remusctl evacuate */
	}
	if (b->acked == 1 && b->bytes >= BASE + 2 * CKPT_BYTES) {
		if (b->mode == BAK_LOST_BEFORE_ACK)
			return true;
		bak_send(b, true, ++b->acked);
	}
	if (b->acked != 2 || !bak_saw_end(b))
		return false;
	switch (b->mode) {
	case BAK_CONFIRM:
		if (!b->saw_handover)
			return false;
		/* fall through */
	case BAK_CONFIRM_EARLY:
		bak_send(b, false, CKPT_BYE_RUNNING);
		b->answered = true;
		return true;
	case BAK_REFUSE:
		bak_send(b, false, CKPT_BYE_REFUSED);
		b->answered = true;
		return true;
	default:
		return true;
	}
}

static void *bak_main(void *arg)
{
	struct hbackup *b = arg;
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;
	struct rnet_msg m;

	while (rnet_now_ms() < until) {
		struct pollfd p = { .fd = rnet_conn_fd(b->c), .events = POLLIN };

		poll(&p, 1, 50);
		if (rnet_conn_feed(b->c, rnet_now_ms(), &err) < 0)
			break;
		while (rnet_conn_next(b->c, &m, &err) == 1) {
			if (m.type == RNET_MSG_BYE && m.u64 == CKPT_BYE_HANDOVER)
				b->saw_handover = true;
			if (m.type != RNET_MSG_STREAM)
				continue;
			for (uint32_t i = 0; i < m.len && b->bytes + i < sizeof(b->data); i++)
				b->data[b->bytes + i] = m.body[i];
			b->bytes += m.len;
		}
		if (!b->answered && bak_step(b) && !b->answered)
			break;                              /* the link is lost on purpose */
		if (__atomic_load_n(&b->done, __ATOMIC_ACQUIRE))
			break;                              /* the sender returned */
		rnet_conn_tick(b->c, rnet_now_ms(), &err);
		if (rnet_conn_want_write(b->c))
			rnet_conn_flush(b->c, &err);
	}
	shutdown(rnet_conn_fd(b->c), SHUT_RDWR);     /* done, or the link is lost */
	return NULL;
}

struct run {
	int rc;
	struct remus_err err;
	struct ckpt_stats st;
	struct hbackup b;
	int fds;
};

/* Protect "web" until the backup's script asks for the hand-over. */
static void run_handover(enum bak_mode mode, struct run *r)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct ckpt_stream_sender_cfg sc = { .hv = &xen_hv_ops, .interval_ms = 60000,
	                                     .ack_timeout_ms = PEER_WAIT_MS,
	                                     .confirm_ms = PEER_WAIT_MS,
	                                     .preamble = "PRE!", .preamble_len = 4 };
	struct ckpt_stream_sender *s = NULL;
	struct tkeys keys;
	struct side pri, bak;
	struct hv_guest *g = NULL;
	int stop[2];

	memset(r, 0, sizeof(*r));
	xt_setup_host();
	tkeys_setup(&keys);
	side_init(&pri, keys.good, true);
	side_init(&bak, keys.good, false);
	pri.p.hb_timeout_ms = bak.p.hb_timeout_ms = 30000;
	side_pair_handshake(&pri, &bak);
	assert_int_equal(pri.rc, 0);
	assert_int_equal(bak.rc, 0);
	assert_int_equal(pipe(stop), 0);
	r->fds = open_fd_count();
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &r->err), 0);
	sc.guest = g;
	sc.conn = pri.conn;
	sc.fault = hand_fault;
	if (hand_disk != NULL) {
		sc.dr_ops = &wdisk_ops;
		sc.dr = hand_disk;
	}
	assert_int_equal(ckpt_stream_sender_new(&sc, &s, &r->err), 0);
	/* remusd asks for the hand-over before it stops the engine */
	ckpt_stream_sender_request_handover(s);
	r->b.c = bak.conn;
	r->b.mode = mode;
	r->b.stop_w = stop[1];
	assert_int_equal(pthread_create(&r->b.th, NULL, bak_main, &r->b), 0);
	r->rc = ckpt_stream_sender_run(s, stop[0], 0, &r->err);
	__atomic_store_n(&r->b.done, 1, __ATOMIC_RELEASE);
	pthread_join(r->b.th, NULL);
	ckpt_stream_sender_stats(s, &r->st);
	ckpt_stream_sender_free(s);
	xen_hv_ops.destroy(g);      /* attached: the domain stays as it is */
	assert_int_equal(open_fd_count(), r->fds);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_true(fake.exists);
	close(stop[0]);
	close(stop[1]);
	side_free(&pri);
	side_free(&bak);
	tkeys_cleanup(&keys);
}

static void assert_msg(const struct run *r, const char *want)
{
	if (strstr(r->err.msg, want) == NULL)
		fail_msg("message '%s' lacks '%s'", r->err.msg, want);
}

/* Confirmed: the final checkpoint (2) left the guest suspended, END
 * followed it, BYE(HANDOVER) was answered with BYE(RUNNING). */
static void test_handover_confirmed(void **state)
{
	struct run r;

	(void)state;
	run_handover(BAK_CONFIRM, &r);
	if (r.rc != 0)
		fail_msg("hand-over: %s", r.err.msg);
	assert_true(r.b.saw_handover);
	assert_true(bak_saw_end(&r.b));
	assert_int_equal(r.st.acked, 2);
	assert_int_equal(fake.save_checkpoints, 2);
	assert_true(fake.suspended);            /* for the caller to destroy */
	assert_int_equal(fake.fast_resumes, 1); /* checkpoint 1 only */
}

/* The backup may start and confirm before BYE(HANDOVER) (END is enough
 * for it): the answer the pump read counts. */
static void test_handover_confirmed_early(void **state)
{
	struct run r;

	(void)state;
	run_handover(BAK_CONFIRM_EARLY, &r);
	if (r.rc != 0)
		fail_msg("hand-over: %s", r.err.msg);
	assert_true(bak_saw_end(&r.b));
	assert_true(fake.suspended);
	assert_int_equal(fake.fast_resumes, 1);
}

/* The backup refuses (its replica did not start): the guest resumes here
 * through the cooperative suspend's cancel. */
static void test_handover_refused(void **state)
{
	struct run r;

	(void)state;
	run_handover(BAK_REFUSE, &r);
	assert_int_equal(r.rc, CKPT_EPEER);
	assert_msg(&r, "backup refused to take over");
	assert_msg(&r, "evacuation cancelled in finish, guest resumed here");
	assert_false(fake.suspended);
	assert_int_equal(fake.fast_resumes, 2);
	assert_int_equal(fake.xs_resumes, 2);
}

/* The link is lost before ACK(final): cancelled, the guest resumes here,
 * no END was ever sent. */
static void test_handover_cancelled_before_ack(void **state)
{
	struct run r;

	(void)state;
	run_handover(BAK_LOST_BEFORE_ACK, &r);
	assert_int_equal(r.rc, CKPT_EPEER);
	assert_msg(&r, "evacuation cancelled in perform, guest resumed here");
	assert_int_equal(r.b.bytes, BASE + 2 * CKPT_BYTES);
	assert_false(fake.suspended);
	assert_int_equal(fake.fast_resumes, 2);
	assert_int_equal(fake.xs_resumes, 2);
}

/* Fault point "final-acked" (test builds): right after ACK(final) the
 * primary stops as if killed: the guest stays suspended, no BYE(HANDOVER). */
static int stop_final_acked(void *arg, const char *point, uint64_t epoch)
{
	int *fired = arg;

	if (strcmp(point, "final-acked") != 0 || epoch != 2)
		return 0;
	++*fired;
	return 1;
}

static void test_handover_fault_final_acked(void **state)
{
	struct run r;
	int fired = 0;

	(void)state;
	hand_fault = (struct ckpt_fault){ &fired, stop_final_acked };
	run_handover(BAK_CONFIRM, &r);
	hand_fault = (struct ckpt_fault){ 0 };
	assert_int_equal(r.rc, CKPT_ESTOPPED);
	assert_msg(&r, "stopped at fault point final-acked (epoch 2)");
	assert_int_equal(fired, 1);
	assert_int_equal(r.st.acked, 2);
	assert_false(r.b.saw_handover);
	assert_false(bak_saw_end(&r.b));            /* nothing left after the point */
	assert_true(fake.suspended);
	assert_int_equal(fake.fast_resumes, 1);     /* checkpoint 1 only */
}

/* ACK(final) arrived, then nothing: the backup may run the guest, so it
 * stays suspended here, in doubt. */
static void test_handover_in_doubt(void **state)
{
	struct run r;

	(void)state;
	run_handover(BAK_LOST_AFTER_ACK, &r);
	assert_int_equal(r.rc, CKPT_EINDOUBT);
	assert_msg(&r, "evacuation in doubt after final checkpoint 2");
	assert_true(bak_saw_end(&r.b));
	assert_true(fake.suspended);
	assert_int_equal(fake.fast_resumes, 1);
}

/* The link is lost while checkpoint 1 waits for its ACK (prepare): the
 * final checkpoint is never taken, the guest runs on. */
static void test_handover_cancelled_in_prepare(void **state)
{
	struct run r;

	(void)state;
	run_handover(BAK_LOST_IN_PREPARE, &r);
	assert_int_equal(r.rc, CKPT_EPEER);
	assert_msg(&r, "evacuation cancelled in prepare, guest resumed here");
	assert_int_equal(fake.save_checkpoints, 1);
	assert_false(fake.suspended);
	assert_int_equal(fake.fast_resumes, 1);
	assert_int_equal(r.b.bytes, BASE + CKPT_BYTES);
}

/* ---- the disk's dual-primary window (drbd 8.4) ------------------------- */

/* Run a hand-over with the window disk d; the disk is unhooked after. */
static void run_windowed(enum bak_mode mode, struct diskrep *d, struct run *r)
{
	hand_disk = d;
	run_handover(mode, r);
	hand_disk = NULL;
}

/* Confirmed: the window opened after checkpoint 1, before the final one,
 * and stays open: the caller demotes once its copy is destroyed. */
static void test_window_confirmed(void **state)
{
	struct diskrep d = { 0 };
	struct run r;

	(void)state;
	run_windowed(BAK_CONFIRM, &d, &r);
	if (r.rc != 0)
		fail_msg("hand-over: %s", r.err.msg);
	assert_string_equal(d.seq, "open");
	assert_int_equal(d.saves_at_open, 1);
	assert_true(fake.suspended);
}

/* Refused (the backup demoted first): the window closes before the guest
 * resumes here. */
static void test_window_refused(void **state)
{
	struct diskrep d = { 0 };
	struct run r;

	(void)state;
	run_windowed(BAK_REFUSE, &d, &r);
	assert_int_equal(r.rc, CKPT_EPEER);
	assert_msg(&r, "evacuation cancelled in finish, guest resumed here");
	assert_string_equal(d.seq, "open,close");
	assert_true(d.suspended_at_close);
	assert_false(fake.suspended);
}

/* Lost before ACK(final): cancelled, window closed (while the guest is
 * suspended when the ACK wait notices the loss; after the driver's resume
 * when libxc's write failed first), the guest runs here. */
static void test_window_cancelled_before_ack(void **state)
{
	struct diskrep d = { 0 };
	struct run r;

	(void)state;
	run_windowed(BAK_LOST_BEFORE_ACK, &d, &r);
	assert_int_equal(r.rc, CKPT_EPEER);
	assert_msg(&r, "evacuation cancelled in perform, guest resumed here");
	assert_string_equal(d.seq, "open,close");
	assert_false(fake.suspended);
}

/* In doubt: the window stays open and the message says what to do. */
static void test_window_in_doubt(void **state)
{
	struct diskrep d = { 0 };
	struct run r;

	(void)state;
	run_windowed(BAK_LOST_AFTER_ACK, &d, &r);
	assert_int_equal(r.rc, CKPT_EINDOUBT);
	assert_string_equal(d.seq, "open");
	assert_msg(&r, "diskrep window left dual-primary: demote the side that does not run "
	           "the guest");
	assert_msg(&r, "evacuation in doubt after final checkpoint 2");
	assert_true(fake.suspended);
}

/* Lost in prepare: the window never opened. */
static void test_window_not_opened_in_prepare(void **state)
{
	struct diskrep d = { 0 };
	struct run r;

	(void)state;
	run_windowed(BAK_LOST_IN_PREPARE, &d, &r);
	assert_int_equal(r.rc, CKPT_EPEER);
	assert_string_equal(d.seq, "");
}

/* The window cannot open: no final checkpoint, the guest runs on here. */
static void test_window_open_fails(void **state)
{
	struct diskrep d = { .fail_open = true };
	struct run r;

	(void)state;
	run_windowed(BAK_CONFIRM, &d, &r);
	assert_int_equal(r.rc, DISKREP_ETOOL);
	assert_msg(&r, "evacuation cancelled in prepare, guest resumed here");
	assert_msg(&r, "opening the dual-primary window failed: fake net-options refused");
	assert_string_equal(d.seq, "");
	assert_int_equal(fake.save_checkpoints, 1);
	assert_false(fake.suspended);
	assert_false(bak_saw_end(&r.b));
}

/* ---- the backup's side ------------------------------------------------ */

struct hprimary {
	struct rnet_conn *c;
	const uint8_t *data;
	size_t len;
	uint64_t acks;
	int done;                   /* set once the receiver returned */
	pthread_t th;
};

/* Send the whole hand-over stream, then keep the link up (no BYE) until
 * the receiver is done: the END in the stream alone makes the hand-over. */
static void *prim_main(void *arg)
{
	struct hprimary *p = arg;
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;
	struct rnet_msg m;

	assert_int_equal(rnet_conn_send_stream(p->c, p->data, p->len, &err), 0);
	while (!__atomic_load_n(&p->done, __ATOMIC_ACQUIRE) && rnet_now_ms() < until) {
		struct pollfd pf = { .fd = rnet_conn_fd(p->c), .events = POLLIN |
		                     (rnet_conn_want_write(p->c) ? POLLOUT : 0) };

		poll(&pf, 1, 50);
		if (rnet_conn_want_write(p->c))
			rnet_conn_flush(p->c, &err);
		if (rnet_conn_feed(p->c, rnet_now_ms(), &err) < 0)
			break;
		while (rnet_conn_next(p->c, &m, &err) == 1)
			if (m.type == RNET_MSG_ACK)
				p->acks = m.u64;
		rnet_conn_tick(p->c, rnet_now_ms(), &err);
	}
	return NULL;
}

/* The receiver's `finish` (remusd attaches the replica's devices). */
static int wdisk_finish(void *arg, struct hv_guest *replica, struct remus_err *err)
{
	struct diskrep *d = arg;

	(void)replica;
	wdisk_note(d, "finish");
	return d->fail_finish ? remus_err_set(err, -EIO, "fake vbd attach failed") : 0;
}

/* The receiver of a hand-over stream ending in END after checkpoint 3,
 * with disk d (NULL: none). */
static void receiver_handover(struct diskrep *d)
{
	struct engine saved = { .stop_after = 100, .final_at = 3, .handed_at = 3 };
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct ckpt_stream_receiver_cfg rc = { .hv = &xen_hv_ops, .guest_cfg = &cfg };
	struct ckpt_stream_receiver *r = NULL;
	struct remus_err err = { 0 };
	struct hprimary p = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tkeys keys;
	struct side pri, bak;
	uint8_t *data;
	int fd = xt_memfd(), fds, rv;
	off_t n;

	xt_setup_host();
	assert_int_equal(xt_save(&saved, fd, false), 0);
	n = lseek(fd, 0, SEEK_END);
	assert_int_equal(n, 16 + 8 + 3 * CKPT_BYTES + END_BYTES);
	data = malloc((size_t)n);
	assert_non_null(data);
	assert_int_equal(pread(fd, data, (size_t)n, 0), n);
	close(fd);
	fake_reset();               /* the backup host: dom0 only */
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	tkeys_setup(&keys);
	side_init(&pri, keys.good, true);
	side_init(&bak, keys.good, false);
	pri.p.hb_timeout_ms = bak.p.hb_timeout_ms = 30000;
	side_pair_handshake(&pri, &bak);
	fds = open_fd_count();
	rc.conn = bak.conn;
	if (d != NULL) {
		rc.dr_ops = &wdisk_ops;
		rc.dr = d;
		rc.finish = wdisk_finish;
		rc.arg = d;
	}
	assert_int_equal(ckpt_stream_receiver_new(&rc, &r, &err), 0);
	p.c = pri.conn;
	p.data = data;
	p.len = (size_t)n;
	assert_int_equal(pthread_create(&p.th, NULL, prim_main, &p), 0);
	rv = ckpt_stream_receiver_run(r, -1, &g, &err);
	__atomic_store_n(&p.done, 1, __ATOMIC_RELEASE);
	pthread_join(p.th, NULL);
	if (d != NULL && d->fail_finish) {
		/* not started: the disk given back, the window closed */
		assert_true(rv < 0);
		assert_null(g);
		if (strstr(err.msg, "fake vbd attach failed; the replica was not started") == NULL)
			fail_msg("receiver: %s", err.msg);
		assert_string_equal(d->seq, "open,promote,finish,demote,close");
	} else {
		if (rv != CKPT_HANDOVER)
			fail_msg("receiver: %d %s", rv, err.msg);
		assert_non_null(g);
		if (d != NULL)   /* promoted inside the window, then the devices */
			assert_string_equal(d->seq, "open,promote,finish");
	}
	ckpt_stream_receiver_stats(r, &st);
	assert_int_equal(st.checkpoints, 3);
	assert_int_equal(fake.restore_checkpoints, 3);
	assert_false(fake.restore_failed_over);
	if (g != NULL)
		xen_hv_ops.destroy(g);
	ckpt_stream_receiver_free(r);
	assert_false(fake.exists);
	assert_int_equal(fake.domains_destroyed, fake.domains_created);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_int_equal(open_fd_count(), fds);
	side_free(&pri);
	side_free(&bak);
	tkeys_cleanup(&keys);
	free(data);
}

/* The receiver returns CKPT_HANDOVER with the replica of the final
 * checkpoint (3) when the driver read the stream's END, even though no
 * BYE(HANDOVER) came (the primary's may still be on its way). */
static void test_receiver_handover_at_end(void **state)
{
	(void)state;
	receiver_handover(NULL);
}

/* A hand-over's replica: its disk promoted inside the window. */
static void test_receiver_window_promote(void **state)
{
	struct diskrep d = { 0 };

	(void)state;
	receiver_handover(&d);
}

/* Promoted, but the replica cannot start: demoted and window closed
 * before the refusal lets the primary resume. */
static void test_receiver_window_given_back(void **state)
{
	struct diskrep d = { .fail_finish = true };

	(void)state;
	receiver_handover(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handover_confirmed),
		cmocka_unit_test(test_handover_fault_final_acked),
		cmocka_unit_test(test_handover_confirmed_early),
		cmocka_unit_test(test_handover_refused),
		cmocka_unit_test(test_handover_cancelled_before_ack),
		cmocka_unit_test(test_handover_in_doubt),
		cmocka_unit_test(test_handover_cancelled_in_prepare),
		cmocka_unit_test(test_receiver_handover_at_end),
		cmocka_unit_test(test_window_confirmed),
		cmocka_unit_test(test_window_refused),
		cmocka_unit_test(test_window_cancelled_before_ack),
		cmocka_unit_test(test_window_in_doubt),
		cmocka_unit_test(test_window_not_opened_in_prepare),
		cmocka_unit_test(test_window_open_fails),
		cmocka_unit_test(test_receiver_window_promote),
		cmocka_unit_test(test_receiver_window_given_back),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
