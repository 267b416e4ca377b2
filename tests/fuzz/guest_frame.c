/*
 * Fuzz target for the guest network stack's frame parser and TCP/UDP
 * state machines.  Input: byte 0 = options (bit 0: fix up IPv4/ICMP/UDP/TCP
 * checksums so mutations reach deeper layers), then records of
 * [u8 time step ms][u16 length][frame bytes].  A TCP listener echoes data
 * and sometimes closes or aborts; a UDP port echoes datagrams.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guest/net/net.h"
#include "guest/net/net_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Swallow output frames (the stack must never build one too long). */
static void fz_send(void *ctx, const void *frame, size_t len)
{
	(void)ctx;
	(void)frame;
	if (len > NET_FRAME_MAX)
		abort();
}

/* Echo TCP data back; close or abort depending on the first byte. */
static void fz_tcp(struct net_tcp *c, enum net_tcp_event ev, void *user)
{
	uint8_t buf[512];
	size_t n;

	(void)user;
	if (ev != NET_TCP_DATA)
		return;
	n = net_tcp_read(c, buf, sizeof(buf));
	net_tcp_write(c, buf, n);
	if (n && buf[0] == 'C')
		net_tcp_close(c);
	else if (n && buf[0] == 'A')
		net_tcp_abort(c);
	else if (net_tcp_eof(c))
		net_tcp_close(c);
}

/* Echo UDP datagrams. */
static void fz_udp(struct net *n, void *user, const struct net_udp_peer *from,
		   uint16_t port, const uint8_t *d, size_t len)
{
	(void)user;
	net_udp_send(n, from, port, d, len);
}

/* Recompute checksums of an IPv4 frame in place (best effort, bounds-checked). */
static void fz_fix_checksums(uint8_t *f, size_t len)
{
	size_t ihl, tlen;
	uint8_t *ip = f + NET_ETH_HDR, *p;

	if (len < NET_ETH_HDR + NET_IP_HDR || get16(f + 12) != ETH_TYPE_IP)
		return;
	ihl = (size_t)(ip[0] & 15) * 4;
	tlen = get16(ip + 2);
	if (ihl < NET_IP_HDR || tlen < ihl || tlen > len - NET_ETH_HDR)
		return;
	put16(ip + 10, 0);
	put16(ip + 10, net_csum_fold(net_csum_add(0, ip, ihl)));
	p = ip + ihl;
	tlen -= ihl;
	if (ip[9] == IP_PROTO_TCP && tlen >= 20) {
		put16(p + 16, 0);
		put16(p + 16, net_csum_fold(net_csum_add(net_pseudo_sum(ip + 12, ip + 16, 6, tlen),
							 p, tlen)));
	} else if (ip[9] == IP_PROTO_UDP && tlen >= 8 && get16(p + 4) >= 8 &&
		   get16(p + 4) <= tlen) {
		put16(p + 6, 0);
		put16(p + 6, net_csum_fold(net_csum_add(net_pseudo_sum(ip + 12, ip + 16, 17,
				get16(p + 4)), p, get16(p + 4))));
	} else if (ip[9] == IP_PROTO_ICMP && tlen >= 8) {
		put16(p + 2, 0);
		put16(p + 2, net_csum_fold(net_csum_add(0, p, tlen)));
	}
}

/* Feed a sequence of frames (with simulated time) to a fresh stack. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct net_config cfg = {
		.mac = { 2, 0, 0, 0, 0, 2 }, .ipv4 = { 10, 0, 0, 2 }, .prefix = 24,
		.gw = { 10, 0, 0, 1 }, .seed = 1, .send = fz_send,
	};
	uint8_t frame[NET_FRAME_MAX];
	uint64_t now = 1000;
	struct net *n;
	bool fix;
	size_t off = 1;

	if (size < 1)
		return 0;
	fix = data[0] & 1;
	n = net_create(&cfg);
	if (!n)
		abort();
	net_tcp_listen(n, 7000, fz_tcp, NULL);
	net_udp_bind(n, 7000, fz_udp, NULL);
	while (off + 3 <= size) {
		size_t len = get16(data + off + 1);
		now += data[off] * 50u;
		off += 3;
		if (len > size - off)
			len = size - off;
		if (len <= sizeof(frame)) {
			memcpy(frame, data + off, len);
			if (fix)
				fz_fix_checksums(frame, len);
			net_input(n, frame, len, now);
		} else {
			net_input(n, data + off, len, now);   /* oversized: must be dropped */
		}
		off += len;
		net_timer(n, now);
		net_flush(n, now);
	}
	net_timer(n, now + 120000);
	net_destroy(n);
	return 0;
}
