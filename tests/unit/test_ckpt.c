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

#include "ckpt/delta_impl.h"
#include "diskrep/diskrep.h"
#include "ckpt/pagehash_impl.h"
#include "ckpt_testlib.h"

/* Stop between CHECKPOINT and CHECKPOINT_END of checkpoint 6: the backup
 * holds exactly checkpoint 5, dropped 6, and the replica continues.  With
 * `cow`, the capture is copy-on-write and netbuf is on (see the cow test). */
static void partial_dropped_replica_continues(uint32_t compress, bool cow)
{
	struct rig r;
	struct ckpt_stats st;
	uint64_t replica;

	if (cow)
		rig_up_cow(&r, true, compress);
	else
		rig_up(&r, false, compress);
	r.stop_epoch = 6;
	r.stop_point = "sent-checkpoint";
	run_until_fault(&r);
	if (r.src != CKPT_ESTOPPED)
		fail_msg("sender: %s; receiver: %s", r.serr.msg, r.rerr.msg);
	if (cow)        /* a checkpoint holding the state page had it copied by a guest write */
		assert_true(r.cow_copied_writes >= 1);
	else
		assert_int_equal(r.rrc, CKPT_EPEER);
	ckpt_receiver_stats(r.rcv, &st);
	assert_int_equal(st.checkpoints, 5);
	assert_int_equal(st.discarded, 1);
	memcpy(&replica, ckpt_receiver_ram(r.rcv) + COUNTER_OFF, sizeof(replica));
	assert_int_equal(replica, r.counter_at[5]);
	failover_and_check(&r, r.counter_at[5]);
	rig_down(&r);
}

static void test_partial_dropped_replica_continues(void **state)
{
	(void)state;
	partial_dropped_replica_continues(RNET_COMPRESS_NONE, false);
}

/* Stop while paused at checkpoint 4 (nothing of 4 sent): 3 applied, none
 * discarded; output of unacknowledged epochs (4, 5) never left. */
static void test_netbuf_released_on_ack(void **state)
{
	struct rig r;
	struct ckpt_stats st;
	struct netbuf_stats ns;

	(void)state;
	rig_up(&r, true, RNET_COMPRESS_NONE);
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

/* The same with delta compression negotiated: pages go out as XOR runs
 * against the last sent copy and come back exact. */
static void test_delta_replica_continues(void **state)
{
	(void)state;
	partial_dropped_replica_continues(RNET_COMPRESS_DELTA, false);
}

/* Copy-on-write capture: the guest resumes before its pages are copied
 * and the counter guest writes its state page at once, so pages are
 * copied by its write faults during copy-out; the backup's replica must
 * still be exactly checkpoint 5 (the counter guest exits on any torn
 * state), netbuf frames leave only for applied epochs, and failover
 * continues from it. */
static void test_cow_capture_replica_continues(void **state)
{
	(void)state;
	partial_dropped_replica_continues(RNET_COMPRESS_NONE, true);
}

/* delta+zstd (the engine's XOR runs, then zstd frames): replica exact. */
static void test_delta_zstd_replica_continues(void **state)
{
	(void)state;
	partial_dropped_replica_continues(RNET_COMPRESS_DELTA_ZSTD, false);
}

/* Regression (issue 21): with compression = zlib the demo reported as many
 * bytes "on the wire" as stream bytes, because wire_bytes was counted
 * before rnet compressed.  The counter guest's pages are mostly zeros: on
 * the wire they must take far less than the stream bytes; with no
 * compression the wire carries the bytes plus frame headers. */
static void wire_bytes_case(uint32_t compress)
{
	struct rig r;
	struct ckpt_stats st;

	rig_up(&r, false, compress);
	r.stop_epoch = 4;
	r.stop_point = "paused";
	run_until_fault(&r);
	if (r.src != CKPT_ESTOPPED)
		fail_msg("sender: %s; receiver: %s", r.serr.msg, r.rerr.msg);
	ckpt_sender_stats(r.snd, &st);
	assert_true(st.bytes >= MEM);            /* the sync sent all of RAM */
	if (compress == RNET_COMPRESS_NONE) {
		assert_true(st.wire_bytes > st.bytes);
		assert_true(st.wire_bytes < st.bytes + st.bytes / 1000);
	} else {
		assert_true(st.wire_bytes > 0);
		assert_true(st.wire_bytes < st.bytes / 4);
	}
	failover_and_check(&r, r.counter_at[3]);
	rig_down(&r);
}

static void test_wire_bytes_zlib_counts_compressed(void **state)
{
	(void)state;
	wire_bytes_case(RNET_COMPRESS_ZLIB);
}

static void test_wire_bytes_zstd_counts_compressed(void **state)
{
	(void)state;
	wire_bytes_case(RNET_COMPRESS_ZSTD);
}

static void test_wire_bytes_plain_counts_headers(void **state)
{
	(void)state;
	wire_bytes_case(RNET_COMPRESS_NONE);
}

/* Delta codec: exact round trips (sparse, none, everything changed) and
 * malformed runs refused. */
static void test_delta_codec(void **state)
{
	static uint8_t old[4096], cur[4096], page[4096], enc[4096];
	struct remus_err err = { 0 };
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(old); i++)
		old[i] = cur[i] = (uint8_t)(i * 7);
	cur[0] ^= 1; cur[100] ^= 0xff; cur[101] ^= 2; cur[4095] ^= 9;
	for (size_t i = 2000; i < 2100; i++)
		cur[i] = 0;
	n = ckpt_delta_encode(old, cur, enc, sizeof(enc) - 64);
	assert_true(n > 0 && n < 200);
	memcpy(page, old, sizeof(page));
	assert_int_equal(ckpt_delta_decode(page, enc, n, &err), 0);
	assert_memory_equal(page, cur, sizeof(page));
	/* unchanged page: one run */
	n = ckpt_delta_encode(old, old, enc, sizeof(enc) - 64);
	assert_int_equal(n, 4);
	/* everything changed: not worth it */
	for (size_t i = 0; i < sizeof(cur); i++)
		cur[i] = (uint8_t)~old[i];
	assert_int_equal(ckpt_delta_encode(old, cur, enc, sizeof(enc) - 64), 0);
	/* runs past the page, trailing bytes, empty runs */
	enc[0] = 0x00; enc[1] = 0x10; enc[2] = 1; enc[3] = 0;
	assert_int_equal(ckpt_delta_decode(page, enc, 5, &err), CKPT_ESTREAM);
	enc[0] = 0; enc[1] = 0; enc[2] = 0; enc[3] = 0;
	assert_int_equal(ckpt_delta_decode(page, enc, 4, &err), CKPT_ESTREAM);
	enc[0] = 0x00; enc[1] = 0x10; enc[2] = 0; enc[3] = 0;
	assert_int_equal(ckpt_delta_decode(page, enc, 5, &err), CKPT_ESTREAM);
}

/* Xen-layout stream bytes straight into a receiver: a checkpoint is
 * applied only once its CHECKPOINT_END is in, and only whole. */
static void test_feed_applies_complete_checkpoints_only(void **state)
{
	/* the sample is a Xen guest's stream: pvm's own restore checks are
	 * left out here (the next test has them) */
	struct hv_ops no_validate = pvm_hv_ops;
	struct ckpt_receiver_cfg cfg = { .hv = &no_validate, .ram_bytes = 64 * 4096 };
	struct ckpt_receiver *r;
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	uint8_t buf[65536], zero[4096] = { 0 };
	FILE *f = fopen("tests/data/stream/two-checkpoints.bin", "rb");
	size_t n;

	(void)state;
	no_validate.validate_checkpoint = NULL;
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

/* A checkpoint the driver's restore would refuse (a Xen vCPU offered to
 * pvm) is never applied nor acknowledged: HV_EUNRESTORABLE, replica
 * untouched. */
static void test_unrestorable_checkpoint_not_applied(void **state)
{
	struct ckpt_receiver_cfg cfg = { .hv = &pvm_hv_ops, .ram_bytes = 64 * 4096 };
	struct ckpt_receiver *r;
	struct remus_err err = { 0 };
	struct ckpt_stats st;
	uint8_t buf[65536];
	FILE *f = fopen("tests/data/stream/two-checkpoints.bin", "rb");
	size_t n;

	(void)state;
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(ckpt_receiver_new(&cfg, &r, &err), 0);
	assert_int_equal(ckpt_receiver_feed(r, buf, n, &err), HV_EUNRESTORABLE);
	assert_non_null(strstr(err.msg, "checkpoint 1: checkpoint would not restore: hvm context"));
	ckpt_receiver_stats(r, &st);
	assert_int_equal(st.checkpoints, 0);
	/* checkpoint 1's pages are written in place as they arrive (the
	 * initial sync), so "not applied" means: no replica to fail over to */
	{
		struct hv_guest_config gcfg = { .name = "t", .mem_bytes = 64 * 4096, .console_fd = -1 };
		struct ckpt_failover_times t;
		struct hv_guest *g = NULL;
		assert_int_equal(ckpt_receiver_failover(r, &gcfg, &g, &t, &err), CKPT_ENOREPLICA);
		assert_null(g);
	}
	ckpt_receiver_free(r);
}

/* The backup's side of a hand-over (the real one is remusd's thread):
 * wait for the receiver to see BYE(HANDOVER), then restore and confirm,
 * or refuse, or restore and vanish before answering (link lost). */
enum answer { ACCEPT, REFUSE, VANISH };

struct backup_answer {
	struct rig *r;
	bool accept;
	bool vanish;
	struct hv_guest *g;             /* the restored guest */
	uint64_t replica;               /* its counter as handed over */
	int frc;
};

static void *backup_answer_main(void *arg)
{
	struct backup_answer *a = arg;
	struct ckpt_failover_times t;
	struct remus_err err = { 0 };

	pthread_join(a->r->rth, NULL);
	if (a->r->rrc != CKPT_HANDOVER)
		return NULL;
	memcpy(&a->replica, ckpt_receiver_ram(a->r->rcv) + COUNTER_OFF, sizeof(a->replica));
	if (a->accept)
		a->frc = ckpt_receiver_failover(a->r->rcv, &a->r->gcfg, &a->g, &t, &err);
	if (a->vanish) {
		shutdown(rnet_conn_fd(a->r->bak.conn), SHUT_RDWR);
		return NULL;
	}
	ckpt_receiver_confirm(a->r->rcv, a->accept && a->frc == 0, &err);
	return NULL;
}

/* Five protected epochs, then ckpt_sender_handover against a backup that
 * accepts or refuses; returns the sender's result. */
static int handover(struct rig *r, struct backup_answer *a, enum answer ans, bool with_netbuf)
{
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .interval_ms = 5 };
	pthread_t th;
	int rc;

	rig_up(r, with_netbuf, RNET_COMPRESS_NONE);
	sc.guest = r->g;
	sc.conn = r->pri.conn;
	sc.nb = with_netbuf ? &r->nb : NULL;
	sc.fault = (struct ckpt_fault){ r, rig_hook };
	r->stop_point = "never";
	memset(a, 0, sizeof(*a));
	a->r = r;
	a->accept = ans != REFUSE;
	a->vanish = ans == VANISH;
	assert_int_equal(ckpt_sender_new(&sc, &r->snd, &r->serr), 0);
	assert_int_equal(ckpt_sender_sync(r->snd, &r->serr), 0);
	assert_int_equal(ckpt_sender_run(r->snd, -1, 5, &r->serr), 0);
	assert_int_equal(pthread_create(&th, NULL, backup_answer_main, a), 0);
	rc = ckpt_sender_handover(r->snd, 10000, &r->serr);
	pthread_join(th, NULL);
	assert_int_equal(r->rrc, CKPT_HANDOVER);
	return rc;
}

/* Confirmed: the primary's copy stays paused and the replica holds exactly
 * its state; every epoch up to the final one was released. */
static void test_handover_confirmed(void **state)
{
	struct backup_answer a;
	struct ckpt_stats st;
	struct netbuf_stats ns;
	struct hv_info in;
	struct rig r;

	(void)state;
	if (handover(&r, &a, ACCEPT, true) != 0)
		fail_msg("handover: %s", r.serr.msg);
	assert_int_equal(a.frc, 0);
	pvm_hv_ops.info(r.g, &in);
	assert_int_equal(in.state, HV_PAUSED);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, st.epoch);
	/* the paused copy never ran after the final checkpoint, which the
	 * replica holds exactly */
	assert_int_equal(pt_peek(r.g, COUNTER_OFF), r.counter_at[st.epoch]);
	assert_int_equal(a.replica, r.counter_at[st.epoch]);
	/* the rig's frame handed in while paused at E belongs to E+1: all
	 * epochs up to the final one left, only the final pause's frame is held */
	netbuf_get_stats(&r.nb, &ns);
	assert_int_equal(r.frames_out, st.epoch - 1);
	assert_int_equal(ns.held_packets, 1);
	pvm_hv_ops.destroy(r.g);
	r.g = a.g;                      /* the replica runs on */
	pvm_hv_ops.info(r.g, &in);
	assert_int_equal(in.state, HV_RUNNING);
	rig_down(&r);
}

/* Refused: cancelled in finish, the primary's guest runs again (its held
 * output is released, so the rig's per-pause frames are left out). */
static void test_handover_refused_resumes(void **state)
{
	struct backup_answer a;
	struct hv_info in;
	struct rig r;

	(void)state;
	assert_int_equal(handover(&r, &a, REFUSE, false), CKPT_EPEER);
	assert_non_null(strstr(r.serr.msg, "cancelled in finish"));
	assert_non_null(strstr(r.serr.msg, "refused"));
	pvm_hv_ops.info(r.g, &in);
	assert_int_equal(in.state, HV_RUNNING);
	rig_down(&r);
}

/* The backup took checkpoint N and runs it, but the link dies before its
 * confirmation: in doubt — the primary's copy stays paused (it never runs
 * again by itself) and the output it emitted after N stays held. */
static void test_handover_link_lost_in_doubt(void **state)
{
	struct backup_answer a;
	struct ckpt_stats st;
	struct netbuf_stats ns;
	struct hv_info in;
	struct rig r;

	(void)state;
	assert_int_equal(handover(&r, &a, VANISH, true), CKPT_EINDOUBT);
	assert_non_null(strstr(r.serr.msg, "in doubt"));
	assert_null(strstr(r.serr.msg, "resumed"));
	assert_int_equal(a.frc, 0);
	pvm_hv_ops.info(r.g, &in);
	assert_int_equal(in.state, HV_PAUSED);
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, st.epoch);
	assert_int_equal(pt_peek(r.g, COUNTER_OFF), r.counter_at[st.epoch]);
	netbuf_get_stats(&r.nb, &ns);
	assert_int_equal(r.frames_out, st.epoch - 1);
	assert_int_equal(ns.held_packets, 1);
	/* exactly one copy runs: the backup's */
	pvm_hv_ops.info(a.g, &in);
	assert_int_equal(in.state, HV_RUNNING);
	pvm_hv_ops.destroy(r.g);
	r.g = a.g;
	rig_down(&r);
}

/* Cut the link at "final-acked": the backup holds the final checkpoint N
 * but never gets BYE(HANDOVER); other points as the rig's hook. */
static int cut_at_final_ack(void *arg, const char *point, uint64_t epoch)
{
	struct rig *r = arg;

	if (strcmp(point, "final-acked") == 0) {
		shutdown(rnet_conn_fd(r->pri.conn), SHUT_RDWR);
		return 0;
	}
	return rig_hook(arg, point, epoch);
}

/* Link lost between the final ACK and BYE(HANDOVER): in doubt, not
 * cancelled — the backup, seeing the link die while it holds N, fails over
 * by itself from exactly N, so resuming here would make two copies. */
static void test_handover_link_lost_after_final_ack(void **state)
{
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .interval_ms = 5 };
	struct netbuf_stats ns;
	struct ckpt_stats st;
	struct hv_info in;
	struct rig r;

	(void)state;
	rig_up(&r, true, RNET_COMPRESS_NONE);
	sc.guest = r.g;
	sc.conn = r.pri.conn;
	sc.nb = &r.nb;
	sc.fault = (struct ckpt_fault){ &r, cut_at_final_ack };
	r.stop_point = "never";
	assert_int_equal(ckpt_sender_new(&sc, &r.snd, &r.serr), 0);
	assert_int_equal(ckpt_sender_sync(r.snd, &r.serr), 0);
	assert_int_equal(ckpt_sender_run(r.snd, -1, 5, &r.serr), 0);
	assert_int_equal(ckpt_sender_handover(r.snd, 10000, &r.serr), CKPT_EINDOUBT);
	assert_non_null(strstr(r.serr.msg, "in doubt"));
	pthread_join(r.rth, NULL);
	assert_int_equal(r.rrc, CKPT_EPEER);        /* link lost, no hand-over seen */
	ckpt_sender_stats(r.snd, &st);
	assert_int_equal(st.acked, st.epoch);
	pvm_hv_ops.info(r.g, &in);
	assert_int_equal(in.state, HV_PAUSED);
	assert_int_equal(pt_peek(r.g, COUNTER_OFF), r.counter_at[st.epoch]);
	netbuf_get_stats(&r.nb, &ns);
	assert_int_equal(ns.held_packets, 1);       /* output after N never left */
	pvm_hv_ops.destroy(r.g);
	r.g = NULL;
	failover_and_check(&r, r.counter_at[st.epoch]);
	rig_down(&r);
}

/* Blackhole (unsafe = blackhole): no link at all; each checkpoint is
 * taken, encoded, counted and dropped, and counts as acknowledged at
 * once, so netbuf releases every epoch right after its checkpoint. */
static int count_out(void *arg, const void *frame, size_t len)
{
	(void)frame;
	(void)len;
	(*(uint64_t *)arg)++;
	return 0;
}

static int bh_hook(void *arg, const char *point, uint64_t epoch)
{
	uint8_t frame[64] = { 0 };

	(void)epoch;
	if (strcmp(point, "paused") == 0)   /* one guest frame per epoch */
		assert_int_equal(netbuf_guest_tx(arg, frame, sizeof(frame)), 0);
	return 0;
}

static void test_blackhole_run(void **state)
{
	struct netbuf nb = { 0 };
	uint64_t out = 0;
	struct netbuf_config nc = { .backend = "inline", .tag = "ckpt-bh", .first_epoch = 1,
	                            .tx_fd = -1, .tx = count_out, .tx_arg = &out };
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .interval_ms = 5, .blackhole = true,
	                              .nb = &nb, .fault = { &nb, bh_hook } };
	struct hv_guest_config gcfg;
	struct remus_err err = { 0 };
	struct ckpt_sender *snd = NULL;
	struct netbuf_stats ns;
	struct ckpt_stats st;

	(void)state;
	pt_config(&gcfg, "ckpt-bh", "counter", MEM, -1);
	sc.guest = pt_boot(&gcfg);
	assert_int_equal(netbuf_open(&nb, &nc), 0);
	sc.dr = diskrep_backend("builtin");     /* a disk needs a backup */
	assert_int_equal(ckpt_sender_new(&sc, &snd, &err), CKPT_ECONFIG);
	assert_non_null(strstr(err.msg, "blackhole has no backup"));
	sc.dr = NULL;
	assert_int_equal(ckpt_sender_new(&sc, &snd, &err), 0);
	assert_int_equal(ckpt_sender_sync(snd, &err), 0);
	assert_int_equal(ckpt_sender_run(snd, -1, 6, &err), 0);
	ckpt_sender_stats(snd, &st);
	assert_true(st.epoch >= 6);
	assert_int_equal(st.acked, st.epoch);
	assert_int_equal(st.checkpoints, st.epoch);
	assert_true(st.bytes > MEM / 2);         /* the whole RAM was encoded */
	netbuf_get_stats(&nb, &ns);
	assert_int_equal(ns.released_packets, out);
	assert_true(out >= st.epoch - 1);        /* all but the open epoch's */
	assert_true(ns.held_packets <= 1);
	assert_int_equal(ckpt_sender_handover(snd, 1000, &err), CKPT_ENOREPLICA);
	assert_true(ckpt_sender_set_compress(snd, RNET_COMPRESS_NONE, &err) < 0);
	assert_int_equal(ckpt_sender_set_interval(snd, 7, &err), 0);
	ckpt_sender_free(snd);
	pvm_hv_ops.destroy(sc.guest);
	netbuf_close(&nb);
}

/* The primary's decoder of page-hash offers: chunks in order cover the
 * guest's pages exactly; anything else is refused with the reason. */
static void test_pagehash_offer_decoder(void **state)
{
	uint64_t h[4] = { 11, 22, 33, 44 };
	uint8_t b[CKPH_HDR_LEN + 8 * 4];
	struct pagehash_offer o = { .nr_pfns = 4 };
	struct remus_err err = { 0 };
	size_t n;
	(void)state;

	n = pagehash_encode(b, 0, h, 2, false);
	assert_int_equal(pagehash_take(&o, b, n, &err), 0);
	assert_false(o.done);
	n = pagehash_encode(b, 1, h, 1, false);               /* overlaps: out of order */
	assert_int_equal(pagehash_take(&o, b, n, &err), CKPT_ESTREAM);
	n = pagehash_encode(b, 2, h + 2, 2, true);
	assert_int_equal(pagehash_take(&o, b, n - 1, &err), CKPT_ESTREAM);   /* short */
	assert_int_equal(pagehash_take(&o, b, n, &err), 0);
	assert_true(o.done && o.have);
	assert_int_equal(o.hash[3], 44);
	assert_int_equal(pagehash_take(&o, b, n, &err), CKPT_ESTREAM);       /* after the last */
	pagehash_free(&o);

	o = (struct pagehash_offer){ .nr_pfns = 4 };
	n = pagehash_encode(b, 0, h, 3, true);                /* ends short of the guest */
	assert_int_equal(pagehash_take(&o, b, n, &err), CKPT_ESTREAM);
	assert_non_null(strstr(err.msg, "ends at pfn 3 of 4"));
	pagehash_free(&o);
	o = (struct pagehash_offer){ .nr_pfns = 2 };
	n = pagehash_encode(b, 0, h, 3, true);                /* beyond the guest */
	assert_int_equal(pagehash_take(&o, b, n, &err), CKPT_ESTREAM);
	pagehash_free(&o);
	o = (struct pagehash_offer){ .nr_pfns = 4 };
	n = pagehash_encode(b, 0, NULL, 0, true);             /* no replica */
	assert_int_equal(pagehash_take(&o, b, n, &err), 0);
	assert_true(o.done);
	assert_false(o.have);
	pagehash_free(&o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partial_dropped_replica_continues),
		cmocka_unit_test(test_netbuf_released_on_ack),
		cmocka_unit_test(test_feed_applies_complete_checkpoints_only),
		cmocka_unit_test(test_unrestorable_checkpoint_not_applied),
		cmocka_unit_test(test_delta_replica_continues),
		cmocka_unit_test(test_delta_codec),
		cmocka_unit_test(test_delta_zstd_replica_continues),
		cmocka_unit_test(test_cow_capture_replica_continues),
		cmocka_unit_test(test_wire_bytes_zlib_counts_compressed),
		cmocka_unit_test(test_wire_bytes_zstd_counts_compressed),
		cmocka_unit_test(test_wire_bytes_plain_counts_headers),
		cmocka_unit_test(test_handover_confirmed),
		cmocka_unit_test(test_handover_refused_resumes),
		cmocka_unit_test(test_handover_link_lost_in_doubt),
		cmocka_unit_test(test_handover_link_lost_after_final_ack),
		cmocka_unit_test(test_blackhole_run),
		cmocka_unit_test(test_pagehash_offer_decoder),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
