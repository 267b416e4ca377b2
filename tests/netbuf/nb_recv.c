/*
 * nb_recv: the client of the netbuf integration tests.  Prints one line
 * per packet of the fake guest it receives ("v4 SEQ", "v6 SEQ"), per
 * marker datagram ("mark TEXT"), and with --arp IFNAME per ARP frame from
 * the guest's MAC seen on IFNAME ("arp SEQ").  Prints "ready" once bound.
 * Usage: nb_recv PORT [--arp IFNAME]
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>

#include "util/log.h"
#include "nb_frame.h"

/* UDP socket of `family` on port (v6 socket is v6-only). */
static int udp_bind(int family, uint16_t port)
{
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		fatal("socket");
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (family == AF_INET6 ? bind(fd, (void *)&s6, sizeof(s6))
			       : bind(fd, (void *)&s4, sizeof(s4)))
		fatal("bind port %u", port);
	return fd;
}

/* Packet socket for ARP frames on one interface. */
static int arp_bind(const char *ifname)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP) };
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));

	if (fd < 0)
		fatal("packet socket");
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	if (!sll.sll_ifindex || bind(fd, (void *)&sll, sizeof(sll)))
		fatal("bind to %s", ifname);
	return fd;
}

/* One datagram: our frame payload or a marker. */
static void on_udp(int fd)
{
	uint8_t buf[2048];
	enum nb_kind kind;
	uint32_t seq;
	uint64_t stamp;
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		return;
	if (nb_payload_parse(buf, (size_t)n, &kind, &seq, &stamp) == 0) {
		printf("%s %u\n", kind == NB_V4 ? "v4" : "v6", seq);
	} else if (n >= 5 && !memcmp(buf, "MARK ", 5)) {
		buf[n] = '\0';
		buf[strcspn((char *)buf, "\n")] = '\0';
		printf("mark %s\n", buf + 5);
	}
}

/* An ARP frame seen on the interface, coming in from the guest. */
static void on_arp(int fd)
{
	static const uint8_t gmac[6] = { 0x02, 0, 0, 0x77, 0x01, 0x02 };
	struct sockaddr_ll from;
	socklen_t fl = sizeof(from);
	uint8_t buf[2048];
	uint32_t seq;
	ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (void *)&from, &fl);

	if (n > 0 && from.sll_pkttype != PACKET_OUTGOING &&
	    nb_arp_parse(buf, (size_t)n, gmac, &seq) == 0)
		printf("arp %u\n", seq);
}

int main(int argc, char **argv)
{
	struct log_cfg lc = { .progname = "nb_recv" };
	struct pollfd p[3];
	int np = 2;

	log_init(&lc);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2 && !(argc == 4 && !strcmp(argv[2], "--arp")))
		fatalx("usage: nb_recv PORT [--arp IFNAME]");
	p[0] = (struct pollfd){ .fd = udp_bind(AF_INET, (uint16_t)atoi(argv[1])), .events = POLLIN };
	p[1] = (struct pollfd){ .fd = udp_bind(AF_INET6, (uint16_t)atoi(argv[1])), .events = POLLIN };
	if (argc == 4)
		p[np++] = (struct pollfd){ .fd = arp_bind(argv[3]), .events = POLLIN };
	printf("ready\n");
	for (;;) {
		if (poll(p, (nfds_t)np, -1) < 0 && errno != EINTR)
			fatal("poll");
		for (int i = 0; i < 2; i++)
			if (p[i].revents & POLLIN)
				on_udp(p[i].fd);
		if (np == 3 && (p[2].revents & POLLIN))
			on_arp(p[2].fd);
	}
}
