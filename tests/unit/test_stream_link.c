/*
 * The engine's driver-owned loops (lib/ckpt/stream_*.c) with the Xen driver
 * over a fake Xen (test_xen_fake.c) and a real rnet connection: the test
 * plays the peer on a thread of its own.  Sender: ACKs gate the epochs,
 * a missing ACK, a lost link, a stop and a driver failure each end the
 * loop with the right code and message, the guest running and no fd
 * leaked.  Receiver: the replica is built from the last complete
 * checkpoint only, a clean BYE keeps no replica, xl's header is taken off
 * and checked before the driver reads.  Disk hooks with a fake diskrep
 * backend: epoch_mark(N) inside checkpoint N's suspended window, commits
 * per checkpoint, promote before the replica's devices, failures named.
 */
#include <errno.h>
#include <fcntl.h>
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
#include "xl_header_cases.h"

#define PROLOGUE (16u + 8u)                 /* libxl header + LIBXC_CONTEXT */
#define CKPT_BYTES (FAKE_CHUNK + 8u)        /* libxc chunk + CHECKPOINT_END */
#define PEER_WAIT_MS 10000u

/* ---- a fake diskrep backend: records what the engine asked, when ------ */

struct diskrep {
	uint64_t marks, marks_suspended, acked, commits, discards, promotes;
	uint64_t mark_order_bad, commit_order_bad;
	bool promote_paused;        /* the replica was paused (not started) at promote */
	uint64_t fail_mark, fail_commit;    /* fail this epoch (0: never) */
	bool fail_promote;
	uint64_t finishes, finish_before_promote;
};

static int fdisk_mark(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	if (epoch == d->fail_mark)
		return remus_err_set(err, -EIO, "fake flush of epoch %llu failed",
		                     (unsigned long long)epoch);
	d->marks++;
	if (fake.suspended)
		d->marks_suspended++;
	/* epoch N: the N-th mark, and ACK(N) not yet seen */
	if (epoch != d->marks || d->acked != epoch - 1)
		d->mark_order_bad++;
	return 0;
}

static int fdisk_acked(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	(void)err;
	if (epoch != d->acked + 1 || epoch > d->marks)
		d->mark_order_bad++;
	d->acked = epoch;
	return 0;
}

static int fdisk_commit(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	if (epoch == d->fail_commit)
		return remus_err_set(err, -EIO, "fake commit of epoch %llu failed",
		                     (unsigned long long)epoch);
	if (epoch != d->commits + 1)
		d->commit_order_bad++;
	d->commits = epoch;
	return 0;
}

static int fdisk_discard(struct diskrep *d, struct remus_err *err)
{
	(void)err;
	d->discards++;
	return 0;
}

static int fdisk_promote(struct diskrep *d, struct remus_err *err)
{
	d->promote_paused = fake.exists && fake.paused;
	if (d->fail_promote)
		return remus_err_set(err, -EIO, "fake 'drbdsetup primary' refused");
	d->promotes++;
	return 0;
}

static const struct diskrep_ops fdisk_ops = {
	.name = "fake", .epoch_mark = fdisk_mark, .epoch_acked = fdisk_acked,
	.commit = fdisk_commit, .discard_uncommitted = fdisk_discard, .promote = fdisk_promote,
};

/* The receiver's `finish` (the session attaches the replica's devices). */
static int fdisk_finish(void *arg, struct hv_guest *replica, struct remus_err *err)
{
	struct diskrep *d = arg;

	(void)err;
	assert_non_null(replica);
	d->finishes++;
	if (d->promotes == 0)
		d->finish_before_promote++;
	return 0;
}

/* Set by a test for send_run/receive_run: the disk they hook up. */
static struct diskrep *disk_under_test;

/* ---- the test's backup, for the sender --------------------------------- */

struct fake_backup {
	struct rnet_conn *c;
	size_t preamble;
	uint64_t ack_upto;          /* acknowledge checkpoints up to this */
	int stop_w;                 /* write here after ACK(stop_after) */
	uint64_t stop_after;
	/* results */
	uint64_t bytes, acked;
	uint8_t head[64];
	int done;                   /* set by the test once the sender returned */
	pthread_t th;
};

/* Count stream bytes; ACK each checkpoint once all its bytes arrived. */
static void *backup_main(void *arg)
{
	struct fake_backup *b = arg;
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + PEER_WAIT_MS;
	struct rnet_msg m;

	while (rnet_now_ms() < until && !__atomic_load_n(&b->done, __ATOMIC_ACQUIRE)) {
		struct pollfd p = { .fd = rnet_conn_fd(b->c), .events = POLLIN };

		poll(&p, 1, 50);
		if (rnet_conn_feed(b->c, rnet_now_ms(), &err) < 0)
			break;
		while (rnet_conn_next(b->c, &m, &err) == 1) {
			if (m.type != RNET_MSG_STREAM)
				continue;
			for (uint32_t i = 0; i < m.len && b->bytes + i < sizeof(b->head); i++)
				b->head[b->bytes + i] = m.body[i];
			b->bytes += m.len;
		}
		while (b->acked < b->ack_upto &&
		       b->bytes >= b->preamble + PROLOGUE + (b->acked + 1) * CKPT_BYTES) {
			assert_int_equal(rnet_conn_send_ack(b->c, ++b->acked, &err), 0);
			conn_flush_all(b->c, PEER_WAIT_MS);
			if (b->stop_w >= 0 && b->acked == b->stop_after)
				assert_int_equal(write(b->stop_w, "s", 1), 1);
		}
		if (b->acked == b->ack_upto && b->stop_w < 0)
			break;
		rnet_conn_tick(b->c, rnet_now_ms(), &err);
		if (rnet_conn_want_write(b->c))
			rnet_conn_flush(b->c, &err);
	}
	return NULL;
}

/* Run the stream sender on "web" against the fake backup. */
static int send_run(struct tlink *l, struct fake_backup *b, uint64_t max_epochs, int stop_fd,
                    uint32_t ack_timeout_ms, struct ckpt_stats *st, struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct ckpt_stream_sender_cfg sc = { .hv = &xen_hv_ops, .conn = l->pri.conn,
	                                     .interval_ms = 1, .ack_timeout_ms = ack_timeout_ms,
	                                     .preamble = "PRE!", .preamble_len = 4 };
	struct ckpt_stream_sender *s = NULL;
	struct hv_guest *g = NULL;
	int rc;

	assert_int_equal(xen_hv_ops.create(&cfg, &g, err), 0);
	sc.guest = g;
	if (disk_under_test != NULL) {
		sc.dr_ops = &fdisk_ops;
		sc.dr = disk_under_test;
	}
	assert_int_equal(ckpt_stream_sender_new(&sc, &s, err), 0);
	if (b != NULL) {
		b->c = l->bak.conn;
		b->preamble = 4;
		assert_int_equal(pthread_create(&b->th, NULL, backup_main, b), 0);
	}
	rc = ckpt_stream_sender_run(s, stop_fd, max_epochs, err);
	if (b != NULL) {
		__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
		pthread_join(b->th, NULL);
	}
	ckpt_stream_sender_stats(s, st);
	ckpt_stream_sender_free(s);
	xen_hv_ops.destroy(g);
	return rc;
}

/* The guest runs (not left suspended), every handle and fd closed. */
static void assert_primary_clean(int fds_before)
{
	assert_false(fake.suspended);
	assert_true(fake.exists);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_int_equal(open_fd_count(), fds_before);
}

static void test_sender_acked_epochs(void **state)
{
	struct fake_backup b = { .ack_upto = 3, .stop_w = -1 };
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	fds = open_fd_count();
	if (send_run(&l, &b, 3, -1, 10000, &st, &err) != 0)
		fail_msg("sender: %s", err.msg);
	assert_int_equal(st.acked, 3);
	assert_int_equal(st.checkpoints, 3);
	assert_int_equal(fake.save_checkpoints, 3);
	assert_int_equal(fake.fast_resumes, 3);
	/* the preamble, then the driver's libxl header, nothing in between */
	assert_memory_equal(b.head, "PRE!", 4);
	assert_int_equal(b.head[4], 0x4c);     /* "LibxlFmt", big-endian */
	assert_int_equal(b.bytes, 4 + PROLOGUE + 3 * CKPT_BYTES);
	assert_int_equal(st.bytes, b.bytes);
	/* wire_bytes: the frames that carried them (was never counted here) */
	assert_true(st.wire_bytes >= st.bytes + RNET_HDR_LEN);
	assert_true(st.wire_bytes <= 2 * st.bytes);
	assert_primary_clean(fds);
	tlink_down(&l);
}

/* The backup stays silent: no ACK(1) within the timeout is a lost peer;
 * the guest keeps running. */
static void test_sender_ack_timeout(void **state)
{
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(send_run(&l, NULL, 0, -1, 200, &st, &err), CKPT_EPEER);
	assert_non_null(strstr(err.msg, "no ACK for checkpoint 1 within 200 ms"));
	assert_int_equal(st.acked, 0);
	assert_primary_clean(fds);
	tlink_down(&l);
}

/* The backup's end is closed: the link error ends the loop. */
static void test_sender_link_lost(void **state)
{
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	side_free(&l.bak);
	fds = open_fd_count();
	assert_int_equal(send_run(&l, NULL, 0, -1, 10000, &st, &err), CKPT_EPEER);
	assert_non_null(strstr(err.msg, "backup lost after checkpoint 0"));
	assert_primary_clean(fds);
	tlink_down(&l);
}

/* A stop request right after ACK(2): the loop ends, the guest runs. */
static void test_sender_stop(void **state)
{
	struct fake_backup b = { .ack_upto = 1000, .stop_after = 2 };
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds, stop[2];

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	assert_int_equal(pipe(stop), 0);
	b.stop_w = stop[1];
	fds = open_fd_count();
	assert_int_equal(send_run(&l, &b, 0, stop[0], 10000, &st, &err), CKPT_ESTOPPED);
	/* ACK(1) came before checkpoint 2 was sent; ACK(2) and the stop race,
	 * and a stop does not wait for an ACK in flight */
	assert_true(st.acked >= 1);
	assert_non_null(strstr(err.msg, "stopped on request"));
	assert_primary_clean(fds);
	close(stop[0]);
	close(stop[1]);
	tlink_down(&l);
}

/* libxc's own failure reaches the caller with the driver's message. */
static void test_sender_driver_fails(void **state)
{
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	fake.fail = (struct fake_fail){ "xc_domain_save", 1, EIO };
	fds = open_fd_count();
	assert_true(send_run(&l, NULL, 0, -1, 10000, &st, &err) < 0);
	assert_non_null(strstr(err.msg, "xc_domain_save(XC_STREAM_REMUS) of domain 5 failed"));
	assert_primary_clean(fds);
	tlink_down(&l);
}

/* ---- the test's primary, for the receiver ------------------------------ */

enum prim_end { PRIM_CLOSE, PRIM_BYE, PRIM_STOP };

struct fake_primary {
	struct rnet_conn *c;
	const uint8_t *data;
	size_t cut[4];              /* send data[cut[i-1]..cut[i]), then wait ACK(i+1) */
	int ncut;
	enum prim_end end;
	int stop_w;
	uint64_t acks;
	pthread_t th;
};

static void prim_wait_ack(struct fake_primary *p, uint64_t n)
{
	conn_wait_ack(p->c, &p->acks, n, PEER_WAIT_MS);
}

static void *primary_main(void *arg)
{
	struct fake_primary *p = arg;
	struct remus_err err = { 0 };
	size_t from = 0;

	for (int i = 0; i < p->ncut; i++) {
		if (p->cut[i] > from)
			assert_int_equal(rnet_conn_send_stream(p->c, p->data + from, p->cut[i] - from,
			                                       &err), 0);
		conn_flush_all(p->c, PEER_WAIT_MS);
		from = p->cut[i];
		if (i + 1 < p->ncut || p->end == PRIM_STOP)
			prim_wait_ack(p, (uint64_t)i + 1);
	}
	if (p->end == PRIM_BYE) {
		assert_int_equal(rnet_conn_send_bye(p->c, CKPT_BYE_END, &err), 0);
		conn_flush_all(p->c, PEER_WAIT_MS);
	} else if (p->end == PRIM_STOP) {
		assert_int_equal(write(p->stop_w, "s", 1), 1);
	} else {
		shutdown(rnet_conn_fd(p->c), SHUT_RDWR);   /* the primary dies */
	}
	return NULL;
}

/* A 3-checkpoint stream written by the driver (xenstore records off). */
static int make_stream(uint8_t **data, size_t *len)
{
	struct engine e = { 0 };
	int fd = xt_memfd();
	off_t n;

	xt_setup_host();
	assert_int_equal(xt_save(&e, fd, false), 0);
	n = lseek(fd, 0, SEEK_END);
	assert_int_equal(n, PROLOGUE + 3 * CKPT_BYTES);
	*data = malloc((size_t)n);
	assert_non_null(*data);
	assert_int_equal(pread(fd, *data, (size_t)n, 0), n);
	*len = (size_t)n;
	close(fd);
	/* the backup host: dom0 only */
	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	return 0;
}

struct prepared {
	char json[64];
	size_t len;
};

static int prepare_cb(void *arg, const char *json, size_t len, struct hv_guest_config *gcfg,
                      char *name_buf, size_t name_cap, struct remus_err *err)
{
	struct prepared *pr = arg;

	(void)err;
	snprintf(pr->json, sizeof(pr->json), "%s", json);
	pr->len = len;
	snprintf(name_buf, name_cap, "%s--backup", gcfg->name);
	gcfg->name = name_buf;
	return 0;
}

/* Run the stream receiver against the fake primary. */
static int receive_run(struct tlink *l, struct fake_primary *p, bool xl_header, int stop_fd,
                       struct prepared *pr, struct hv_guest **g, struct ckpt_stats *st,
                       struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct ckpt_stream_receiver_cfg rc = { .hv = &xen_hv_ops, .guest_cfg = &cfg,
	                                       .conn = l->bak.conn, .xl_header = xl_header,
	                                       .prepare = prepare_cb, .arg = pr };
	struct ckpt_stream_receiver *r = NULL;
	size_t jl;
	int rv;

	if (disk_under_test != NULL) {
		rc.dr_ops = &fdisk_ops;
		rc.dr = disk_under_test;
		rc.finish = fdisk_finish;
		rc.arg = disk_under_test;
		rc.prepare = NULL;
	}
	assert_int_equal(ckpt_stream_receiver_new(&rc, &r, err), 0);
	p->c = l->pri.conn;
	assert_int_equal(pthread_create(&p->th, NULL, primary_main, p), 0);
	rv = ckpt_stream_receiver_run(r, stop_fd, g, err);
	pthread_join(p->th, NULL);
	ckpt_stream_receiver_stats(r, st);
	if (xl_header && rv != CKPT_ENOREPLICA)
		assert_non_null(ckpt_stream_receiver_config(r, &jl));
	ckpt_stream_receiver_free(r);
	return rv;
}

/* After a replica was destroyed or never built: nothing left. */
static void assert_backup_clean(int fds_before)
{
	assert_false(fake.exists);
	assert_int_equal(fake.domains_destroyed, fake.domains_created);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_int_equal(open_fd_count(), fds_before);
}

/* Checkpoints 1 and 2 acknowledged, checkpoint 3 cut before its
 * CHECKPOINT_END, then the primary dies: the replica is checkpoint 2. */
static void test_receiver_partial_never_applied(void **state)
{
	struct fake_primary p = { .ncut = 3, .end = PRIM_CLOSE };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data;
	size_t len;
	int fds;

	(void)state;
	make_stream(&data, &len);
	p.data = data;
	p.cut[0] = PROLOGUE + CKPT_BYTES;
	p.cut[1] = PROLOGUE + 2 * CKPT_BYTES;
	p.cut[2] = PROLOGUE + 3 * CKPT_BYTES - 8;      /* no CHECKPOINT_END 3 */
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, false, -1, NULL, &g, &st, &err), CKPT_EPEER);
	assert_non_null(strstr(err.msg, "primary lost after checkpoint 2"));
	assert_non_null(g);
	assert_int_equal(p.acks, 2);
	assert_int_equal(st.checkpoints, 2);
	assert_int_equal(fake.restore_checkpoints, 2);
	assert_true(fake.restore_failed_over);
	assert_true(fake.paused);                      /* the caller starts it */
	xen_hv_ops.destroy(g);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(data);
}

/* BYE(END) after two checkpoints: protection ended, no replica kept. */
static void test_receiver_bye_keeps_nothing(void **state)
{
	struct fake_primary p = { .ncut = 2, .end = PRIM_BYE };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data;
	size_t len;
	int fds;

	(void)state;
	make_stream(&data, &len);
	p.data = data;
	p.cut[0] = PROLOGUE + CKPT_BYTES;
	p.cut[1] = PROLOGUE + 2 * CKPT_BYTES;
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, false, -1, NULL, &g, &st, &err), 0);
	assert_null(g);
	assert_int_equal(st.checkpoints, 2);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(data);
}

/* xl's header first: taken off, handed to prepare (which names the
 * replica), then the driver restores; a stop request fails over. */
static void test_receiver_xl_header_and_stop(void **state)
{
	static const char json[] = "{\"c_info\":{}}";
	struct fake_primary p = { .ncut = 2, .end = PRIM_STOP };
	struct remus_err err = { 0 };
	struct prepared pr = { { 0 }, 0 };
	struct hv_guest *g = NULL;
	struct stream_buf b;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data, *all;
	size_t len, hl;
	int fds, stop[2];

	(void)state;
	make_stream(&data, &len);
	stream_buf_init(&b);
	assert_int_equal(stream_put_xl_header(&b, json, sizeof(json)), 0);
	hl = b.len;
	all = malloc(hl + len);
	assert_non_null(all);
	memcpy(all, b.data, hl);
	memcpy(all + hl, data, len);
	stream_buf_free(&b);
	assert_int_equal(pipe(stop), 0);
	p.data = all;
	p.cut[0] = hl + PROLOGUE + CKPT_BYTES;
	p.cut[1] = hl + PROLOGUE + 2 * CKPT_BYTES;
	p.stop_w = stop[1];
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, true, stop[0], &pr, &g, &st, &err), CKPT_ESTOPPED);
	assert_non_null(g);
	assert_string_equal(pr.json, json);
	assert_int_equal(pr.len, sizeof(json));
	assert_string_equal(fake_get_node("/local/domain/9/name")->value, "web--backup");
	assert_int_equal(fake.restore_checkpoints, 2);
	xen_hv_ops.destroy(g);
	assert_backup_clean(fds);
	close(stop[0]);
	close(stop[1]);
	tlink_down(&l);
	free(all);
	free(data);
}

/* A stream without xl's header where one is required: refused before the
 * driver builds anything. */
static void test_receiver_missing_xl_header(void **state)
{
	/* BYE, not a close: the verdict must be about the header, never about
	 * how the link ended (a close may race the data under load) */
	struct fake_primary p = { .ncut = 1, .end = PRIM_BYE };
	struct remus_err err = { 0 };
	struct prepared pr = { { 0 }, 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data;
	size_t len;
	int fds;

	(void)state;
	make_stream(&data, &len);
	p.data = data;
	p.cut[0] = len;
	tlink_up(&l);
	fds = open_fd_count();
	assert_int_equal(receive_run(&l, &p, true, -1, &pr, &g, &st, &err), CKPT_ENOREPLICA);
	if (strstr(err.msg, "does not start with xl's migration header") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_null(g);
	assert_int_equal(pr.len, 0);
	assert_int_equal(fake.domains_created, 0);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(data);
}

/* Each bad xl header of xl_header_cases.h in front of a good stream: the
 * one strict check refuses it with its reason, before the driver builds
 * anything (the same cases as the Xen driver's xl receiver, test_xen.c). */
static void test_receiver_bad_xl_headers(void **state)
{
	uint8_t *data, *all, *hdr;
	size_t len, hl;

	(void)state;
	for (size_t i = 0; i < XL_NBAD; i++) {
		struct fake_primary p = { .ncut = 1, .end = PRIM_BYE };
		struct remus_err err = { 0 };
		struct prepared pr = { { 0 }, 0 };
		struct hv_guest *g = NULL;
		struct ckpt_stats st;
		struct tlink l;
		int fds;

		make_stream(&data, &len);
		hdr = xl_case_bytes(&xl_bad_cases[i], &hl);
		all = malloc(hl + len);
		assert_non_null(all);
		memcpy(all, hdr, hl);
		memcpy(all + hl, data, len);
		p.data = all;
		p.cut[0] = hl + len;
		tlink_up(&l);
		fds = open_fd_count();
		assert_int_equal(receive_run(&l, &p, true, -1, &pr, &g, &st, &err), CKPT_ENOREPLICA);
		if (strstr(err.msg, xl_bad_cases[i].why) == NULL)
			fail_msg("%s: unexpected error: %s", xl_bad_cases[i].name, err.msg);
		assert_null(g);
		assert_int_equal(pr.len, 0);
		assert_int_equal(fake.domains_created, 0);
		assert_backup_clean(fds);
		tlink_down(&l);
		free(all);
		free(hdr);
		free(data);
	}
}

/* Disk epochs on the primary: epoch_mark(N) while the guest is suspended
 * for checkpoint N, before ACK(N); epoch_acked(N) after it, in order. */
static void test_sender_disk_epochs(void **state)
{
	struct fake_backup b = { .ack_upto = 4, .stop_w = -1 };
	struct diskrep d = { 0 };
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	fds = open_fd_count();
	disk_under_test = &d;
	if (send_run(&l, &b, 4, -1, 10000, &st, &err) != 0)
		fail_msg("sender: %s", err.msg);
	disk_under_test = NULL;
	assert_int_equal(st.acked, 4);
	assert_int_equal(d.marks, 4);
	assert_int_equal(d.marks_suspended, 4);
	assert_int_equal(d.acked, 4);
	assert_int_equal(d.mark_order_bad, 0);
	assert_primary_clean(fds);
	tlink_down(&l);
}

/* A failed disk flush ends protection with the backend's reason; the
 * guest runs on (resumed), nothing leaks, checkpoint 2 was never acked. */
static void test_sender_disk_mark_fails(void **state)
{
	struct fake_backup b = { .ack_upto = 4, .stop_w = -1 };
	struct diskrep d = { .fail_mark = 2 };
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	struct tlink l;
	int fds;

	(void)state;
	xt_setup_host();
	tlink_up(&l);
	fds = open_fd_count();
	disk_under_test = &d;
	assert_true(send_run(&l, &b, 4, -1, 10000, &st, &err) < 0);
	disk_under_test = NULL;
	if (strstr(err.msg, "diskrep fake: marking epoch 2 failed: fake flush of epoch 2 failed") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_int_equal(st.acked, 1);
	assert_int_equal(d.marks, 1);
	assert_primary_clean(fds);
	tlink_down(&l);
}

/* Receiver with a disk: commit per complete checkpoint, then at failover
 * discard + promote while the replica is still paused, and only then the
 * caller's device attach (finish). */
static void test_receiver_disk_promote_before_attach(void **state)
{
	struct fake_primary p = { .ncut = 3, .end = PRIM_CLOSE };
	struct diskrep d = { 0 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data;
	size_t len;
	int fds;

	(void)state;
	make_stream(&data, &len);
	p.data = data;
	p.cut[0] = PROLOGUE + CKPT_BYTES;
	p.cut[1] = PROLOGUE + 2 * CKPT_BYTES;
	p.cut[2] = PROLOGUE + 3 * CKPT_BYTES - 8;      /* no CHECKPOINT_END 3 */
	tlink_up(&l);
	fds = open_fd_count();
	disk_under_test = &d;
	assert_int_equal(receive_run(&l, &p, false, -1, NULL, &g, &st, &err), CKPT_EPEER);
	disk_under_test = NULL;
	assert_non_null(strstr(err.msg, "primary lost after checkpoint 2"));
	assert_non_null(g);
	assert_int_equal(d.commits, 2);
	assert_int_equal(d.commit_order_bad, 0);
	assert_int_equal(d.discards, 1);
	assert_int_equal(d.promotes, 1);
	assert_true(d.promote_paused);
	assert_int_equal(d.finishes, 1);
	assert_int_equal(d.finish_before_promote, 0);
	assert_true(fake.paused);                      /* the caller starts it */
	xen_hv_ops.destroy(g);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(data);
}

/* The backup's disk cannot be promoted: no replica (destroyed, never
 * started, no devices attached), and the error says so. */
static void test_receiver_disk_promote_fails(void **state)
{
	struct fake_primary p = { .ncut = 2, .end = PRIM_CLOSE };
	struct diskrep d = { .fail_promote = true };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data;
	size_t len;
	int fds, rc;

	(void)state;
	make_stream(&data, &len);
	p.data = data;
	p.cut[0] = PROLOGUE + CKPT_BYTES;
	p.cut[1] = PROLOGUE + 2 * CKPT_BYTES;
	tlink_up(&l);
	fds = open_fd_count();
	disk_under_test = &d;
	rc = receive_run(&l, &p, false, -1, NULL, &g, &st, &err);
	disk_under_test = NULL;
	assert_true(rc < 0);
	assert_true(rc != CKPT_EPEER);
	if (strstr(err.msg, "diskrep fake: promoting the backup's disk failed after checkpoint 2: "
	                    "fake 'drbdsetup primary' refused; the replica was not started") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_null(g);
	assert_int_equal(d.finishes, 0);
	assert_true(d.promote_paused);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(data);
}

/* A commit fails: checkpoint 2 is not acknowledged, no replica is built
 * on a disk in doubt, and the error names the commit. */
static void test_receiver_disk_commit_fails(void **state)
{
	struct fake_primary p = { .ncut = 2, .end = PRIM_CLOSE };
	struct diskrep d = { .fail_commit = 2 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	struct tlink l;
	uint8_t *data;
	size_t len;
	int fds;

	(void)state;
	make_stream(&data, &len);
	p.data = data;
	p.cut[0] = PROLOGUE + CKPT_BYTES;
	p.cut[1] = PROLOGUE + 2 * CKPT_BYTES;
	tlink_up(&l);
	fds = open_fd_count();
	disk_under_test = &d;
	assert_true(receive_run(&l, &p, false, -1, NULL, &g, &st, &err) < 0);
	disk_under_test = NULL;
	if (strstr(err.msg, "diskrep fake: committing epoch 2 failed: fake commit of epoch 2 failed") == NULL)
		fail_msg("unexpected error: %s", err.msg);
	assert_null(g);
	assert_int_equal(p.acks, 1);
	assert_int_equal(d.commits, 1);
	assert_int_equal(d.promotes, 0);
	assert_backup_clean(fds);
	tlink_down(&l);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sender_acked_epochs),
		cmocka_unit_test(test_sender_ack_timeout),
		cmocka_unit_test(test_sender_link_lost),
		cmocka_unit_test(test_sender_stop),
		cmocka_unit_test(test_sender_driver_fails),
		cmocka_unit_test(test_receiver_partial_never_applied),
		cmocka_unit_test(test_receiver_bye_keeps_nothing),
		cmocka_unit_test(test_receiver_xl_header_and_stop),
		cmocka_unit_test(test_receiver_missing_xl_header),
		cmocka_unit_test(test_receiver_bad_xl_headers),
		cmocka_unit_test(test_sender_disk_epochs),
		cmocka_unit_test(test_sender_disk_mark_fails),
		cmocka_unit_test(test_receiver_disk_promote_before_attach),
		cmocka_unit_test(test_receiver_disk_promote_fails),
		cmocka_unit_test(test_receiver_disk_commit_fails),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
