/*
 * pvm's copy-on-write capture (pvm_cow.c): pages the guest writes while
 * the capture is still being copied out are captured with their content
 * as at the pause (the checkpoint is consistent), also pages a device
 * model writes; the guest keeps running meanwhile; a guest created
 * without cow_capture refuses the ops.
 *
 * The copy-out helper is held (pvm_cow_hold) so that the guest's writes
 * surely come before it: only the fault path can have copied those pages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

#define MEM        (16ULL << 20)
#define STATE_OFF  (1ULL << 20)          /* counter guest's state page */
#define DEV_PFN    ((8ULL << 20) / PVM_PAGE_SIZE)   /* dirtier's INFO page */

/* Wait (bounded) until the cow counters satisfy `enough`. */
static void wait_stats(struct hv_guest *g, bool (*enough)(const struct pvm_cow_stats *, uint64_t),
                       uint64_t arg)
{
	struct pvm_cow_stats st;
	struct timespec t0, now, d = { 0, 1000000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pvm_cow_get_stats(g, &st);
		if (enough(&st, arg))
			return;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			fail_msg("copy-on-write counters never got there (%llu fault copies, %llu guard copies)",
			         (unsigned long long)st.fault_copies, (unsigned long long)st.guard_copies);
		nanosleep(&d, NULL);
	}
}

static bool more_fault_copies(const struct pvm_cow_stats *st, uint64_t before)
{
	return st->fault_copies > before;
}

static bool more_guard_copies(const struct pvm_cow_stats *st, uint64_t before)
{
	return st->guard_copies > before;
}

/* Suspend the counter guest once its counter moved past `last` (it ran,
 * so its state page is dirty again); bounded. */
static uint64_t suspend_after_progress(struct hv_guest *g, uint64_t last)
{
	struct remus_err err = { 0 };
	struct timespec t0, now, d = { 0, 500000 };
	uint64_t v;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		if ((v = pt_peek(g, STATE_OFF)) > last)
			return v;
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - t0.tv_sec > 20)
			fail_msg("the counter guest made no progress");
		nanosleep(&d, NULL);
	}
}

static bool in_list(const struct hv_pfn_list *l, uint64_t pfn)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->pfns[i] == pfn)
			return true;
	return false;
}

/* The counter guest writes its state page all the time: each capture must
 * hold the counter as at the pause while the live guest is already past it. */
static void test_cow_guest_writes_during_copy_out(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_pfn_list l = { 0 };
	struct pvm_cow_stats st;
	const uint8_t *pages;
	uint8_t *ref;

	(void)state;
	pt_config(&cfg, "cow-counter", "counter", MEM, -1);
	cfg.cow_capture = true;
	struct hv_guest *g = pt_boot(&cfg);
	uint64_t last = 0;
	for (int round = 0; round < 5; round++) {
		pvm_cow_hold(g, true);
		last = suspend_after_progress(g, last);
		if (pvm_hv_ops.capture_begin(g, &l, &err) < 0)
			fail_msg("capture_begin: %s", err.msg);
		assert_true(in_list(&l, STATE_OFF / PVM_PAGE_SIZE));
		ref = malloc(l.count * PVM_PAGE_SIZE);
		assert_non_null(ref);
		assert_int_equal(pvm_hv_ops.copy_pages(g, l.pfns, l.count, ref, &err), 0);
		uint64_t at_pause = pt_peek(g, STATE_OFF);
		pvm_cow_get_stats(g, &st);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		wait_stats(g, more_fault_copies, st.fault_copies);   /* the guest wrote a captured page */
		if (pvm_hv_ops.capture_wait(g, &pages, &err) < 0)
			fail_msg("capture_wait: %s", err.msg);
		assert_memory_equal(pages, ref, l.count * PVM_PAGE_SIZE);
		/* and the guest did run on past the pause (the captured page it
		 * wrote first need not be the counter's: wait for the counter) */
		last = suspend_after_progress(g, at_pause);
		assert_true(last > at_pause);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		free(ref);
	}
	pvm_cow_get_stats(g, &st);
	assert_int_equal(st.captures, 5);
	assert_true(st.fault_copies >= 5);
	assert_true(st.faults >= st.fault_copies);
	struct hv_info in;
	pvm_hv_ops.info(g, &in);
	assert_int_equal(in.state, HV_RUNNING);    /* counter exits 11..14 on any mismatch */
	pvm_hv_ops.destroy(g);
	hv_pfn_list_free(&l);
}

/* The dirtier guest's INFO hypercall makes the monitor write its page:
 * captured, that page too keeps its content as at the pause. */
static void test_cow_device_write_during_copy_out(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_pfn_list l = { 0 };
	struct pvm_cow_stats st;
	const uint8_t *pages;
	char line[64];
	uint8_t *ref;
	int p[2];

	(void)state;
	assert_int_equal(pipe(p), 0);
	pt_config(&cfg, "cow-dirtier", "dirtier", 64ULL << 20, p[1]);
	cfg.cow_capture = true;
	struct hv_guest *g = pt_boot(&cfg);
	/* round 0 makes the monitor write the INFO page: dirty for the capture */
	assert_int_equal(pvm_hv_ops.announce(g, &err), 0);
	assert_true(pt_read_line(p[0], line, sizeof(line), 60));
	assert_string_equal(line, "round 0");
	pvm_cow_hold(g, true);
	assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
	if (pvm_hv_ops.capture_begin(g, &l, &err) < 0)
		fail_msg("capture_begin: %s", err.msg);
	assert_true(in_list(&l, DEV_PFN));
	ref = malloc(l.count * PVM_PAGE_SIZE);
	assert_non_null(ref);
	assert_int_equal(pvm_hv_ops.copy_pages(g, l.pfns, l.count, ref, &err), 0);
	pvm_cow_get_stats(g, &st);
	assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
	/* round 1: the guest writes 10 % of its pages, the monitor the INFO page */
	assert_int_equal(pvm_hv_ops.announce(g, &err), 0);
	assert_true(pt_read_line(p[0], line, sizeof(line), 60));
	assert_string_equal(line, "round 1");
	wait_stats(g, more_guard_copies, st.guard_copies);
	if (pvm_hv_ops.capture_wait(g, &pages, &err) < 0)
		fail_msg("capture_wait: %s", err.msg);
	assert_memory_equal(pages, ref, l.count * PVM_PAGE_SIZE);
	pvm_cow_get_stats(g, &st);
	assert_true(st.fault_copies > 0);          /* round 1 rewrote some round-0 pages */
	free(ref);
	pvm_hv_ops.destroy(g);
	hv_pfn_list_free(&l);
	close(p[0]);
	close(p[1]);
}

/* Without cow_capture the ops say so; waiting without a begin is refused. */
static void test_cow_refused_without_config(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_pfn_list l = { 0 };
	const uint8_t *pages;

	(void)state;
	pt_config(&cfg, "no-cow", "counter", MEM, -1);
	struct hv_guest *g = pt_boot(&cfg);
	assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
	assert_int_equal(pvm_hv_ops.capture_begin(g, &l, &err), HV_EUNSUPP);
	assert_non_null(strstr(err.msg, "not created for copy-on-write"));
	pvm_hv_ops.destroy(g);

	cfg.cow_capture = true;
	g = pt_boot(&cfg);
	assert_int_equal(pvm_hv_ops.capture_wait(g, &pages, &err), HV_EBADSTATE);
	assert_int_equal(pvm_hv_ops.capture_begin(g, &l, &err), HV_EBADSTATE);   /* running */
	pvm_hv_ops.destroy(g);
	hv_pfn_list_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cow_guest_writes_during_copy_out),
		cmocka_unit_test(test_cow_device_write_during_copy_out),
		cmocka_unit_test(test_cow_refused_without_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
