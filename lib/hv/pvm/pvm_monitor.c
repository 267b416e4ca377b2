/*
 * The monitor thread: the guest's tracer.  It runs the vCPU under
 * PTRACE_SYSEMU, answers hypercalls, blocks the vCPU in WAIT, and executes
 * the engine's commands between two stops.  The engine gets a running
 * guest to stop by sending it a signal (SIGURG): the signal-delivery stop
 * is a pause at an arbitrary instruction, and a signal cannot be lost the
 * way a wake-up of a thread sleeping in waitpid() could.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <elf.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"

/* XCR0: the same for every process of this host (the guest's XSAVE mask). */
static uint64_t host_xcr0(void)
{
	uint32_t lo, hi;
	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

/* Mark the guest dead (crashed or exited) and kill its process. */
void pvm_guest_fail(struct pvm_guest *g, enum hv_run_state st, int code,
                    const char *fmt, ...)
{
	va_list ap;
	int s;

	pthread_mutex_lock(&g->mu);
	g->state = st;
	g->exit_code = code;
	va_start(ap, fmt);
	vsnprintf(g->reason, sizeof(g->reason), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&g->mu);
	g->run = PVM_R_DEAD;
	if (g->pid > 0) {
		kill(g->pid, SIGKILL);
		while (waitpid(g->pid, &s, __WALL) < 0 && errno == EINTR)
			;
		g->pid = 0;
	}
	g->stopped = false;
}

int pvm_get_vcpu(struct pvm_guest *g, struct pvm_vcpu *v, struct remus_err *err)
{
	struct user_regs_struct r;
	struct iovec iov = { v->xsave, PVM_XSAVE_MAX };

	if (ptrace(PTRACE_GETREGS, g->pid, 0, &r) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_GETREGS");
	if (ptrace(PTRACE_GETREGSET, g->pid, (void *)NT_X86_XSTATE, &iov) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_GETREGSET NT_X86_XSTATE");
	if (g->run == PVM_R_WAIT || (g->run == PVM_R_PAUSED && g->paused_in_wait)) {
		/* Blocked in WAIT: save it as "about to issue WAIT again". */
		r = g->hc_regs;
		r.rip -= 2;
		r.rax = PVM_HC_WAIT;
	}
	v->rax = r.rax; v->rbx = r.rbx; v->rcx = r.rcx; v->rdx = r.rdx;
	v->rbp = r.rbp; v->rsi = r.rsi; v->rdi = r.rdi; v->rsp = r.rsp;
	v->r8 = r.r8; v->r9 = r.r9; v->r10 = r.r10; v->r11 = r.r11;
	v->r12 = r.r12; v->r13 = r.r13; v->r14 = r.r14; v->r15 = r.r15;
	v->rip = r.rip; v->rflags = r.eflags;
	v->cs = (uint16_t)r.cs; v->ss = (uint16_t)r.ss; v->ds = (uint16_t)r.ds;
	v->es = (uint16_t)r.es; v->fs = (uint16_t)r.fs; v->gs = (uint16_t)r.gs;
	v->fs_base = r.fs_base; v->gs_base = r.gs_base;
	v->xsave_len = (uint32_t)iov.iov_len;
	v->xcr0 = host_xcr0();
	return 0;
}

int pvm_set_vcpu(struct pvm_guest *g, const struct pvm_vcpu *v, struct remus_err *err)
{
	struct user_regs_struct r;
	struct iovec iov = { (void *)v->xsave, v->xsave_len };

	if (ptrace(PTRACE_GETREGS, g->pid, 0, &r) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_GETREGS");
	r.rax = v->rax; r.rbx = v->rbx; r.rcx = v->rcx; r.rdx = v->rdx;
	r.rbp = v->rbp; r.rsi = v->rsi; r.rdi = v->rdi; r.rsp = v->rsp;
	r.r8 = v->r8; r.r9 = v->r9; r.r10 = v->r10; r.r11 = v->r11;
	r.r12 = v->r12; r.r13 = v->r13; r.r14 = v->r14; r.r15 = v->r15;
	r.rip = v->rip; r.eflags = v->rflags;
	r.fs_base = v->fs_base; r.gs_base = v->gs_base;
	r.ds = v->ds; r.es = v->es; r.fs = v->fs; r.gs = v->gs;
	r.orig_rax = (unsigned long long)-1;    /* never restart a syscall */
	if (ptrace(PTRACE_SETREGS, g->pid, 0, &r) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_SETREGS (rip %#llx)",
		                     (unsigned long long)v->rip);
	if (v->xsave_len && ptrace(PTRACE_SETREGSET, g->pid, (void *)NT_X86_XSTATE, &iov) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_SETREGSET NT_X86_XSTATE (%u bytes)",
		                     v->xsave_len);
	return 0;
}

/* Put the FPU/SSE/AVX state in its reset state (not the stub's leftovers). */
static int reset_xstate(struct pvm_guest *g, struct remus_err *err)
{
	uint8_t *x = calloc(1, PVM_XSAVE_MAX);
	struct iovec iov = { x, PVM_XSAVE_MAX };
	uint32_t mask;
	int rc = 0;

	if (x == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: xsave buffer");
	if (ptrace(PTRACE_GETREGSET, g->pid, (void *)NT_X86_XSTATE, &iov) < 0) {
		rc = remus_err_sys(err, errno, "pvm: PTRACE_GETREGSET NT_X86_XSTATE");
		goto out;
	}
	memcpy(&mask, x + 28, 4);                       /* keep MXCSR_MASK */
	memset(x, 0, 464);
	memset(x + 512, 0, iov.iov_len - 512);
	x[0] = 0x7f; x[1] = 0x03;                       /* FCW 0x037f */
	x[24] = 0x80; x[25] = 0x1f;                     /* MXCSR 0x1f80 */
	memcpy(x + 28, &mask, 4);
	x[512] = 0x3;                                   /* XSTATE_BV: x87, SSE */
	if (ptrace(PTRACE_SETREGSET, g->pid, (void *)NT_X86_XSTATE, &iov) < 0)
		rc = remus_err_sys(err, errno, "pvm: PTRACE_SETREGSET NT_X86_XSTATE (reset)");
out:
	free(x);
	return rc;
}

/* A guest built from an ELF: entry registers per the ABI. */
static int set_entry_regs(struct pvm_guest *g, struct remus_err *err)
{
	struct user_regs_struct r;

	if (reset_xstate(g, err) < 0)
		return err->code;

	if (ptrace(PTRACE_GETREGS, g->pid, 0, &r) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_GETREGS");
	memset(&r.r15, 0, offsetof(struct user_regs_struct, rip));   /* r15..orig_rax */
	r.orig_rax = (unsigned long long)-1;
	r.rip = g->entry;
	r.rdi = PVM_RAM_BASE;
	r.rsi = g->ram_bytes;
	r.rsp = PVM_RAM_BASE + g->ram_bytes;
	r.eflags = 0x202;
	r.fs_base = r.gs_base = 0;
	r.ds = r.es = r.fs = r.gs = 0;
	if (ptrace(PTRACE_SETREGS, g->pid, 0, &r) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_SETREGS (entry)");
	return 0;
}

/* Name a fault signal for the crash reason. */
static bool fault_signal(int sig)
{
	return sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
	       sig == SIGTRAP || sig == SIGSYS || sig == SIGABRT;
}

/* Handle one waitpid() status of the running guest. */
static void handle_stop(struct pvm_guest *g, int st)
{
	if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
		g->pid = 0;
		pvm_guest_fail(g, HV_CRASHED, 0, "guest killed by the sandbox (seccomp, SIGSYS): a "
		               "system call that bypassed the hypercall path (e.g. the vsyscall page)");
		return;
	}
	if (WIFEXITED(st) || WIFSIGNALED(st)) {
		g->pid = 0;
		pvm_guest_fail(g, HV_CRASHED, 0, "guest process %s %d",
		               WIFEXITED(st) ? "exited with" : "killed by signal",
		               WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		return;
	}
	g->stopped = true;
	int sig = WSTOPSIG(st);
	if (sig == (SIGTRAP | 0x80)) {
		if (ptrace(PTRACE_GETREGS, g->pid, 0, &g->hc_regs) < 0) {
			pvm_guest_fail(g, HV_CRASHED, 0, "GETREGS at hypercall: %s", strerror(errno));
			return;
		}
		enum pvm_hc_next nx = pvm_hcall(g, &g->hc_regs);
		if (nx == PVM_HC_BLOCK)
			g->run = PVM_R_WAIT;
		else if (nx == PVM_HC_CONT && ptrace(PTRACE_SETREGS, g->pid, 0, &g->hc_regs) < 0)
			pvm_guest_fail(g, HV_CRASHED, 0, "SETREGS at hypercall: %s", strerror(errno));
		return;
	}
	if ((st >> 16) != 0 || !fault_signal(sig))
		return;                         /* kick, event stop, stray signal: swallow */
	siginfo_t si;
	struct user_regs_struct r;
	memset(&si, 0, sizeof(si));
	memset(&r, 0, sizeof(r));
	ptrace(PTRACE_GETSIGINFO, g->pid, 0, &si);
	ptrace(PTRACE_GETREGS, g->pid, 0, &r);
	pvm_guest_fail(g, HV_CRASHED, 0, "guest fault: %s at rip %#llx (address %p, code %d, rsp %#llx)",
	               strsignal(sig), (unsigned long long)r.rip, si.si_addr, si.si_code, (unsigned long long)r.rsp);
}

/* Finish a WAIT when an event is pending. */
static void wait_check(struct pvm_guest *g)
{
	uint32_t ev = pvm_wait_events(g, g->hc_regs.rdi, true);

	if (ev == 0)
		return;
	g->hc_regs.rax = ev;
	if (ptrace(PTRACE_SETREGS, g->pid, 0, &g->hc_regs) < 0) {
		pvm_guest_fail(g, HV_CRASHED, 0, "SETREGS at wait: %s", strerror(errno));
		return;
	}
	g->run = PVM_R_RUN;
}

/* Sleep until the engine posts a command, a frame arrives or the WAIT deadline. */
static void idle_poll(struct pvm_guest *g)
{
	struct pollfd p[3] = { { g->evfd, POLLIN, 0 } };
	struct timespec ts, *tsp = NULL;
	nfds_t n = 1;
	uint64_t v;

	if (g->run == PVM_R_WAIT) {
		wait_check(g);          /* an event may have come with a command */
		if (g->run != PVM_R_WAIT)
			return;
	}
	if (g->run == PVM_R_WAIT) {
		uint64_t now = pvm_guest_mono(g), dl = g->hc_regs.rdi;
		uint64_t d = dl > now ? dl - now : 0;
		ts.tv_sec = (time_t)(d / 1000000000ULL);
		ts.tv_nsec = (long)(d % 1000000000ULL);
		tsp = &ts;
		if (g->tap_fd >= 0)
			p[n++] = (struct pollfd){ g->tap_fd, POLLIN, 0 };
	}
	if (pvm_console_pending(&g->con))     /* the rest of the console output */
		p[n++] = (struct pollfd){ g->con.fd, POLLOUT, 0 };
	if (ppoll(p, n, tsp, NULL) > 0 && (p[0].revents & POLLIN))
		(void)!read(g->evfd, &v, sizeof(v));
	pvm_console_flush(&g->con);
	if (g->run == PVM_R_WAIT)
		wait_check(g);
}

/* Execute the posted command (monitor thread, guest stopped or not started). */
static int do_cmd(struct pvm_guest *g, enum pvm_cmd c, void *arg, struct remus_err *err)
{
	bool dead = g->run == PVM_R_DEAD;

	switch (c) {
	case PVM_CMD_SPAWN:
		return pvm_stub_spawn(g, err);
	case PVM_CMD_SETCPU:
		if (pvm_set_vcpu(g, arg, err) < 0)
			return err->code;
		g->run = PVM_R_PAUSED;          /* restored: paused until start */
		g->paused_in_wait = false;
		return 0;
	case PVM_CMD_START:
		if (g->started || dead)
			return remus_err_set(err, HV_EBADSTATE, "pvm: start: guest already started");
		if (g->entry && set_entry_regs(g, err) < 0)
			return err->code;
		g->started = true;
		g->run = PVM_R_RUN;
		return 0;
	case PVM_CMD_SUSPEND:
		if (dead || g->run == PVM_R_IDLE)
			return remus_err_set(err, dead ? HV_ECRASHED : HV_EBADSTATE,
			                     "pvm: suspend: guest is not running%s%s", dead ? ": " : "", g->reason);
		if (g->run != PVM_R_PAUSED) {
			g->paused_in_wait = g->run == PVM_R_WAIT;
			g->run = PVM_R_PAUSED;
		}
		return 0;
	case PVM_CMD_RESUME:
		if (g->run != PVM_R_PAUSED)
			return remus_err_set(err, dead ? HV_ECRASHED : HV_EBADSTATE, "pvm: resume: guest not paused");
		if (!g->exitkill && pvm_adopt_arm(g, err) < 0)
			return err->code;
		g->run = g->paused_in_wait ? PVM_R_WAIT : PVM_R_RUN;
		return 0;
	case PVM_CMD_DIRTY:
		return pvm_dirty_collect(g, arg, err);
	case PVM_CMD_SAVE_CPU: {
		if (g->run != PVM_R_PAUSED)
			return remus_err_set(err, HV_EBADSTATE, "pvm: save_cpu: guest not paused");
		struct pvm_vcpu *v = malloc(sizeof(*v));
		if (v == NULL)
			return remus_err_sys(err, ENOMEM, "pvm: save_cpu");
		int rc = pvm_get_vcpu(g, v, err);
		if (rc == 0)
			rc = pvm_cpu_encode(v, arg, err);
		free(v);
		return rc;
	}
	case PVM_CMD_SAVE_DEV: {
		struct pvm_emu e = g->emu;
		struct pvm_frame *q = e.rxq_count ? malloc(e.rxq_count * sizeof(*q)) : NULL;
		if (e.rxq_count && q == NULL)
			return remus_err_sys(err, ENOMEM, "pvm: save_devices");
		for (uint32_t i = 0; i < e.rxq_count; i++)
			q[i] = g->rxq[(g->rxq_head + i) % PVM_EMU_MAX_RXQ];
		e.rxq = q;
		e.guest_mono_ns = pvm_guest_mono(g);
		e.waiting = g->paused_in_wait;
		e.wait_deadline_ns = g->paused_in_wait ? g->hc_regs.rdi : 0;
		int rc = pvm_emu_encode(&e, arg, err);
		free(q);
		return rc;
	}
	case PVM_CMD_ANNOUNCE:
		g->emu.pending_events |= PVM_EV_ANNOUNCE;
		return 0;
	case PVM_CMD_STORE_SAVE:
		if (g->run != PVM_R_PAUSED)
			return remus_err_set(err, HV_EBADSTATE, "pvm: store_save: guest not paused");
		if (g->store == NULL)
			return remus_err_set(err, HV_EUNSUPP, "pvm: guest has no store");
		return pvm_store_save(g->store, arg, err);
	case PVM_CMD_STORE_REQ:
		return pvm_store_cmd_req(g, arg, err);
	case PVM_CMD_HANDOFF:
		return pvm_handoff_detach(g, err);
	case PVM_CMD_ADOPT:
		return pvm_adopt_seize(g, err);
	default:
		return 0;
	}
}

/* Publish the engine-visible state after a command or stop. */
static void publish(struct pvm_guest *g)
{
	if (g->run == PVM_R_RUN || g->run == PVM_R_WAIT)
		g->state = HV_RUNNING;
	else if (g->run == PVM_R_PAUSED)
		g->state = HV_PAUSED;
	else if (g->run == PVM_R_IDLE)
		g->state = HV_CREATED;
}

void *pvm_monitor_main(void *arg)
{
	struct pvm_guest *g = arg;
	int st;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		if (g->cmd != PVM_CMD_NONE && !g->cmd_done) {
			enum pvm_cmd c = g->cmd;
			pthread_mutex_unlock(&g->mu);
			remus_err_clear(&g->cmd_err);
			int rc = do_cmd(g, c, g->cmd_arg, &g->cmd_err);
			pthread_mutex_lock(&g->mu);
			g->cmd_rc = rc;
			g->cmd_done = true;
			if (g->run != PVM_R_DEAD)
				publish(g);
			pthread_cond_broadcast(&g->cv);
			if (c == PVM_CMD_QUIT || (c == PVM_CMD_HANDOFF && rc == 0))
				break;          /* handed off: the guest is no longer ours */
			continue;
		}
		if (g->run == PVM_R_RUN) {
			g->executing = true;
			pthread_mutex_unlock(&g->mu);
			if (g->stopped && ptrace(PTRACE_SYSEMU, g->pid, 0, 0) < 0) {
				pvm_guest_fail(g, HV_CRASHED, 0, "PTRACE_SYSEMU: %s", strerror(errno));
			} else {
				g->stopped = false;
				while (waitpid(g->pid, &st, __WALL) < 0) {
					if (errno != EINTR) {
						st = 0;
						break;
					}
				}
				handle_stop(g, st);
			}
			pthread_mutex_lock(&g->mu);
			g->executing = false;
			if (g->run != PVM_R_DEAD)
				publish(g);
			continue;
		}
		pthread_mutex_unlock(&g->mu);
		idle_poll(g);
		pthread_mutex_lock(&g->mu);
		if (g->run != PVM_R_DEAD)
			publish(g);
	}
	pthread_mutex_unlock(&g->mu);
	if (g->pid > 0) {
		kill(g->pid, SIGKILL);
		while (waitpid(g->pid, &st, __WALL) < 0 && errno == EINTR)
			;
		g->pid = 0;
	}
	return NULL;
}
