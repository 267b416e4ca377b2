/*
 * The guest's store carried in every checkpoint (sender and receiver with
 * cfg.xenstore, pvm's store): the tools write the epoch's number into the
 * store at each pause, the test keeps the store as saved at each pause,
 * and the primary is stopped at a fault point of checkpoint K:
 *  - "store-saved" (the store quiesced and saved, nothing of K sent) and
 *    "sent-checkpoint" (K's CHECKPOINT on the wire, not its CHECKPOINT_END):
 *    the replica's store is exactly checkpoint K-1's;
 *  - "sent" (all of K on the wire): exactly checkpoint K's.
 * The last trial proves the comparison can fail.  And a checkpoint whose
 * store record would not load is refused whole.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "ckpt/ckpt.h"
#include "hv/pvm/pvm.h"
#include "tests/unit/pvm_testlib.h"
#include "tests/unit/test_net_util.h"

#define MEM     (16u << 20)
#define EPOCHS  12
#define STOP_AT 6

struct trial {
	struct tlink l;
	struct hv_guest_config gcfg;
	struct hv_guest *g;
	struct ckpt_receiver *rcv;
	struct hv_blob saved[EPOCHS + 1];   /* the store as saved at each pause */
	const char *stop_point;
	int rrc;
	struct remus_err rerr;
};

static void tools_write(struct hv_guest *g, const char *path, const char *v)
{
	struct hv_store_req q = { HV_STORE_WRITE, path, strlen(path), v, strlen(v) };
	struct hv_blob out = { 0 };
	struct remus_err err = { 0 };

	assert_int_equal(pvm_hv_ops.store_request(g, &q, &out, &err), 0);
	hv_blob_free(&out);
}

static int hook(void *arg, const char *point, uint64_t epoch)
{
	struct trial *t = arg;
	struct remus_err err = { 0 };
	char v[32];

	if (epoch > EPOCHS)
		return 1;
	if (strcmp(point, "paused") == 0) {
		snprintf(v, sizeof(v), "%llu", (unsigned long long)epoch);
		tools_write(t->g, "/local/domain/1/epoch", v);
		tools_write(t->g, v[1] ? "data/b" : "data/a", v);    /* the tree changes too */
	}
	if (strcmp(point, "store-saved") == 0)
		assert_int_equal(pvm_hv_ops.store_save(t->g, &t->saved[epoch], &err), 0);
	return epoch == STOP_AT && strcmp(point, t->stop_point) == 0;
}

static void *receiver_main(void *arg)
{
	struct trial *t = arg;

	t->rrc = ckpt_receiver_run(t->rcv, -1, &t->rerr);
	/* the backup's run ended (a refused checkpoint ends it before the
	 * primary does): its end of the link goes, as when its process ends,
	 * so the primary learns it at once and not by an ACK timeout */
	shutdown(rnet_conn_fd(t->l.bak.conn), SHUT_RDWR);
	return NULL;
}

/* A driver whose store of checkpoint STOP_AT is corrupted on the way, in a
 * way only the store's own checks see (the root's owner becomes domain 5,
 * which the record format allows): the backup must refuse that checkpoint
 * whole. */
static uint64_t store_saves;
static int bad_store_save(struct hv_guest *g, struct hv_blob *out, struct remus_err *err)
{
	int rc = pvm_hv_ops.store_save(g, out, err);

	/* body: flags, count, then "/"'s entry: kind, length, 4 sizes, "/", perm 0 */
	if (rc == 0 && ++store_saves == STOP_AT)
		out->data[8 + 8 + 16 + 1] = 5;
	return rc;
}

static void run_trial_with(const struct hv_ops *hv, const char *point, uint64_t expect)
{
	struct trial t = { .stop_point = point };
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .ram_bytes = MEM, .xenstore = true };
	struct ckpt_sender *snd = NULL;
	struct ckpt_failover_times ft;
	struct remus_err err = { 0 };
	struct hv_store_req q = { HV_STORE_READ, "/local/domain/1/epoch", 21, NULL, 0 };
	struct hv_blob now = { 0 }, val = { 0 };
	pthread_t th;
	char want[32];
	int rc2;

	tlink_up(&t.l);
	pt_config(&t.gcfg, "ckpt-store", "counter", MEM, -1);
	t.g = pt_boot(&t.gcfg);
	rc.conn = t.l.bak.conn;
	assert_int_equal(ckpt_receiver_new(&rc, &t.rcv, &err), 0);
	assert_int_equal(pthread_create(&th, NULL, receiver_main, &t), 0);

	struct ckpt_sender_cfg sc = { .hv = hv, .guest = t.g, .conn = t.l.pri.conn,
	                              .interval_ms = 5, .ack_timeout_ms = 30000, .xenstore = true,
	                              .fault = { &t, hook } };
	assert_int_equal(ckpt_sender_new(&sc, &snd, &err), 0);
	rc2 = ckpt_sender_sync(snd, &err);
	if (rc2 == 0)
		rc2 = ckpt_sender_run(snd, -1, 0, &err);
	if (hv == &pvm_hv_ops) {
		assert_int_equal(rc2, CKPT_ESTOPPED);
		assert_non_null(strstr(err.msg, point));
	} else {        /* no ACK for the refused checkpoint: the backup counts as lost */
		assert_int_equal(rc2, CKPT_EPEER);
	}
	/* the primary dies: its guest and its end of the link go */
	pvm_hv_ops.destroy(t.g);
	t.g = NULL;
	shutdown(rnet_conn_fd(t.l.pri.conn), SHUT_WR);
	pthread_join(th, NULL);

	if (hv != &pvm_hv_ops) {
		assert_int_equal(t.rrc, HV_EUNRESTORABLE);
		if (strstr(t.rerr.msg, "guest store: store record: node /: store: permission entry 0 "
		                       "names unknown domain 5") == NULL)
			fail_msg("receiver: %s", t.rerr.msg);
	}
	assert_int_equal(ckpt_receiver_failover(t.rcv, &t.gcfg, &t.g, &ft, &err), 0);
	assert_int_equal(ft.checkpoint, expect);
	/* the replica's store is the checkpoint's, byte for byte */
	assert_int_equal(pvm_hv_ops.suspend(t.g, &err), 0);
	assert_int_equal(pvm_hv_ops.store_save(t.g, &now, &err), 0);
	assert_int_equal(pvm_hv_ops.resume(t.g, &err), 0);
	assert_int_equal(now.len, t.saved[expect].len);
	assert_memory_equal(now.data, t.saved[expect].data, now.len);
	assert_int_not_equal(now.len, 0);
	/* and the tools see its value */
	assert_int_equal(pvm_hv_ops.store_request(t.g, &q, &val, &err), 0);
	snprintf(want, sizeof(want), "%llu", (unsigned long long)expect);
	assert_int_equal(val.len, strlen(want));
	assert_memory_equal(val.data, want, val.len);

	pvm_hv_ops.destroy(t.g);
	ckpt_sender_free(snd);
	ckpt_receiver_free(t.rcv);
	for (int i = 0; i <= EPOCHS; i++)
		hv_blob_free(&t.saved[i]);
	hv_blob_free(&now);
	hv_blob_free(&val);
	tlink_down(&t.l);
}

static void run_trial(const char *point, uint64_t expect)
{
	run_trial_with(&pvm_hv_ops, point, expect);
}

/* A store record that would not load: checkpoint STOP_AT refused whole
 * (HV_EUNRESTORABLE, not acknowledged), the replica stays at STOP_AT - 1. */
static void test_bad_store_refuses_checkpoint(void **state)
{
	struct hv_ops bad = pvm_hv_ops;
	(void)state;

	bad.store_save = bad_store_save;
	store_saves = 0;
	run_trial_with(&bad, "none", STOP_AT - 1);
}

static void test_stopped_after_store_saved(void **state)
{
	(void)state;
	run_trial("store-saved", STOP_AT - 1);
}

static void test_stopped_before_checkpoint_end(void **state)
{
	(void)state;
	run_trial("sent-checkpoint", STOP_AT - 1);
}

static void test_stopped_after_complete_checkpoint(void **state)
{
	(void)state;
	run_trial("sent", STOP_AT);
}

/* The sender refuses a driver that keeps no store. */
static void test_config_refusals(void **state)
{
	struct hv_ops nostore = pvm_hv_ops;
	struct ckpt_sender_cfg sc = { .hv = &nostore, .guest = (struct hv_guest *)1, .blackhole = true,
	                              .xenstore = true };
	struct ckpt_sender *snd;
	struct remus_err err = { 0 };
	(void)state;

	nostore.store_save = NULL;
	assert_int_equal(ckpt_sender_new(&sc, &snd, &err), CKPT_ECONFIG);
	assert_non_null(strstr(err.msg, "keeps no guest store"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stopped_after_store_saved),
		cmocka_unit_test(test_stopped_before_checkpoint_end),
		cmocka_unit_test(test_stopped_after_complete_checkpoint),
		cmocka_unit_test(test_bad_store_refuses_checkpoint),
		cmocka_unit_test(test_config_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
