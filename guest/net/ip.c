/*
 * IPv4 input validation and output routing, and ICMP echo.
 * Fragments are dropped (counted); options are skipped.
 */
#include "guest/net/net_impl.h"

/* Is ip on our subnet (so it is its own next hop)? */
static bool ip_on_link(const struct net *n, const uint8_t ip[4])
{
	uint32_t mask = n->cfg.prefix ? ~0u << (32 - n->cfg.prefix) : 0;

	return ((get32(ip) ^ get32(n->cfg.ipv4)) & mask) == 0;
}

/* Is dst addressed to us (unicast, limited or subnet broadcast)? */
static bool ip_for_us(const struct net *n, const uint8_t dst[4], bool *bcast)
{
	uint32_t d = get32(dst);
	uint32_t mask = n->cfg.prefix ? ~0u << (32 - n->cfg.prefix) : 0;

	*bcast = d == 0xffffffffu || (n->cfg.prefix < 31 && ip_on_link(n, dst) &&
				     (d | mask) == 0xffffffffu);
	return *bcast || memcmp(dst, n->cfg.ipv4, 4) == 0;
}

/* Answer an ICMP echo request with the same identifier, sequence and data. */
static void icmp_input(struct net *n, const uint8_t src[4], const uint8_t *p, size_t len)
{
	uint8_t *r = n->tx + NET_ETH_HDR + NET_IP_HDR;

	if (len < 8) {
		n->st.drop_short++;
		return;
	}
	if (net_csum_fold(net_csum_add(0, p, len)) != 0) {
		n->st.drop_checksum++;
		return;
	}
	if (p[0] != 8 || p[1] != 0) {      /* only echo requests are served */
		n->st.drop_other++;
		return;
	}
	if (len > NET_MTU - NET_IP_HDR) {
		n->st.drop_malformed++;
		return;
	}
	memcpy(r, p, len);
	r[0] = 0;
	put16(r + 2, 0);
	put16(r + 2, net_csum_fold(net_csum_add(0, r, len)));
	n->st.icmp_echo++;
	ip_output(n, src, IP_PROTO_ICMP, len);
}

/* Validate an IPv4 packet and hand its payload to ICMP, UDP or TCP. */
void ip_input(struct net *n, const uint8_t *p, size_t len, bool bcast_mac)
{
	size_t hlen, tlen;
	bool bcast;

	if (len < NET_IP_HDR) {
		n->st.drop_short++;
		return;
	}
	hlen = (size_t)(p[0] & 0x0f) * 4;
	tlen = get16(p + 2);
	if ((p[0] >> 4) != 4 || hlen < NET_IP_HDR || tlen < hlen) {
		n->st.drop_malformed++;
		return;
	}
	if (tlen > len) {
		n->st.drop_short++;
		return;
	}
	if (net_csum_fold(net_csum_add(0, p, hlen)) != 0) {
		n->st.drop_checksum++;
		return;
	}
	if ((get16(p + 6) & 0x3fff) != 0) {  /* MF set or nonzero offset */
		n->st.drop_fragment++;
		return;
	}
	if (!ip_for_us(n, p + 16, &bcast) || (bcast_mac && !bcast && p[9] == IP_PROTO_TCP)) {
		n->st.drop_other++;
		return;
	}
	switch (p[9]) {
	case IP_PROTO_ICMP:
		if (!bcast)
			icmp_input(n, p + 12, p + hlen, tlen - hlen);
		break;
	case IP_PROTO_UDP:
		udp_input(n, p + 12, p + hlen, tlen - hlen);
		break;
	case IP_PROTO_TCP:
		if (bcast) {
			n->st.drop_other++;
			break;
		}
		tcp_input(n, p + 12, p + hlen, tlen - hlen);
		break;
	default:
		n->st.drop_other++;
		break;
	}
}

/* Prepend the IPv4 header to the payload in n->tx and route it. */
void ip_output(struct net *n, const uint8_t dst[4], uint8_t proto, size_t plen)
{
	uint8_t *h = n->tx + NET_ETH_HDR;
	static const uint8_t zero[4];
	const uint8_t *hop = dst;

	if (plen > NET_MTU - NET_IP_HDR)
		return;
	if (!ip_on_link(n, dst)) {
		if (memcmp(n->cfg.gw, zero, 4) == 0) {
			n->st.drop_noroute++;
			return;
		}
		hop = n->cfg.gw;
	}
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, (uint16_t)(NET_IP_HDR + plen));
	put16(h + 4, (uint16_t)n->st.tx_frames);
	put16(h + 6, 0x4000);           /* DF */
	h[8] = 64;
	h[9] = proto;
	put16(h + 10, 0);
	memcpy(h + 12, n->cfg.ipv4, 4);
	memcpy(h + 16, dst, 4);
	put16(h + 10, net_csum_fold(net_csum_add(0, h, NET_IP_HDR)));
	arp_output_ip(n, hop, NET_IP_HDR + plen);
}
