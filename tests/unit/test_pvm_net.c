/*
 * pvm's net_transmit op: a frame handed to it leaves on the guest's TAP
 * exactly as the guest's own frames would (remusd's path for frames a
 * netbuf held), in any state of a created guest; no NIC or a length that
 * is not an Ethernet frame is refused.  Runs in a network namespace of its
 * own (skipped without the privilege to make one).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

#define MEM (16ULL << 20)
#define TAP "pvmtx0"
#define ETH_TEST 0x88b5                 /* local experimental EtherType */

/* Bring the interface up and open a packet socket on it. */
static int packet_socket(const char *ifname)
{
	struct ifreq ifr = { 0 };
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_TEST) };
	int ctl = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), s;

	assert_true(ctl >= 0);
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	assert_int_equal(ioctl(ctl, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(ctl, SIOCSIFFLAGS, &ifr), 0);
	close(ctl);
	s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_TEST));
	assert_true(s >= 0);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(s, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return s;
}

/* A test frame: broadcast, our EtherType, a numbered payload. */
static size_t make_frame(uint8_t *f, size_t len, uint8_t tag)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\x00\x00\xaa\x00\x01", 6);
	f[12] = ETH_TEST >> 8;
	f[13] = ETH_TEST & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(tag + i);
	return len;
}

/* The frame arrives on the TAP's host side byte for byte (bounded wait). */
static void expect_frame(int s, const uint8_t *f, size_t len)
{
	struct pollfd p = { s, POLLIN, 0 };
	uint8_t got[2048];
	ssize_t n;

	assert_int_equal(poll(&p, 1, 10000), 1);
	n = recv(s, got, sizeof(got), 0);
	assert_int_equal(n, (ssize_t)len);
	assert_memory_equal(got, f, len);
}

static void test_transmit_reaches_tap(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	uint8_t f[1514];
	int s;

	(void)state;
	assert_non_null(pvm_hv_ops.net_transmit);
	pt_config(&cfg, "nettx", "counter", MEM, -1);
	cfg.tap = TAP;
	if (pvm_hv_ops.create(&cfg, &g, &err) < 0)
		fail_msg("create: %s", err.msg);
	s = packet_socket(TAP);
	/* created, not started: a restored guest's backlog may leave before it runs */
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, make_frame(f, 60, 1)), 0);
	expect_frame(s, f, 60);
	if (pvm_hv_ops.start(g, &err) < 0)
		fail_msg("start: %s", err.msg);
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, make_frame(f, 1514, 2)), 0);
	expect_frame(s, f, 1514);
	/* paused (the engine's checkpoint): released frames still leave */
	if (pvm_hv_ops.suspend(g, &err) < 0)
		fail_msg("suspend: %s", err.msg);
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, make_frame(f, 14, 3)), 0);
	expect_frame(s, f, 14);
	/* not Ethernet frames: refused, nothing sent */
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, 13), -EMSGSIZE);
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, 1515), -EMSGSIZE);
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, make_frame(f, 100, 4)), 0);
	expect_frame(s, f, 100);
	close(s);
	pvm_hv_ops.destroy(g);
}

static void test_transmit_without_nic(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	uint8_t f[60];

	(void)state;
	pt_config(&cfg, "nonic", "counter", MEM, -1);
	if (pvm_hv_ops.create(&cfg, &g, &err) < 0)
		fail_msg("create: %s", err.msg);
	assert_int_equal(pvm_hv_ops.net_transmit(g, f, make_frame(f, sizeof(f), 0)), -ENODEV);
	pvm_hv_ops.destroy(g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transmit_reaches_tap),
		cmocka_unit_test(test_transmit_without_nic),
	};
	/* a private network namespace, so the TAP clashes with nothing */
	if (unshare(CLONE_NEWNET) < 0) {
		fprintf(stderr, "no network namespace (%s): skipped\n", strerror(errno));
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
