/*
 * Guest compute slowdown under protection: the guest kit's compute guest
 * (a fixed CPU + memory workload that prints its own work done and the
 * time, guest/apps/compute.c) runs unprotected, then is synced to a
 * backup in this process over an authenticated socketpair (remusd's
 * engine, no compression) and alternates: a window checkpointed at 40 Hz
 * (25 ms interval), a window without checkpoints, ROUNDS times.  Each
 * protected window's work rate, as a ratio to the mean of the two
 * unprotected windows around it (so that a drift of a shared machine's
 * load moves both sides), is one slowdown; the median of them is the
 * figure, goal <= 1.3x (issue 21).  The work rates come from the guest's
 * own reports, by its clock.  The backup runs on the same cores as the
 * guest here, so its CPU is charged to the guest too: a pessimistic
 * figure beside two hosts.  Each figure is also a row (bench/rows.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/ckpt.h"
#include "hv/pvm/pvm.h"
#include "link.h"
#include "rows.h"

#define MEM          (32u << 20)
#define INTERVAL_MS  25u
#define WINDOW_MS    1000u       /* per window; BENCH_QUICK: half */
#define ROUNDS       5u          /* protected windows, each between two alone */
#define MAX_REPORTS  4096u

/* The guest's "compute units=U ns=T" lines, as they were read. */
struct reports {
	int fd;                       /* console pipe, read end, non-blocking */
	char line[256];
	size_t len;
	size_t n;
	uint64_t units[MAX_REPORTS], ns[MAX_REPORTS];
};

static void die(const char *what, const struct remus_err *err)
{
	fprintf(stderr, "compute_bench: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* CPU time of this process (the pvm monitor, the engine's sender and
 * receiver; the guest is a process of its own), ns. */
static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* CPU and wall time summed over the windows of one kind. */
struct cpu_acc {
	uint64_t cpu_ns, wall_ns;
};

static void sleep_ms(uint32_t ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static void report_line(struct reports *r)
{
	unsigned long long u, t;

	r->line[r->len] = '\0';
	if (sscanf(r->line, "compute units=%llu ns=%llu", &u, &t) == 2 && r->n < MAX_REPORTS) {
		r->units[r->n] = u;
		r->ns[r->n] = t;
		r->n++;
	}
	r->len = 0;
}

/* Read what the console holds now (the guest prints every 50 ms; the pipe
 * holds minutes of it, so reading between phases loses nothing). */
static void drain(struct reports *r)
{
	char buf[4096];
	ssize_t got;

	while ((got = read(r->fd, buf, sizeof(buf))) > 0)
		for (ssize_t i = 0; i < got; i++) {
			if (buf[i] == '\n')
				report_line(r);
			else if (r->len + 1 < sizeof(r->line))
				r->line[r->len++] = buf[i];
		}
	if (got < 0 && errno != EAGAIN)
		die("console read", NULL);
}

/* Work rate (units per second) between the first report at or after t0
 * and the last at or before t1, by the guest's own clock. */
static double rate_between(const struct reports *r, uint64_t t0, uint64_t t1)
{
	size_t a = r->n, b = r->n;

	for (size_t i = 0; i < r->n; i++) {
		if (a == r->n && r->ns[i] >= t0)
			a = i;
		if (r->ns[i] <= t1)
			b = i;
	}
	if (a == r->n || b == r->n || b <= a) {
		fprintf(stderr, "compute_bench: fewer than two reports in a window (%zu read)\n", r->n);
		exit(1);
	}
	return (double)(r->units[b] - r->units[a]) * 1e9 / (double)(r->ns[b] - r->ns[a]);
}

/* Work rate of the guest left alone for window_ms. */
static double alone(struct reports *r, uint32_t window_ms, struct cpu_acc *acc)
{
	uint64_t t0 = now_ns(), c0 = self_cpu_ns(), t1;

	sleep_ms(window_ms);
	t1 = now_ns();
	acc->cpu_ns += self_cpu_ns() - c0;
	acc->wall_ns += t1 - t0;
	drain(r);
	return rate_between(r, t0, t1);
}

static void *recv_main(void *arg)
{
	struct remus_err err = { 0 };

	ckpt_receiver_run(arg, -1, &err);
	return NULL;
}

/* The bench's link to its backup: sender synced, receiver thread running. */
struct protection {
	int sp[2];
	struct rnet_conn *pri, *bak;
	struct ckpt_receiver *rcv;
	struct ckpt_sender *snd;
	pthread_t tr;
};

static void protect(struct hv_guest *g, struct protection *p)
{
	struct rnet_key key = { .len = 32 };
	struct remus_err err = { 0 };

	memset(key.bytes, 0x5a, key.len);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, p->sp) < 0)
		die("socketpair", NULL);
	bench_link_up(p->sp, &key, RNET_COMPRESS_NONE, 5000, &p->pri, &p->bak);
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .conn = p->bak, .ram_bytes = MEM };
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .guest = g, .conn = p->pri,
	                              .interval_ms = INTERVAL_MS, .ack_timeout_ms = 30000 };
	if (ckpt_receiver_new(&rc, &p->rcv, &err) < 0 || ckpt_sender_new(&sc, &p->snd, &err) < 0)
		die("engine", &err);
	pthread_create(&p->tr, NULL, recv_main, p->rcv);
	if (ckpt_sender_sync(p->snd, &err) < 0)
		die("sync", &err);
}

static void unprotect(struct protection *p)
{
	shutdown(p->sp[0], SHUT_WR);
	pthread_join(p->tr, NULL);
	ckpt_sender_free(p->snd);
	ckpt_receiver_free(p->rcv);
	rnet_conn_free(p->pri);
	rnet_conn_free(p->bak);
}

/* Work rate of the guest checkpointed every INTERVAL_MS for window_ms;
 * adds the checkpoints, pauses and their time to the running totals. */
static double protected(struct protection *p, struct reports *r, uint32_t window_ms,
                        uint64_t *ckpts, uint64_t *pauses, uint64_t *pause_us, struct cpu_acc *acc)
{
	struct remus_err err = { 0 };
	struct ckpt_stats st0, st;
	uint64_t t0, t1, c0;

	ckpt_sender_stats(p->snd, &st0);
	c0 = self_cpu_ns();
	t0 = now_ns();
	/* max_epochs counts from the sync: the checkpoint to stop at */
	if (ckpt_sender_run(p->snd, -1, st0.acked + window_ms / INTERVAL_MS, &err) < 0)
		die("run", &err);
	t1 = now_ns();
	acc->cpu_ns += self_cpu_ns() - c0;
	acc->wall_ns += t1 - t0;
	ckpt_sender_stats(p->snd, &st);
	*ckpts += st.checkpoints - st0.checkpoints;
	*pauses += st.pauses - st0.pauses;
	*pause_us += st.total_pause_us - st0.total_pause_us;
	drain(r);
	return rate_between(r, t0, t1);
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_d);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(void)
{
	static struct reports r;
	struct hv_guest_config cfg = { .name = "compute", .mem_bytes = MEM, .cpu = -1 };
	struct remus_err err = { 0 };
	struct protection prot;
	struct hv_guest *g;
	const char *build = getenv("BUILD");
	uint32_t window = bench_quick() ? WINDOW_MS / 2 : WINDOW_MS;
	double a[ROUNDS + 1], p[ROUNDS], slow[ROUNDS], base, during, slowdown, ckrate, pause;
	double cpu_alone, cpu_prot;
	uint64_t ckpts = 0, pauses = 0, pause_us = 0;
	struct cpu_acc ca = { 0 }, cp = { 0 };
	char image[512];
	int pfd[2];

	if (pipe2(pfd, O_CLOEXEC) < 0 || fcntl(pfd[0], F_SETFL, O_NONBLOCK) < 0)
		die("pipe", NULL);
	snprintf(image, sizeof(image), "%s/guest/compute.elf", build ? build : "build");
	cfg.image = image;
	cfg.console_fd = pfd[1];
	r.fd = pfd[0];
	if (pvm_hv_ops.create(&cfg, &g, &err) < 0 || pvm_hv_ops.start(g, &err) < 0)
		die(image, &err);
	sleep_ms(300);       /* the working set is allocated and touched */
	drain(&r);
	/* A P A P ... A: each protected window between two unprotected ones,
	 * so that the load of a shared machine drifting during the run moves
	 * both sides of each ratio; the median ratio is the figure. */
	a[0] = alone(&r, window, &ca);
	protect(g, &prot);
	for (unsigned i = 0; i < ROUNDS; i++) {
		p[i] = protected(&prot, &r, window, &ckpts, &pauses, &pause_us, &cp);
		a[i + 1] = alone(&r, window, &ca);
		slow[i] = (a[i] + a[i + 1]) / 2 / p[i];
		printf("  unprotected %.0f, protected %.0f, unprotected %.0f units/s: %.2fx\n",
		       a[i], p[i], a[i + 1], slow[i]);
	}
	unprotect(&prot);
	pvm_hv_ops.destroy(g);
	close(pfd[0]);
	close(pfd[1]);

	slowdown = median(slow, ROUNDS);
	base = median(a, ROUNDS + 1);
	during = median(p, ROUNDS);
	ckrate = (double)ckpts * 1e9 / (double)cp.wall_ns;
	cpu_alone = 100.0 * (double)ca.cpu_ns / (double)ca.wall_ns;
	cpu_prot = 100.0 * (double)cp.cpu_ns / (double)cp.wall_ns;
	pause = pauses ? (double)pause_us / (double)pauses : NAN;
	printf("compute guest (32 MiB, 4 MiB written at random): %.0f units/s unprotected, %.0f "
	       "protected at %u ms (loopback backup, same cores) = %.2fx slower (median of %u); "
	       "%.1f ckpt/s, mean pause %.0f us\n", base, during, INTERVAL_MS, slowdown, ROUNDS,
	       ckrate, pause);
	printf("monitor + engine CPU (this process, not the guest): %.0f %% of a core protected, "
	       "%.0f %% unprotected\n", cpu_prot, cpu_alone);
	bench_row("compute_slowdown: work rate unprotected", base, "units/s", NAN, NAN, NULL,
	          BENCH_NO_GOAL);
	bench_row("compute_slowdown: work rate protected at 40 Hz", during, "units/s", base,
	          during / base, NULL, BENCH_NO_GOAL);
	bench_row("compute_slowdown: slowdown at 40 Hz", slowdown, "x", 1.0, slowdown,
	          "ratio <= 1.3", slowdown <= 1.3);
	bench_row("compute_slowdown: checkpoints/s protected at 40 Hz", ckrate, "1/s",
	          1000.0 / INTERVAL_MS, ckrate * INTERVAL_MS / 1000.0, NULL, BENCH_NO_GOAL);
	bench_row("compute_slowdown: mean checkpoint pause at 40 Hz", pause, "us", NAN, NAN, NULL,
	          BENCH_NO_GOAL);
	bench_row("compute_slowdown: monitor + engine CPU protected at 40 Hz", cpu_prot,
	          "% of a core", cpu_alone, cpu_prot / cpu_alone, NULL, BENCH_NO_GOAL);
	return 0;
}
