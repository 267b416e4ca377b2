/*
 * The pvm guest's second wall (lib/hv/pvm/pvm_stub.c): the guest process
 * runs with no capability, no_new_privs, a seccomp filter that kills on
 * any system call the kernel would run, and only guest RAM plus one page
 * of host code mapped.  On this kernel ptrace's SYSEMU stop comes before
 * seccomp, so hypercalls still work under the filter (the first test).
 * Then each way around the hypercall path is a clean crash with a reason
 * and nothing of it happens: int $0x80, int $0x80 and `syscall` from
 * compatibility mode, the vsyscall page, the vDSO.  "Nothing happens" is
 * checked by the kernel's own accounting too: a counter on the
 * raw_syscalls:sys_enter tracepoint, attached to the guest process before
 * its first instruction, counts every system call the kernel runs for it
 * (a SYSEMU stop skips the call before the tracepoint), and stays at 0.
 */
#include <dlfcn.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/pvm/pvm_impl.h"
#include "pvm_testlib.h"

#define MEM (16ULL << 20)

/* One line "Key:\tvalue" of /proc/PID/status, value into out. */
static void proc_status(pid_t pid, const char *key, char *out, size_t cap)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	out[0] = 0;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			snprintf(out, cap, "%s", line + kl + 1 + strspn(line + kl + 1, " \t"));
			out[strcspn(out, "\n")] = 0;
		}
	fclose(f);
}

/* The namespaces the guest process has of its own. */
static const char *const own_ns[] = { "user", "pid", "mnt", "net", "ipc", "uts" };

/* /proc/PID/ns/NAME is not this process's namespace of that kind. */
static void assert_ns_differs(pid_t pid, const char *name)
{
	char path[64], mine[64] = "", its[64] = "";

	snprintf(path, sizeof(path), "/proc/self/ns/%s", name);
	assert_true(readlink(path, mine, sizeof(mine) - 1) > 0);
	snprintf(path, sizeof(path), "/proc/%d/ns/%s", (int)pid, name);
	assert_true(readlink(path, its, sizeof(its) - 1) > 0);
	if (strcmp(mine, its) == 0)
		fail_msg("the guest process shares the %s namespace %s", name, its);
}

static struct hv_guest *boot_counted(const struct hv_guest_config *cfg, int *counter);
static int syscall_counter(pid_t pid);
static uint64_t counter_read(int fd);

/* Hypercalls work with the filter on (SYSEMU first); the process has no
 * capability, no_new_privs, seccomp in filter mode, runs as uid/gid nobody
 * in its own user, pid, mount, network, IPC and UTS namespaces (as pid 1),
 * and maps only RAM and one page of the host binary (plus the kernel's
 * vsyscall entry). */
static void test_sandboxed_guest_runs(void **state)
{
	struct hv_guest_config cfg;
	struct hv_guest *g;
	char line[256], v[128], path[64];
	unsigned vmas = 0, host_pages = 0;
	int pfd[2], counter;
	FILE *f;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	pt_config(&cfg, "compat", "compat", MEM, pfd[1]);  /* prints via hypercalls */
	g = boot_counted(&cfg, &counter);
	assert_true(pt_read_line(pfd[0], line, sizeof(line), 10));
	assert_string_equal(line, "compat: 64-bit");
	pid_t pid = ((struct pvm_guest *)g)->pid;
	proc_status(pid, "Seccomp", v, sizeof(v));
	assert_string_equal(v, "2");
	proc_status(pid, "NoNewPrivs", v, sizeof(v));
	assert_string_equal(v, "1");
	proc_status(pid, "CapEff", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(pid, "CapPrm", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(pid, "CapBnd", v, sizeof(v));
	assert_string_equal(v, "0000000000000000");
	proc_status(pid, "Uid", v, sizeof(v));
	assert_string_equal(v, "65534\t65534\t65534\t65534");
	proc_status(pid, "Gid", v, sizeof(v));
	assert_string_equal(v, "65534\t65534\t65534\t65534");
	proc_status(pid, "Groups", v, sizeof(v));
	assert_string_equal(v, "");
	proc_status(pid, "NSpid", v, sizeof(v));     /* "<host pid>\t1" */
	assert_non_null(strstr(v, "\t1"));
	assert_string_equal(strstr(v, "\t1"), "\t1");
	for (size_t i = 0; i < sizeof(own_ns) / sizeof(own_ns[0]); i++)
		assert_ns_differs(pid, own_ns[i]);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		assert_int_equal(sscanf(line, "%lx-%lx", &lo, &hi), 2);
		if (strstr(line, "[vsyscall]"))
			continue;
		vmas++;
		if (lo == PVM_RAM_BASE) {
			assert_int_equal(hi - lo, MEM);
		} else {
			assert_int_equal(hi - lo, 4096);      /* the stub's one page */
			assert_non_null(strstr(line, " r-xp "));
			host_pages++;
		}
	}
	fclose(f);
	assert_int_equal(vmas, 2);
	assert_int_equal(host_pages, 1);
	pvm_hv_ops.destroy(g);
	assert_int_equal(counter_read(counter), 0);   /* its hypercalls never were system calls */
	close(pfd[0]);
	close(pfd[1]);
}

/* The id of the raw_syscalls:sys_enter tracepoint, from tracefs; where
 * tracefs is not mounted, a child mounts it in a mount namespace of its
 * own (nothing changes on the host) and reads the id there. */
static long sys_enter_id(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	char buf[32] = "";
	long id = -1;
	int pfd[2], st;
	pid_t pid;
	FILE *f;

	for (size_t i = 0; i < 2 && id < 0; i++)
		if ((f = fopen(paths[i], "r")) != NULL) {
			if (fscanf(f, "%ld", &id) != 1)
				id = -1;
			fclose(f);
		}
	if (id >= 0)
		return id;
	assert_int_equal(pipe(pfd), 0);
	if ((pid = fork()) == 0) {
		close(pfd[0]);
		if (unshare(CLONE_NEWNS) == 0 && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
		    mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0 &&
		    (f = fopen(paths[0], "r")) != NULL && fscanf(f, "%ld", &id) == 1)
			dprintf(pfd[1], "%ld", id);
		_exit(0);
	}
	close(pfd[1]);
	assert_true(read(pfd[0], buf, sizeof(buf) - 1) >= 0);
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return buf[0] ? strtol(buf, NULL, 10) : -1;
}

/* A counter of the system calls the kernel runs for process pid. */
static int syscall_counter(pid_t pid)
{
	struct perf_event_attr a = { .type = PERF_TYPE_TRACEPOINT, .size = sizeof(a) };
	long id = sys_enter_id(), fd;

	if (id < 0)
		fail_msg("no raw_syscalls:sys_enter tracepoint (tracefs): the kernel's syscall "
		         "accounting is needed to show the guest ran no system call");
	a.config = (uint64_t)id;
	fd = syscall(SYS_perf_event_open, &a, pid, -1, -1, 0);
	if (fd < 0)
		fail_msg("perf_event_open on the guest (pid %d): %s", (int)pid, strerror(errno));
	return (int)fd;
}

static uint64_t counter_read(int fd)
{
	uint64_t n = UINT64_MAX;

	assert_int_equal(read(fd, &n, sizeof(n)), (ssize_t)sizeof(n));
	close(fd);
	return n;
}

/* Create the guest, attach the syscall counter, start it. */
static struct hv_guest *boot_counted(const struct hv_guest_config *cfg, int *counter)
{
	struct hv_guest *g = pt_create(cfg);

	*counter = syscall_counter(((struct pvm_guest *)g)->pid);
	pt_start(g);
	return g;
}

/* The counter is live: a plain child's system calls are counted. */
static void test_syscall_counter_counts(void **state)
{
	int go[2], counter;
	uint64_t n;
	char c = 0;
	pid_t pid;

	(void)state;
	assert_int_equal(pipe(go), 0);
	if ((pid = fork()) == 0) {
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		for (int i = 0; i < 100; i++)
			syscall(SYS_getppid);
		_exit(0);
	}
	close(go[0]);
	counter = syscall_counter(pid);
	assert_int_equal(write(go[1], "x", 1), 1);
	close(go[1]);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	n = counter_read(counter);
	print_message("a child's 100 getppid calls: %llu system calls counted\n", (unsigned long long)n);
	assert_true(n >= 100);
}

/* Run a bad guest to its crash; its console output into out.  The kernel
 * ran no system call for it from its first instruction to its end. */
static struct hv_info crash_of(const char *guest, char *out, size_t cap)
{
	struct hv_guest_config cfg;
	struct hv_guest *g;
	struct hv_info in;
	uint64_t calls;
	ssize_t n;
	int pfd[2], counter;

	assert_int_equal(pipe(pfd), 0);
	pt_config(&cfg, guest, guest, MEM, pfd[1]);
	g = boot_counted(&cfg, &counter);
	pt_wait_state(g, HV_CRASHED, 20);
	pvm_hv_ops.info(g, &in);
	pvm_hv_ops.destroy(g);
	calls = counter_read(counter);
	if (calls != 0)
		fail_msg("%s: the kernel ran %llu system call(s) for the guest", guest,
		         (unsigned long long)calls);
	close(pfd[1]);
	n = read(pfd[0], out, cap - 1);
	out[n > 0 ? n : 0] = 0;
	close(pfd[0]);
	return in;
}

static void test_int80_crashes(void **state)
{
	char con[512];
	struct hv_info in = crash_of("bad_int80", con, sizeof(con));

	(void)state;
	if (strstr(in.reason, "by int $0x80 at rip") == NULL)
		fail_msg("reason: %s", in.reason);
	assert_non_null(strstr(in.reason, "not a pvm hypercall"));
	assert_string_equal(con, "bad_int80: before\n");      /* nothing of it ran */
}

static void test_compat_int80_crashes(void **state)
{
	char con[512];
	struct hv_info in = crash_of("bad_compat_int80", con, sizeof(con));

	(void)state;
	if (strstr(in.reason, "from 32-bit compatibility mode (cs 0x23)") == NULL)
		fail_msg("reason: %s", in.reason);
	assert_string_equal(con, "bad_compat_int80: before\n");
}

/* `syscall` from compatibility mode: AMD runs it into the compat entry
 * (a SYSEMU stop from cs 0x23), Intel raises #UD; both are a crash. */
static void test_compat_syscall_crashes(void **state)
{
	char con[512];
	struct hv_info in = crash_of("bad_compat_syscall", con, sizeof(con));

	(void)state;
	print_message("reason: %s\n", in.reason);
	if (strstr(in.reason, "from 32-bit compatibility mode (cs 0x23)") == NULL &&
	    strstr(in.reason, "guest fault: Illegal instruction") == NULL)
		fail_msg("reason: %s", in.reason);
	assert_string_equal(con, "bad_compat_syscall: before\n");
}

static void test_vsyscall_killed_by_seccomp(void **state)
{
	char con[512];
	struct hv_info in = crash_of("bad_vsyscall", con, sizeof(con));

	(void)state;
	print_message("reason: %s\n", in.reason);
	if (strstr(in.reason, "killed by the sandbox (seccomp, SIGSYS)") == NULL &&
	    strstr(in.reason, "guest fault: Segmentation fault") == NULL)   /* vsyscall=none */
		fail_msg("reason: %s", in.reason);
	assert_string_equal(con, "bad_vsyscall: before\n");   /* time() never returned */
}

/* The vDSO: its clock_gettime ran in the host's address space without any
 * system call; the stub unmapped it, so a guest calling it (the monitor's
 * address of it, the same in the forked stub) faults right there. */
static void test_vdso_call_faults(void **state)
{
	struct hv_guest_config cfg;
	struct hv_guest *g;
	struct hv_info in;
	char line[256], want[64], con[512];
	void *vdso, *fn;
	ssize_t n;
	int pfd[2], counter;

	(void)state;
	vdso = dlopen("linux-vdso.so.1", RTLD_LAZY | RTLD_NOLOAD);
	if (vdso == NULL)
		skip();   /* a kernel without a vDSO has nothing to test */
	fn = dlsym(vdso, "__vdso_clock_gettime");
	assert_non_null(fn);
	assert_int_equal(pipe(pfd), 0);
	pt_config(&cfg, "bad_vdso", "bad_vdso", MEM, pfd[1]);
	g = boot_counted(&cfg, &counter);
	assert_true(pt_read_line(pfd[0], line, sizeof(line), 10));
	assert_string_equal(line, "bad_vdso: before");
	memcpy(((struct pvm_guest *)g)->ram + (1u << 20), &fn, sizeof(fn));
	pt_wait_state(g, HV_CRASHED, 20);
	pvm_hv_ops.info(g, &in);
	pvm_hv_ops.destroy(g);
	assert_int_equal(counter_read(counter), 0);
	close(pfd[1]);
	n = read(pfd[0], con, sizeof(con) - 1);
	con[n > 0 ? n : 0] = 0;
	close(pfd[0]);
	dlclose(vdso);
	snprintf(want, sizeof(want), "at rip %#llx (address %p,", (unsigned long long)(uintptr_t)fn, fn);
	if (strstr(in.reason, "guest fault: Segmentation fault") == NULL || strstr(in.reason, want) == NULL)
		fail_msg("reason: %s (expected a fault at the vDSO's clock_gettime %p)", in.reason, fn);
	assert_string_equal(con, "");   /* clock_gettime never returned */
}

/* Regression: the stub read its parent's mappings into one 32 KiB buffer
 * and failed ("reading its own mappings") once a busy parent (threads,
 * sanitizer shadows) had more; 1500 separate mappings in the parent now
 * still leave the guest with RAM and one host page. */
static void test_guest_from_parent_with_many_mappings(void **state)
{
	enum { N = 1500 };
	struct hv_guest_config cfg;
	struct hv_guest *g;
	char line[256];
	void *m[N];
	int pfd[2];

	(void)state;
	for (int i = 0; i < N; i++) {   /* alternate protections: no merging */
		m[i] = mmap(NULL, 4096, i % 2 ? PROT_READ : PROT_READ | PROT_WRITE,
		            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(m[i] != MAP_FAILED);
	}
	assert_int_equal(pipe(pfd), 0);
	pt_config(&cfg, "compat", "compat", MEM, pfd[1]);
	g = pt_boot(&cfg);
	assert_true(pt_read_line(pfd[0], line, sizeof(line), 10));
	assert_string_equal(line, "compat: 64-bit");
	pvm_hv_ops.destroy(g);
	close(pfd[0]);
	close(pfd[1]);
	for (int i = 0; i < N; i++)
		munmap(m[i], 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syscall_counter_counts),
		cmocka_unit_test(test_sandboxed_guest_runs),
		cmocka_unit_test(test_int80_crashes),
		cmocka_unit_test(test_compat_int80_crashes),
		cmocka_unit_test(test_compat_syscall_crashes),
		cmocka_unit_test(test_vsyscall_killed_by_seccomp),
		cmocka_unit_test(test_vdso_call_faults),
		cmocka_unit_test(test_guest_from_parent_with_many_mappings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
