/* Unit tests for remusd's fault injection (remusd/fault.c): REMUSD_FAULT
 * parsing and refusals, and what the hook really does to its process —
 * run in a forked child: SIGKILL at a primary point, SIGSTOP (then carry
 * on when continued) at the backup's, once, only at epoch >= the armed
 * one and only at the armed point. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/fault.h"

static void test_parse_accepts(void **state)
{
	struct remus_err err = { 0 };
	struct remusd_fault f;
	struct ckpt_fault h;

	(void)state;
	assert_int_equal(remusd_fault_parse(&f, "sent-checkpoint@17", &err), 0);
	assert_true(f.armed);
	assert_string_equal(f.point, "sent-checkpoint");
	assert_int_equal(f.min_epoch, 17);
	assert_int_equal(f.action, REMUSD_FAULT_KILL);
	h = remusd_fault_hook(&f);
	assert_ptr_equal(h.arg, &f);
	assert_non_null(h.hit);
	assert_int_equal(remusd_fault_parse(&f, "applying@1", &err), 0);
	assert_int_equal(f.action, REMUSD_FAULT_STOP);
	/* role reversal: the old primary dies before it keeps its copy */
	assert_int_equal(remusd_fault_parse(&f, "keep-final@1", &err), 0);
	assert_string_equal(f.point, "keep-final");
	assert_int_equal(f.action, REMUSD_FAULT_KILL);
	/* unset or empty: not armed, no hook at all (the engine runs as usual) */
	assert_int_equal(remusd_fault_parse(&f, NULL, &err), 0);
	assert_false(f.armed);
	assert_null(remusd_fault_hook(&f).hit);
	assert_int_equal(remusd_fault_parse(&f, "", &err), 0);
	assert_null(remusd_fault_hook(&f).hit);
}

static void test_parse_refuses(void **state)
{
	static const struct {
		const char *spec, *why;
	} bad[] = {
		{ "paused", "POINT@EPOCH" },
		{ "pause@3", "unknown fault point 'pause'" },
		{ "paused-x@3", "unknown fault point" },
		{ "@3", "unknown fault point ''" },
		{ "paused@", "is not a number" },
		{ "paused@0", "is not a number >= 1" },
		{ "paused@-1", "is not a number" },
		{ "paused@+1", "is not a number" },
		{ "paused@ 1", "is not a number" },
		{ "paused@3x", "is not a number" },
		{ "paused@99999999999999999999999", "is not a number" },
		{ "sent@3@4", "is not a number" },
	};
	struct remus_err err = { 0 };
	struct remusd_fault f;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		if (remusd_fault_parse(&f, bad[i].spec, &err) == 0)
			fail_msg("'%s' accepted", bad[i].spec);
		assert_false(f.armed);
		if (strstr(err.msg, bad[i].why) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].spec, err.msg, bad[i].why);
	}
}

/* In a child: hit the hook with the given calls; exits 0 if it survives all. */
static pid_t child_hits(const char *spec, const char *const *points, const uint64_t *epochs,
                        size_t n)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct remus_err err = { 0 };
		struct remusd_fault f;
		struct ckpt_fault h;
		if (remusd_fault_parse(&f, spec, &err) != 0)
			_exit(3);
		h = remusd_fault_hook(&f);
		for (size_t i = 0; i < n; i++)
			if (h.hit(h.arg, points[i], epochs[i]) != 0)
				_exit(4);   /* the hook never asks the engine to stop */
		_exit(0);
	}
	return pid;
}

static void test_primary_point_kills(void **state)
{
	static const char *const pts[] = { "paused", "sent", "sent-checkpoint", "sent-checkpoint" };
	static const uint64_t ep[] = { 9, 9, 4, 5 };
	int st;

	(void)state;
	/* other points and earlier epochs pass; sent-checkpoint at 5 kills */
	assert_int_equal(waitpid(child_hits("sent-checkpoint@5", pts, ep, 4), &st, 0) > 0, 1);
	assert_true(WIFSIGNALED(st));
	assert_int_equal(WTERMSIG(st), SIGKILL);
	/* never reached: the child lives */
	assert_int_equal(waitpid(child_hits("sent-checkpoint@6", pts, ep, 4), &st, 0) > 0, 1);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_backup_point_stops_once(void **state)
{
	static const char *const pts[] = { "applying", "applying", "applying", "applying" };
	static const uint64_t ep[] = { 1, 2, 3, 4 };
	pid_t pid;
	int st;

	(void)state;
	pid = child_hits("applying@2", pts, ep, 4);
	assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
	assert_true(WIFSTOPPED(st));
	assert_int_equal(WSTOPSIG(st), SIGSTOP);
	assert_int_equal(kill(pid, SIGCONT), 0);
	/* continued: epochs 3 and 4 do not stop it again, it finishes */
	assert_int_equal(waitpid(pid, &st, WUNTRACED), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_accepts),
		cmocka_unit_test(test_parse_refuses),
		cmocka_unit_test(test_primary_point_kills),
		cmocka_unit_test(test_backup_point_stops_once),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
