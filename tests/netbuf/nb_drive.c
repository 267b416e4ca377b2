/*
 * nb_drive: the buffering process of the netbuf integration tests, and the
 * fake guest behind a TAP.  Reads one command per line on stdin, answers
 * one line on stdout:
 *   send v4|v6|arp FIRST COUNT   frames with seqs FIRST.. from the "guest"
 *   close N | release N | release_all | discard | stats | quit
 *   wait_stat NAME K             until counter NAME (held_packets,
 *                                full_drops, dropped_packets) reaches K
 * Usage: nb_drive inline|nfqueue|plug TAP TAG QUEUE [MAX_HELD_PACKETS]
 *        nb_drive teardown nfqueue|plug IFNAME TAG
 * Frames go 10.77.1.2 -> 10.77.2.2 and fd77:1::2 -> fd77:2::2, UDP 7777.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/if_tun.h>

#include "netbuf/netbuf.h"
#include "util/log.h"
#include "nb_frame.h"

struct drive {
	struct netbuf nb;
	struct nb_addrs addrs;
	int tap;
	bool inline_mode;
};

/* Open an existing (persistent) TAP and learn its MAC, the guest's gateway. */
static int tap_open(const char *name, uint8_t mac[6])
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC), s;

	if (fd < 0)
		fatal("open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		fatal("TUNSETIFF %s", name);
	s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0 || ioctl(s, SIOCGIFHWADDR, &ifr) < 0)
		fatal("SIOCGIFHWADDR %s", name);
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	close(s);
	return fd;
}

/* The fixed addresses of the test topology (see lib.sh). */
static void addrs_init(struct nb_addrs *a)
{
	static const uint8_t gmac[6] = { 0x02, 0, 0, 0x77, 0x01, 0x02 };

	memcpy(a->guest_mac, gmac, 6);
	inet_pton(AF_INET, "10.77.1.2", a->v4_src);
	inet_pton(AF_INET, "10.77.2.2", a->v4_dst);
	inet_pton(AF_INET6, "fd77:1::2", a->v6_src);
	inet_pton(AF_INET6, "fd77:2::2", a->v6_dst);
	a->port = 7777;
}

/* The guest sends: through netbuf (inline) or onto the TAP (nfqueue). */
static int guest_send(struct drive *d, enum nb_kind kind, uint32_t first, uint32_t count)
{
	uint8_t frame[128];

	for (uint32_t i = 0; i < count; i++) {
		size_t len = nb_frame_build(frame, &d->addrs, kind, first + i, 0);

		if (d->inline_mode) {
			/* a refused frame is counted (full_drops), as for a guest */
			netbuf_guest_tx(&d->nb, frame, len);
		} else if (write(d->tap, frame, len) != (ssize_t)len) {
			return -1;
		}
	}
	return 0;
}

/* Counter of the stats that wait_stat can wait for; NULL if unknown. */
static const uint64_t *stat_field(const struct netbuf_stats *st, const char *name)
{
	if (!strcmp(name, "held_packets"))
		return &st->held_packets;
	if (!strcmp(name, "full_drops"))
		return &st->full_drops;
	if (!strcmp(name, "dropped_packets"))
		return &st->dropped_packets;
	return NULL;
}

/* Pump the backend until counter `name` reaches `want` (bounded wait). */
static int wait_stat(struct drive *d, const char *name, uint64_t want, uint64_t *got)
{
	struct timespec t0, t;
	struct netbuf_stats st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { .fd = netbuf_fd(&d->nb), .events = POLLIN };
		const uint64_t *v;

		netbuf_get_stats(&d->nb, &st);
		v = stat_field(&st, name);
		if (!v)
			return -1;
		*got = *v;
		if (*v >= want)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			return -1;
		if (p.fd < 0)
			poll(NULL, 0, 10);
		else if (poll(&p, 1, 100) > 0)
			netbuf_dispatch(&d->nb);
	}
}

/* Execute one command line; writes the one-line answer. */
static int command(struct drive *d, char *line)
{
	char verb[32] = "", arg1[32] = "";
	unsigned long long n = 0, m = 0;
	char json[2048];
	struct netbuf_stats st;
	uint64_t got = 0;
	int rc = 0;

	sscanf(line, "%31s %31s %llu", verb, arg1, &m);
	n = strtoull(arg1, NULL, 10);
	if (!strcmp(verb, "quit"))
		return 1;
	if (!strcmp(verb, "send")) {
		sscanf(line, "%*s %*s %llu %llu", &n, &m);
		rc = guest_send(d, !strcmp(arg1, "v4") ? NB_V4 : !strcmp(arg1, "v6") ?
				NB_V6 : NB_ARP, (uint32_t)n, (uint32_t)m);
	} else if (!strcmp(verb, "close")) {
		rc = netbuf_epoch_close(&d->nb, n);
	} else if (!strcmp(verb, "release")) {
		rc = netbuf_release(&d->nb, n);
	} else if (!strcmp(verb, "release_all")) {
		rc = netbuf_release_all(&d->nb);
	} else if (!strcmp(verb, "discard")) {
		rc = netbuf_discard(&d->nb);
	} else if (!strcmp(verb, "stats")) {
		netbuf_get_stats(&d->nb, &st);
		netbuf_stats_json(&st, json, sizeof(json));
		printf("%s\n", json);
		return 0;
	} else if (!strcmp(verb, "wait_stat")) {
		if (wait_stat(d, arg1, m, &got) < 0) {
			printf("timeout %s=%llu\n", arg1, (unsigned long long)got);
			return 0;
		}
	} else {
		printf("err unknown command %s\n", verb);
		return 0;
	}
	if (rc < 0)
		printf("err %s\n", d->nb.err.msg);
	else
		printf("ok\n");
	return 0;
}

/* Serve stdin line by line while pumping the backend's fd. */
static void serve(struct drive *d)
{
	char buf[4096];
	size_t used = 0;

	for (;;) {
		struct pollfd p[2] = { { .fd = 0, .events = POLLIN },
				       { .fd = netbuf_fd(&d->nb), .events = POLLIN } };
		char *nl;
		ssize_t r;

		if (poll(p, p[1].fd >= 0 ? 2 : 1, -1) < 0 && errno != EINTR)
			fatal("poll");
		if (p[1].fd >= 0 && (p[1].revents & POLLIN))
			netbuf_dispatch(&d->nb);
		if (!(p[0].revents & (POLLIN | POLLHUP)))
			continue;
		r = read(0, buf + used, sizeof(buf) - 1 - used);
		if (r <= 0)
			return;
		used += (size_t)r;
		buf[used] = '\0';
		while ((nl = strchr(buf, '\n'))) {
			*nl = '\0';
			if (command(d, buf))
				return;
			used -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, used + 1);
		}
		if (used == sizeof(buf) - 1)
			fatalx("command line too long");
	}
}

int main(int argc, char **argv)
{
	struct log_cfg lc = { .progname = "nb_drive" };
	struct netbuf_config cfg = { .tx_fd = -1, .first_epoch = 1 };
	struct remus_err err = { 0 };
	static struct drive d;

	log_init(&lc);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "teardown")) {
		cfg.backend = argv[2];
		cfg.ifname = argv[3];
		cfg.tag = argv[4];
		if (netbuf_teardown(&cfg, &err) < 0)
			fatalx("teardown: %s", err.msg);
		return 0;
	}
	if (argc != 5 && argc != 6)
		fatalx("usage: nb_drive BACKEND TAP TAG QUEUE [MAX_HELD] | teardown BACKEND IF TAG");
	addrs_init(&d.addrs);
	d.tap = tap_open(argv[2], d.addrs.gw_mac);
	d.inline_mode = !strcmp(argv[1], "inline");
	cfg.backend = argv[1];
	cfg.ifname = argv[2];
	cfg.tag = argv[3];
	cfg.queue_num = (uint16_t)atoi(argv[4]);
	cfg.max_held_packets = argc == 6 ? (uint32_t)atoi(argv[5]) : 0;
	cfg.tx_fd = d.tap;
	if (netbuf_open(&d.nb, &cfg) < 0)
		fatalx("%s", d.nb.err.msg);
	printf("ready\n");
	serve(&d);
	netbuf_close(&d.nb);
	close(d.tap);
	return 0;
}
