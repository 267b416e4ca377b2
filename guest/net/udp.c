/*
 * UDP: validate datagrams, deliver them to bound ports, send replies.
 */
#include "guest/net/net_impl.h"

#define UDP_HDR 8

/* Register a handler for datagrams to port. */
int net_udp_bind(struct net *n, uint16_t port, net_udp_fn fn, void *user)
{
	for (int i = 0; i < NET_UDP_PORTS; i++) {
		if (!n->udp[i].fn) {
			n->udp[i] = (struct udp_bind){ port, fn, user };
			return 0;
		}
	}
	return -PVM_ENOSPC;
}

/* Validate one datagram and call its port's handler. */
void udp_input(struct net *n, const uint8_t *src, const uint8_t *p, size_t len)
{
	size_t ulen;
	uint16_t dport;

	if (len < UDP_HDR) {
		n->st.drop_short++;
		return;
	}
	ulen = get16(p + 4);
	if (ulen < UDP_HDR || ulen > len) {
		n->st.drop_short++;
		return;
	}
	if (get16(p + 6) != 0) {
		uint32_t s = net_pseudo_sum(src, src + 4, IP_PROTO_UDP, ulen);
		if (net_csum_fold(net_csum_add(s, p, ulen)) != 0) {
			n->st.drop_checksum++;
			return;
		}
	}
	dport = get16(p + 2);
	for (int i = 0; i < NET_UDP_PORTS; i++) {
		if (n->udp[i].fn && n->udp[i].port == dport) {
			struct net_udp_peer from = { .port = get16(p) };
			memcpy(from.ip, src, 4);
			n->st.udp_rx++;
			n->udp[i].fn(n, n->udp[i].user, &from, dport, p + UDP_HDR,
				     ulen - UDP_HDR);
			return;
		}
	}
	n->st.drop_other++;
}

/* Send one datagram (at most one MTU: no fragmentation). */
int net_udp_send(struct net *n, const struct net_udp_peer *to, uint16_t local_port,
		 const void *data, size_t len)
{
	uint8_t *u = n->tx + NET_ETH_HDR + NET_IP_HDR;
	size_t ulen = UDP_HDR + len;
	uint16_t sum;

	if (len > NET_MTU - NET_IP_HDR - UDP_HDR)
		return -PVM_EMSGSIZE;
	put16(u, local_port);
	put16(u + 2, to->port);
	put16(u + 4, (uint16_t)ulen);
	put16(u + 6, 0);
	memcpy(u + UDP_HDR, data, len);
	sum = net_csum_fold(net_csum_add(net_pseudo_sum(n->cfg.ipv4, to->ip, IP_PROTO_UDP,
							ulen), u, ulen));
	put16(u + 6, sum ? sum : 0xffff);
	ip_output(n, to->ip, IP_PROTO_UDP, ulen);
	return 0;
}
