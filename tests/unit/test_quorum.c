/*
 * Quorum (remusd/quorum.h): the verdicts on a lost peer walked over every
 * cluster answer, the view the loop writes and the sessions read, the
 * `none` backend, and a fake backend fed through the ops table the way the
 * loop feeds corosync's answers (pollfds, poll, dispatch, view).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/quorum.h"

static struct remusd_quorum_state qs(bool known, bool quorate, bool peer)
{
	return (struct remusd_quorum_state){ .known = known, .quorate = quorate,
	                                     .peer_present = peer, .total_votes = quorate ? 2 : 1,
	                                     .expected_votes = 3, .quorum = 2,
	                                     .members = peer ? 3 : 1 };
}

/* Backup: fails over only quorate with the primary's daemon gone; waits
 * without quorum whatever it sees; a primary still present is waited for
 * until settled, then left to carry on. */
static void test_backup_verdicts(void **state)
{
	static const struct {
		bool known, quorate, peer, settled;
		enum remusd_backup_verdict want;
	} t[] = {
		{ false, false, false, false, QV_B_WAIT_QUORUM },
		{ false, true, false, true, QV_B_WAIT_QUORUM },   /* unknown is not quorate */
		{ true, false, false, false, QV_B_WAIT_QUORUM },
		{ true, false, false, true, QV_B_WAIT_QUORUM },
		{ true, false, true, true, QV_B_WAIT_QUORUM },
		{ true, true, false, false, QV_B_FAIL_OVER },
		{ true, true, false, true, QV_B_FAIL_OVER },
		{ true, true, true, false, QV_B_WAIT_SETTLE },
		{ true, true, true, true, QV_B_PEER_ALIVE },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct remusd_quorum_state st = qs(t[i].known, t[i].quorate, t[i].peer);
		if (remusd_quorum_backup_verdict(&st, t[i].settled) != t[i].want)
			fail_msg("row %zu: got %d want %d", i,
			         remusd_quorum_backup_verdict(&st, t[i].settled), t[i].want);
	}
	/* with a quorum device, the peer's absence waits for the settle time
	 * (the device's vote of the old membership may still be counted) */
	struct remusd_quorum_state st = qs(true, true, false);
	st.qdevice = st.qdevice_alive = true;
	assert_int_equal(remusd_quorum_backup_verdict(&st, false), QV_B_WAIT_SETTLE);
	assert_int_equal(remusd_quorum_backup_verdict(&st, true), QV_B_FAIL_OVER);
	st.quorate = false;
	assert_int_equal(remusd_quorum_backup_verdict(&st, true), QV_B_WAIT_QUORUM);
}

/* Primary: nothing before the settle time, even when quorate (a host just
 * isolated is still quorate until its token times out); then quorate
 * carries on, anything else fences. */
static void test_primary_verdicts(void **state)
{
	(void)state;
	for (int k = 0; k < 2; k++)
		for (int q = 0; q < 2; q++)
			for (int p = 0; p < 2; p++) {
				struct remusd_quorum_state st = qs(k, q, p);
				assert_int_equal(remusd_quorum_primary_verdict(&st, false), QV_P_WAIT);
				assert_int_equal(remusd_quorum_primary_verdict(&st, true),
				                 k && q ? QV_P_CARRY_ON : QV_P_FENCE);
			}
}

/* The two verdicts never both let a copy run: whatever one partition
 * sees, a quorate backup that fails over and a primary that carries on
 * would need two quorate partitions (impossible) or a primary that sees
 * its quorate partition without the backup that sees it absent. */
static void test_never_two_copies_same_view(void **state)
{
	(void)state;
	for (int q = 0; q < 2; q++)
		for (int p = 0; p < 2; p++) {
			struct remusd_quorum_state st = qs(true, q, p);
			/* one partition's view, settled: the backup's and the
			 * primary's verdicts in it (peer: the other one's daemon) */
			bool b = remusd_quorum_backup_verdict(&st, true) == QV_B_FAIL_OVER;
			bool a = remusd_quorum_primary_verdict(&st, true) == QV_P_CARRY_ON;
			/* the backup fails over only where the primary is absent */
			if (b)
				assert_false(p);
			/* a quorate primary carries on; only one partition is quorate */
			assert_int_equal(a, q);
		}
}

/* remusctl failover: refused while receiving, and while not quorate, each
 * with a reason; --force passes everything; quorum = none only the first. */
static void test_failover_refusal(void **state)
{
	struct remusd_quorum_state yes = qs(true, true, false), no = qs(true, false, false);
	struct remus_err err = { 0 };

	(void)state;
	assert_int_equal(remusd_quorum_failover_refusal(&yes, true, false, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "answers heartbeats"));
	assert_int_equal(remusd_quorum_failover_refusal(&no, false, false, &err), -EPERM);
	assert_non_null(strstr(err.msg, "not quorate"));
	assert_int_equal(remusd_quorum_failover_refusal(NULL, true, false, &err), -EBUSY);
	assert_int_equal(remusd_quorum_failover_refusal(&yes, false, false, &err), 0);
	assert_int_equal(remusd_quorum_failover_refusal(NULL, false, false, &err), 0);
	assert_int_equal(remusd_quorum_failover_refusal(&no, true, true, &err), 0);
}

/* The view reports a change of quorum or of the peer only; readers get
 * the last word. */
static void test_view_changes(void **state)
{
	struct remusd_quorum_view v;
	struct remusd_quorum_state st = qs(true, true, true), got;
	char text[192];

	(void)state;
	remusd_quorum_view_init(&v, "fake", 1234);
	assert_int_equal(v.settle_ms, 1234);
	remusd_quorum_view_get(&v, &got);
	assert_false(got.known);
	assert_true(remusd_quorum_view_set(&v, &st));
	st.total_votes = 3;
	assert_false(remusd_quorum_view_set(&v, &st));     /* votes alone: no news */
	remusd_quorum_view_get(&v, &got);
	assert_int_equal(got.total_votes, 3);
	st.peer_present = false;
	assert_true(remusd_quorum_view_set(&v, &st));
	st.quorate = false;
	assert_true(remusd_quorum_view_set(&v, &st));
	remusd_quorum_describe(&st, text, sizeof(text));
	assert_non_null(strstr(text, "NOT quorate"));
	assert_non_null(strstr(text, "peer's remusd absent"));
	remusd_quorum_describe(&(struct remusd_quorum_state){ 0 }, text, sizeof(text));
	assert_non_null(strstr(text, "unknown"));
	remusd_quorum_view_destroy(&v);
}

/* The view stamps when the cluster's answer last changed (quorum, the
 * peer, votes, members, the witness): what a verdict with a quorum device
 * waits on; an unchanged answer keeps its stamp, whatever the writer put
 * in the field.  A witness lost or back is news (logged). */
static void test_view_stable_since(void **state)
{
	struct remusd_quorum_view v;
	struct remusd_quorum_state st = qs(true, true, true), got;
	uint64_t since;

	(void)state;
	remusd_quorum_view_init(&v, "fake", 1000);
	st.qdevice = st.qdevice_alive = true;
	st.total_votes = 3;
	assert_true(remusd_quorum_view_set(&v, &st));
	remusd_quorum_view_get(&v, &got);
	since = got.stable_since_ms;
	assert_true(since != 0);
	st.stable_since_ms = 1;                           /* ignored: the view stamps */
	assert_false(remusd_quorum_view_set(&v, &st));
	remusd_quorum_view_get(&v, &got);
	assert_int_equal(got.stable_since_ms, since);
	v.st.stable_since_ms = 0;                         /* to see the next stamp */
	st.total_votes = 2;                               /* the witness's vote gone */
	assert_false(remusd_quorum_view_set(&v, &st));
	remusd_quorum_view_get(&v, &got);
	assert_true(got.stable_since_ms != 0);
	v.st.stable_since_ms = 0;
	st.qdevice_alive = false;
	assert_true(remusd_quorum_view_set(&v, &st));     /* witness lost: logged */
	remusd_quorum_view_get(&v, &got);
	assert_true(got.stable_since_ms != 0);
	v.st.stable_since_ms = 0;
	st.members = 1;
	assert_false(remusd_quorum_view_set(&v, &st));
	remusd_quorum_view_get(&v, &got);
	assert_true(got.stable_since_ms != 0);
	remusd_quorum_view_destroy(&v);
}

/* quorum = none: no fd, always "quorate" (today's behaviour). */
static void test_none_backend(void **state)
{
	const struct quorum_ops *ops = remusd_quorum_ops(REMUSD_QUORUM_NONE);
	struct quorum_backend *qb = (void *)1;
	struct remusd_quorum_state st = { 0 };
	struct remus_err err = { 0 };
	struct pollfd p[4];

	(void)state;
	assert_string_equal(ops->name, "none");
	assert_string_equal(remusd_quorum_name(REMUSD_QUORUM_COROSYNC), "corosync");
	assert_int_equal(ops->open(&qb, &err), 0);
	assert_int_equal(ops->pollfds(qb, p, 4), 0);
	assert_int_equal(ops->dispatch(qb, NULL, &st, &err), 0);
	assert_true(st.known && st.quorate);
	ops->close(qb);
}

/* A fake cluster: each byte written to its pipe is one answer
 * (bit 0 quorate, bit 1 peer present, 0xff: corosync gone). */
struct quorum_backend {
	int pipe[2];
};

static int fake_open(struct quorum_backend **out, struct remus_err *err)
{
	struct quorum_backend *q = calloc(1, sizeof(*q));

	if (q == NULL || pipe(q->pipe) < 0) {
		free(q);
		return remus_err_set(err, -ENOMEM, "fake");
	}
	*out = q;
	return 0;
}

static unsigned fake_pollfds(struct quorum_backend *q, struct pollfd *pfd, unsigned max)
{
	if (max < 1)
		return 0;
	pfd[0] = (struct pollfd){ q->pipe[0], POLLIN, 0 };
	return 1;
}

static int fake_dispatch(struct quorum_backend *q, const struct pollfd *pfd,
                         struct remusd_quorum_state *st, struct remus_err *err)
{
	unsigned char b;

	if (!(pfd[0].revents & POLLIN) || read(q->pipe[0], &b, 1) != 1)
		return 0;
	if (b == 0xff) {
		*st = qs(true, false, false);
		return remus_err_set(err, -EIO, "gone");
	}
	*st = qs(true, b & 1, (b & 2) != 0);
	st->changes++;
	return 0;
}

static void fake_close(struct quorum_backend *q)
{
	close(q->pipe[0]);
	close(q->pipe[1]);
	free(q);
}

static const struct quorum_ops fake_ops = {
	.name = "fake", .open = fake_open, .pollfds = fake_pollfds, .dispatch = fake_dispatch,
	.close = fake_close,    /* no group messages */
};

/* One loop round as remusd's: poll the backend's fds, dispatch, update. */
static bool loop_round(const struct quorum_ops *ops, struct quorum_backend *qb,
                       struct remusd_quorum_state *st, struct remusd_quorum_view *v, int *rc)
{
	struct pollfd p[4];
	unsigned n = ops->pollfds(qb, p, 4);
	struct remus_err err = { 0 };

	assert_int_equal(poll(p, n, 1000), 1);
	*rc = ops->dispatch(qb, p, st, &err);
	return remusd_quorum_view_set(v, st);
}

/* The sequence of an isolated primary seen from the backup: quorate with
 * the primary, quorate without it (fail over), then the partition heals. */
static void test_fake_backend_through_the_loop(void **state)
{
	struct quorum_backend *qb;
	struct remusd_quorum_view v;
	struct remusd_quorum_state st = { 0 }, got;
	struct remus_err err = { 0 };
	int rc;

	(void)state;
	remusd_quorum_view_init(&v, fake_ops.name, 0);
	assert_int_equal(fake_ops.open(&qb, &err), 0);
	assert_int_equal(write(qb->pipe[1], "\x03\x01\x00\xff", 4), 4);
	assert_true(loop_round(&fake_ops, qb, &st, &v, &rc));
	remusd_quorum_view_get(&v, &got);
	assert_int_equal(remusd_quorum_backup_verdict(&got, false), QV_B_WAIT_SETTLE);
	assert_true(loop_round(&fake_ops, qb, &st, &v, &rc));
	remusd_quorum_view_get(&v, &got);
	assert_int_equal(remusd_quorum_backup_verdict(&got, false), QV_B_FAIL_OVER);
	assert_true(loop_round(&fake_ops, qb, &st, &v, &rc));
	remusd_quorum_view_get(&v, &got);
	assert_int_equal(remusd_quorum_backup_verdict(&got, true), QV_B_WAIT_QUORUM);
	assert_int_equal(remusd_quorum_primary_verdict(&got, true), QV_P_FENCE);
	/* corosync gone: not quorate, said as an error */
	assert_false(loop_round(&fake_ops, qb, &st, &v, &rc));
	assert_int_equal(rc, -EIO);
	remusd_quorum_view_get(&v, &got);
	assert_false(got.quorate);
	fake_ops.close(qb);
	remusd_quorum_view_destroy(&v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_verdicts),
		cmocka_unit_test(test_primary_verdicts),
		cmocka_unit_test(test_never_two_copies_same_view),
		cmocka_unit_test(test_failover_refusal),
		cmocka_unit_test(test_view_changes),
		cmocka_unit_test(test_view_stable_since),
		cmocka_unit_test(test_none_backend),
		cmocka_unit_test(test_fake_backend_through_the_loop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
