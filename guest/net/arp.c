/*
 * ARP (RFC 826) for IPv4 over Ethernet: answer requests for our address,
 * cache senders that talk to us, resolve next hops for output (one frame
 * waits per unresolved address), and gratuitous announcements.
 */
#include "guest/net/net_impl.h"

#define ARP_LEN 28

static const uint8_t arp_bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

/* Find the cache slot for ip, or NULL. */
static struct arp_slot *arp_find(struct net *n, const uint8_t ip[4])
{
	for (int i = 0; i < NET_ARP_SLOTS; i++)
		if (n->arp[i].state && memcmp(n->arp[i].ip, ip, 4) == 0)
			return &n->arp[i];
	return NULL;
}

/* A free slot, else the least recently used one (its pending frame is lost). */
static struct arp_slot *arp_alloc(struct net *n, const uint8_t ip[4])
{
	struct arp_slot *victim = &n->arp[0];

	for (int i = 0; i < NET_ARP_SLOTS; i++) {
		if (!n->arp[i].state) {
			victim = &n->arp[i];
			break;
		}
		if (n->arp[i].used_ms < victim->used_ms)
			victim = &n->arp[i];
	}
	memset(victim, 0, sizeof(*victim) - sizeof(victim->pending));
	memcpy(victim->ip, ip, 4);
	victim->used_ms = n->now_ms;
	return victim;
}

/* Build and send one ARP packet. */
static void arp_send(struct net *n, uint16_t op, const uint8_t eth_dst[6],
		     const uint8_t tha[6], const uint8_t tpa[4])
{
	uint8_t *a = n->tx + NET_ETH_HDR;

	put16(a, 1);
	put16(a + 2, ETH_TYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, n->cfg.mac, 6);
	memcpy(a + 14, n->cfg.ipv4, 4);
	memcpy(a + 18, tha, 6);
	memcpy(a + 24, tpa, 4);
	net_send_eth(n, eth_dst, ETH_TYPE_ARP, ARP_LEN);
}

/* Transmit the frame that was waiting for this slot's MAC. */
static void arp_release_pending(struct net *n, struct arp_slot *s)
{
	if (!s->pending_len)
		return;
	memcpy(n->tx, s->pending, s->pending_len);
	memcpy(n->tx, s->mac, 6);
	n->st.tx_frames++;
	n->cfg.send(n->cfg.send_ctx, n->tx, s->pending_len);
	s->pending_len = 0;
}

/* Handle a received ARP packet. */
void arp_input(struct net *n, const uint8_t *p, size_t len)
{
	static const uint8_t zero_ip[4];
	struct arp_slot *s;
	bool for_us;
	uint16_t op;

	if (len < ARP_LEN) {
		n->st.drop_short++;
		return;
	}
	op = get16(p + 6);
	if (get16(p) != 1 || get16(p + 2) != ETH_TYPE_IP || p[4] != 6 || p[5] != 4 ||
	    (op != 1 && op != 2) || (p[8] & 1)) {
		n->st.drop_malformed++;
		return;
	}
	for_us = memcmp(p + 24, n->cfg.ipv4, 4) == 0;
	if (memcmp(p + 14, zero_ip, 4) == 0 || memcmp(p + 14, n->cfg.ipv4, 4) == 0) {
		/* probes and conflicting claims teach nothing; still answer probes */
		if (for_us && op == 1)
			arp_send(n, 2, p + 8, p + 8, p + 14);
		return;
	}
	s = arp_find(n, p + 14);
	if (!s && for_us)
		s = arp_alloc(n, p + 14);
	if (s) {
		memcpy(s->mac, p + 8, 6);
		s->state = 2;
		s->used_ms = n->now_ms;
		arp_release_pending(n, s);
	}
	if (for_us && op == 1) {
		n->st.arp_replies++;
		arp_send(n, 2, p + 8, p + 8, p + 14);
	}
}

/* Send the IP packet in n->tx (ip_len bytes after the Ethernet header) to next_hop. */
void arp_output_ip(struct net *n, const uint8_t next_hop[4], size_t ip_len)
{
	struct arp_slot *s = arp_find(n, next_hop);
	size_t len = NET_ETH_HDR + ip_len;

	if (s && s->state == 2) {
		s->used_ms = n->now_ms;
		net_send_eth(n, s->mac, ETH_TYPE_IP, ip_len);
		return;
	}
	if (!s)
		s = arp_alloc(n, next_hop);
	s->state = 1;
	/* keep the newest frame: fill the header now, the MAC when resolved */
	memcpy(n->tx + 6, n->cfg.mac, 6);
	put16(n->tx + 12, ETH_TYPE_IP);
	if (s->pending_len)
		n->st.drop_noroute++;
	memcpy(s->pending, n->tx, len);
	s->pending_len = (uint16_t)len;
	if (s->tries == 0) {
		s->tries = 1;
		s->retry_ms = n->now_ms + NET_ARP_RETRY_MS;
		arp_send(n, 1, arp_bcast, (const uint8_t[6]){ 0 }, next_hop);
	}
}

/* Retry unanswered requests; give up (dropping the waiting frame) after a few. */
void arp_timer(struct net *n)
{
	for (int i = 0; i < NET_ARP_SLOTS; i++) {
		struct arp_slot *s = &n->arp[i];
		if (s->state != 1 || s->retry_ms > n->now_ms)
			continue;
		if (s->tries >= NET_ARP_TRIES) {
			if (s->pending_len)
				n->st.drop_noroute++;
			s->state = 0;
			s->pending_len = 0;
			continue;
		}
		s->tries++;
		s->retry_ms = n->now_ms + NET_ARP_RETRY_MS;
		arp_send(n, 1, arp_bcast, (const uint8_t[6]){ 0 }, s->ip);
	}
}

/* When the next ARP retry is due (0: none). */
uint64_t arp_next_timer(const struct net *n)
{
	uint64_t t = 0;

	for (int i = 0; i < NET_ARP_SLOTS; i++)
		if (n->arp[i].state == 1 && (!t || n->arp[i].retry_ms < t))
			t = n->arp[i].retry_ms;
	return t;
}

/* Gratuitous ARP: tell the LAN (switches and neighbours) where our IP lives. */
void net_announce(struct net *n)
{
	arp_send(n, 1, arp_bcast, (const uint8_t[6]){ 0 }, n->cfg.ipv4);
	arp_send(n, 2, arp_bcast, arp_bcast, n->cfg.ipv4);
}
