/*
 * Checkpoint/restore of the counter guest, 100 times under CPU load: each
 * checkpoint (dirty log into a replica, vCPU, devices) is restored in a
 * new guest process, which must continue exactly.  Checked: the replica
 * equals the guest's RAM, the restored vCPU reads back bit-identical
 * (GPRs, SSE/AVX), the counter resumes from the saved value, and the
 * guest's own invariant checks (exit 11..14) never fire.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

#define MEM       (16ULL << 20)
#define STATE_OFF (1ULL << 20)
#define ROUNDS    100

/* A CPU hog (nice 10): the load the guest runs under. */
static pid_t start_load(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);   /* never outlive the test */
		if (nice(10) < 0)                   /* load, but the test still moves */
			_exit(1);
		for (volatile uint64_t x = 0;; x++)
			;
	}
	return pid;
}

/* Compare the whole RAM of the paused guest with the replica. */
static void check_ram(struct hv_guest *g, struct pt_ckpt *ck)
{
	struct remus_err err = { 0 };
	uint64_t n = MEM / PVM_PAGE_SIZE;
	uint64_t *pfns = malloc(n * sizeof(*pfns));

	assert_non_null(pfns);
	for (uint64_t i = 0; i < n; i++)
		pfns[i] = i;
	assert_int_equal(pvm_hv_ops.copy_pages(g, pfns, n, ck->buf, &err), 0);
	assert_memory_equal(ck->buf, ck->ram, MEM);
	free(pfns);
}

/* Run the restored guest until its counter passes `from` by a margin. */
static void check_continues(struct hv_guest *r, uint64_t from)
{
	struct remus_err err = { 0 };
	struct hv_info in;
	struct timespec t0, t;
	uint64_t c = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (c < from + 20000) {
		assert_int_equal(pvm_hv_ops.resume(r, &err), 0);
		sched_yield();
		assert_int_equal(pvm_hv_ops.suspend(r, &err), 0);
		pvm_hv_ops.info(r, &in);
		if (in.state != HV_PAUSED)
			fail_msg("restored guest state %d: %s (exit %d)", in.state, in.reason, in.exit_code);
		c = pt_peek(r, STATE_OFF);
		assert_true(c >= from);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 20);
	}
}

static void test_counter_save_restore_under_load(void **state)
{
	struct hv_guest_config cfg, rcfg;
	struct remus_err err = { 0 };
	struct hv_blob back = { 0 };
	struct pt_ckpt ck;
	struct pvm_vcpu *v = malloc(sizeof(*v));
	unsigned seed = 7;
	(void)state;

	assert_non_null(v);
	assert_int_equal(pt_ckpt_init(&ck, MEM), 0);
	pt_config(&cfg, "counter", "counter", MEM, -1);
	pt_config(&rcfg, "counter-r", NULL, MEM, -1);
	struct hv_guest *g = pt_boot(&cfg);
	for (int i = 0; i < ROUNDS; i++) {
		struct timespec d = { 0, (long)(rand_r(&seed) % 3000) * 1000 };
		nanosleep(&d, NULL);        /* a random moment */
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		pt_ckpt_take(&ck, g);
		check_ram(g, &ck);
		uint64_t saved;
		memcpy(&saved, ck.ram + STATE_OFF, 8);
		if (pvm_cpu_decode(ck.hvm.data, ck.hvm.len, v, &err) < 0)
			fail_msg("round %d: %s", i, err.msg);
		assert_true(v->rbx == saved || v->rbx == saved + 1);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);

		int fd = pt_ckpt_clone_ram(&ck);
		assert_true(fd >= 0);
		struct hv_guest *r = pt_restore(&rcfg, &ck, fd, &err);
		close(fd);
		if (r == NULL)
			fail_msg("round %d: restore: %s", i, err.msg);
		assert_int_equal(pvm_hv_ops.save_cpu(r, &back, &err), 0);
		assert_int_equal(back.len, ck.hvm.len);
		assert_memory_equal(back.data, ck.hvm.data, back.len);
		assert_int_equal(pvm_hv_ops.start(r, &err), 0);
		assert_int_equal(pvm_hv_ops.suspend(r, &err), 0);
		check_continues(r, saved);
		pvm_hv_ops.destroy(r);
	}
	struct hv_info in;
	pvm_hv_ops.info(g, &in);
	assert_int_equal(in.state, HV_RUNNING);
	pvm_hv_ops.destroy(g);
	hv_blob_free(&back);
	pt_ckpt_free(&ck);
	free(v);
}

static int load_setup(void **state)
{
	pid_t *pid = malloc(sizeof(*pid));
	if (pid == NULL || (*pid = start_load()) < 0)
		return -1;
	*state = pid;
	return 0;
}

static int load_teardown(void **state)
{
	pid_t *pid = *state;
	kill(*pid, SIGKILL);
	waitpid(*pid, NULL, 0);
	free(pid);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counter_save_restore_under_load),
	};
	return cmocka_run_group_tests(tests, load_setup, load_teardown);
}
