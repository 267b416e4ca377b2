/*
 * netbuf benchmark: in a private network namespace a fake guest writes
 * UDP frames into a TAP; a local socket receives them.  Measures, in the
 * same run, the unbuffered path against the inline and nfqueue backends:
 * one-way latency (p50, p99) at 10/25/40 Hz epochs, with the checkpoint
 * acknowledged at once (so the added latency is the epoch wait), and
 * packets/s through each backend as a ratio to the unbuffered path.
 * Needs root (unshare, TAP, iptables); prints a skip line otherwise.
 * Each figure is also a bench/results row (bench/rows.h), the 40 Hz
 * added-latency distribution of each backend as CDF points.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>

#include "netbuf/netbuf.h"
#include "util/log.h"
#include "rows.h"
#include "../tests/netbuf/nb_frame.h"

#define LAT_RATE 2000          /* packets/s in latency runs */
#define LAT_SECONDS (bench_quick() ? 0.75 : 1.5)
#define TPUT_SECONDS (bench_quick() ? 0.5 : 1.0)
#define MAX_SAMPLES 400000

struct run {
	const char *backend;   /* NULL: unbuffered */
	int hz;                /* epoch rate */
	int rate;              /* packets/s, 0: as fast as possible */
	double seconds;
	/* shared */
	int tap, rx;
	struct nb_addrs addrs;
	struct netbuf nb;
	volatile int sending;
	uint64_t sent, received;
	uint64_t t_first, t_last;
	double *lat_us;
};

/* Monotonic time shared by sender stamps and receiver. */
static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Bring up a TAP with 10.77.1.1/24 in this (private) namespace. */
static int tap_setup(struct nb_addrs *a)
{
	struct ifreq ifr = { .ifr_flags = IFF_TAP | IFF_NO_PI };
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s;

	snprintf(ifr.ifr_name, IFNAMSIZ, "nbbench0");
	if (fd < 0 || ioctl(fd, TUNSETIFF, &ifr) < 0)
		fatal("tap");
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	inet_pton(AF_INET, "10.77.1.1", &sin.sin_addr);
	memcpy(&ifr.ifr_addr, &sin, sizeof(sin));
	if (ioctl(s, SIOCSIFADDR, &ifr) < 0)
		fatal("SIOCSIFADDR");
	inet_pton(AF_INET, "255.255.255.0", &sin.sin_addr);
	memcpy(&ifr.ifr_netmask, &sin, sizeof(sin));
	if (ioctl(s, SIOCSIFNETMASK, &ifr) < 0)
		fatal("SIOCSIFNETMASK");
	ifr.ifr_flags = IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		fatal("tap up");
	memcpy(a->gw_mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	memcpy(a->guest_mac, (uint8_t[]){ 2, 0, 0, 0x77, 1, 2 }, 6);
	inet_pton(AF_INET, "10.77.1.2", a->v4_src);
	inet_pton(AF_INET, "10.77.1.1", a->v4_dst);
	a->port = 9000;
	return fd;
}

/* The local receiver socket (large buffer: releases come in bursts). */
static int rx_setup(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(9000) };
	struct timeval tv = { .tv_usec = 200000 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), sz = 64 << 20;

	inet_pton(AF_INET, "10.77.1.1", &sin.sin_addr);
	if (fd < 0 || bind(fd, (void *)&sin, sizeof(sin)) < 0)
		fatal("rx bind");
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* The guest: frames at a fixed rate (or flat out) for r->seconds. */
static void *sender(void *arg)
{
	struct run *r = arg;
	uint64_t start = now_ns(), end = start + (uint64_t)(r->seconds * 1e9);
	uint8_t frame[128];

	for (uint64_t i = 0;; i++) {
		uint64_t t = now_ns(), due = start + (r->rate ? i * 1000000000u / r->rate : 0);
		size_t len;

		if (t >= end)
			break;
		if (due > t) {
			struct timespec ts = { .tv_sec = (time_t)(due / 1000000000u),
					       .tv_nsec = (long)(due % 1000000000u) };
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		len = nb_frame_build(frame, &r->addrs, NB_V4, (uint32_t)i, now_ns());
		if (r->backend && !strcmp(r->backend, "inline"))
			netbuf_guest_tx(&r->nb, frame, len);
		else if (write(r->tap, frame, len) < 0)
			break;
		r->sent++;
	}
	r->sending = 0;
	return NULL;
}

/* Receive until the sender is done and the socket stays quiet. */
static void *receiver(void *arg)
{
	struct run *r = arg;
	uint8_t buf[256];
	enum nb_kind kind;
	uint32_t seq;
	uint64_t stamp;

	for (;;) {
		ssize_t n = recv(r->rx, buf, sizeof(buf), 0);
		uint64_t t = now_ns();

		if (n < 0) {
			if (!r->sending)
				return NULL;
			continue;
		}
		if (nb_payload_parse(buf, (size_t)n, &kind, &seq, &stamp) < 0)
			continue;
		if (!r->received)
			r->t_first = t;
		r->t_last = t;
		if (r->lat_us && r->received < MAX_SAMPLES)
			r->lat_us[r->received] = (double)(t - stamp) / 1e3;
		r->received++;
	}
}

/* The checkpoint loop: close and (immediately acknowledged) release. */
static void epoch_loop(struct run *r)
{
	uint64_t period = r->hz ? 1000000000u / (uint64_t)r->hz : 0;
	uint64_t next = now_ns() + period, epoch = 1;

	while (r->sending) {
		struct pollfd p = { .fd = r->backend ? netbuf_fd(&r->nb) : -1, .events = POLLIN };
		uint64_t t = now_ns();
		int ms = t < next ? (int)((next - t) / 1000000u) : 0;

		if (p.fd >= 0 ? poll(&p, 1, ms) > 0 : (usleep((useconds_t)ms * 1000), 0))
			netbuf_dispatch(&r->nb);
		if (r->backend && now_ns() >= next) {
			netbuf_epoch_close(&r->nb, epoch);
			netbuf_release(&r->nb, epoch);
			epoch++;
			next += period;
		}
	}
	if (r->backend)
		netbuf_release_all(&r->nb);   /* let the tail out */
	while (r->backend && r->received < r->sent) {
		struct pollfd p = { .fd = netbuf_fd(&r->nb), .events = POLLIN };

		if (p.fd < 0 || poll(&p, 1, 300) <= 0)
			break;
		netbuf_dispatch(&r->nb);
	}
}

/* qsort order for latency samples. */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One measurement; returns 0 or -1 if the backend could not be opened. */
static int run_one(struct run *r)
{
	struct netbuf_config cfg = { .backend = r->backend, .ifname = "nbbench0",
				     .tag = "bench", .queue_num = 7, .tx_fd = r->tap,
				     .first_epoch = 1 };
	pthread_t ts, tr;

	r->sent = r->received = 0;
	r->sending = 1;
	if (r->backend && netbuf_open(&r->nb, &cfg) < 0) {
		printf("  %s: cannot open: %s\n", r->backend, r->nb.err.msg);
		return -1;
	}
	pthread_create(&tr, NULL, receiver, r);
	pthread_create(&ts, NULL, sender, r);
	epoch_loop(r);
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	if (r->backend)
		netbuf_close(&r->nb);
	return 0;
}

/* p50/p99 of the recorded one-way latencies. */
static void percentiles(struct run *r, double *p50, double *p99)
{
	size_t n = r->received < MAX_SAMPLES ? r->received : MAX_SAMPLES;

	qsort(r->lat_us, n, sizeof(double), cmp_double);
	*p50 = n ? r->lat_us[n / 2] : 0;
	*p99 = n ? r->lat_us[n * 99 / 100] : 0;
}

/* Added latency vs the unbuffered median at a few percentiles, as the
 * points of one CDF; r->lat_us must be sorted (percentiles() did it). */
static void cdf_rows(const struct run *r, double base_us)
{
	static const int pct[] = { 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99 };
	size_t n = r->received < MAX_SAMPLES ? r->received : MAX_SAMPLES;
	char name[96];

	for (size_t i = 0; n && i < sizeof(pct) / sizeof(pct[0]); i++) {
		double add = (r->lat_us[n * (size_t)pct[i] / 100] - base_us) / 1e3;
		bool goal = pct[i] == 99;
		snprintf(name, sizeof(name), "netbuf_latency_cdf: %s %d Hz @ %d", r->backend, r->hz, pct[i]);
		bench_row(name, add, "ms", NAN, NAN, goal ? "value <= 30 ms (one epoch + 5 ms)" : NULL,
		          goal ? add <= 30.0 : BENCH_NO_GOAL);
	}
}

/* Delivered packets per second between first and last arrival. */
static double pps(const struct run *r)
{
	return r->t_last > r->t_first ? (double)r->received * 1e9 / (double)(r->t_last - r->t_first) : 0;
}

#define TPUT_ROUNDS 3

/* Packets/s flat out, unbuffered vs inline vs nfqueue (25 Hz epochs),
 * interleaved over a few rounds; the median of each is compared, which
 * keeps a noisy shared CPU from favouring one of them. */
static void throughput(struct run *r)
{
	static const char *const modes[] = { NULL, "inline", "nfqueue" };
	double v[3][TPUT_ROUNDS], med[3];
	uint64_t recv[3] = { 0 }, sent[3] = { 0 };

	r->rate = 0;
	r->hz = 25;
	r->seconds = TPUT_SECONDS;
	for (int round = 0; round < TPUT_ROUNDS; round++)
		for (int m = 0; m < 3; m++) {
			r->backend = modes[m];
			v[m][round] = run_one(r) < 0 ? 0 : pps(r);
			recv[m] += r->received;
			sent[m] += r->sent;
		}
	for (int m = 0; m < 3; m++) {
		qsort(v[m], TPUT_ROUNDS, sizeof(double), cmp_double);
		med[m] = v[m][TPUT_ROUNDS / 2];
		printf("throughput %-10s: median %.0f pkts/s over %d rounds", modes[m] ?
		       modes[m] : "unbuffered", med[m], TPUT_ROUNDS);
		if (m) {
			char name[64];
			printf(", ratio to unbuffered %.2f", med[0] > 0 ? med[m] / med[0] : 0);
			snprintf(name, sizeof(name), "netbuf throughput %s, 25 Hz", modes[m]);
			bench_row(name, med[m], "pkts/s", med[0], med[0] > 0 ? med[m] / med[0] : NAN,
			          NULL, BENCH_NO_GOAL);
		}
		printf(" (%llu/%llu delivered%s)\n", (unsigned long long)recv[m],
		       (unsigned long long)sent[m], recv[m] < sent[m] ?
		       "; the rest dropped over the hold limit or socket buffer" : "");
	}
}

int main(void)
{
	static const char *const backends[] = { "inline", "nfqueue" };
	static const int rates[] = { 10, 25, 40 };
	struct log_cfg lc = { .progname = "netbuf_bench" };
	static struct run r;
	double b50, b99, p50, p99;

	log_init(&lc);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (unshare(CLONE_NEWNET) < 0) {
		printf("netbuf_bench: skipped (needs root: unshare: %s)\n", strerror(errno));
		return 0;
	}
	r.tap = tap_setup(&r.addrs);
	r.rx = rx_setup();
	r.lat_us = calloc(MAX_SAMPLES, sizeof(double));
	if (!r.lat_us)
		fatal("calloc");
	r.rate = LAT_RATE;
	r.seconds = LAT_SECONDS;
	run_one(&r);
	percentiles(&r, &b50, &b99);
	printf("latency unbuffered: p50 %.1f us, p99 %.1f us (%llu pkts)\n", b50, b99,
	       (unsigned long long)r.received);
	for (size_t b = 0; b < 2; b++)
		for (size_t i = 0; i < 3; i++) {
			r.backend = backends[b];
			r.hz = rates[i];
			if (run_one(&r) < 0)
				continue;
			percentiles(&r, &p50, &p99);
			printf("latency %-7s %2d Hz: p50 %.2f ms, p99 %.2f ms; added vs unbuffered: "
			       "p50 +%.2f ms, p99 +%.2f ms (%llu/%llu pkts)\n", r.backend, r.hz,
			       p50 / 1e3, p99 / 1e3, (p50 - b50) / 1e3, (p99 - b99) / 1e3,
			       (unsigned long long)r.received, (unsigned long long)r.sent);
			char name[64];
			snprintf(name, sizeof(name), "netbuf added latency p50, %s %d Hz", r.backend, r.hz);
			bench_row(name, (p50 - b50) / 1e3, "ms", NAN, NAN, NULL, BENCH_NO_GOAL);
			if (r.hz == 40)
				cdf_rows(&r, b50);
		}
	throughput(&r);
	free(r.lat_us);
	return 0;
}
