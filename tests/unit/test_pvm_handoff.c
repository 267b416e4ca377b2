/*
 * pvm's hand_off/adopt (live update of the daemon): the counter guest is
 * handed off by this process, adopted by a forked one, handed back and
 * adopted here again.  Checked: between two tracers the guest process is
 * stopped and untraced and its counter does not move (it never runs
 * unsupervised); the adopter sees the same registers (save_cpu bit for
 * bit), RAM and store, and its first dirty_log reports the page written
 * before the hand-off; the guest runs on under each adopter with its own
 * invariant checks passing; a process that is not the guest is refused;
 * a guest whose adopter dies after running it is killed with it
 * (EXITKILL), one whose adopter dies before running it stays stopped and
 * is adopted again.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

#define MEM       (16ULL << 20)
#define STATE_OFF (1ULL << 20)

/* One field of /proc/<pid>/status ("State", "TracerPid"), as text. */
static bool proc_status(pid_t pid, const char *key, char *val, size_t cap)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "re")) == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			const char *p = line + kl + 1;
			while (*p == ' ' || *p == '\t')
				p++;
			snprintf(val, cap, "%s", p);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static long tracer_of(pid_t pid)
{
	char v[64];
	return proc_status(pid, "TracerPid", v, sizeof(v)) ? atol(v) : -1;
}

/* A handed-off guest: untraced and, within a bounded wait, group-stopped
 * (it may still be on its way from the ptrace-stop into the stop). */
static void expect_stopped_untraced(pid_t pid)
{
	struct timespec t0, t, d = { 0, 1000000 };
	char st[64] = "";

	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(tracer_of(pid), 0);
	for (;;) {
		assert_true(proc_status(pid, "State", st, sizeof(st)));
		if (st[0] == 'T')
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			fail_msg("handed-off guest %d in state %s, not stopped", pid, st);
		nanosleep(&d, NULL);
	}
}

/* Let the paused guest run until its counter passed `from` by `by`;
 * 0 when it did, else what went wrong (for a child's exit code). */
static int run_past(struct hv_guest *g, uint64_t from, uint64_t by)
{
	struct remus_err err = { 0 };
	struct hv_info in;
	struct timespec t0, t;
	uint64_t c = from;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (c < from + by) {
		if (pvm_hv_ops.resume(g, &err) < 0)
			return 20;
		sched_yield();
		if (pvm_hv_ops.suspend(g, &err) < 0)
			return 21;
		pvm_hv_ops.info(g, &in);
		if (in.state != HV_PAUSED)
			return 22;
		c = pt_peek(g, STATE_OFF);
		if (c < from)
			return 23;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 20)
			return 24;
	}
	return 0;
}

static bool has_pfn(const struct hv_pfn_list *l, uint64_t pfn)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->pfns[i] == pfn)
			return true;
	return false;
}

static uint64_t ram_counter(const struct hv_handoff *h)
{
	uint64_t v;
	assert_int_equal(pread(h->fd[HV_HFD_RAM], &v, 8, (off_t)STATE_OFF), 8);
	return v;
}

/* A booted counter guest, paused with its counter page written since the
 * last dirty_log, then handed off. */
static void boot_and_hand_off(struct hv_guest_config *cfg, struct hv_handoff *h,
                              struct hv_blob *cpu, uint64_t *counter, pid_t *pid)
{
	struct remus_err err = { 0 };
	struct hv_pfn_list dl = { 0 };
	struct pvm_handoff_info hi;

	pt_config(cfg, "counter", "counter", MEM, -1);
	struct hv_guest *g = pt_boot(cfg);
	assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
	assert_int_equal(run_past(g, pt_peek(g, STATE_OFF), 50000), 0);
	assert_int_equal(pvm_hv_ops.dirty_log(g, &dl, &err), 0);
	assert_int_equal(run_past(g, pt_peek(g, STATE_OFF), 1000), 0);
	*counter = pt_peek(g, STATE_OFF);
	/* a node in the guest's store, which must cross the hand-off */
	struct hv_store_req w = { HV_STORE_WRITE, "control/handoff", 15, "kept", 4 };
	struct hv_blob none = { 0 };
	if (pvm_hv_ops.store_request(g, &w, &none, &err) < 0)
		fail_msg("store write: %s", err.msg);
	hv_blob_free(&none);
	assert_int_equal(pvm_hv_ops.save_cpu(g, cpu, &err), 0);
	if (pvm_hv_ops.hand_off(g, h, &err) < 0)
		fail_msg("hand_off: %s", err.msg);
	assert_int_equal(pvm_handoff_decode(h->blob.data, h->blob.len, &hi, &err), 0);
	assert_true(hi.ndirty > 0);
	*pid = (pid_t)hi.pid;
	hv_pfn_list_free(&dl);
}

/* The forked adopter: checks, runs the guest, hands it back on `out`. */
static int child_adopt(const struct hv_guest_config *cfg, const struct hv_handoff *h,
                       const struct hv_blob *cpu0, uint64_t c0, pid_t gpid, int out)
{
	struct remus_err err = { 0 };
	struct hv_blob cpu = { 0 };
	struct hv_pfn_list dl = { 0 };
	struct hv_handoff back;
	struct hv_info in;
	struct hv_guest *a;
	char tp[64];
	int rc;

	if (pvm_hv_ops.adopt(cfg, h, &a, &err) < 0) {
		dprintf(2, "child: adopt: %s\n", err.msg);
		return 2;
	}
	pvm_hv_ops.info(a, &in);
	if (in.state != HV_PAUSED)
		return 3;
	if (pvm_hv_ops.save_cpu(a, &cpu, &err) < 0 || cpu.len != cpu0->len ||
	    memcmp(cpu.data, cpu0->data, cpu.len) != 0)
		return 4;                       /* registers changed across the hand-off */
	if (pt_peek(a, STATE_OFF) != c0)
		return 5;
	struct hv_store_req r = { HV_STORE_READ, "control/handoff", 15, NULL, 0 };
	struct hv_blob val = { 0 };
	if (pvm_hv_ops.store_request(a, &r, &val, &err) < 0 || val.len != 4 ||
	    memcmp(val.data, "kept", 4) != 0)
		return 11;                      /* the store did not come along */
	hv_blob_free(&val);
	if (pvm_hv_ops.dirty_log(a, &dl, &err) < 0 || !has_pfn(&dl, STATE_OFF / PVM_PAGE_SIZE))
		return 6;                       /* the page written before the hand-off */
	if (pvm_hv_ops.dirty_log(a, &dl, &err) < 0 || has_pfn(&dl, STATE_OFF / PVM_PAGE_SIZE))
		return 7;                       /* paused: nothing written since */
	snprintf(tp, sizeof(tp), "/proc/self/task/%ld", tracer_of(gpid));
	if (access(tp, F_OK) != 0)
		return 8;                       /* traced by one of our threads */
	if ((rc = run_past(a, c0, 20000)) != 0)
		return rc;
	uint64_t c1 = pt_peek(a, STATE_OFF);
	if (pvm_hv_ops.hand_off(a, &back, &err) < 0) {
		dprintf(2, "child: hand_off: %s\n", err.msg);
		return 9;
	}
	uint32_t len = (uint32_t)back.blob.len;
	if (write(out, &c1, 8) != 8 || write(out, &len, 4) != 4 ||
	    write(out, back.blob.data, len) != (ssize_t)len)
		return 10;
	hv_handoff_free(&back);
	hv_pfn_list_free(&dl);
	hv_blob_free(&cpu);
	return 0;
}

static void read_all(int fd, void *p, size_t n)
{
	for (size_t got = 0; got < n; ) {
		ssize_t r = read(fd, (uint8_t *)p + got, n - got);
		assert_true(r > 0);
		got += (size_t)r;
	}
}

static void test_handoff_to_child_and_back(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_handoff h, h2;
	struct hv_blob cpu0 = { 0 };
	uint64_t c0, c1;
	uint32_t len;
	pid_t gpid, child;
	int p[2], st;
	(void)state;

	boot_and_hand_off(&cfg, &h, &cpu0, &c0, &gpid);
	expect_stopped_untraced(gpid);
	assert_int_equal(ram_counter(&h), c0);

	assert_int_equal(pipe(p), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		close(p[0]);
		_exit(child_adopt(&cfg, &h, &cpu0, c0, gpid, p[1]));
	}
	close(p[1]);
	assert_int_equal(waitpid(child, &st, 0), child);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("adopting child: status %#x (exit %d)", st, WEXITSTATUS(st));
	read_all(p[0], &c1, 8);
	read_all(p[0], &len, 4);
	assert_true(len > 0 && len < (1u << 20));
	h2 = h;                                 /* the same descriptors, the child's blob */
	h2.blob.data = malloc(len);
	h2.blob.len = h2.blob.cap = len;
	read_all(p[0], h2.blob.data, len);
	close(p[0]);
	assert_true(c1 >= c0 + 20000);

	/* the child is gone; the guest outlived it, stopped, at its counter */
	expect_stopped_untraced(gpid);
	assert_int_equal(ram_counter(&h), c1);

	struct hv_guest *a;
	if (pvm_hv_ops.adopt(&cfg, &h2, &a, &err) < 0)
		fail_msg("adopt back: %s", err.msg);
	assert_int_equal(pt_peek(a, STATE_OFF), c1);
	assert_int_equal(run_past(a, c1, 20000), 0);
	pvm_hv_ops.destroy(a);
	hv_blob_free(&h2.blob);
	hv_handoff_free(&h);
	hv_blob_free(&cpu0);
}

static void test_adopt_refuses_another_process(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_handoff h;
	struct hv_blob cpu0 = { 0 };
	struct hv_guest *a = NULL;
	uint64_t c0;
	pid_t gpid, other;
	int st;
	(void)state;

	boot_and_hand_off(&cfg, &h, &cpu0, &c0, &gpid);
	other = fork();
	assert_true(other >= 0);
	if (other == 0) {
		pause();
		_exit(0);
	}
	uint8_t save[4];
	memcpy(save, h.blob.data + 8, 4);
	h.blob.data[8] = (uint8_t)other;        /* the blob names another process */
	h.blob.data[9] = (uint8_t)(other >> 8);
	h.blob.data[10] = (uint8_t)(other >> 16);
	h.blob.data[11] = (uint8_t)(other >> 24);
	assert_int_equal(pvm_hv_ops.adopt(&cfg, &h, &a, &err), HV_EBADSTATE);
	assert_null(a);
	assert_non_null(strstr(err.msg, "not the handed-off guest"));
	assert_int_equal(tracer_of(other), 0);
	kill(other, SIGKILL);
	waitpid(other, &st, 0);

	memcpy(h.blob.data + 8, save, 4);       /* the guest is still there to adopt */
	expect_stopped_untraced(gpid);
	if (pvm_hv_ops.adopt(&cfg, &h, &a, &err) < 0)
		fail_msg("adopt: %s", err.msg);
	assert_int_equal(run_past(a, c0, 10000), 0);
	pvm_hv_ops.destroy(a);
	hv_handoff_free(&h);
	hv_blob_free(&cpu0);
}

static void test_guest_dies_with_its_adopter(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_handoff h;
	struct hv_blob cpu0 = { 0 };
	struct timespec t0, t, d = { 0, 1000000 };
	uint64_t c0;
	pid_t gpid, child, w;
	int st;
	(void)state;

	boot_and_hand_off(&cfg, &h, &cpu0, &c0, &gpid);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		struct hv_guest *a;
		if (pvm_hv_ops.adopt(&cfg, &h, &a, &err) < 0 || pvm_hv_ops.resume(a, &err) < 0)
			_exit(2);
		_exit(0);                       /* the adopter dies with the guest running */
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* we are the guest's parent: it must end, killed, not run on */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((w = waitpid(gpid, &st, WNOHANG | __WALL)) == 0) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			fail_msg("guest %d outlived its adopter", gpid);
		nanosleep(&d, NULL);
	}
	assert_int_equal(w, gpid);
	assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	hv_handoff_free(&h);
	hv_blob_free(&cpu0);
}

/* An adopter that dies before the guest ran leaves it stopped, untraced,
 * for the next adopter (the old daemon taking it back). */
static void test_adopter_dies_before_running(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_handoff h;
	struct hv_blob cpu0 = { 0 };
	struct hv_guest *a;
	uint64_t c0;
	pid_t gpid, child;
	int st;
	(void)state;

	boot_and_hand_off(&cfg, &h, &cpu0, &c0, &gpid);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		if (pvm_hv_ops.adopt(&cfg, &h, &a, &err) < 0)
			_exit(2);
		_exit(0);                       /* dies holding it, never resumed */
	}
	assert_int_equal(waitpid(child, &st, 0), child);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	expect_stopped_untraced(gpid);
	assert_int_equal(ram_counter(&h), c0);
	if (pvm_hv_ops.adopt(&cfg, &h, &a, &err) < 0)
		fail_msg("adopt again: %s", err.msg);
	assert_int_equal(pt_peek(a, STATE_OFF), c0);
	assert_int_equal(run_past(a, c0, 10000), 0);
	pvm_hv_ops.destroy(a);
	hv_handoff_free(&h);
	hv_blob_free(&cpu0);
}

/* The blob decoder refuses what it cannot trust. */
static void test_blob_refused(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct pvm_handoff_info hi;
	struct hv_handoff h;
	struct hv_blob cpu0 = { 0 };
	struct hv_guest *a = NULL;
	uint64_t c0;
	pid_t gpid;
	(void)state;

	boot_and_hand_off(&cfg, &h, &cpu0, &c0, &gpid);
	uint8_t *b = h.blob.data;
	size_t n = h.blob.len;
	assert_int_equal(pvm_handoff_decode(b, n - 1, &hi, &err), HV_EBADBLOB);
	assert_int_equal(pvm_handoff_decode(b, 47, &hi, &err), HV_EBADBLOB);
	b[4] = 2;                               /* version */
	assert_int_equal(pvm_handoff_decode(b, n, &hi, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "version 2"));
	b[4] = 1;
	uint64_t last;                          /* a dirty pfn beyond RAM */
	memcpy(&last, b + n - 8, 8);
	uint64_t bad = MEM / PVM_PAGE_SIZE;
	memcpy(b + n - 8, &bad, 8);
	assert_int_equal(pvm_handoff_decode(b, n, &hi, &err), HV_EBADBLOB);
	assert_int_equal(pvm_hv_ops.adopt(&cfg, &h, &a, &err), HV_EBADBLOB);
	assert_null(a);
	memcpy(b + n - 8, &last, 8);
	expect_stopped_untraced(gpid);          /* a refused blob touched nothing */
	if (pvm_hv_ops.adopt(&cfg, &h, &a, &err) < 0)
		fail_msg("adopt: %s", err.msg);
	pvm_hv_ops.destroy(a);
	hv_handoff_free(&h);
	hv_blob_free(&cpu0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handoff_to_child_and_back),
		cmocka_unit_test(test_adopt_refuses_another_process),
		cmocka_unit_test(test_guest_dies_with_its_adopter),
		cmocka_unit_test(test_adopter_dies_before_running),
		cmocka_unit_test(test_blob_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
