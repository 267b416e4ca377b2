/*
 * Stack core: creation, Ethernet input dispatch, checksums, timers.
 */
#include "guest/net/net_impl.h"

static const uint8_t eth_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Create a stack for one interface; NULL if out of memory or cfg invalid. */
struct net *net_create(const struct net_config *cfg)
{
	struct net *n;

	if (!cfg->send || cfg->prefix > 32)
		return NULL;
	n = rt_calloc(1, sizeof(*n));
	if (!n)
		return NULL;
	n->cfg = *cfg;
	return n;
}

/* Free the stack and every connection buffer. */
void net_destroy(struct net *n)
{
	if (!n)
		return;
	for (int i = 0; i < NET_TCP_CONNS; i++) {
		rt_free(n->tcp[i].rx.buf);
		rt_free(n->tcp[i].tx.buf);
	}
	rt_free(n);
}

/* Counters for STATS-style reporting. */
const struct net_stats *net_stats(const struct net *n)
{
	return &n->st;
}

/* Add bytes to a ones'-complement sum (RFC 1071). */
uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	uint64_t s = sum;

	while (len >= 2) {
		s += get16(p);
		p += 2;
		len -= 2;
	}
	if (len)
		s += (uint32_t)p[0] << 8;
	while (s >> 32)
		s = (s & 0xffffffffu) + (s >> 32);
	return (uint32_t)s;
}

/* Fold a sum to the 16-bit complement written into headers. */
uint16_t net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Sum of the IPv4 pseudo-header used by UDP and TCP checksums. */
uint32_t net_pseudo_sum(const uint8_t *src, const uint8_t *dst, uint8_t proto, size_t len)
{
	uint8_t ph[12];

	memcpy(ph, src, 4);
	memcpy(ph + 4, dst, 4);
	ph[8] = 0;
	ph[9] = proto;
	put16(ph + 10, (uint16_t)len);
	return net_csum_add(0, ph, sizeof(ph));
}

/* Fill the Ethernet header of n->tx and transmit it. */
void net_send_eth(struct net *n, const uint8_t dst_mac[6], uint16_t type, size_t payload_len)
{
	size_t len = NET_ETH_HDR + payload_len;

	memcpy(n->tx, dst_mac, 6);
	memcpy(n->tx + 6, n->cfg.mac, 6);
	put16(n->tx + 12, type);
	if (len < 60) {                 /* pad to the Ethernet minimum */
		memset(n->tx + len, 0, 60 - len);
		len = 60;
	}
	n->st.tx_frames++;
	n->cfg.send(n->cfg.send_ctx, n->tx, len);
}

/* Accept a frame addressed to our MAC or broadcast; dispatch by EtherType. */
void net_input(struct net *n, const uint8_t *frame, size_t len, uint64_t now_ms)
{
	bool bcast;

	n->now_ms = now_ms;
	n->st.rx_frames++;
	if (len < NET_ETH_HDR) {
		n->st.drop_short++;
		return;
	}
	if (len > NET_FRAME_MAX) {
		n->st.drop_malformed++;
		return;
	}
	bcast = memcmp(frame, eth_bcast, 6) == 0;
	if (!bcast && memcmp(frame, n->cfg.mac, 6) != 0) {
		n->st.drop_other++;
		return;
	}
	switch (get16(frame + 12)) {
	case ETH_TYPE_ARP:
		arp_input(n, frame + NET_ETH_HDR, len - NET_ETH_HDR);
		break;
	case ETH_TYPE_IP:
		ip_input(n, frame + NET_ETH_HDR, len - NET_ETH_HDR, bcast);
		break;
	default:
		n->st.drop_other++;
		break;
	}
	tcp_reap(n);
}

/* Run due timers. */
void net_timer(struct net *n, uint64_t now_ms)
{
	n->now_ms = now_ms;
	arp_timer(n);
	tcp_timer(n);
	tcp_reap(n);
}

/* Earliest timer of ARP and TCP (0: nothing pending). */
uint64_t net_next_timer(const struct net *n)
{
	uint64_t a = arp_next_timer(n), t = tcp_next_timer(n);

	if (!a)
		return t;
	if (!t)
		return a;
	return a < t ? a : t;
}

/* Push out data and window updates queued by the application. */
void net_flush(struct net *n, uint64_t now_ms)
{
	n->now_ms = now_ms;
	tcp_flush(n);
	tcp_reap(n);
}
