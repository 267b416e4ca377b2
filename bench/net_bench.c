/*
 * lib/net benchmark: handshake time and STREAM throughput through rnet
 * framing, each printed as a ratio to plain loopback TCP measured in the
 * same run (connect+accept; raw write/read of the same bytes).  Each
 * figure is also a bench/results row (bench/rows.h).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net/net.h"
#include "rows.h"

#define HANDSHAKES   200
#define XFER_FULL    (128ull << 20)
#define ROUNDS       3
#define MODES        4
#define CHUNK        (256u << 10)

static uint64_t XFER_BYTES = XFER_FULL;   /* a quarter with BENCH_QUICK */

struct peer {
	struct rnet_params p;
	uint16_t port;
	bool rnet;                 /* false: raw TCP baseline */
	struct rnet_conn *conn;
	int fd;
	int count;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const struct remus_err *err)
{
	fprintf(stderr, "net_bench: %s: %s\n", what, err ? err->msg : strerror(errno));
	exit(1);
}

/* Baseline connect: what any TCP protocol pays before its first byte. */
static int raw_connect(uint16_t port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect", NULL);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Client side of `count` connections: raw (one byte round trip) or rnet. */
static void *client_thread(void *arg)
{
	struct peer *c = arg;
	struct remus_err err = { 0 };
	char b;
	int i;

	for (i = 0; i < c->count; i++) {
		if (c->rnet) {
			if (rnet_connect("127.0.0.1", c->port, &c->p, &c->conn, &err) < 0)
				die("rnet_connect", &err);
			if (i + 1 < c->count)
				rnet_conn_free(c->conn);
		} else {
			c->fd = raw_connect(c->port);
			if (read(c->fd, &b, 1) != 1)
				die("raw read", NULL);
			if (i + 1 < c->count)
				close(c->fd);
		}
	}
	return NULL;
}

/* Server side matching client_thread; leaves the last connection open. */
static void accept_n(int lfd, struct peer *srv, int count)
{
	struct remus_err err = { 0 };
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	int i;

	for (i = 0; i < count; i++) {
		if (poll(&pfd, 1, 10000) != 1)
			die("accept timeout", NULL);
		if (srv->rnet) {
			if (rnet_accept(lfd, &srv->p, &srv->conn, &err) < 0)
				die("rnet_accept", &err);
			if (i + 1 < count)
				rnet_conn_free(srv->conn);
		} else {
			srv->fd = accept(lfd, NULL, NULL);
			if (srv->fd < 0 || write(srv->fd, "x", 1) != 1)
				die("accept", NULL);
			if (i + 1 < count)
				close(srv->fd);
		}
	}
}

/* Open `count` connections in sequence; returns seconds per connection and
 * leaves the last one open in cl/srv. */
static double connect_series(int lfd, struct peer *cl, struct peer *srv, int count)
{
	pthread_t th;
	double t0 = now_s();

	cl->count = count;
	pthread_create(&th, NULL, client_thread, cl);
	accept_n(lfd, srv, count);
	pthread_join(th, NULL);
	return (now_s() - t0) / count;
}

/* Flush until the queue drains, waiting for POLLOUT in between. */
static void flush_all(struct rnet_conn *c)
{
	struct remus_err err = { 0 };
	struct pollfd pfd = { .fd = rnet_conn_fd(c), .events = POLLOUT };
	int rc;

	while ((rc = rnet_conn_flush(c, &err)) == 1)
		poll(&pfd, 1, 1000);
	if (rc < 0)
		die("flush", &err);
}

static void *tx_thread(void *arg)
{
	struct peer *c = arg;
	struct remus_err err = { 0 };
	uint8_t *buf = malloc(CHUNK);
	uint64_t sent = 0;
	size_t i;
	ssize_t n;
	int rc;

	for (i = 0; i < CHUNK; i++)
		buf[i] = (uint8_t)((i * 2654435761u) >> 13);
	while (sent < XFER_BYTES) {
		if (!c->rnet) {
			n = write(c->fd, buf, CHUNK);
			if (n <= 0)
				die("write", NULL);
			sent += (uint64_t)n;
			continue;
		}
		rc = rnet_conn_send_stream(c->conn, buf, CHUNK, &err);
		if (rc == 0)
			sent += CHUNK;
		else if (rc != RNET_ENOBUFS)
			die("send_stream", &err);
		if (rc == RNET_ENOBUFS || rnet_conn_flush(c->conn, &err) == 1)
			flush_all(c->conn);
	}
	if (c->rnet)
		flush_all(c->conn);
	free(buf);
	return NULL;
}

/* Receive XFER_BYTES on srv; returns MB/s. */
static double xfer(struct peer *cl, struct peer *srv)
{
	static uint8_t sink[1 << 20];
	struct remus_err err = { 0 };
	struct rnet_msg m;
	struct pollfd pfd;
	uint64_t got = 0;
	pthread_t th;
	double t0 = now_s();
	ssize_t n;
	int rc;

	pthread_create(&th, NULL, tx_thread, cl);
	while (got < XFER_BYTES) {
		if (!srv->rnet) {
			n = read(srv->fd, sink, sizeof(sink));
			if (n <= 0)
				die("read", NULL);
			got += (uint64_t)n;
			continue;
		}
		pfd = (struct pollfd){ .fd = rnet_conn_fd(srv->conn), .events = POLLIN };
		poll(&pfd, 1, 1000);
		if (rnet_conn_feed(srv->conn, 0, &err) < 0)
			die("feed", &err);
		while ((rc = rnet_conn_next(srv->conn, &m, &err)) == 1)
			got += m.len;
		if (rc < 0)
			die("next", &err);
	}
	pthread_join(th, NULL);
	return (double)XFER_BYTES / (now_s() - t0) / 1e6;
}

/* One throughput case: set up a fresh connection pair, move the bytes. */
static double xfer_case(int lfd, uint16_t port, bool rnet, bool tls, uint32_t compress,
			const struct rnet_params *base)
{
	struct peer cl = { .p = *base, .port = port, .rnet = rnet };
	struct peer srv = { .p = *base, .rnet = rnet };
	double mbs;

	cl.p.tls = srv.p.tls = tls;
	cl.p.caps.compress = compress;
	cl.p.hb_timeout_ms = srv.p.hb_timeout_ms = 60000;
	connect_series(lfd, &cl, &srv, 1);
	mbs = xfer(&cl, &srv);
	if (rnet) {
		rnet_conn_free(cl.conn);
		rnet_conn_free(srv.conn);
	} else {
		close(cl.fd);
		close(srv.fd);
	}
	return mbs;
}

/* Median of three samples. */
static double median3(const double v[ROUNDS])
{
	double a = v[0], b = v[1], c = v[2];

	if ((a <= b && b <= c) || (c <= b && b <= a))
		return b;
	if ((b <= a && a <= c) || (c <= a && a <= b))
		return a;
	return c;
}

int main(void)
{
	static struct rnet_key key = { .len = 32 };
	struct rnet_params p = { .key = &key };
	struct remus_err err = { 0 };
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct peer cl, srv;
	static const char *const mode[MODES] = { "rnet", "rnet+tls", "rnet+zlib", "rnet+zstd" };
	static const char *const goal[MODES] = { "ratio >= 0.8", "ratio >= 0.6", NULL, "ratio >= 0.8" };
	static const double goal_min[MODES] = { 0.8, 0.6, 0, 0.8 };
	double raw_hs, hs, tls_hs, raw_mbs[ROUNDS], ratio[MODES][ROUNDS];
	char name[96];
	uint16_t port;
	int lfd, r;

	if (bench_quick())
		XFER_BYTES = XFER_FULL / 4;
	memset(key.bytes, 0x5a, key.len);
	p.caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE) |
			       RNET_COMPRESS_BIT(RNET_COMPRESS_ZLIB) |
			       RNET_COMPRESS_BIT(RNET_COMPRESS_ZSTD);
	strcpy(p.caps.hv, "pvm");
	strcpy(p.caps.guest, "bench");
	lfd = rnet_listen("127.0.0.1", 0, &err);
	if (lfd < 0 || getsockname(lfd, (struct sockaddr *)&sin, &sl) < 0)
		die("listen", &err);
	port = ntohs(sin.sin_port);

	cl = (struct peer){ .p = p, .port = port };
	srv = (struct peer){ .p = p };
	raw_hs = connect_series(lfd, &cl, &srv, HANDSHAKES);
	close(cl.fd);
	close(srv.fd);
	cl.rnet = srv.rnet = true;
	hs = connect_series(lfd, &cl, &srv, HANDSHAKES);
	rnet_conn_free(cl.conn);
	rnet_conn_free(srv.conn);
	cl.p.tls = srv.p.tls = true;
	tls_hs = connect_series(lfd, &cl, &srv, HANDSHAKES);
	rnet_conn_free(cl.conn);
	rnet_conn_free(srv.conn);
	printf("handshake: tcp connect %.1f us, rnet %.1f us (x%.1f), rnet+tls %.1f us (x%.1f)\n",
	       raw_hs * 1e6, hs * 1e6, hs / raw_hs, tls_hs * 1e6, tls_hs / raw_hs);
	bench_row("rnet handshake", hs * 1e6, "us", raw_hs * 1e6, hs / raw_hs, NULL, BENCH_NO_GOAL);
	bench_row("rnet+tls handshake", tls_hs * 1e6, "us", raw_hs * 1e6, tls_hs / raw_hs, NULL,
		  BENCH_NO_GOAL);

	/* interleaved rounds so a busy machine hits every variant alike;
	 * the reported ratio is the median of the per-round ratios */
	for (r = 0; r < ROUNDS; r++) {
		raw_mbs[r] = xfer_case(lfd, port, false, false, RNET_COMPRESS_NONE, &p);
		ratio[0][r] = xfer_case(lfd, port, true, false, RNET_COMPRESS_NONE, &p) / raw_mbs[r];
		ratio[1][r] = xfer_case(lfd, port, true, true, RNET_COMPRESS_NONE, &p) / raw_mbs[r];
		ratio[2][r] = xfer_case(lfd, port, true, false, RNET_COMPRESS_ZLIB, &p) / raw_mbs[r];
		ratio[3][r] = xfer_case(lfd, port, true, false, RNET_COMPRESS_ZSTD, &p) / raw_mbs[r];
		printf("round %d: tcp %.0f MB/s; ratios rnet %.2f, rnet+tls %.2f, rnet+zlib %.2f, rnet+zstd %.2f\n",
		       r + 1, raw_mbs[r], ratio[0][r], ratio[1][r], ratio[2][r], ratio[3][r]);
	}
	double tcp = median3(raw_mbs);
	for (int m = 0; m < MODES; m++) {
		double rt = median3(ratio[m]);
		snprintf(name, sizeof(name), "stream_throughput: %s", mode[m]);
		bench_row(name, rt * tcp, "MB/s", tcp, rt, goal[m], goal[m] ? rt >= goal_min[m] : BENCH_NO_GOAL);
	}
	printf("stream %llu MiB x %d rounds, median ratio to loopback TCP: "
	       "rnet %.2f, rnet+tls %.2f, rnet+zlib %.2f, rnet+zstd %.2f\n",
	       (unsigned long long)(XFER_BYTES >> 20), ROUNDS, median3(ratio[0]),
	       median3(ratio[1]), median3(ratio[2]), median3(ratio[3]));
	close(lfd);
	return 0;
}
