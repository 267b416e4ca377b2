/*
 * pvm benchmark: pause latency, dirty scan + copy at 1/10/100 % of a
 * 256 MiB guest (exact and hashing modes), hypercall round trip and
 * restore time, each next to a baseline measured in the same run
 * (a native system call, memcpy of the same pages) as a ratio.
 * The dirty sweep also runs at 1 % of 64 MiB and 1 GiB (pause vs guest
 * RAM), and again for a copy-on-write guest (capture_begin: scan and
 * write-protect in the pause, copy-out after it while the guest runs).  Guests come from $BUILD/tests/pvm (make check builds them).
 * Each figure is also a row for bench/results (bench/rows.h).
 */
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"
#include "rows.h"

#define BIG (256ULL << 20)

static double now_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what, const struct remus_err *err)
{
	fprintf(stderr, "bench/pvm: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

static struct hv_guest *boot_cfg(const char *guest, uint64_t mem, int console, bool cow)
{
	static char path[512];
	struct hv_guest_config cfg = { .name = guest, .mem_bytes = mem, .console_fd = console };
	struct remus_err err = { 0 };
	struct hv_guest *g;
	const char *b = getenv("BUILD");

	snprintf(path, sizeof(path), "%s/tests/pvm/%s.elf", b ? b : "build", guest);
	cfg.image = path;
	cfg.cpu = sched_getcpu();
	cfg.cow_capture = cow;
	if (pvm_hv_ops.create(&cfg, &g, &err) < 0 || pvm_hv_ops.start(g, &err) < 0)
		die(guest, &err);
	return g;
}

static struct hv_guest *boot(const char *guest, uint64_t mem, int console)
{
	return boot_cfg(guest, mem, console, false);
}

/* Median of a native syscall, in microseconds. */
static double native_syscall_us(void)
{
	double t0 = now_us();
	for (int i = 0; i < 100000; i++)
		syscall(SYS_getppid);
	return (now_us() - t0) / 100000;
}

static void bench_pause(double sys_us)
{
	struct remus_err err = { 0 };
	struct hv_guest *g = boot("counter", 16ULL << 20, -1);
	double d[1000];

	for (int i = 0; i < 1000; i++) {
		struct timespec s = { 0, 100000 };
		nanosleep(&s, NULL);
		double t = now_us();
		if (pvm_hv_ops.suspend(g, &err) < 0)
			die("suspend", &err);
		d[i] = now_us() - t;
		pvm_hv_ops.resume(g, &err);
	}
	qsort(d, 1000, sizeof(d[0]), cmp_d);
	printf("pause latency: median %.1f us, p99 %.1f us | native syscall %.3f us | ratio %.0fx / %.0fx\n",
	       d[500], d[990], sys_us, d[500] / sys_us, d[990] / sys_us);
	bench_row("pvm suspend latency, median", d[500], "us", sys_us, d[500] / sys_us, NULL, BENCH_NO_GOAL);
	bench_row("pvm suspend latency, p99", d[990], "us", sys_us, d[990] / sys_us, NULL, BENCH_NO_GOAL);
	pvm_hv_ops.destroy(g);
}

/* Wait for one console line from the guest. */
static void read_line(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	char c;
	do {
		if (poll(&p, 1, 60000) <= 0 || read(fd, &c, 1) != 1)
			die("guest console", NULL);
	} while (c != '\n');
}

/* Scan + copy of the dirty set after rounds 0..rounds-1 of the dirtier
 * guest (1, 10, 100 % of RAM above 16 MiB) in a guest of `mem` bytes. */
static void bench_dirty(const char *mode, uint64_t mem, int rounds)
{
	struct remus_err err = { 0 };
	struct hv_pfn_list l = { 0 };
	static const char *pct[3] = { "1%", "10%", "100%" };
	static const int pct_x[3] = { 1, 10, 100 };
	uint8_t *dst = malloc(mem), *src = malloc(mem);
	char name[128];
	int p[2];

	if (dst == NULL || src == NULL || pipe(p) < 0)
		die("alloc", NULL);
	memset(dst, 1, mem);                 /* pre-faulted, as the engine keeps it */
	memset(src, 2, mem);
	if (mode)
		setenv("REMUS_PVM_DIRTY", mode, 1);
	struct hv_guest *g = boot("dirtier", mem, p[1]);
	unsetenv("REMUS_PVM_DIRTY");
	for (int k = 0; k < rounds; k++) {
		pvm_hv_ops.suspend(g, &err);
		pvm_hv_ops.dirty_log(g, &l, &err);
		pvm_hv_ops.resume(g, &err);
		pvm_hv_ops.announce(g, &err);
		read_line(p[0]);
		pvm_hv_ops.suspend(g, &err);
		double t0 = now_us();
		if (pvm_hv_ops.dirty_log(g, &l, &err) < 0)
			die("dirty_log", &err);
		double t1 = now_us(), copy = 1e18, base = 1e18;
		for (int rep = 0; rep < 3; rep++) {     /* interleaved, best of 3 */
			double a = now_us();
			if (pvm_hv_ops.copy_pages(g, l.pfns, l.count, dst, &err) < 0)
				die("copy_pages", &err);
			double b = now_us();
			for (size_t i = 0; i < l.count; i++)    /* baseline: same pages, memcpy */
				memcpy(dst + i * 4096, src + l.pfns[i] * 4096, 4096);
			double c = now_us();
			copy = b - a < copy ? b - a : copy;
			base = c - b < base ? c - b : base;
		}
		printf("dirty %-5s %-4s of %4llu MiB (%6zu pages): scan %8.0f us + copy %7.0f us | memcpy %7.0f us | ratio %.2fx\n",
		       mode ? mode : "exact", pct[k], (unsigned long long)(mem >> 20), l.count, t1 - t0,
		       copy, base, (t1 - t0 + copy) / base);
		double pause = t1 - t0 + copy;
		if (mem == BIG) {
			bool goal = k == 0 && mode == NULL;
			snprintf(name, sizeof(name), "pause_vs_dirty: stop-and-copy %s scan+copy, 256 MiB @ %d",
			         mode ? mode : "exact", pct_x[k]);
			bench_row(name, pause, "us", base, pause / base, goal ? "value <= 500 us" : NULL,
			          goal ? pause <= 500 : BENCH_NO_GOAL);
			snprintf(name, sizeof(name), "pvm dirty scan %s, %d%% of 256 MiB", mode ? mode : "exact",
			         pct_x[k]);
			bench_row(name, t1 - t0, "us", base, (t1 - t0) / base, NULL, BENCH_NO_GOAL);
		}
		if (k == 0 && mode == NULL) {
			snprintf(name, sizeof(name), "pause_vs_ram: stop-and-copy scan+copy, 1%% dirty @ %llu",
			         (unsigned long long)(mem >> 20));
			bench_row(name, pause, "us", base, pause / base, NULL, BENCH_NO_GOAL);
		}
		pvm_hv_ops.resume(g, &err);
	}
	pvm_hv_ops.destroy(g);
	hv_pfn_list_free(&l);
	free(dst);
	free(src);
	close(p[0]);
	close(p[1]);
}

/* Copy-on-write capture of the same dirty sets: the pause holds the scan
 * and the write-protection of the dirty runs; the copy-out runs after it,
 * with the guest running, and is printed beside the memcpy baseline. */
static void bench_cow(uint64_t mem, int rounds)
{
	struct remus_err err = { 0 };
	struct hv_pfn_list l = { 0 };
	struct pvm_cow_stats st0, st1;
	static const int pct_x[3] = { 1, 10, 100 };
	uint8_t *dst = malloc(mem), *src = malloc(mem);
	const uint8_t *pages;
	char name[128];
	int p[2];

	if (dst == NULL || src == NULL || pipe(p) < 0)
		die("alloc", NULL);
	memset(dst, 1, mem);
	memset(src, 2, mem);
	struct hv_guest *g = boot_cfg("dirtier", mem, p[1], true);
	for (int k = 0; k < rounds; k++) {
		pvm_hv_ops.suspend(g, &err);                    /* start from a clean log */
		if (pvm_hv_ops.capture_begin(g, &l, &err) < 0 || pvm_hv_ops.resume(g, &err) < 0 ||
		    pvm_hv_ops.capture_wait(g, &pages, &err) < 0)
			die("capture", &err);
		pvm_hv_ops.announce(g, &err);
		read_line(p[0]);
		pvm_hv_ops.suspend(g, &err);
		pvm_cow_get_stats(g, &st0);
		double t0 = now_us();
		if (pvm_hv_ops.capture_begin(g, &l, &err) < 0)
			die("capture_begin", &err);
		double t1 = now_us();
		pvm_hv_ops.resume(g, &err);
		double t2 = now_us();
		if (pvm_hv_ops.capture_wait(g, &pages, &err) < 0)
			die("capture_wait", &err);
		double t3 = now_us(), base = 1e18;
		pvm_cow_get_stats(g, &st1);
		for (int rep = 0; rep < 3; rep++) {             /* baseline: memcpy of as many pages */
			double a = now_us();
			for (size_t i = 0; i < l.count; i++)
				memcpy(dst + i * 4096, src + l.pfns[i] * 4096, 4096);
			double b = now_us() - a;
			base = b < base ? b : base;
		}
		printf("cow   %-4d%% of %4llu MiB (%6zu pages): scan+protect %7.0f us | copy-out %7.0f us "
		       "(guest running, %llu pages copied by its faults) | memcpy %7.0f us | ratio %.2fx\n",
		       pct_x[k], (unsigned long long)(mem >> 20), l.count, t1 - t0, t3 - t2,
		       (unsigned long long)(st1.fault_copies - st0.fault_copies), base, (t1 - t0) / base);
		if (mem == BIG) {
			bool goal = k == 0;
			snprintf(name, sizeof(name), "pause_vs_dirty: copy-on-write scan+protect, 256 MiB @ %d",
			         pct_x[k]);
			bench_row(name, t1 - t0, "us", base, (t1 - t0) / base, goal ? "value <= 500 us" : NULL,
			          goal ? t1 - t0 <= 500 : BENCH_NO_GOAL);
			snprintf(name, sizeof(name), "pvm cow copy-out with the guest running, %d%% of 256 MiB",
			         pct_x[k]);
			bench_row(name, t3 - t2, "us", base, (t3 - t2) / base, NULL, BENCH_NO_GOAL);
		}
		if (k == 0) {
			snprintf(name, sizeof(name), "pause_vs_ram: copy-on-write scan+protect, 1%% dirty @ %llu",
			         (unsigned long long)(mem >> 20));
			bench_row(name, t1 - t0, "us", base, (t1 - t0) / base, NULL, BENCH_NO_GOAL);
		}
	}
	pvm_hv_ops.destroy(g);
	hv_pfn_list_free(&l);
	free(dst);
	free(src);
	close(p[0]);
	close(p[1]);
}

static void bench_hypercall(double sys_us)
{
	int p[2];
	char line[64] = { 0 };
	if (pipe(p) < 0)
		die("pipe", NULL);
	struct hv_guest *g = boot("hcloop", 16ULL << 20, p[1]);
	struct pollfd pf = { p[0], POLLIN, 0 };
	for (size_t n = 0; n < sizeof(line) - 1; n++)
		if (poll(&pf, 1, 60000) <= 0 || read(p[0], line + n, 1) != 1 || line[n] == '\n')
			break;
	double us = strtod(line + 6, NULL) / 1000 / 100000;
	printf("hypercall round trip: %.2f us | native syscall %.3f us | ratio %.0fx\n", us, sys_us, us / sys_us);
	bench_row("pvm hypercall round trip", us, "us", sys_us, us / sys_us, NULL, BENCH_NO_GOAL);
	pvm_hv_ops.destroy(g);
	close(p[0]);
	close(p[1]);
}

static void bench_restore(uint64_t mem)
{
	struct remus_err err = { 0 };
	struct hv_blob cpu = { 0 }, dev = { 0 };
	struct hv_guest *g = boot("counter", mem, -1), *r;
	struct hv_guest_config cfg = { .name = "r", .mem_bytes = mem, .console_fd = -1, .cpu = sched_getcpu() };
	int fd = memfd_create("bench-ram", MFD_CLOEXEC);
	uint8_t *ram, *buf = malloc(mem);
	uint64_t n = mem / 4096, *pfns = malloc(n * 8);

	if (fd < 0 || ftruncate(fd, (off_t)mem) < 0 || buf == NULL || pfns == NULL)
		die("alloc", NULL);
	ram = mmap(NULL, mem, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
	for (uint64_t i = 0; i < n; i++)
		pfns[i] = i;
	pvm_hv_ops.suspend(g, &err);
	if (pvm_hv_ops.copy_pages(g, pfns, n, ram, &err) < 0 || pvm_hv_ops.save_cpu(g, &cpu, &err) < 0 ||
	    pvm_hv_ops.save_devices(g, &dev, &err) < 0)
		die("checkpoint", &err);
	pvm_hv_ops.destroy(g);
	struct hv_checkpoint ck = { .ram_fd = fd, .ram_bytes = mem, .hvm_context = cpu.data,
	                            .hvm_context_len = cpu.len, .emu_context = dev.data,
	                            .emu_context_len = dev.len };
	double t0 = now_us();
	if (pvm_hv_ops.restore(&cfg, &ck, &r, &err) < 0 || pvm_hv_ops.start(r, &err) < 0)
		die("restore", &err);
	double restore_us = now_us() - t0;
	memset(buf, 0, mem);                    /* baseline target pre-faulted */
	double m0 = now_us();
	memcpy(buf, ram, mem);
	double base_us = now_us() - m0;
	if (buf[mem - 1] != ram[mem - 1])
		die("memcpy baseline", NULL);
	printf("restore %3llu MiB (live memfd): %.1f ms | memcpy of the RAM %.1f ms | ratio %.2fx\n",
	       (unsigned long long)(mem >> 20), restore_us / 1000, base_us / 1000, restore_us / base_us);
	char name[64];
	snprintf(name, sizeof(name), "pvm restore of %llu MiB", (unsigned long long)(mem >> 20));
	bench_row(name, restore_us / 1000, "ms", base_us / 1000, restore_us / base_us, NULL, BENCH_NO_GOAL);
	pvm_hv_ops.destroy(r);
	munmap(ram, mem);
	close(fd);
	free(buf);
	free(pfns);
	hv_blob_free(&cpu);
	hv_blob_free(&dev);
}

int main(void)
{
	double sys_us = native_syscall_us();

	bench_pause(sys_us);
	bench_hypercall(sys_us);
	bench_dirty(NULL, BIG, 3);
	bench_dirty("hash", BIG, 3);
	bench_dirty(NULL, 64ULL << 20, 1);
	if (!bench_quick())
		bench_dirty(NULL, 1ULL << 30, 1);
	bench_cow(BIG, 3);
	bench_cow(64ULL << 20, 1);
	if (!bench_quick())
		bench_cow(1ULL << 30, 1);
	bench_restore(16ULL << 20);
	bench_restore(BIG);
	return 0;
}
