/*
 * remusd's session state machine: every (role, state, event) is walked;
 * the moves listed here (the table of docs/engine.md, written out again
 * as the specification) are allowed and go where they say, every other
 * one is refused.  The printed state names are the ones status, remusctl,
 * metrics and the tests read: they stay as they are.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "remusd/session_fsm.h"

struct allowed { bool primary; enum remusd_state from; enum remusd_event ev; enum remusd_state to; };

static const struct allowed spec[] = {
	/* primary */
	{ true, RS_IDLE, SE_START, RS_IDLE },
	{ true, RS_UNPROTECTED, SE_START, RS_IDLE },
	{ true, RS_STOPPED, SE_START, RS_IDLE },
	{ true, RS_FAILED, SE_START, RS_IDLE },
	{ true, RS_IDLE, SE_PROTECT, RS_SYNCING },
	{ true, RS_UNPROTECTED, SE_PROTECT, RS_SYNCING },
	{ true, RS_STOPPED, SE_PROTECT, RS_SYNCING },
	{ true, RS_FAILED, SE_PROTECT, RS_SYNCING },
	{ true, RS_ACTIVE, SE_PROTECT, RS_SYNCING },       /* promoted after a failover */
	{ true, RS_STOPPED, SE_RECEIVE, RS_RECEIVING },    /* no copy here: becomes the backup */
	{ true, RS_FAILED, SE_RECEIVE, RS_RECEIVING },
	{ true, RS_EVACUATED, SE_RECEIVE, RS_RECEIVING },
	{ true, RS_SYNCING, SE_SYNCED, RS_PROTECTED },
	{ true, RS_PROTECTED, SE_SYNCED, RS_PROTECTED },
	{ true, RS_EVACUATING, SE_SYNCED, RS_EVACUATING },
	{ true, RS_PROTECTED, SE_EVACUATE, RS_EVACUATING },
	{ true, RS_EVACUATING, SE_HANDED_OVER, RS_EVACUATED },
	{ true, RS_EVACUATING, SE_HANDOVER_DOUBT, RS_IN_DOUBT },
	{ true, RS_IN_DOUBT, SE_RESUME_HERE, RS_UNPROTECTED },
	{ true, RS_IN_DOUBT, SE_DESTROY_HERE, RS_EVACUATED },
	{ true, RS_SYNCING, SE_UNPROTECT, RS_UNPROTECTED },
	{ true, RS_PROTECTED, SE_UNPROTECT, RS_UNPROTECTED },
	{ true, RS_EVACUATING, SE_UNPROTECT, RS_UNPROTECTED },
	{ true, RS_SYNCING, SE_LOST, RS_UNPROTECTED },
	{ true, RS_PROTECTED, SE_LOST, RS_UNPROTECTED },
	{ true, RS_EVACUATING, SE_LOST, RS_UNPROTECTED },
	{ true, RS_SYNCING, SE_GUEST_GONE, RS_STOPPED },
	{ true, RS_PROTECTED, SE_GUEST_GONE, RS_STOPPED },
	{ true, RS_EVACUATING, SE_GUEST_GONE, RS_STOPPED },
	{ true, RS_SYNCING, SE_UNRESTORABLE, RS_FAILED },
	{ true, RS_PROTECTED, SE_UNRESTORABLE, RS_FAILED },
	{ true, RS_EVACUATING, SE_UNRESTORABLE, RS_FAILED },
	/* backup */
	{ false, RS_RECEIVING, SE_RECEIVE, RS_RECEIVING },
	{ false, RS_REPLICA_READY, SE_RECEIVE, RS_RECEIVING },
	{ false, RS_UNPROTECTED, SE_RECEIVE, RS_RECEIVING },
	{ false, RS_FAILED, SE_RECEIVE, RS_RECEIVING },
	{ false, RS_RECEIVING, SE_CHECKPOINT, RS_REPLICA_READY },
	{ false, RS_REPLICA_READY, SE_CHECKPOINT, RS_REPLICA_READY },
	{ false, RS_RECEIVING, SE_UNPROTECT, RS_UNPROTECTED },
	{ false, RS_REPLICA_READY, SE_UNPROTECT, RS_UNPROTECTED },
	{ false, RS_RECEIVING, SE_UNRESTORABLE, RS_FAILED },
	{ false, RS_REPLICA_READY, SE_UNRESTORABLE, RS_FAILED },
	{ false, RS_RECEIVING, SE_TAKEN_OVER, RS_ACTIVE },
	{ false, RS_REPLICA_READY, SE_TAKEN_OVER, RS_ACTIVE },
	{ false, RS_RECEIVING, SE_TAKEOVER_FAILED, RS_FAILED },
	{ false, RS_REPLICA_READY, SE_TAKEOVER_FAILED, RS_FAILED },
	/* quorum = corosync: a lost peer waits for the cluster's verdict */
	{ true, RS_SYNCING, SE_NO_QUORUM, RS_FENCED },
	{ true, RS_PROTECTED, SE_NO_QUORUM, RS_FENCED },
	{ true, RS_EVACUATING, SE_NO_QUORUM, RS_FENCED },
	{ true, RS_FENCED, SE_NO_QUORUM, RS_FENCED },
	{ true, RS_FENCED, SE_LOST, RS_UNPROTECTED },
	{ true, RS_FENCED, SE_RESUME_HERE, RS_UNPROTECTED },
	{ true, RS_FENCED, SE_DESTROY_HERE, RS_EVACUATED },
	{ true, RS_FENCED, SE_GUEST_GONE, RS_STOPPED },
	{ false, RS_RECEIVING, SE_NO_QUORUM, RS_WAITING_QUORUM },
	{ false, RS_REPLICA_READY, SE_NO_QUORUM, RS_WAITING_QUORUM },
	{ false, RS_RECEIVING, SE_PEER_ALIVE, RS_UNPROTECTED },
	{ false, RS_REPLICA_READY, SE_PEER_ALIVE, RS_UNPROTECTED },
	{ false, RS_WAITING_QUORUM, SE_PEER_ALIVE, RS_UNPROTECTED },
	{ false, RS_WAITING_QUORUM, SE_TAKEN_OVER, RS_ACTIVE },
	{ false, RS_WAITING_QUORUM, SE_TAKEOVER_FAILED, RS_FAILED },
	{ false, RS_WAITING_QUORUM, SE_UNPROTECT, RS_UNPROTECTED },
	/* ownership generations: the older copy is destroyed */
	{ true, RS_FENCED, SE_YIELD, RS_EVACUATED },
	{ true, RS_IN_DOUBT, SE_YIELD, RS_EVACUATED },
	{ true, RS_UNPROTECTED, SE_YIELD, RS_EVACUATED },
	{ true, RS_IDLE, SE_YIELD, RS_EVACUATED },
	{ true, RS_ACTIVE, SE_YIELD, RS_EVACUATED },      /* failed over here: a primary */
	/* remusctl stop: a lone copy ends */
	{ true, RS_IDLE, SE_STOP, RS_STOPPED },
	{ true, RS_UNPROTECTED, SE_STOP, RS_STOPPED },
	{ true, RS_FAILED, SE_STOP, RS_STOPPED },
	{ true, RS_ACTIVE, SE_STOP, RS_STOPPED },
};

/* The moves that change the role as well: a backup that took the guest
 * over is its primary, a primary with no copy left becomes the backup. */
static const struct allowed flips[] = {
	{ false, RS_RECEIVING, SE_TAKEN_OVER, RS_ACTIVE },
	{ false, RS_REPLICA_READY, SE_TAKEN_OVER, RS_ACTIVE },
	{ false, RS_WAITING_QUORUM, SE_TAKEN_OVER, RS_ACTIVE },
	{ true, RS_STOPPED, SE_RECEIVE, RS_RECEIVING },
	{ true, RS_FAILED, SE_RECEIVE, RS_RECEIVING },
	{ true, RS_EVACUATED, SE_RECEIVE, RS_RECEIVING },
};

static bool expected_flip(bool primary, enum remusd_state from, enum remusd_event ev)
{
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++)
		if (flips[i].primary == primary && flips[i].from == from && flips[i].ev == ev)
			return true;
	return false;
}

static int expected(bool primary, enum remusd_state from, enum remusd_event ev)
{
	for (size_t i = 0; i < sizeof(spec) / sizeof(spec[0]); i++)
		if (spec[i].primary == primary && spec[i].from == from && spec[i].ev == ev)
			return (int)spec[i].to;
	return -1;
}

/* Every combination: the allowed ones go where the spec says, the rest
 * are refused; both kinds are really met. */
static void test_walk_every_move(void **state)
{
	unsigned allowed = 0, refused = 0;

	(void)state;
	for (int role = 0; role < 2; role++)
		for (int st = 0; st < RS_COUNT; st++)
			for (int ev = 0; ev < SE_COUNT; ev++) {
				int want = expected(role == 0, st, ev);
				int got = remusd_fsm_next(role == 0, st, ev);

				if (got != want)
					fail_msg("%s %s + %s: got %s, want %s", role == 0 ? "primary" : "backup",
					         remusd_state_name(st), remusd_event_name(ev),
					         got < 0 ? "refused" : remusd_state_name(got),
					         want < 0 ? "refused" : remusd_state_name(want));
				if (remusd_fsm_flips_role(role == 0, st, ev) != expected_flip(role == 0, st, ev))
					fail_msg("%s %s + %s: role flip %d, want %d",
					         role == 0 ? "primary" : "backup", remusd_state_name(st),
					         remusd_event_name(ev), remusd_fsm_flips_role(role == 0, st, ev),
					         expected_flip(role == 0, st, ev));
				if (want < 0)
					refused++;
				else
					allowed++;
			}
	assert_int_equal(allowed, sizeof(spec) / sizeof(spec[0]));
	assert_int_equal(allowed + refused, 2u * RS_COUNT * SE_COUNT);
}

/* Some refusals named on their own: the rules the daemon relies on. */
static void test_refusals_that_matter(void **state)
{
	(void)state;
	/* a hand-over starts only from protected */
	assert_int_equal(remusd_fsm_next(true, RS_SYNCING, SE_EVACUATE), -1);
	assert_int_equal(remusd_fsm_next(true, RS_IN_DOUBT, SE_EVACUATE), -1);
	/* no new protection of a copy in doubt or handed over, or twice */
	assert_int_equal(remusd_fsm_next(true, RS_IN_DOUBT, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_EVACUATED, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_PROTECTED, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_EVACUATED, SE_START), -1);
	/* the doubt is resolved by the operator only */
	assert_int_equal(remusd_fsm_next(true, RS_IN_DOUBT, SE_LOST), -1);
	assert_int_equal(remusd_fsm_next(true, RS_PROTECTED, SE_RESUME_HERE), -1);
	/* a fenced copy never protects or carries on by itself before the
	 * verdict; a backup waiting for quorum takes no new run before it ended */
	assert_int_equal(remusd_fsm_next(true, RS_FENCED, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_FENCED, SE_START), -1);
	assert_int_equal(remusd_fsm_next(false, RS_WAITING_QUORUM, SE_RECEIVE), -1);
	assert_int_equal(remusd_fsm_next(false, RS_ACTIVE, SE_NO_QUORUM), -1);
	/* stop ends only a copy outside a run: never a protected or fenced one */
	assert_int_equal(remusd_fsm_next(true, RS_PROTECTED, SE_STOP), -1);
	assert_int_equal(remusd_fsm_next(true, RS_FENCED, SE_STOP), -1);
	assert_int_equal(remusd_fsm_next(false, RS_ACTIVE, SE_STOP), -1);
	/* a backup running the guest takes no new run; roles never mix */
	assert_int_equal(remusd_fsm_next(false, RS_ACTIVE, SE_RECEIVE), -1);
	assert_int_equal(remusd_fsm_next(false, RS_IDLE, SE_START), -1);
	assert_int_equal(remusd_fsm_next(false, RS_ACTIVE, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_IDLE, SE_RECEIVE), -1);
	/* no copy of a running guest becomes anyone's backup: the copies
	 * here that run (or may: in doubt, evacuating) refuse a run */
	assert_int_equal(remusd_fsm_next(true, RS_PROTECTED, SE_RECEIVE), -1);
	assert_int_equal(remusd_fsm_next(true, RS_IN_DOUBT, SE_RECEIVE), -1);
	assert_int_equal(remusd_fsm_next(true, RS_EVACUATING, SE_RECEIVE), -1);
	assert_int_equal(remusd_fsm_next(true, RS_ACTIVE, SE_RECEIVE), -1);
	assert_false(remusd_fsm_flips_role(true, RS_PROTECTED, SE_RECEIVE));
	/* out of range */
	assert_int_equal(remusd_fsm_next(true, RS_COUNT, SE_START), -1);
	assert_int_equal(remusd_fsm_next(true, RS_IDLE, SE_COUNT), -1);
}

/* The printed names and each state's phase. */
static void test_names_and_phases(void **state)
{
	static const struct { enum remusd_state s; const char *name; enum remusd_phase ph; } want[] = {
		{ RS_IDLE, "idle", PHASE_IDLE }, { RS_SYNCING, "syncing", PHASE_SYNCING },
		{ RS_PROTECTED, "protected", PHASE_PROTECTED },
		{ RS_UNPROTECTED, "unprotected", PHASE_IDLE }, { RS_STOPPED, "stopped", PHASE_IDLE },
		{ RS_RECEIVING, "receiving", PHASE_SYNCING },
		{ RS_REPLICA_READY, "replica-ready", PHASE_PROTECTED },
		{ RS_ACTIVE, "active", PHASE_ACTIVE }, { RS_FAILED, "failed", PHASE_FAILED },
		{ RS_EVACUATED, "evacuated", PHASE_IDLE }, { RS_IN_DOUBT, "in-doubt", PHASE_IN_DOUBT },
		{ RS_EVACUATING, "evacuating", PHASE_EVACUATING },
		{ RS_FENCED, "fenced", PHASE_IN_DOUBT },
		{ RS_WAITING_QUORUM, "waiting-for-quorum", PHASE_IN_DOUBT },
	};

	(void)state;
	assert_int_equal(sizeof(want) / sizeof(want[0]), RS_COUNT);
	for (size_t i = 0; i < RS_COUNT; i++) {
		assert_string_equal(remusd_state_name(want[i].s), want[i].name);
		assert_int_equal(remusd_state_phase(want[i].s), want[i].ph);
	}
	assert_string_equal(remusd_state_name(RS_COUNT), "?");
	for (int e = 0; e < SE_COUNT; e++)
		assert_string_not_equal(remusd_event_name(e), "?");
}

/* remusctl evacuate --to C (remusd/evacuate_to.c) is made of moves of
 * the table, walked here in the order the three hosts take them. */
static void test_evacuate_to_moves(void **state)
{
	static const struct step {
		bool primary;
		enum remusd_state from;
		enum remusd_event ev;
		enum remusd_state to;
		bool flips;
	} walk[] = {
		/* A: protection leaves B, the destination C is synchronised */
		{ true, RS_PROTECTED, SE_UNPROTECT, RS_UNPROTECTED, false },
		{ true, RS_UNPROTECTED, SE_PROTECT, RS_SYNCING, false },
		{ true, RS_SYNCING, SE_SYNCED, RS_PROTECTED, false },
		/* A: the hand-over to C, confirmed; A becomes C's backup */
		{ true, RS_PROTECTED, SE_EVACUATE, RS_EVACUATING, false },
		{ true, RS_EVACUATING, SE_HANDED_OVER, RS_EVACUATED, false },
		{ true, RS_EVACUATED, SE_RECEIVE, RS_RECEIVING, true },
		/* B: told END, keeps its replica, runs nothing */
		{ false, RS_REPLICA_READY, SE_UNPROTECT, RS_UNPROTECTED, false },
		/* C: a backup run, then the take-over (finish), then protects */
		{ false, RS_RECEIVING, SE_CHECKPOINT, RS_REPLICA_READY, false },
		{ false, RS_REPLICA_READY, SE_TAKEN_OVER, RS_ACTIVE, true },
		{ true, RS_ACTIVE, SE_PROTECT, RS_SYNCING, false },
		/* perform failed (C lost): A runs on and protects to B again */
		{ true, RS_SYNCING, SE_LOST, RS_UNPROTECTED, false },
		{ true, RS_PROTECTED, SE_LOST, RS_UNPROTECTED, false },
		/* finish unconfirmed: in doubt until resolved */
		{ true, RS_EVACUATING, SE_HANDOVER_DOUBT, RS_IN_DOUBT, false },
		{ true, RS_IN_DOUBT, SE_RESUME_HERE, RS_UNPROTECTED, false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(walk) / sizeof(walk[0]); i++) {
		assert_int_equal(remusd_fsm_next(walk[i].primary, walk[i].from, walk[i].ev),
		                 walk[i].to);
		assert_int_equal(remusd_fsm_flips_role(walk[i].primary, walk[i].from, walk[i].ev),
		                 walk[i].flips);
	}
	/* evacuate --to starts from protected or a copy outside any run,
	 * never from a run under way or a copy in doubt */
	assert_int_equal(remusd_fsm_next(true, RS_SYNCING, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_EVACUATING, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_IN_DOUBT, SE_PROTECT), -1);
	assert_int_equal(remusd_fsm_next(true, RS_FENCED, SE_PROTECT), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evacuate_to_moves),
		cmocka_unit_test(test_walk_every_move),
		cmocka_unit_test(test_refusals_that_matter),
		cmocka_unit_test(test_names_and_phases),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
