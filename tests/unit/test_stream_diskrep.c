/*
 * The builtin diskrep backend on the driver-owned (Xen) path: its frames
 * ride the replication link as RNET_MSG_DISK next to libxc's stream, so a
 * Xen guest's disk is epoch-exact like a pvm guest's (no `unsafe`).
 *
 * The Xen driver runs over the fake Xen with a guest of real pages
 * (test_xen_fake_pages.c); the disks are real image files.  The guest's
 * writes are made by the test through the primary's diskrep handle, at
 * known moments: epoch 1's at the run's restart (before the resync), epoch
 * n+1's right after ACK(n).  Like the other fault trials, the primary runs
 * to a fault point of checkpoint 3 "as if killed" while a test backup
 * records every frame the link carried (its own diskrep answers the
 * resync); the recording is then replayed to a real stream receiver with a
 * real backup diskrep, and the link ends.  The replica's disk must then be
 * exactly the primary's initial image plus the writes of the epochs of the
 * checkpoints it holds: the resync's blocks and every committed epoch,
 * never the torn checkpoint's writes, though they were on the wire.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "ckpt/disk_impl.h"
#include "ckpt/stream_link.h"
#include "diskrep_fixture.h"
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
#define BLOCK 4096u
#define NBLOCKS 64u
#define IMAGE ((uint64_t)BLOCK * NBLOCKS)

static const char json[] = "{\"c_info\":{}}";

/* ---- the guest's writes: two whole blocks per epoch -------------------- */

static void epoch_block(uint64_t n, unsigned j, uint64_t *off, uint8_t *buf)
{
	*off = (uint64_t)((2 * n + j) % NBLOCKS) * BLOCK;
	for (unsigned i = 0; i < BLOCK; i++)
		buf[i] = (uint8_t)(n * 16 + j + i * 31);
}

/* The image a disk holding epochs 1..k of the primary must show. */
static void expected_image(const char *initial, uint64_t k, uint8_t *img)
{
	uint8_t buf[BLOCK];
	uint64_t off;

	fx_read(initial, img, IMAGE);
	for (uint64_t n = 1; n <= k; n++)
		for (unsigned j = 0; j < 2; j++) {
			epoch_block(n, j, &off, buf);
			memcpy(img + off, buf, BLOCK);
		}
}

/* The builtin backend, with the guest's writes at the moments above. */
static const struct diskrep_ops *builtin;

struct guest_disk {
	uint64_t written;           /* the last epoch whose writes were made */
};
static struct guest_disk gdisk;

static void guest_writes(struct diskrep *d, uint64_t n)
{
	struct remus_err err = { 0 };
	uint8_t buf[BLOCK];
	uint64_t off;

	for (unsigned j = 0; j < 2; j++) {
		epoch_block(n, j, &off, buf);
		if (builtin->write(d, off, buf, BLOCK, &err) < 0)
			fail_msg("guest write of epoch %llu: %s", (unsigned long long)n, err.msg);
	}
	gdisk.written = n;
}

static int wrap_restart(struct diskrep *d, uint64_t base, struct remus_err *err)
{
	int rc = builtin->restart(d, base, err);

	if (rc == 0)
		guest_writes(d, base + 1);     /* made before the resync: epoch 1 */
	return rc;
}

static int wrap_acked(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	int rc = builtin->epoch_acked(d, epoch, err);

	if (rc == 0)
		guest_writes(d, epoch + 1);    /* the guest runs epoch n+1 */
	return rc;
}

static struct diskrep_ops guest_ops;

/* ---- the primary, to its fault; a recording backup ----------------------- */

/* Protect the guest with its disk on fx's primary image; the fault armed
 * (f) or max_epochs checkpoints; the link's frames into *rec. */
static void primary_run(struct fx *fx, struct fault_at *f, uint64_t max_epochs,
                        struct recording *rec)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct ckpt_stream_sender_cfg sc = { .hv = &xen_hv_ops, .interval_ms = 1,
	                                     .ack_timeout_ms = PEER_WAIT_MS, .dr_ops = &guest_ops,
	                                     .disk_channel = true };
	struct ckpt_stream_sender *s = NULL;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct stream_buf pre;
	struct rec_backup b = { .rec = rec, .ops = fx->ops, .wait_ms = PEER_WAIT_MS };
	int chan[2], hchan[2], rc;
	char himg[400], hst[400];
	struct tlink l;

	xt_setup_host();
	fake_pages_on(PAGES, DIRTY);
	tlink_up(&l);
	builtin = diskrep_backend("builtin");
	assert_non_null(builtin);
	guest_ops = *builtin;
	guest_ops.restart = wrap_restart;
	guest_ops.epoch_acked = wrap_acked;
	memset(&gdisk, 0, sizeof(gdisk));
	/* the primary's diskrep and the engine's end of its channel */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
	fx->sv[1] = chan[0];
	if (fx_open_primary(fx, BLOCK, 0) < 0)
		fail_msg("primary diskrep: %s", fx->err.msg);
	/* the helper backup's diskrep, on an image and state of its own (a
	 * copy of the backup's): the backup under test starts as it was */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, hchan), 0);
	assert_int_equal(fcntl(hchan[1], F_SETFL, O_NONBLOCK), 0);
	snprintf(himg, sizeof(himg), "%s/helper.img", fx->dir);
	snprintf(hst, sizeof(hst), "%s/hst", fx->dir);
	fx_fill(himg, IMAGE, 2);
	mkdir(hst, 0700);
	struct diskrep_config hc = { .role = DISKREP_BACKUP, .image = himg, .state_dir = hst,
	                             .peer_fd = hchan[0], .block_size = BLOCK };
	if (fx->ops->open(&hc, &fx->b, &fx->err) < 0)
		fail_msg("helper backup diskrep: %s", fx->err.msg);
	b.d = fx->b;
	disk_channel_init(&b.dl, hchan[1]);
	stream_buf_init(&pre);
	assert_int_equal(stream_put_xl_header(&pre, json, sizeof(json)), 0);
	sc.preamble = stream_buf_flat(&pre);
	sc.preamble_len = stream_buf_size(&pre);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	sc.guest = g;
	sc.conn = l.pri.conn;
	sc.dr = fx->p;
	sc.disk_fd = chan[1];
	if (f != NULL)
		sc.fault = (struct ckpt_fault){ f, fault_hit };
	assert_int_equal(ckpt_stream_sender_new(&sc, &s, &err), 0);
	b.c = l.bak.conn;
	stream_buf_init(&rec->stream);
	assert_int_equal(pthread_create(&b.th, NULL, rec_backup_main, &b), 0);
	rc = ckpt_stream_sender_run(s, -1, max_epochs, &err);
	if (f != NULL) {
		if (rc != CKPT_ESTOPPED || f->fired != 1)
			fail_msg("%d '%s', want a stop at %s", rc, err.msg, f->point);
	} else if (rc != 0) {
		fail_msg("sender: %d %s", rc, err.msg);
	}
	shutdown(rnet_conn_fd(l.pri.conn), SHUT_WR);   /* the primary dies */
	pthread_join(b.th, NULL);
	ckpt_stream_sender_free(s);
	xen_hv_ops.destroy(g);
	disk_channel_free(&b.dl);
	fx->ops->close(fx->p);
	fx->ops->close(fx->b);
	fx->p = fx->b = NULL;
	close(chan[0]);
	close(chan[1]);
	close(hchan[0]);
	close(hchan[1]);
	fx->sv[0] = fx->sv[1] = -1;
	stream_buf_free(&pre);
	tlink_down(&l);
}

/* ---- the backup under test, from the recording -------------------------- */

static int receive(struct fx *fx, const struct recording *rec, struct fault_at *f, struct replayer *p,
                   struct hv_guest **g, struct ckpt_stats *st, struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct ckpt_stream_receiver_cfg rc = { .hv = &xen_hv_ops, .guest_cfg = &cfg,
	                                       .xl_header = true, .disk_channel = true };
	struct ckpt_stream_receiver *r = NULL;
	struct tlink l;
	int chan[2], rv;

	backup_host_setup(PAGES, DIRTY);
	tlink_up(&l);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, chan), 0);
	fx->sv[0] = chan[0];
	if (fx_open_backup(fx, BLOCK, 0) < 0)
		fail_msg("backup diskrep: %s", fx->err.msg);
	rc.conn = l.bak.conn;
	rc.dr_ops = fx->ops;
	rc.dr = fx->b;
	rc.disk_fd = chan[1];
	if (f != NULL)
		rc.fault = (struct ckpt_fault){ f, fault_hit };
	assert_int_equal(ckpt_stream_receiver_new(&rc, &r, err), 0);
	p->c = l.pri.conn;
	p->rec = rec;
	p->wait_ms = PEER_WAIT_MS;
	assert_int_equal(pthread_create(&p->th, NULL, replayer_main, p), 0);
	rv = ckpt_stream_receiver_run(r, -1, g, err);
	pthread_join(p->th, NULL);
	ckpt_stream_receiver_stats(r, st);
	ckpt_stream_receiver_free(r);
	fx->ops->close(fx->b);
	fx->b = NULL;
	close(chan[0]);
	close(chan[1]);
	fx->sv[0] = -1;
	tlink_down(&l);
	return rv;
}

/* The backup's image equals the primary's initial one plus epochs 1..k. */
static void assert_disk_at(struct fx *fx, const char *initial, uint64_t k)
{
	uint8_t *want = malloc(IMAGE), *got = malloc(IMAGE);

	expected_image(initial, k, want);
	fx_read(fx->bimg, got, IMAGE);
	for (uint64_t b = 0; b < NBLOCKS; b++)
		if (memcmp(want + b * BLOCK, got + b * BLOCK, BLOCK) != 0)
			fail_msg("block %llu of the replica's disk is not the primary's as of checkpoint "
			         "%llu", (unsigned long long)b, (unsigned long long)k);
	free(want);
	free(got);
}

/* The replica holds checkpoint k (acknowledged last) and its disk epoch k. */
static void assert_replica_at(struct fx *fx, const char *initial, const struct ckpt_stats *st,
                              struct hv_guest *g, uint64_t k)
{
	assert_int_equal(st->acked, k);
	assert_non_null(g);
	xen_hv_ops.destroy(g);
	assert_disk_at(fx, initial, k);
}

static void trial_end(struct fx *fx, struct recording *rec)
{
	rec_free(rec);
	fake_pages_off();
	fx->sv[0] = fx->sv[1] = open("/dev/null", O_RDONLY);   /* fx_fini closes them */
	fx_fini(fx);
}

/* A fixture: the primary's image (seed 1) and a different backup image
 * (seed 2), kept as "initial" copies for the expected contents. */
static void setup_disks(struct fx *fx, char *initial, size_t cap)
{
	fx_init(fx, IMAGE);
	fx_fill(fx->bimg, IMAGE, 2);
	snprintf(initial, cap, "%s/initial.img", fx->dir);
	fx_fill(initial, IMAGE, 1);
	close(fx->sv[0]);
	close(fx->sv[1]);
	fx->sv[0] = fx->sv[1] = -1;
}

static void sender_point(const char *point, uint64_t keep)
{
	struct fault_at f = { point, FAULT_EPOCH, 0 };
	struct replayer p = { .wait_upto = FAULT_EPOCH - 1 };
	struct recording rec = { 0 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	char initial[400];
	struct fx fx;
	uint64_t disk_frames = 0;
	int rc;

	setup_disks(&fx, initial, sizeof(initial));
	primary_run(&fx, &f, 0, &rec);
	/* the torn checkpoint's epoch had its writes made, and on the wire */
	assert_int_equal(gdisk.written, FAULT_EPOCH);
	for (size_t i = 0; i < rec.n; i++)
		disk_frames += rec.f[i].type == RNET_MSG_DISK;
	assert_true(disk_frames > 0);
	/* the backup's image is still its own (seed 2): replay onto it */
	rc = receive(&fx, &rec, NULL, &p, &g, &st, &err);
	if (rc != CKPT_EPEER)
		fail_msg("receiver: %d %s", rc, err.msg);
	assert_int_equal(fake.restore_checkpoints, keep);
	assert_replica_at(&fx, initial, &st, g, keep);
	trial_end(&fx, &rec);
}

/* Stopped at the pause of checkpoint 3: epoch 3's writes went out, its
 * marker never: the replica is checkpoint 2 and its disk epoch 2. */
static void test_disk_fault_paused(void **state)
{
	(void)state;
	sender_point("paused", FAULT_EPOCH - 1);
}

/* All of checkpoint 3 went out, no ACK came: replica and disk at 3. */
static void test_disk_fault_sent(void **state)
{
	(void)state;
	sender_point("sent", FAULT_EPOCH);
}

/* The backup stops at "applying" of checkpoint 3: epoch 3 is staged whole
 * but never committed; the replica's disk is at epoch 2. */
static void test_disk_fault_applying(void **state)
{
	struct fault_at f = { "applying", FAULT_EPOCH, 0 };
	struct replayer p = { .wait_upto = FAULT_EPOCH - 1 };
	struct recording rec = { 0 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct ckpt_stats st;
	char initial[400];
	struct fx fx;
	int rc;

	(void)state;
	setup_disks(&fx, initial, sizeof(initial));
	primary_run(&fx, NULL, FAULT_EPOCH + 1, &rec);
	rc = receive(&fx, &rec, &f, &p, &g, &st, &err);
	if (rc != CKPT_ESTOPPED || strstr(err.msg, "after checkpoint 2") == NULL)
		fail_msg("receiver: %d %s", rc, err.msg);
	assert_replica_at(&fx, initial, &st, g, FAULT_EPOCH - 1);
	trial_end(&fx, &rec);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_disk_fault_paused),
		cmocka_unit_test(test_disk_fault_sent),
		cmocka_unit_test(test_disk_fault_applying),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
