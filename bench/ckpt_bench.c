/*
 * Checkpoint-engine benchmark: pvm's counter guest (about 1000 dirty pages
 * per epoch) replicated over an authenticated socketpair.  Prints the mean
 * checkpoint pause as a ratio to a bare suspend+resume of the same guest,
 * and the checkpoint rate as a ratio to the configured tick rate, both
 * measured in this run; then the same at 5, 10, 25 and 50 ms ticks
 * (checkpoint rate vs interval); then the stream bytes on the wire per
 * compression kind (none, zlib, zstd, delta, delta+zstd) for the counter
 * guest and the guest kit's dirtier.  Each figure is also a
 * bench/results row.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt/ckpt.h"
#include "hv/pvm/pvm.h"
#include "link.h"
#include "rows.h"

#define MEM       (16u << 20)
#define RUN_MS    1500u          /* per interval; BENCH_QUICK: a third */

static void *recv_main(void *arg)
{
	struct remus_err err = { 0 };

	ckpt_receiver_run(arg, -1, &err);
	return NULL;
}

static void die(const char *what, const struct remus_err *err)
{
	fprintf(stderr, "ckpt_bench: %s: %s\n", what, err ? err->msg : "");
	exit(1);
}

/* Replicate guest g (mem bytes of RAM) at one interval for about run_ms
 * over a fresh authenticated socketpair negotiating `compress`; returns
 * the sender's stats (also as they were when the sync ended) and the
 * checkpoint rate. */
static void run_engine(struct hv_guest *g, uint64_t mem, uint32_t interval, uint32_t run_ms,
                       uint32_t compress, bool cow, struct ckpt_stats *st, double *rate,
                       struct ckpt_stats *at_sync)
{
	struct rnet_key key = { .len = 32 };
	struct remus_err err = { 0 };
	struct rnet_conn *pri, *bak;
	struct ckpt_receiver *rcv;
	struct ckpt_sender *snd;
	pthread_t tr;
	uint32_t epochs = run_ms / interval;
	int sp[2];
	uint64_t t0;

	memset(key.bytes, 0x5a, key.len);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair", NULL);
	bench_link_up(sp, &key, compress, 5000, &pri, &bak);
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .conn = bak, .ram_bytes = mem };
	/* a slow kind (zlib on a loaded machine) falls behind: measure its
	 * rate, do not call that a lost backup */
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .guest = g, .conn = pri,
	                              .interval_ms = interval, .ack_timeout_ms = 30000,
	                              .cow_capture = cow };
	if (ckpt_receiver_new(&rc, &rcv, &err) < 0 || ckpt_sender_new(&sc, &snd, &err) < 0)
		die("engine", &err);
	pthread_create(&tr, NULL, recv_main, rcv);
	if (ckpt_sender_sync(snd, &err) < 0)
		die("sync", &err);
	ckpt_sender_stats(snd, at_sync);
	t0 = ckpt_now_us();
	if (ckpt_sender_run(snd, -1, epochs, &err) < 0)
		die("run", &err);
	ckpt_sender_stats(snd, st);
	*rate = (double)(st->checkpoints - 1) / ((double)(ckpt_now_us() - t0) / 1e6);
	shutdown(sp[0], SHUT_WR);
	pthread_join(tr, NULL);
	ckpt_sender_free(snd);
	ckpt_receiver_free(rcv);
	rnet_conn_free(pri);
	rnet_conn_free(bak);
}

/* Checkpoint pause and rate at one interval (no compression). */
static void bench_interval(struct hv_guest *g, uint32_t interval, uint32_t run_ms, double bare_us)
{
	struct ckpt_stats st, st0;
	double rate, tick = 1000.0 / interval, pause;
	char name[96];

	run_engine(g, MEM, interval, run_ms, RNET_COMPRESS_NONE, false, &st, &rate, &st0);
	pause = (double)st.total_pause_us / (double)st.checkpoints;
	printf("[%u ms tick] checkpoint pause: mean %.1f us, max %llu us, %.0f dirty pages last = %.1fx bare\n",
	       interval, pause, (unsigned long long)st.max_pause_us, (double)st.last_dirty, pause / bare_us);
	printf("[%u ms tick] checkpoint rate: %.1f /s = %.2fx the tick rate (%llu stretched)\n",
	       interval, rate, rate / tick, (unsigned long long)st.stretched);
	snprintf(name, sizeof(name), "ckpt_rate_vs_interval: checkpoints/s @ %u", interval);
	bench_row(name, rate, "1/s", tick, rate / tick, "ratio >= 0.9", rate / tick >= 0.9);
	snprintf(name, sizeof(name), "ckpt pause, counter guest 16 MiB, %u ms tick", interval);
	bench_row(name, pause, "us", bare_us, pause / bare_us, NULL, BENCH_NO_GOAL);
}

/* Wire bytes / stream bytes per compression kind, same guest, same run;
 * also the mean pause and the rate each kind reached at a 25 ms tick. */
static void bench_compress(struct hv_guest *g, uint64_t mem, const char *workload, uint32_t run_ms)
{
	static const uint32_t kinds[] = { RNET_COMPRESS_NONE, RNET_COMPRESS_ZLIB, RNET_COMPRESS_ZSTD,
	                                  RNET_COMPRESS_DELTA, RNET_COMPRESS_DELTA_ZSTD };
	struct ckpt_stats st, st0;
	double rate, none_pause = NAN;
	char name[128];

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		/* the sync is the same for every kind: count the checkpoints only */
		run_engine(g, mem, 25, run_ms, kinds[k], false, &st, &rate, &st0);
		double bytes = (double)(st.bytes - st0.bytes), wire = (double)(st.wire_bytes - st0.wire_bytes);
		double ratio = bytes > 0 ? wire / bytes : NAN, pause = (double)st.total_pause_us / (double)st.checkpoints;
		bool goal = kinds[k] != RNET_COMPRESS_NONE;
		if (kinds[k] == RNET_COMPRESS_NONE)
			none_pause = pause;
		printf("compression %-10s %s: %.1f MiB stream, %.1f MiB on the wire = %.3fx; pause %.0f us, %.1f ckpt/s\n",
		       rnet_compress_name(kinds[k]), workload, bytes / 1048576, wire / 1048576, ratio, pause, rate);
		snprintf(name, sizeof(name), "stream_bytes: %s %s", workload, rnet_compress_name(kinds[k]));
		bench_row(name, ratio, "x", 1.0, ratio, goal ? "ratio <= 0.5" : NULL,
		          goal ? ratio <= 0.5 : BENCH_NO_GOAL);
		snprintf(name, sizeof(name), "ckpt pause with %s, %s, 25 ms tick", rnet_compress_name(kinds[k]),
		         workload);
		bench_row(name, pause, "us", none_pause, pause / none_pause, NULL, BENCH_NO_GOAL);
	}
}

/* Mean checkpoint pause of the engine with copy-on-write capture (a
 * guest created for it) beside stop-and-copy of the same guest image, same
 * run, 25 ms tick. */
static void bench_cow(struct hv_guest *copy_g, struct hv_guest *cow_g, uint32_t run_ms)
{
	struct ckpt_stats st, st0;
	double rate, pause[2];

	run_engine(copy_g, MEM, 25, run_ms, RNET_COMPRESS_NONE, false, &st, &rate, &st0);
	pause[0] = (double)st.total_pause_us / (double)st.checkpoints;
	run_engine(cow_g, MEM, 25, run_ms, RNET_COMPRESS_NONE, true, &st, &rate, &st0);
	pause[1] = (double)st.total_pause_us / (double)st.checkpoints;
	printf("ckpt pause, counter guest, 25 ms: stop-and-copy %.0f us, copy-on-write %.0f us = %.2fx "
	       "(%.1f ckpt/s)\n", pause[0], pause[1], pause[1] / pause[0], rate);
	bench_row("ckpt pause with copy-on-write capture, counter guest 16 MiB, 25 ms tick", pause[1],
	          "us", pause[0], pause[1] / pause[0], NULL, BENCH_NO_GOAL);
}

/* Boot a guest image from $BUILD (path relative to it). */
static struct hv_guest *boot_cfg(const char *rel, uint64_t mem, bool cow)
{
	struct hv_guest_config cfg = { .name = "bench", .mem_bytes = mem, .console_fd = -1 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	const char *build = getenv("BUILD");
	char image[512];

	snprintf(image, sizeof(image), "%s/%s", build ? build : "build", rel);
	cfg.image = image;
	cfg.cpu = sched_getcpu();
	cfg.cow_capture = cow;
	if (pvm_hv_ops.create(&cfg, &g, &err) < 0 || pvm_hv_ops.start(g, &err) < 0)
		die(rel, &err);
	return g;
}

static struct hv_guest *boot(const char *rel, uint64_t mem)
{
	return boot_cfg(rel, mem, false);
}

int main(void)
{
	static const uint32_t intervals[] = { 10, 5, 25, 50 };
	struct remus_err err = { 0 };
	struct hv_guest *g = boot("tests/pvm/counter.elf", MEM);
	uint32_t run_ms = bench_quick() ? RUN_MS / 3 : RUN_MS;
	uint64_t t0, bare = 0;

	/* baseline: bare suspend + resume, same guest, same run */
	for (int i = 0; i < 200; i++) {
		t0 = ckpt_now_us();
		if (pvm_hv_ops.suspend(g, &err) < 0 || pvm_hv_ops.resume(g, &err) < 0)
			die("suspend/resume", &err);
		bare += ckpt_now_us() - t0;
		usleep(1000);
	}
	printf("bare suspend+resume: %.1f us (baseline)\n", (double)bare / 200.0);
	for (size_t i = 0; i < sizeof(intervals) / sizeof(intervals[0]); i++)
		bench_interval(g, intervals[i], run_ms, (double)bare / 200.0);
	bench_compress(g, MEM, "counter", run_ms);
	struct hv_guest *cg = boot_cfg("tests/pvm/counter.elf", MEM, true);
	bench_cow(g, cg, run_ms);
	pvm_hv_ops.destroy(cg);
	pvm_hv_ops.destroy(g);
	g = boot("guest/dirtier.elf", 64u << 20);
	bench_compress(g, 64u << 20, "dirtier", run_ms);
	pvm_hv_ops.destroy(g);
	return 0;
}
