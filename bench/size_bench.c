/*
 * Real-size guests: initial synchronisation, time to protected and the
 * checkpoint pause against guest RAM (64 MiB up to SIZE_BENCH_MAX_MB,
 * default 1024; BENCH_QUICK=1: up to 256; SIZE_BENCH_MIN_MB: from there;
 * SIZE_BENCH_COLD=1: without warming the machine's memory first).  The replication link is
 * loopback TCP with rnet's handshake; the baseline, measured in the same
 * run for each size, is plain loopback TCP moving the same number of
 * bytes between two threads (write/read of 1 MiB buffers).  The sync's
 * time starts before the backup makes its replica (as in remusd, which
 * makes it once the primary has connected).  Printed as
 * ratios: sync throughput / plain TCP throughput (goal >= 0.8) of an
 * idle guest (waiter: a spinning guest would take one of the machine's
 * cores from the link), and the mean pause of 100 checkpoints of the
 * counter guest (about 1000 dirty pages each) against a bare
 * suspend+resume of it.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link.h"
#include "rows.h"
#include "ckpt/ckpt.h"
#include "hv/pvm/pvm.h"

#define EPOCHS    100u
#define INTERVAL  25u
#define CHUNK     (1u << 20)

static void die(const char *what, const struct remus_err *err)
{
	fprintf(stderr, "size_bench: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

/* A connected loopback TCP pair. */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		die("listen", NULL);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sv[0] < 0 || connect(sv[0], (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (sv[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC)) < 0)
		die("connect", NULL);
	setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

struct sink { int fd; uint64_t bytes; };

static void *sink_main(void *arg)
{
	struct sink *s = arg;
	char *buf = malloc(CHUNK);
	ssize_t n;

	while (buf && (n = read(s->fd, buf, CHUNK)) > 0)
		s->bytes += (uint64_t)n;
	free(buf);
	return NULL;
}

/* Baseline: bytes/s of plain loopback TCP for `total` bytes. */
static double tcp_rate(uint64_t total)
{
	struct sink s = { 0 };
	char *buf = calloc(1, CHUNK);
	pthread_t th;
	int sv[2];
	uint64_t t0;

	tcp_pair(sv);
	s.fd = sv[1];
	pthread_create(&th, NULL, sink_main, &s);
	t0 = ckpt_now_us();
	for (uint64_t off = 0; off < total; off += CHUNK)
		if (write(sv[0], buf, CHUNK) != (ssize_t)CHUNK)
			die("write", NULL);
	shutdown(sv[0], SHUT_WR);
	pthread_join(th, NULL);
	t0 = ckpt_now_us() - t0;
	close(sv[0]);
	close(sv[1]);
	free(buf);
	return (double)total / ((double)t0 / 1e6);
}

static void *recv_main(void *arg)
{
	struct remus_err err = { 0 };

	ckpt_receiver_run(arg, -1, &err);
	return NULL;
}

/* One size and guest: sync, then `epochs` checkpoints. */
static void run_size(uint64_t mem, const char *image, unsigned epochs, const struct rnet_key *key)
{
	struct hv_guest_config cfg = { .name = "bench", .mem_bytes = mem, .console_fd = -1, .cpu = -1,
	                               .image = image };
	struct rnet_conn *pri, *bak;
	struct remus_err err = { 0 };
	struct ckpt_receiver *rcv;
	struct ckpt_sender *snd;
	struct ckpt_stats st, rst;
	struct hv_guest *g = NULL;
	pthread_t tr;
	double base = epochs ? 0 : tcp_rate(mem), sync_s, setup_s, bare = 0;
	int sv[2];
	uint64_t t0;

	if (pvm_hv_ops.create(&cfg, &g, &err) < 0 || pvm_hv_ops.start(g, &err) < 0)
		die("guest", &err);
	for (unsigned i = 0; epochs && i < 100; i++) {
		t0 = ckpt_now_us();
		if (pvm_hv_ops.suspend(g, &err) < 0 || pvm_hv_ops.resume(g, &err) < 0)
			die("suspend/resume", &err);
		bare += (double)(ckpt_now_us() - t0) / 100.0;
		usleep(1000);
	}
	tcp_pair(sv);
	bench_link_up(sv, key, RNET_COMPRESS_NONE, 0, &pri, &bak);
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .conn = bak, .ram_bytes = mem };
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .guest = g, .conn = pri,
	                              .interval_ms = INTERVAL };
	/* the clock starts before the backup makes its replica (memfd and its
	 * memory): remusd makes it when the primary has connected, so it is
	 * part of the time to protected a user sees */
	t0 = ckpt_now_us();
	if (ckpt_receiver_new(&rc, &rcv, &err) < 0)
		die("engine", &err);
	setup_s = (double)(ckpt_now_us() - t0) / 1e6;
	if (ckpt_sender_new(&sc, &snd, &err) < 0)
		die("engine", &err);
	pthread_create(&tr, NULL, recv_main, rcv);
	if (ckpt_sender_sync(snd, &err) < 0)
		die("sync", &err);
	sync_s = (double)(ckpt_now_us() - t0) / 1e6;
	if (epochs && ckpt_sender_run(snd, -1, epochs, &err) < 0)
		die("run", &err);
	ckpt_sender_stats(snd, &st);
	ckpt_receiver_stats(rcv, &rst);
	if (!epochs) {
		char name[160];
		double tput = (double)mem / sync_s / 1048576.0, ratio = (double)mem / sync_s / base;
		snprintf(name, sizeof(name), "initial sync throughput vs guest RAM: idle guest @ %llu",
		         (unsigned long long)(mem >> 20));
		bench_row(name, tput, "MiB/s", base / 1048576.0, ratio, "ratio >= 0.8", ratio >= 0.8);
		snprintf(name, sizeof(name), "time to protected vs guest RAM: idle guest @ %llu",
		         (unsigned long long)(mem >> 20));
		bench_row(name, sync_s, "s", NAN, NAN, NULL, BENCH_NO_GOAL);
		snprintf(name, sizeof(name), "backup memory vs guest RAM: replica+buffers @ %llu",
		         (unsigned long long)(mem >> 20));
		ratio = (double)(rst.mem_replica_bytes + rst.mem_buffers_bytes) / (double)mem;
		bench_row(name, ratio, "x RAM", 1.0, ratio, "ratio <= 1.2", ratio <= 1.2);
		snprintf(name, sizeof(name), "primary memory vs guest RAM: engine buffers @ %llu",
		         (unsigned long long)(mem >> 20));
		ratio = (double)st.mem_buffers_bytes / (double)mem;
		bench_row(name, ratio, "x RAM", 1.0, ratio, "ratio <= 0.3", ratio <= 0.3);
	}
	if (!epochs)
		printf("RAM %4llu MiB, idle guest: initial sync %.0f MiB/s = %.2fx plain loopback TCP "
		       "(%.0f MiB/s; goal >= 0.8x: %s); time to protected %.2f s (backup's replica "
		       "made in %.3f s of it); memory: primary buffers %.2fx RAM, backup "
		       "replica+buffers %.2fx RAM\n",
		       (unsigned long long)(mem >> 20), (double)mem / sync_s / 1048576.0,
		       (double)mem / sync_s / base, base / 1048576.0,
		       (double)mem / sync_s / base >= 0.8 ? "met" : "not met", sync_s, setup_s,
		       (double)st.mem_buffers_bytes / (double)mem,
		       (double)(rst.mem_replica_bytes + rst.mem_buffers_bytes) / (double)mem);
	else {
		char name[160];
		double pause = (double)st.total_pause_us / (double)st.checkpoints;
		snprintf(name, sizeof(name), "checkpoint pause vs guest RAM (engine): counter guest @ %llu",
		         (unsigned long long)(mem >> 20));
		bench_row(name, pause, "us", bare, pause / bare, NULL, BENCH_NO_GOAL);
	}
	if (epochs)
		printf("RAM %4llu MiB, counter guest: checkpoint pause mean %.0f us = %.1fx a bare "
		       "suspend+resume (%.0f us), max %llu us, %llu dirty pages last\n",
		       (unsigned long long)(mem >> 20), (double)st.total_pause_us / (double)st.checkpoints,
		       (double)st.total_pause_us / (double)st.checkpoints / bare, bare,
		       (unsigned long long)st.max_pause_us, (unsigned long long)st.last_dirty);
	fflush(stdout);
	shutdown(sv[0], SHUT_WR);
	pthread_join(tr, NULL);
	ckpt_sender_free(snd);
	ckpt_receiver_free(rcv);
	rnet_conn_free(pri);
	rnet_conn_free(bak);
	pvm_hv_ops.destroy(g);
}

/* Map and write `bytes` of anonymous memory, return MiB/s (0: no memory). */
static double touch_rate(uint64_t bytes)
{
	uint64_t t0 = ckpt_now_us();
	uint8_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return 0;
	for (uint64_t off = 0; off < bytes; off += 4096)
		p[off] = 1;
	munmap(p, bytes);
	return (double)bytes / 1048576.0 / ((double)(ckpt_now_us() - t0) / 1e6);
}

/* On a virtual machine whose RAM its host backs on first use (CI machines
 * are such VMs), the first write to each physical page costs a fault in
 * the host: a 1 GiB sync on a freshly booted machine then measured the
 * host's page faults (0.11x), not remus.  A Xen dom0 has its memory
 * backed.  So the bench touches three times the largest guest's RAM once
 * before measuring (guest + replica + slack come from pages it freed) and
 * prints what that first touch cost against a second one. */
static void warm_memory(uint64_t bytes)
{
	double first = touch_rate(bytes), again = touch_rate(bytes);

	if (first <= 0 || again <= 0)
		return;
	bench_row("machine memory: first write to fresh pages vs again", first, "MiB/s", again,
	          first / again, NULL, BENCH_NO_GOAL);
	printf("machine memory: first write %.0f MiB/s, again %.0f MiB/s (%.2fx) over %llu MiB "
	       "(warmed before the sizes)\n", first, again, first / again,
	       (unsigned long long)(bytes >> 20));
}

int main(void)
{
	struct rnet_key key = { .len = 32 };
	const char *build = getenv("BUILD"), *max = getenv("SIZE_BENCH_MAX_MB");
	const char *min = getenv("SIZE_BENCH_MIN_MB");
	uint64_t top = max ? strtoull(max, NULL, 10) : getenv("BENCH_QUICK") ? 256 : 1024;
	uint64_t bottom = min ? strtoull(min, NULL, 10) : 64;
	char idle[512], busy[512];

	snprintf(idle, sizeof(idle), "%s/tests/pvm/waiter.elf", build ? build : "build");
	snprintf(busy, sizeof(busy), "%s/tests/pvm/counter.elf", build ? build : "build");
	memset(key.bytes, 0x5a, key.len);
	if (!getenv("SIZE_BENCH_COLD"))
		warm_memory(3 * (top << 20));
	for (uint64_t mb = bottom ? bottom : 64; mb <= top; mb *= 4) {
		run_size(mb << 20, idle, 0, &key);
		if (!getenv("SIZE_BENCH_SYNC_ONLY"))
			run_size(mb << 20, busy, EPOCHS, &key);
	}
	return 0;
}
