/*
 * Checkpoint-engine benchmark: pvm's counter guest (about 1000 dirty pages
 * per epoch) replicated over an authenticated socketpair.  Prints the mean
 * checkpoint pause as a ratio to a bare suspend+resume of the same guest,
 * and the checkpoint rate as a ratio to the configured tick rate, both
 * measured in this run; then the same at 5, 10, 25 and 50 ms ticks
 * (checkpoint rate vs interval).  Each figure is also a bench/results row.
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
#include "rows.h"

#define MEM       (16u << 20)
#define RUN_MS    1500u          /* per interval; BENCH_QUICK: a third */

struct hs {
	int fd;
	bool primary;
	struct rnet_params p;
	struct rnet_conn *c;
	int rc;
	struct remus_err err;
};

static void *hs_main(void *arg)
{
	struct hs *h = arg;

	h->rc = rnet_handshake_fd(h->fd, h->primary, &h->p, &h->c, &h->err);
	return NULL;
}

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

/* Replicate guest g at one interval for about run_ms over a fresh
 * authenticated socketpair; prints and records its pause and rate. */
static void run_interval(struct hv_guest *g, uint32_t interval, uint32_t run_ms, double bare_us)
{
	struct rnet_key key = { .len = 32 };
	struct hs a = { .primary = true }, b = { .primary = false };
	struct remus_err err = { 0 };
	struct ckpt_receiver *rcv;
	struct ckpt_sender *snd;
	struct ckpt_stats st;
	pthread_t ta, tb, tr;
	uint32_t epochs = run_ms / interval;
	char name[96];
	int sp[2];
	uint64_t t0;

	memset(key.bytes, 0x5a, key.len);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		die("socketpair", NULL);
	a.fd = sp[0];
	b.fd = sp[1];
	a.p.key = b.p.key = &key;
	a.p.hb_timeout_ms = b.p.hb_timeout_ms = 5000;
	a.p.caps.compress_mask = b.p.caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE);
	strcpy(a.p.caps.hv, "pvm");
	strcpy(b.p.caps.hv, "pvm");
	strcpy(a.p.caps.guest, "bench");
	strcpy(b.p.caps.guest, "bench");
	pthread_create(&ta, NULL, hs_main, &a);
	pthread_create(&tb, NULL, hs_main, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	if (a.rc < 0 || b.rc < 0)
		die("handshake", a.rc < 0 ? &a.err : &b.err);
	struct ckpt_receiver_cfg rc = { .hv = &pvm_hv_ops, .conn = b.c, .ram_bytes = MEM };
	struct ckpt_sender_cfg sc = { .hv = &pvm_hv_ops, .guest = g, .conn = a.c,
	                              .interval_ms = interval };
	if (ckpt_receiver_new(&rc, &rcv, &err) < 0 || ckpt_sender_new(&sc, &snd, &err) < 0)
		die("engine", &err);
	pthread_create(&tr, NULL, recv_main, rcv);
	t0 = ckpt_now_us();
	if (ckpt_sender_sync(snd, &err) < 0)
		die("sync", &err);
	printf("[%u ms tick] initial sync of %u MiB: %.1f ms\n", interval, MEM >> 20,
	       (double)(ckpt_now_us() - t0) / 1000.0);
	t0 = ckpt_now_us();
	if (ckpt_sender_run(snd, -1, epochs, &err) < 0)
		die("run", &err);
	ckpt_sender_stats(snd, &st);
	double secs = (double)(ckpt_now_us() - t0) / 1e6, tick = 1000.0 / interval;
	double rate = (double)(st.checkpoints - 1) / secs, pause = (double)st.total_pause_us / (double)st.checkpoints;
	printf("[%u ms tick] checkpoint pause: mean %.1f us, max %llu us, %.0f dirty pages last = %.1fx bare\n",
	       interval, pause, (unsigned long long)st.max_pause_us, (double)st.last_dirty, pause / bare_us);
	printf("[%u ms tick] checkpoint rate: %.1f /s = %.2fx the tick rate (%llu stretched)\n",
	       interval, rate, rate / tick, (unsigned long long)st.stretched);
	snprintf(name, sizeof(name), "ckpt_rate_vs_interval: checkpoints/s @ %u", interval);
	bench_row(name, rate, "1/s", tick, rate / tick, "ratio >= 0.9", rate / tick >= 0.9);
	snprintf(name, sizeof(name), "ckpt pause, counter guest 16 MiB, %u ms tick", interval);
	bench_row(name, pause, "us", bare_us, pause / bare_us, NULL, BENCH_NO_GOAL);
	shutdown(sp[0], SHUT_WR);
	pthread_join(tr, NULL);
	ckpt_sender_free(snd);
	ckpt_receiver_free(rcv);
	rnet_conn_free(a.c);
	rnet_conn_free(b.c);
}

int main(void)
{
	static const uint32_t intervals[] = { 10, 5, 25, 50 };
	struct hv_guest_config cfg = { .name = "bench", .mem_bytes = MEM, .console_fd = -1 };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	const char *build = getenv("BUILD");
	uint32_t run_ms = bench_quick() ? RUN_MS / 3 : RUN_MS;
	char image[512];
	uint64_t t0, bare = 0;

	snprintf(image, sizeof(image), "%s/tests/pvm/counter.elf", build ? build : "build");
	cfg.image = image;
	cfg.cpu = sched_getcpu();
	if (pvm_hv_ops.create(&cfg, &g, &err) < 0 || pvm_hv_ops.start(g, &err) < 0)
		die("guest", &err);
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
		run_interval(g, intervals[i], run_ms, (double)bare / 200.0);
	pvm_hv_ops.destroy(g);
	return 0;
}
