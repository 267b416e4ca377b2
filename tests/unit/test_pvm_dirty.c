/*
 * Dirty-log exactness on a 256 MiB guest at 1 %, 10 % and 100 % of its
 * pages, in the exact (uffd WP-async) mode and in the forced hashing
 * fallback, and for a copy-on-write guest (synchronous WP userfaultfd,
 * re-protected per run): every page the guest wrote is reported, no other
 * page of the pattern area is, and the page the monitor wrote (INFO) is
 * reported.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

#define MEM        (256ULL << 20)
#define AREA_LO    ((16ULL << 20) / PVM_PAGE_SIZE)
#define AREA_HI    ((MEM - (1ULL << 20)) / PVM_PAGE_SIZE)
#define DEV_PFN    ((8ULL << 20) / PVM_PAGE_SIZE)
#define IMAGE_PFNS 256              /* image, bss: the first MiB */

/* Same selection as the dirtier guest. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Check one round's dirty set against the expected pattern. */
static void check_round(const struct hv_pfn_list *l, uint64_t k)
{
	static const uint64_t permille[3] = { 10, 100, 1000 };
	uint8_t *seen = calloc(MEM / PVM_PAGE_SIZE, 1);
	uint64_t seed = mix(k + 1), expected = 0;

	assert_non_null(seen);
	for (size_t i = 0; i < l->count; i++) {
		uint64_t p = l->pfns[i];
		assert_true(p < MEM / PVM_PAGE_SIZE);
		seen[p] = 1;
		if (p < AREA_LO || p >= AREA_HI)   /* outside the area: only known pages */
			assert_true(p < IMAGE_PFNS || p == DEV_PFN || p >= AREA_HI);
	}
	for (uint64_t p = AREA_LO; p < AREA_HI; p++) {
		int want = mix(seed ^ p) % 1000 < permille[k % 3];
		expected += (uint64_t)want;
		if (seen[p] != want)
			fail_msg("round %llu: pfn %llu reported=%d written=%d", (unsigned long long)k,
			         (unsigned long long)p, seen[p], want);
	}
	assert_true(seen[DEV_PFN]);         /* written by the monitor (INFO) */
	assert_true(expected > 0);
	free(seen);
	print_message("round %llu: %llu pattern pages + %zu others exact\n",
	              (unsigned long long)k, (unsigned long long)expected,
	              l->count - (size_t)expected);
}

static void run_dirty(enum hv_dirty_mode want_mode, bool cow)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_pfn_list l = { 0 };
	struct hv_info in;
	char line[64], expect[64];
	int p[2];

	assert_int_equal(pipe(p), 0);
	pt_config(&cfg, "dirty", "dirtier", MEM, p[1]);
	cfg.cow_capture = cow;
	struct hv_guest *g = pt_boot(&cfg);
	pvm_hv_ops.info(g, &in);
	assert_int_equal(in.dirty_mode, want_mode);
	for (uint64_t k = 0; k < 3; k++) {
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		assert_int_equal(pvm_hv_ops.dirty_log(g, &l, &err), 0);    /* clear */
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		assert_int_equal(pvm_hv_ops.announce(g, &err), 0);
		assert_true(pt_read_line(p[0], line, sizeof(line), 60));
		snprintf(expect, sizeof(expect), "round %llu", (unsigned long long)k);
		assert_string_equal(line, expect);
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		if (pvm_hv_ops.dirty_log(g, &l, &err) < 0)
			fail_msg("dirty_log: %s", err.msg);
		check_round(&l, k);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
	}
	pvm_hv_ops.destroy(g);
	hv_pfn_list_free(&l);
	close(p[0]);
	close(p[1]);
}

static void test_dirty_exact(void **state)
{
	(void)state;
	unsetenv("REMUS_PVM_DIRTY");
	run_dirty(HV_DIRTY_EXACT, false);
}

static void test_dirty_exact_cow(void **state)
{
	(void)state;
	unsetenv("REMUS_PVM_DIRTY");
	run_dirty(HV_DIRTY_EXACT, true);
}

static void test_dirty_hash_fallback(void **state)
{
	(void)state;
	setenv("REMUS_PVM_DIRTY", "hash", 1);
	run_dirty(HV_DIRTY_HASH, false);
	unsetenv("REMUS_PVM_DIRTY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dirty_exact),
		cmocka_unit_test(test_dirty_hash_fallback),
		cmocka_unit_test(test_dirty_exact_cow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
