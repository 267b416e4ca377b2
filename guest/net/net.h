/*
 * guest/net: a small TCP/IP stack for pvm guests (Ethernet, ARP, IPv4,
 * ICMP echo, UDP, TCP passive open).  It is driven from outside: feed
 * received frames to net_input, call net_timer when net_next_timer says,
 * net_flush after each batch (ACKs are sent once per batch, not per
 * segment); frames leave through the config's send hook.
 * The stack never touches hypercalls itself, so the same code runs in a
 * pvm guest, a hosted test program and a fuzz target.
 * Every byte of a received frame is hostile: bad frames are dropped and
 * counted in struct net_stats, never trusted.
 */
#ifndef GUEST_NET_H
#define GUEST_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net;
struct net_tcp;

struct net_config {
	uint8_t mac[6];
	uint8_t ipv4[4];
	uint8_t prefix;           /* 0..32 */
	uint8_t gw[4];            /* 0.0.0.0: no gateway */
	uint32_t seed;            /* mixes into TCP initial sequence numbers */
	/* Transmit one complete Ethernet frame (without FCS). */
	void (*send)(void *ctx, const void *frame, size_t len);
	void *send_ctx;
};

/* Drop and event counters (read with net_stats). */
struct net_stats {
	uint64_t rx_frames, tx_frames;
	uint64_t drop_short;      /* truncated header or length beyond the frame */
	uint64_t drop_checksum;   /* IPv4/ICMP/UDP/TCP checksum mismatch */
	uint64_t drop_malformed;  /* impossible values (version, ihl, offsets, oversize) */
	uint64_t drop_fragment;   /* IPv4 fragments (not supported) */
	uint64_t drop_other;      /* not for us, unknown protocol or port */
	uint64_t drop_noroute;    /* output with no ARP answer or route */
	uint64_t arp_replies, icmp_echo, udp_rx, tcp_rx;
	uint64_t tcp_rst_tx, tcp_retransmits, tcp_out_of_order, tcp_accepted;
};

struct net *net_create(const struct net_config *cfg);
void net_destroy(struct net *n);

/* Process one received frame at time now_ms (monotonic milliseconds). */
void net_input(struct net *n, const uint8_t *frame, size_t len, uint64_t now_ms);
/* Run due timers (retransmissions, TIME_WAIT, ARP retries). */
void net_timer(struct net *n, uint64_t now_ms);
/* Earliest pending timer in ms (0: none). */
uint64_t net_next_timer(const struct net *n);
/* Send pending ACKs, window updates and queued data: call after each batch
 * of net_input/net_timer calls and after the application wrote. */
void net_flush(struct net *n, uint64_t now_ms);
/* Broadcast a gratuitous ARP for our address (after failover/migration). */
void net_announce(struct net *n);
const struct net_stats *net_stats(const struct net *n);

/* ---- UDP ---- */
struct net_udp_peer {
	uint8_t ip[4];
	uint16_t port;
};
typedef void (*net_udp_fn)(struct net *n, void *user, const struct net_udp_peer *from,
			   uint16_t local_port, const uint8_t *data, size_t len);
int net_udp_bind(struct net *n, uint16_t port, net_udp_fn fn, void *user);
int net_udp_send(struct net *n, const struct net_udp_peer *to, uint16_t local_port,
		 const void *data, size_t len);

/* ---- TCP ---- */
enum net_tcp_event {
	NET_TCP_OPEN,      /* a connection was accepted */
	NET_TCP_DATA,      /* data (or the peer's FIN) arrived */
	NET_TCP_SPACE,     /* the peer acknowledged data: send buffer has room */
	NET_TCP_CLOSED,    /* last event: the connection is gone after this call */
};
typedef void (*net_tcp_fn)(struct net_tcp *c, enum net_tcp_event ev, void *user);

int net_tcp_listen(struct net *n, uint16_t port, net_tcp_fn fn, void *user);
/* Copy up to cap received bytes out (opens the receive window). */
size_t net_tcp_read(struct net_tcp *c, void *buf, size_t cap);
/* Bytes received and not yet read. */
size_t net_tcp_readable(const struct net_tcp *c);
/* Look at received bytes without consuming them; returns a contiguous run. */
size_t net_tcp_peek(const struct net_tcp *c, size_t off, const uint8_t **p);
/* Queue up to len bytes for sending; returns how many fit. */
size_t net_tcp_write(struct net_tcp *c, const void *buf, size_t len);
size_t net_tcp_writable(const struct net_tcp *c);
/* The peer has sent FIN and every byte before it was read. */
bool net_tcp_eof(const struct net_tcp *c);
/* Graceful close after queued data (FIN). */
void net_tcp_close(struct net_tcp *c);
/* Reset the connection now. */
void net_tcp_abort(struct net_tcp *c);
void net_tcp_set_app(struct net_tcp *c, void *app);
void *net_tcp_app(const struct net_tcp *c);
struct net *net_tcp_net(const struct net_tcp *c);

#endif
