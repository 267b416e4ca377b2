/* pvm guest lifecycle: random pause points, bad guests, waiting guests. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
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

#define STATE_OFF (1ULL << 20)
#define MEM (16ULL << 20)

/* Spin for a pseudo-random 0..max_us microseconds (the pause point). */
static void spin_random(unsigned *seed, unsigned max_us)
{
	struct timespec t0, t;
	long us = rand_r(seed) % (max_us + 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L + (t.tv_nsec - t0.tv_nsec) / 1000 < us);
}

/* The counter's invariants hold at any instruction boundary. */
static void check_counter_state(const struct pvm_vcpu *v, uint64_t mem)
{
	uint64_t x0, ylo;
	assert_true(v->rbx == mem || v->rbx == mem + 1);
	memcpy(&x0, v->xsave + 160, 8);            /* xmm0 in the legacy area */
	memcpy(&ylo, v->xsave + 576 + 16, 8);      /* ymm1 upper half (AVX area) */
	assert_true(x0 == v->rbx || x0 + 1 == v->rbx);
	assert_true(ylo == x0 || ylo + 1 == x0 || ylo == v->rbx);
	assert_true(v->rip >= PVM_RAM_BASE && v->rip < PVM_RAM_BASE + 0x1000);
}

static void test_random_pause_points(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_blob cpu = { 0 }, cpu2 = { 0 };
	struct pvm_vcpu *v = malloc(sizeof(*v));
	unsigned seed = 42;
	uint64_t last = 0;
	(void)state;

	pt_config(&cfg, "pause", "counter", MEM, -1);
	struct hv_guest *g = pt_boot(&cfg);
	for (int i = 0; i < 1000; i++) {
		spin_random(&seed, 200);
		if (pvm_hv_ops.suspend(g, &err) < 0)
			fail_msg("suspend %d: %s", i, err.msg);
		uint64_t mem = pt_peek(g, STATE_OFF);
		assert_int_equal(pvm_hv_ops.save_cpu(g, &cpu, &err), 0);
		if (pvm_cpu_decode(cpu.data, cpu.len, v, &err) < 0)
			fail_msg("decode %d: %s", i, err.msg);
		check_counter_state(v, mem);
		assert_true(mem >= last);
		last = mem;
		if (i % 100 == 0) {     /* paused means paused: nothing moves */
			struct timespec d = { 0, 2000000 };
			nanosleep(&d, NULL);
			assert_int_equal(pt_peek(g, STATE_OFF), mem);
			assert_int_equal(pvm_hv_ops.save_cpu(g, &cpu2, &err), 0);
			assert_memory_equal(cpu.data, cpu2.data, cpu.len);
		}
		if (pvm_hv_ops.resume(g, &err) < 0)
			fail_msg("resume %d: %s", i, err.msg);
	}
	assert_true(last > 0);
	pvm_hv_ops.destroy(g);
	hv_blob_free(&cpu);
	hv_blob_free(&cpu2);
	free(v);
}

/* Boot a bad guest and wait for its documented end state. */
static struct hv_info run_bad(const char *guest, enum hv_run_state want)
{
	struct hv_guest_config cfg;
	struct hv_info in;

	pt_config(&cfg, guest, guest, MEM, -1);
	struct hv_guest *g = pt_boot(&cfg);
	pt_wait_state(g, want, 10);
	pvm_hv_ops.info(g, &in);
	pvm_hv_ops.destroy(g);
	return in;
}

static void test_bad_wild_pointer_gets_efault(void **state)
{
	(void)state;
	struct hv_info in = run_bad("bad_wildptr", HV_EXITED);
	assert_int_equal(in.exit_code, 0);      /* every bad call returned -EFAULT/-ENOSYS */
}

static void test_bad_linux_syscall_crashes(void **state)
{
	(void)state;
	struct hv_info in = run_bad("bad_syscall", HV_CRASHED);
	assert_non_null(strstr(in.reason, "unknown hypercall 0x27"));
}

static void test_bad_segv_crashes(void **state)
{
	(void)state;
	struct hv_info in = run_bad("bad_segv", HV_CRASHED);
	assert_non_null(strstr(in.reason, "guest fault: Segmentation fault"));
}

static void test_bad_spin_is_pausable(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_info in;
	uint64_t a = 0, b;
	(void)state;

	pt_config(&cfg, "spin", "bad_spin", MEM, -1);
	struct hv_guest *g = pt_boot(&cfg);
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (a == 0) {
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		a = pt_peek(g, STATE_OFF);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 10);
	}
	do {
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		b = pt_peek(g, STATE_OFF);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
	} while (b == a);
	assert_true(b > a);
	pvm_hv_ops.info(g, &in);
	assert_int_equal(in.state, HV_RUNNING);
	pvm_hv_ops.destroy(g);
}

/* Regression: a creator thread that blocks signals (a daemon using
 * signalfd) must not make the guest unstoppable. */
static void test_suspend_with_signals_blocked(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	sigset_t all, old;
	(void)state;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pt_config(&cfg, "blocked", "bad_spin", MEM, -1);
	struct hv_guest *g = pt_boot(&cfg);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
	}
	pvm_hv_ops.destroy(g);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void test_start_twice_and_bad_image_refused(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	(void)state;

	pt_config(&cfg, "x", "counter", MEM, -1);
	cfg.image = "/nonexistent/guest.elf";
	assert_true(pvm_hv_ops.create(&cfg, &g, &err) < 0);
	assert_null(g);
	pt_config(&cfg, "x", "counter", 4096 * 3 + 1, -1);
	assert_true(pvm_hv_ops.create(&cfg, &g, &err) < 0);
	pt_config(&cfg, "x", "counter", MEM, -1);
	g = pt_boot(&cfg);
	assert_int_equal(pvm_hv_ops.start(g, &err), HV_EBADSTATE);
	assert_int_equal(pvm_hv_ops.resume(g, &err), HV_EBADSTATE);
	pvm_hv_ops.destroy(g);
}

/* A guest paused inside WAIT is restored and finishes the wait; ANNOUNCE
 * reaches the restored guest with boot_count 1. */
static void test_waiting_guest_restore(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct pt_ckpt ck;
	struct pvm_emu e;
	char line[128];
	int p1[2], p2[2];
	uint64_t c0 = 0, c1;
	(void)state;

	assert_int_equal(pipe(p1), 0);
	assert_int_equal(pipe(p2), 0);
	assert_int_equal(pt_ckpt_init(&ck, MEM), 0);
	pt_config(&cfg, "waiter", "waiter", MEM, p1[1]);
	struct hv_guest *g = pt_boot(&cfg);
	assert_true(pt_read_line(p1[0], line, sizeof(line), 10));
	assert_string_equal(line, "waiter up");
	while (c0 < 3) {        /* let a few waits complete */
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		c0 = pt_peek(g, STATE_OFF);
		pt_ckpt_take(&ck, g);
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		pt_wait_state(g, HV_RUNNING, 5);
	}
	/* take checkpoints until one catches the vCPU inside WAIT (bounded) */
	struct timespec t0, t, d = { 0, 3000000 };
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (e.waiting = 0; !e.waiting; ) {
		nanosleep(&d, NULL);    /* give it time to reach its next WAIT */
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		pt_ckpt_take(&ck, g);
		c0 = pt_peek(g, STATE_OFF);
		assert_int_equal(pvm_emu_decode(ck.emu.data, ck.emu.len, &e, &err), 0);
		pvm_emu_free(&e);
		if (!e.waiting)
			assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 10);
	}
	pvm_hv_ops.destroy(g);

	int fd = pt_ckpt_clone_ram(&ck);
	pt_config(&cfg, "waiter2", NULL, MEM, p2[1]);
	struct hv_guest *r = pt_restore(&cfg, &ck, fd, &err);
	if (r == NULL)
		fail_msg("restore: %s", err.msg);
	close(fd);
	assert_int_equal(pvm_hv_ops.start(r, &err), 0);
	assert_int_equal(pvm_hv_ops.announce(r, &err), 0);
	assert_true(pt_read_line(p2[0], line, sizeof(line), 10));
	assert_string_equal(line, "announce 1");
	do {
		assert_int_equal(pvm_hv_ops.suspend(r, &err), 0);
		c1 = pt_peek(r, STATE_OFF);
		assert_int_equal(pvm_hv_ops.resume(r, &err), 0);
		struct hv_info in;
		pvm_hv_ops.info(r, &in);
		assert_int_equal(in.state, HV_RUNNING);  /* exit 21 would mean an early timer */
	} while (c1 < c0 + 2);
	pvm_hv_ops.destroy(r);
	pt_ckpt_free(&ck);
	close(p1[0]); close(p1[1]); close(p2[0]); close(p2[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_wild_pointer_gets_efault),
		cmocka_unit_test(test_bad_linux_syscall_crashes),
		cmocka_unit_test(test_bad_segv_crashes),
		cmocka_unit_test(test_bad_spin_is_pausable),
		cmocka_unit_test(test_start_twice_and_bad_image_refused),
		cmocka_unit_test(test_suspend_with_signals_blocked),
		cmocka_unit_test(test_random_pause_points),
		cmocka_unit_test(test_waiting_guest_restore),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
