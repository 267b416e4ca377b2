/*
 * The stub: the process that becomes the guest.  Forked by the monitor
 * thread (which then seizes it), it maps guest RAM at PVM_RAM_BASE,
 * creates the dirty-log userfaultfd (WP-async), closes every other fd,
 * enters its own namespaces as uid nobody, drops every capability, installs the sandbox's seccomp filter, unmaps
 * every mapping but guest RAM and the one page of its own final code, and
 * stops itself with SIGSTOP.  Runs after fork() in a threaded process:
 * raw system calls only, no allocation.
 *
 * The second wall.  Every system call instruction of the guest stops at
 * ptrace's SYSEMU first (the monitor's hypercalls; the kernel then skips
 * the call without consulting seccomp: tests/unit/test_pvm_sandbox.c
 * proves that order on the running kernel).  What reaches the kernel by
 * another path — the vsyscall page's emulation, which does consult
 * seccomp — meets a filter that kills the process: only munmap and kill
 * issued from the stub's own page pass, for its last two steps.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/rseq.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"

#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#define PVM_UFFD_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)

#define STUB_MAX_RANGES 2048

/* Exit codes of a stub that failed before stopping (named in errors). */
enum { STUB_E_GO = 60, STUB_E_MAP, STUB_E_UFFD, STUB_E_API, STUB_E_REG, STUB_E_MAPS,
       STUB_E_CAPS, STUB_E_SECCOMP, STUB_E_NS, STUB_E_ID, STUB_E_USERNS };

/* The identity a guest process runs under when remus runs as root: the
 * kernel's overflow uid/gid, "nobody", which owns nothing on the host. */
#define STUB_GUEST_ID 65534u

/*
 * Last steps, in assembly because they unmap the stack they would run on
 * and because no compiled code (nor a sanitizer's runtime) may run once
 * the sandbox is on: seccomp(SET_MODE_FILTER, prog) (on failure exit
 * STUB_E_SECCOMP), munmap each (addr, len) pair, then the stack, then
 * kill(pid, SIGSTOP).  rdi = pairs, rsi = count, rdx = stack start,
 * rcx = stack length, r8 = pid, r9 = the seccomp filter program.
 */
void pvm_stub_final(const uint64_t *pairs, uint64_t n, uint64_t stk,
                    uint64_t stklen, uint64_t pid, const struct sock_fprog *prog)
	__attribute__((noreturn));
_Static_assert(STUB_E_SECCOMP == 67 && SECCOMP_SET_MODE_FILTER == 1 && __NR_seccomp == 317,
               "numbers in pvm_stub_final");
__asm__(
	".text\n"
	".p2align 12\n"         /* alone at the start of a page: the one kept */
	".globl pvm_stub_final\n"
	".hidden pvm_stub_final\n"
	".type pvm_stub_final,@function\n"
	"pvm_stub_final:\n"
	"  mov %rdi, %r12\n  mov %rsi, %r13\n  mov %rdx, %r14\n"
	"  mov %rcx, %r15\n  mov %r8, %rbx\n"
	"  mov $1, %edi\n  xor %esi, %esi\n  mov %r9, %rdx\n  mov $317, %eax\n  syscall\n"
	"  test %rax, %rax\n  jz 1f\n"
	"  mov $67, %edi\n  mov $60, %eax\n  syscall\n  ud2\n"
	"1: test %r13, %r13\n  jz 2f\n"
	"  mov (%r12), %rdi\n  mov 8(%r12), %rsi\n  mov $11, %eax\n  syscall\n"
	"  add $16, %r12\n  dec %r13\n  jmp 1b\n"
	"2: mov %r14, %rdi\n  mov %r15, %rsi\n  mov $11, %eax\n  syscall\n"
	"  mov %rbx, %rdi\n  mov $19, %esi\n  mov $62, %eax\n  syscall\n"
	"  ud2\n"
	".size pvm_stub_final, .-pvm_stub_final\n");

/* Parse one hex number from the maps text; advances *p. */
static uint64_t stub_hex(const char **p)
{
	uint64_t v = 0;
	for (;; (*p)++) {
		char c = **p;
		if (c >= '0' && c <= '9') v = v * 16 + (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f') v = v * 16 + (uint64_t)(c - 'a' + 10);
		else return v;
	}
}

/* Queue one range to unmap; -1 when the list is full. */
static int stub_push(uint64_t *pairs, int *count, uint64_t lo, uint64_t hi)
{
	if (hi <= lo)
		return 0;
	if (*count == STUB_MAX_RANGES)
		return -1;
	pairs[2 * *count] = lo;
	pairs[2 * *count + 1] = hi - lo;
	(*count)++;
	return 0;
}

/* The page holding pvm_stub_final (page-aligned, far shorter than a page). */
static uint64_t stub_code_page(void)
{
	return (uint64_t)&pvm_stub_final & ~(uint64_t)(PVM_PAGE_SIZE - 1);
}

/* Sort one line of /proc/self/maps ("lo-hi ...") into the ranges to drop. */
static int stub_range_line(const char *p, uint64_t sp, uint64_t code, uint64_t *pairs,
                           int *count, uint64_t *stk, uint64_t *stklen)
{
	uint64_t lo = stub_hex(&p), hi;

	if (*p++ != '-')
		return -1;
	hi = stub_hex(&p);
	if (lo >= 0xffffffffff600000ULL)            /* vsyscall: not a vma */
		return 0;
	if (lo == PVM_RAM_BASE)
		return 0;
	if (sp >= lo && sp < hi) {
		*stk = lo;
		*stklen = hi - lo;
		return 0;
	}
	if (code >= lo && code < hi)                /* keep one page of the host's text */
		return stub_push(pairs, count, lo, code) < 0 ||
		       stub_push(pairs, count, code + PVM_PAGE_SIZE, hi) < 0 ? -1 : 0;
	return stub_push(pairs, count, lo, hi);
}

/* Collect the mappings to drop: all but guest RAM, the stack (dropped last
 * by the final code itself) and the final code's page.  The maps text is
 * read a buffer at a time, whole lines parsed and the rest carried over:
 * a forked child inherits every mapping of its parent (thread stacks,
 * sanitizer shadows), which can run past any fixed buffer. */
static int stub_ranges(char *buf, size_t cap, uint64_t *pairs, uint64_t *stk,
                       uint64_t *stklen)
{
	uint64_t sp = (uint64_t)__builtin_frame_address(0);
	uint64_t code = stub_code_page();
	size_t have = 0;
	bool eof = false;
	ssize_t n;
	int fd, count = 0, rc = 0;

	fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while (!eof && rc == 0) {
		char *start = buf, *nl;
		if ((n = read(fd, buf + have, cap - 1 - have)) < 0) {
			rc = -1;
			break;
		}
		eof = n == 0;
		have += (size_t)n;
		buf[have] = 0;
		while (rc == 0 && (nl = memchr(start, '\n', (size_t)(buf + have - start))) != NULL) {
			*nl = 0;
			rc = stub_range_line(start, sp, code, pairs, &count, stk, stklen);
			start = nl + 1;
		}
		if (rc == 0 && eof && start < buf + have)
			rc = stub_range_line(start, sp, code, pairs, &count, stk, stklen);
		have = (size_t)(buf + have - start);
		if (have + 1 >= cap)                    /* one line longer than the buffer */
			rc = -1;
		memmove(buf, start, have);
	}
	close(fd);
	return rc < 0 ? -1 : count;
}

/* No capability left, in any set, nor a way to regain one. */
static void stub_drop_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct none[2] = { { 0, 0, 0 }, { 0, 0, 0 } };

	for (int c = 0; c <= CAP_LAST_CAP; c++)
		if (syscall(SYS_prctl, PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			_exit(STUB_E_CAPS);
	if (syscall(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 ||
	    syscall(SYS_capset, &hdr, none) < 0 ||
	    syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(STUB_E_CAPS);
}

/* Own namespaces and no identity of the host's.  As root: new mount,
 * network, IPC and UTS namespaces (the pid namespace came with the clone),
 * then uid and gid nobody with no supplementary group, then, unprivileged,
 * an own user namespace without uid maps; not as root, the user namespace
 * first, which lets an unprivileged process take the others.  Raw system
 * calls: glibc's set*id would signal threads this process does not have. */
static void stub_confine(void)
{
	const long others = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
	const unsigned id = STUB_GUEST_ID;

	if (syscall(SYS_geteuid) != 0) {
		if (syscall(SYS_unshare, CLONE_NEWUSER | others) < 0)
			_exit(STUB_E_USERNS);
		return;
	}
	if (syscall(SYS_unshare, others) < 0)
		_exit(STUB_E_NS);
	if (syscall(SYS_setgroups, 0, NULL) < 0 || syscall(SYS_setresgid, id, id, id) < 0 ||
	    syscall(SYS_setresuid, id, id, id) < 0)
		_exit(STUB_E_ID);
	if (syscall(SYS_unshare, CLONE_NEWUSER) < 0)
		_exit(STUB_E_USERNS);
}

/* The sandbox filter: kill the process on any system call the kernel would
 * run, except munmap and kill from the stub's final page (its last steps).
 * SYSEMU stops come before seccomp, so hypercalls never get here.  Built
 * into f[STUB_FILTER_LEN]; pvm_stub_final installs it. */
#define STUB_FILTER_LEN 15
static void stub_filter(struct sock_filter *out, struct sock_fprog *prog)
{
	uint64_t page = stub_code_page();
	const struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		/* instruction_pointer's page == the stub's page (high, then low word) */
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer) + 4),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(page >> 32), 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, instruction_pointer)),
		BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)page >> 12, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_munmap, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_kill, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	_Static_assert(sizeof(f) / sizeof(f[0]) == STUB_FILTER_LEN, "filter length");

	memcpy(out, f, sizeof(f));
	prog->len = STUB_FILTER_LEN;
	prog->filter = out;
}

/* Register guest RAM with a WP-async userfaultfd (the dirty log), or for
 * a copy-on-write guest a synchronous one, moved to PVM_COW_UFFD_FD where
 * the monitor takes it (pvm_cow.c); the fd stays open. */
static int stub_uffd(uint64_t ram_bytes, bool cow)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = cow ? UFFD_FEATURE_WP_HUGETLBFS_SHMEM : PVM_UFFD_FEATURES,
	};
	struct uffdio_register reg = {
		.range = { .start = PVM_RAM_BASE, .len = ram_bytes },
		.mode = UFFDIO_REGISTER_MODE_WP,
	};
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		_exit(STUB_E_UFFD);
	if (ioctl(fd, UFFDIO_API, &api) < 0)
		_exit(STUB_E_API);
	if (ioctl(fd, UFFDIO_REGISTER, &reg) < 0)
		_exit(STUB_E_REG);
	if (cow && fd != PVM_COW_UFFD_FD) {
		if (dup2(fd, PVM_COW_UFFD_FD) < 0)
			_exit(STUB_E_UFFD);
		close(fd);
		fd = PVM_COW_UFFD_FD;
	}
	return fd;
}

/* Drop the rseq registration: its area lives in TLS, which the stub unmaps,
 * and the kernel would fault the guest writing it on the next return. */
static void stub_unregister_rseq(void)
{
	void *area = (char *)__builtin_thread_pointer() + __rseq_offset;

	if (__rseq_size == 0)
		return;
	if (syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) < 0)
		syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
}

/* The child side: set up and stop; never returns. */
static void stub_main(struct pvm_guest *g, int go_fd)
{
	static char maps[32768];
	uint64_t pairs[2 * STUB_MAX_RANGES], stk = 0, stklen = 0;
	struct sock_filter filter[STUB_FILTER_LEN];
	struct sock_fprog prog;
	char c;
	int keep = -1, n;
	pid_t self;
	void *at;

	if (read(go_fd, &c, 1) != 1)
		_exit(STUB_E_GO);
	setsid();
	/* No parent-death signal: the tracer's PTRACE_O_EXITKILL ends the
	 * guest with the monitor, and the go pipe ends a stub never seized;
	 * a guest handed off (pvm_handoff.c) must outlive the monitor thread
	 * that forked it. */
	sigset_t none;                  /* a blocked signal would never stop the vCPU */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	at = mmap((void *)PVM_RAM_BASE, g->ram_bytes, PROT_READ | PROT_WRITE | PROT_EXEC,
	          MAP_SHARED | MAP_FIXED_NOREPLACE, g->ram_fd, 0);
	if (at != (void *)PVM_RAM_BASE)
		_exit(STUB_E_MAP);
	if (g->dirty_mode == HV_DIRTY_EXACT)
		keep = stub_uffd(g->ram_bytes, g->cow);
	stub_unregister_rseq();
	n = stub_ranges(maps, sizeof(maps), pairs, &stk, &stklen);
	if (n < 0 || stklen == 0)
		_exit(STUB_E_MAPS);
	if (keep >= 0) {
		if (keep > 0)
			syscall(SYS_close_range, 0, keep - 1, 0);
		syscall(SYS_close_range, keep + 1, ~0U, 0);
	} else {
		syscall(SYS_close_range, 0, ~0U, 0);
	}
	stub_confine();
	self = (pid_t)syscall(SYS_getpid);   /* 1 in its own pid namespace */
	stub_drop_caps();
	stub_filter(filter, &prog);
	/* the sandbox goes on inside: nothing but its munmap/kill after it */
	pvm_stub_final(pairs, (uint64_t)n, stk, stklen, (uint64_t)self, &prog);
}

/* Name a stub's early exit for the error message. */
static const char *stub_step(int code)
{
	switch (code) {
	case STUB_E_GO:   return "waiting for the monitor";
	case STUB_E_MAP:  return "mapping RAM at the RAM base (address taken?)";
	case STUB_E_UFFD: return "creating the userfaultfd";
	case STUB_E_API:  return "enabling userfaultfd write-protect (WP-async, or on shmem)";
	case STUB_E_REG:  return "registering RAM for write-protect";
	case STUB_E_MAPS: return "reading its own mappings";
	case STUB_E_CAPS: return "dropping its capabilities";
	case STUB_E_SECCOMP: return "installing the seccomp sandbox";
	case STUB_E_NS:   return "entering its own mount, network, IPC and UTS namespaces";
	case STUB_E_ID:   return "switching to uid/gid nobody (65534)";
	case STUB_E_USERNS: return "entering its own user namespace (are unprivileged user "
	                           "namespaces disabled? sysctl user.max_user_namespaces, "
	                           "kernel.unprivileged_userns_clone)";
	default:          return "unknown step";
	}
}

int pvm_stub_spawn(struct pvm_guest *g, struct remus_err *err)
{
	int go[2], st, rc;
	pid_t pid;
	char path[64];

	if (pipe2(go, O_CLOEXEC) < 0)
		return remus_err_sys(err, errno, "pvm: pipe");
	/* fork() with, as root, an own pid namespace for the guest process
	 * (glibc's fork cannot add the flag; the child runs raw calls only) */
	pid = (pid_t)syscall(SYS_clone, SIGCHLD | (geteuid() == 0 ? CLONE_NEWPID : 0), NULL, NULL, NULL, 0);
	if (pid < 0) {
		rc = remus_err_sys(err, errno, "pvm: cloning the guest stub (as root into its own pid "
		                   "namespace, which needs CAP_SYS_ADMIN)");
		goto out;
	}
	if (pid == 0) {
		close(go[1]);
		stub_main(g, go[0]);
	}
	g->pid = pid;
	if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0) {
		rc = remus_err_sys(err, errno, "pvm: PTRACE_SEIZE stub %d", pid);
		kill(pid, SIGKILL);
		waitpid(pid, &st, __WALL);
		goto out;
	}
	if (write(go[1], "g", 1) != 1) {
		rc = remus_err_sys(err, errno, "pvm: start stub");
		goto kill;
	}
	if (waitpid(pid, &st, __WALL) < 0) {
		rc = remus_err_sys(err, errno, "pvm: wait for stub");
		goto kill;
	}
	if (WIFEXITED(st)) {
		g->pid = 0;
		rc = remus_err_set(err, -EIO, "pvm: guest stub failed %s (exit %d)",
		                   stub_step(WEXITSTATUS(st)), WEXITSTATUS(st));
		goto out;
	}
	if (!WIFSTOPPED(st) || WSTOPSIG(st) != SIGSTOP) {
		rc = remus_err_set(err, -EIO, "pvm: guest stub stopped unexpectedly (status %#x)", st);
		goto kill;
	}
	g->stopped = true;
	g->exitkill = true;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	g->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (g->pagemap_fd < 0) {
		rc = remus_err_sys(err, errno, "pvm: open %s", path);
		goto kill;
	}
	if (g->cow && (rc = pvm_cow_attach(g, err)) < 0)
		goto kill;
	rc = 0;
	goto out;
kill:
	kill(pid, SIGKILL);
	waitpid(pid, &st, __WALL);
	g->pid = 0;
out:
	close(go[0]);
	close(go[1]);
	return rc;
}

/* Probe once whether this kernel offers userfaultfd WP-async. */
bool pvm_uffd_wp_async_supported(void)
{
	struct uffdio_api api = { .api = UFFD_API, .features = PVM_UFFD_FEATURES };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	bool ok;

	if (fd < 0)
		return false;
	ok = ioctl(fd, UFFDIO_API, &api) == 0 &&
	     (api.features & PVM_UFFD_FEATURES) == PVM_UFFD_FEATURES;
	close(fd);
	return ok;
}
