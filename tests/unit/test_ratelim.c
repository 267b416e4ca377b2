/* lib/util/ratelim: bursts, windows, the suppressed count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "util/ratelim.h"

/* A flood inside one window: `burst` get through, the rest are counted and
 * reported with the first event of a later window. */
static void test_burst_then_suppressed_count(void **state)
{
	struct ratelim rl = RATELIM_INIT(3, 1000);
	uint64_t sup = 99;
	int allowed = 0;

	(void)state;
	for (int i = 0; i < 1000; i++)
		allowed += ratelim_allow(&rl, 5000 + (uint64_t)i % 999, &sup);
	assert_int_equal(allowed, 3);
	assert_int_equal(sup, 0);                 /* set by the 3rd allowed one */
	assert_int_equal(rl.suppressed, 997);
	assert_false(ratelim_allow(&rl, 5999, &sup));
	assert_true(ratelim_allow(&rl, 6000, &sup));      /* a new window */
	assert_int_equal(sup, 998);
	assert_true(ratelim_allow(&rl, 6001, &sup));
	assert_int_equal(sup, 0);                 /* the count restarted */
	assert_int_equal(rl.suppressed_total, 998);
}

/* Quiet periods do not accumulate credit beyond one burst. */
static void test_no_credit_carried(void **state)
{
	struct ratelim rl = RATELIM_INIT(2, 100);
	int allowed = 0;

	(void)state;
	for (int i = 0; i < 10; i++)
		allowed += ratelim_allow(&rl, 100000, NULL);
	assert_int_equal(allowed, 2);
	assert_true(ratelim_allow(&rl, 100100, NULL));
	assert_true(ratelim_allow(&rl, 100150, NULL));
	assert_false(ratelim_allow(&rl, 100199, NULL));
}

/* A clock that steps back starts a new window instead of never rolling. */
static void test_clock_backwards(void **state)
{
	struct ratelim rl = RATELIM_INIT(1, 1000);

	(void)state;
	assert_true(ratelim_allow(&rl, 50000, NULL));
	assert_false(ratelim_allow(&rl, 50001, NULL));
	assert_true(ratelim_allow(&rl, 10, NULL));
	assert_false(ratelim_allow(&rl, 11, NULL));
}

/* burst 0 reports nothing, counts everything. */
static void test_zero_burst(void **state)
{
	struct ratelim rl = RATELIM_INIT(0, 1000);

	(void)state;
	assert_false(ratelim_allow(&rl, 0, NULL));
	assert_false(ratelim_allow(&rl, 5000, NULL));
	assert_int_equal(rl.suppressed_total, 2);
}

/* A flood that stopped is still reported, once, after its window. */
static void test_flush_after_window(void **state)
{
	struct ratelim rl = RATELIM_INIT(1, 1000);
	uint64_t sup = 0;

	(void)state;
	assert_int_equal(ratelim_flush(&rl, 0), 0);
	assert_true(ratelim_allow(&rl, 0, NULL));
	for (int i = 0; i < 7; i++)
		assert_false(ratelim_allow(&rl, 10, NULL));
	assert_int_equal(ratelim_flush(&rl, 999), 0);     /* window still open */
	assert_int_equal(ratelim_flush(&rl, 1000), 7);
	assert_int_equal(ratelim_flush(&rl, 1001), 0);    /* reported once */
	assert_true(ratelim_allow(&rl, 1002, &sup));
	assert_int_equal(sup, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_suppressed_count),
		cmocka_unit_test(test_no_credit_carried),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_zero_burst),
		cmocka_unit_test(test_flush_after_window),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
