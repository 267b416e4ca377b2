/*
 * Internal state of the guest network stack (not part of the API).
 */
#ifndef GUEST_NET_IMPL_H
#define GUEST_NET_IMPL_H

#include "guest/net/net.h"
#include "guest/rt/rt.h"

#define NET_FRAME_MAX   1514
#define NET_ETH_HDR     14
#define NET_IP_HDR      20
#define NET_TCP_HDR     20
#define NET_MTU         1500
#define NET_TCP_MSS     (NET_MTU - NET_IP_HDR - NET_TCP_HDR)

#define NET_ARP_SLOTS   16
#define NET_ARP_RETRY_MS 1000
#define NET_ARP_TRIES   3
#define NET_UDP_PORTS   8
#define NET_TCP_LISTEN  8
#define NET_TCP_CONNS   128
#define NET_TCP_RXBUF   16384u
#define NET_TCP_TXBUF   16384u
#define NET_TCP_RTO_MIN_MS 200u
#define NET_TCP_RTO_MAX_MS 8000u
#define NET_TCP_RETRIES 10
#define NET_TCP_TIME_WAIT_MS 2000u

#define ETH_TYPE_IP  0x0800
#define ETH_TYPE_ARP 0x0806
#define IP_PROTO_ICMP 1
#define IP_PROTO_TCP  6
#define IP_PROTO_UDP  17

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10

enum tcp_state {
	TCP_FREE = 0, TCP_SYN_RCVD, TCP_ESTABLISHED, TCP_CLOSE_WAIT, TCP_LAST_ACK,
	TCP_FIN_WAIT_1, TCP_FIN_WAIT_2, TCP_CLOSING, TCP_TIME_WAIT, TCP_CLOSED,
};

struct arp_slot {
	uint8_t state;            /* 0 free, 1 resolving, 2 resolved */
	uint8_t tries;
	uint8_t ip[4];
	uint8_t mac[6];
	uint64_t used_ms, retry_ms;
	uint16_t pending_len;     /* one frame waiting for the answer */
	uint8_t pending[NET_FRAME_MAX];
};

struct udp_bind {
	uint16_t port;
	net_udp_fn fn;
	void *user;
};

struct tcp_listener {
	uint16_t port;
	net_tcp_fn fn;
	void *user;
};

/* A ring buffer of bytes (capacity fixed at allocation). */
struct tcp_ring {
	uint8_t *buf;
	uint32_t cap, head, len;
};

struct net_tcp {
	struct net *n;
	uint8_t state;
	bool opened;              /* OPEN was delivered: CLOSED must follow */
	bool fin_rcvd, fin_queued, fin_sent, ack_pending;
	uint8_t rip[4];
	uint16_t rport, lport;
	uint32_t iss, snd_una, snd_nxt, snd_wnd, snd_wl1, snd_wl2;
	uint32_t rcv_nxt, rcv_adv;    /* rcv_adv: right edge last advertised */
	uint16_t mss;
	uint8_t dupacks, retries;
	uint32_t rto_ms;
	uint64_t rto_at, tw_at;       /* 0: timer off */
	struct tcp_ring rx, tx;       /* tx holds bytes from snd_una on */
	const struct tcp_listener *ls;
	void *app;
};

struct net {
	struct net_config cfg;
	struct net_stats st;
	uint64_t now_ms;
	uint32_t isn_counter;
	struct arp_slot arp[NET_ARP_SLOTS];
	struct udp_bind udp[NET_UDP_PORTS];
	struct tcp_listener listen[NET_TCP_LISTEN];
	struct net_tcp tcp[NET_TCP_CONNS];
	uint8_t tx[NET_FRAME_MAX];    /* the frame being built */
};

/* Big-endian field access on byte buffers. */
static inline uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
/* Sequence-number comparisons modulo 2^32. */
static inline bool seq_lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static inline bool seq_le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

/* net.c */
uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len);
uint16_t net_csum_fold(uint32_t sum);
uint32_t net_pseudo_sum(const uint8_t *src, const uint8_t *dst, uint8_t proto, size_t len);
void net_send_eth(struct net *n, const uint8_t dst_mac[6], uint16_t type, size_t payload_len);
/* arp.c */
void arp_input(struct net *n, const uint8_t *p, size_t len);
void arp_output_ip(struct net *n, const uint8_t next_hop[4], size_t ip_len);
void arp_timer(struct net *n);
uint64_t arp_next_timer(const struct net *n);
/* ip.c */
void ip_input(struct net *n, const uint8_t *p, size_t len, bool bcast_mac);
/* Send n->tx's IP payload (at NET_ETH_HDR + NET_IP_HDR, plen bytes) to dst. */
void ip_output(struct net *n, const uint8_t dst[4], uint8_t proto, size_t plen);
/* udp.c */
void udp_input(struct net *n, const uint8_t *src, const uint8_t *p, size_t len);
/* tcp_in.c */
void tcp_input(struct net *n, const uint8_t *src, const uint8_t *p, size_t len);
/* tcp_out.c */
void tcp_output(struct net_tcp *c);
void tcp_send_segment(struct net_tcp *c, uint32_t seq, uint8_t flags, uint32_t off, size_t dlen);
void tcp_send_rst(struct net *n, const uint8_t dst[4], uint16_t sport, uint16_t dport,
		  uint32_t seq, uint32_t ack, bool with_ack);
void tcp_timer(struct net *n);
uint64_t tcp_next_timer(const struct net *n);
void tcp_flush(struct net *n);
void tcp_set_closed(struct net_tcp *c);
void tcp_reap(struct net *n);
uint32_t tcp_rx_window(const struct net_tcp *c);

#endif
