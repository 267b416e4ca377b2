/*
 * Benchmarks of guest kit pieces against same-run baselines:
 *   rt_crc32 vs zlib's crc32, the guest heap vs glibc malloc, and the
 *   stack's per-frame UDP receive cost vs copying the frame.
 * Prints throughputs and time ratios ours/baseline (no thresholds).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#include "guest/net/net_impl.h"
#include "bench/rows.h"

/* Monotonic seconds. */
static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CRC-32 throughput: ours against zlib's (both must agree). */
static void bench_crc(void)
{
	size_t len = 16u << 20;
	uint8_t *buf = malloc(len);
	double t0, t_rt, t_z;
	uint32_t a, b;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 131u + (i >> 9));
	t0 = bench_now();
	a = rt_crc32(0, buf, len);
	t_rt = bench_now() - t0;
	t0 = bench_now();
	b = (uint32_t)crc32(0, buf, (uInt)len);
	t_z = bench_now() - t0;
	printf("crc32: rt %.0f MB/s, zlib %.0f MB/s, time ratio rt/zlib %.2f%s\n", len / t_rt / 1e6,
	       len / t_z / 1e6, t_rt / t_z, a == b ? "" : " (MISMATCH)");
	bench_row("guest rt crc32 time", t_rt * 1e3, "ms", t_z * 1e3, t_rt / t_z, NULL, BENCH_NO_GOAL);
	free(buf);
}

/* Allocation churn with mixed sizes: guest heap against malloc. */
static void bench_heap(void)
{
	enum { SLOTS = 1024, ROUNDS = 2000000 };
	static void *slot[SLOTS];
	size_t region_len = 64u << 20;
	void *region = malloc(region_len);
	struct rt_heap h;
	double t0, t_rt, t_libc;
	uint32_t x = 1;

	rt_heap_init(&h, region, region_len);
	t0 = bench_now();
	for (int i = 0; i < ROUNDS; i++) {
		x = x * 1103515245u + 12345u;
		unsigned s = (x >> 8) % SLOTS;
		rt_heap_free(&h, slot[s]);
		slot[s] = rt_heap_alloc(&h, 16 + (x >> 20) % 2000);
	}
	t_rt = bench_now() - t0;
	for (int s = 0; s < SLOTS; s++) {
		rt_heap_free(&h, slot[s]);
		slot[s] = NULL;
	}
	x = 1;
	t0 = bench_now();
	for (int i = 0; i < ROUNDS; i++) {
		x = x * 1103515245u + 12345u;
		unsigned s = (x >> 8) % SLOTS;
		free(slot[s]);
		slot[s] = malloc(16 + (x >> 20) % 2000);
	}
	t_libc = bench_now() - t0;
	for (int s = 0; s < SLOTS; s++)
		free(slot[s]);
	printf("heap: rt %.1f ns/op, malloc %.1f ns/op, time ratio rt/malloc %.2f\n",
	       t_rt / ROUNDS * 1e9, t_libc / ROUNDS * 1e9, t_rt / t_libc);
	bench_row("guest rt heap op", t_rt / ROUNDS * 1e9, "ns", t_libc / ROUNDS * 1e9, t_rt / t_libc,
	          NULL, BENCH_NO_GOAL);
	free(region);
}

static void bench_sink(void *ctx, const void *frame, size_t len)
{
	(void)ctx;
	(void)frame;
	(void)len;
}

static void bench_udp(struct net *n, void *user, const struct net_udp_peer *from,
		      uint16_t port, const uint8_t *d, size_t len)
{
	(void)n;
	(void)from;
	(void)port;
	(void)d;
	*(size_t *)user += len;
}

/* Receive cost of a valid 1 KiB UDP datagram against a memcpy of its frame. */
static void bench_rx(void)
{
	enum { FRAMES = 500000, PAY = 1024 };
	struct net_config cfg = { .mac = { 2, 0, 0, 0, 0, 2 }, .ipv4 = { 10, 0, 0, 2 },
				  .prefix = 24, .send = bench_sink };
	uint8_t f[NET_FRAME_MAX], copy[NET_FRAME_MAX];
	uint8_t *ip = f + NET_ETH_HDR, *u = ip + NET_IP_HDR;
	size_t got = 0, len = NET_ETH_HDR + NET_IP_HDR + 8 + PAY;
	struct net *n = net_create(&cfg);
	double t0, t_net, t_copy;
	volatile uint8_t sink = 0;

	net_udp_bind(n, 7000, bench_udp, &got);
	memset(f, 0, sizeof(f));
	memcpy(f, cfg.mac, 6);
	put16(f + 12, ETH_TYPE_IP);
	ip[0] = 0x45;
	put16(ip + 2, NET_IP_HDR + 8 + PAY);
	ip[8] = 64;
	ip[9] = IP_PROTO_UDP;
	memcpy(ip + 12, (uint8_t[4]){ 10, 0, 0, 1 }, 4);
	memcpy(ip + 16, cfg.ipv4, 4);
	put16(ip + 10, net_csum_fold(net_csum_add(0, ip, NET_IP_HDR)));
	put16(u, 5000);
	put16(u + 2, 7000);
	put16(u + 4, 8 + PAY);
	put16(u + 6, net_csum_fold(net_csum_add(net_pseudo_sum(ip + 12, ip + 16, 17, 8 + PAY),
						u, 8 + PAY)));
	t0 = bench_now();
	for (int i = 0; i < FRAMES; i++)
		net_input(n, f, len, 0);
	t_net = bench_now() - t0;
	t0 = bench_now();
	for (int i = 0; i < FRAMES; i++) {
		memcpy(copy, f, len);
		sink ^= copy[i % len];
	}
	t_copy = bench_now() - t0;
	printf("udp rx: stack %.0f ns/frame, frame copy %.0f ns/frame, time ratio %.1f (%s)\n",
	       t_net / FRAMES * 1e9, t_copy / FRAMES * 1e9, t_net / t_copy,
	       got == (size_t)FRAMES * PAY ? "all delivered" : "LOST FRAMES");
	bench_row("guest udp rx per frame", t_net / FRAMES * 1e9, "ns", t_copy / FRAMES * 1e9,
	          t_net / t_copy, NULL, BENCH_NO_GOAL);
	net_destroy(n);
}

int main(void)
{
	bench_crc();
	bench_heap();
	bench_rx();
	return 0;
}
