/*
 * Unit tests for the guest TCP/IP stack against a scripted peer: every
 * frame the stack sends is captured, every frame the peer sends is built
 * here with correct checksums.  Time is simulated.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>

#include "guest/net/net_impl.h"

#define MAXF 64
#define PEER_PORT 40000
#define SRV_PORT 7000

struct seg {
	uint8_t flags;
	uint32_t seq, ack;
	uint16_t wnd;
	size_t dlen;
	uint8_t data[NET_FRAME_MAX];
};

struct harness {
	struct net *n;
	uint64_t now;
	unsigned nframes;
	uint8_t frames[MAXF][NET_FRAME_MAX];
	size_t flen[MAXF];
	/* application side */
	struct net_tcp *conn;
	bool read_data, closed;
	unsigned opens;
	uint8_t got[70000];
	size_t ngot;
	uint32_t peer_seq, srv_seq;   /* next sequence numbers each way */
};

static const uint8_t srv_mac[6] = { 2, 0, 0, 0, 0, 2 }, peer_mac[6] = { 2, 0, 0, 0, 0, 1 };
static const uint8_t srv_ip[4] = { 10, 0, 0, 2 }, peer_ip[4] = { 10, 0, 0, 1 };

static void capture(void *ctx, const void *frame, size_t len)
{
	struct harness *h = ctx;

	assert_true(len <= NET_FRAME_MAX);
	assert_true(h->nframes < MAXF);
	memcpy(h->frames[h->nframes], frame, len);
	h->flen[h->nframes++] = len;
}

static void app_event(struct net_tcp *c, enum net_tcp_event ev, void *user)
{
	struct harness *h = user;

	switch (ev) {
	case NET_TCP_OPEN:
		h->conn = c;
		h->opens++;
		break;
	case NET_TCP_DATA:
		if (h->read_data)
			h->ngot += net_tcp_read(c, h->got + h->ngot, sizeof(h->got) - h->ngot);
		break;
	case NET_TCP_SPACE:
		break;
	case NET_TCP_CLOSED:
		h->closed = true;
		h->conn = NULL;
		break;
	}
}

/* Parse captured frame i as a TCP segment from the server. */
static struct seg frame_seg(struct harness *h, unsigned i)
{
	const uint8_t *f = h->frames[i], *t = f + NET_ETH_HDR + NET_IP_HDR;
	size_t iplen = get16(f + NET_ETH_HDR + 2), doff = (size_t)(t[12] >> 4) * 4;
	struct seg s;

	assert_int_equal(get16(f + 12), ETH_TYPE_IP);
	assert_int_equal(f[NET_ETH_HDR + 9], IP_PROTO_TCP);
	assert_int_equal(net_csum_fold(net_csum_add(net_pseudo_sum(srv_ip, peer_ip, 6,
			iplen - NET_IP_HDR), t, iplen - NET_IP_HDR)), 0);
	s.flags = t[13];
	s.seq = get32(t + 4);
	s.ack = get32(t + 8);
	s.wnd = get16(t + 14);
	s.dlen = iplen - NET_IP_HDR - doff;
	memcpy(s.data, t + doff, s.dlen);
	return s;
}

static struct seg last_seg(struct harness *h)
{
	assert_true(h->nframes > 0);
	return frame_seg(h, h->nframes - 1);
}

/* Send one segment from the peer. */
static void peer_send(struct harness *h, uint8_t flags, uint32_t seq, uint32_t ack,
		      const void *data, size_t dlen, uint16_t wnd)
{
	uint8_t f[NET_FRAME_MAX];
	uint8_t *ip = f + NET_ETH_HDR, *t = ip + NET_IP_HDR;

	memcpy(f, srv_mac, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, ETH_TYPE_IP);
	memset(ip, 0, NET_IP_HDR + NET_TCP_HDR);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(NET_IP_HDR + NET_TCP_HDR + dlen));
	ip[8] = 64;
	ip[9] = IP_PROTO_TCP;
	memcpy(ip + 12, peer_ip, 4);
	memcpy(ip + 16, srv_ip, 4);
	put16(ip + 10, net_csum_fold(net_csum_add(0, ip, NET_IP_HDR)));
	put16(t, PEER_PORT);
	put16(t + 2, SRV_PORT);
	put32(t + 4, seq);
	put32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	put16(t + 14, wnd);
	if (dlen)
		memcpy(t + NET_TCP_HDR, data, dlen);
	put16(t + 16, net_csum_fold(net_csum_add(net_pseudo_sum(peer_ip, srv_ip, 6,
			NET_TCP_HDR + dlen), t, NET_TCP_HDR + dlen)));
	net_input(h->n, f, NET_ETH_HDR + NET_IP_HDR + NET_TCP_HDR + dlen, h->now);
	net_flush(h->n, h->now);
}

/* Advance simulated time and run timers. */
static void advance(struct harness *h, uint64_t ms)
{
	h->now += ms;
	net_timer(h->n, h->now);
	net_flush(h->n, h->now);
}

/* Teach the stack the peer's MAC with an ARP request and check the reply. */
static void peer_arp(struct harness *h)
{
	uint8_t f[60] = { 0 }, *a = f + NET_ETH_HDR;

	memset(f, 0xff, 6);
	memcpy(f + 6, peer_mac, 6);
	put16(f + 12, ETH_TYPE_ARP);
	put16(a, 1);
	put16(a + 2, ETH_TYPE_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, peer_mac, 6);
	memcpy(a + 14, peer_ip, 4);
	memcpy(a + 24, srv_ip, 4);
	net_input(h->n, f, sizeof(f), h->now);
	assert_int_equal(h->nframes, 1);
	assert_int_equal(get16(h->frames[0] + 12), ETH_TYPE_ARP);
	assert_int_equal(get16(h->frames[0] + NET_ETH_HDR + 6), 2);
	assert_memory_equal(h->frames[0], peer_mac, 6);
	h->nframes = 0;
}

/* Fresh stack, listener, and an established connection. */
static struct harness *setup_conn(void)
{
	struct harness *h = calloc(1, sizeof(*h));
	struct net_config cfg = { .mac = { 2, 0, 0, 0, 0, 2 }, .ipv4 = { 10, 0, 0, 2 },
				  .prefix = 24, .send = capture };
	struct seg s;

	cfg.send_ctx = h;
	h->now = 1000;
	h->read_data = true;
	h->n = net_create(&cfg);
	assert_non_null(h->n);
	assert_int_equal(net_tcp_listen(h->n, SRV_PORT, app_event, h), 0);
	peer_arp(h);
	peer_send(h, TCP_SYN, 100, 0, NULL, 0, 65535);
	s = last_seg(h);
	assert_int_equal(s.flags, TCP_SYN | TCP_ACK);
	assert_int_equal(s.ack, 101);
	h->srv_seq = s.seq + 1;
	h->peer_seq = 101;
	peer_send(h, TCP_ACK, 101, h->srv_seq, NULL, 0, 65535);
	assert_int_equal(h->opens, 1);
	assert_non_null(h->conn);
	h->nframes = 0;
	return h;
}

static void teardown(struct harness *h)
{
	net_destroy(h->n);
	free(h);
}

static void test_echo_and_peer_close(void **state)
{
	struct harness *h = setup_conn();
	struct seg s;

	(void)state;
	peer_send(h, TCP_ACK | TCP_PSH, h->peer_seq, h->srv_seq, "hello", 5, 65535);
	h->peer_seq += 5;
	assert_int_equal(h->ngot, 5);
	assert_memory_equal(h->got, "hello", 5);
	s = last_seg(h);
	assert_int_equal(s.ack, h->peer_seq);
	/* reply, then the peer closes; we close too: LAST_ACK, then CLOSED */
	assert_int_equal(net_tcp_write(h->conn, "world", 5), 5);
	net_flush(h->n, h->now);
	s = last_seg(h);
	assert_int_equal(s.dlen, 5);
	assert_int_equal(s.seq, h->srv_seq);
	h->srv_seq += 5;
	peer_send(h, TCP_ACK | TCP_FIN, h->peer_seq, h->srv_seq, NULL, 0, 65535);
	h->peer_seq++;
	assert_true(net_tcp_eof(h->conn));
	s = last_seg(h);
	assert_int_equal(s.ack, h->peer_seq);
	net_tcp_close(h->conn);
	net_flush(h->n, h->now);
	s = last_seg(h);
	assert_true(s.flags & TCP_FIN);
	assert_false(h->closed);
	peer_send(h, TCP_ACK, h->peer_seq, h->srv_seq + 1, NULL, 0, 65535);
	assert_true(h->closed);
	teardown(h);
}

static void test_retransmit_then_give_up(void **state)
{
	struct harness *h = setup_conn();
	struct seg s;
	unsigned before;

	(void)state;
	net_tcp_write(h->conn, "data!", 5);
	net_flush(h->n, h->now);
	assert_int_equal(h->nframes, 1);
	advance(h, NET_TCP_RTO_MIN_MS - 1);
	assert_int_equal(h->nframes, 1);            /* not yet */
	advance(h, 1);
	assert_int_equal(h->nframes, 2);            /* retransmitted, same bytes */
	s = last_seg(h);
	assert_int_equal(s.seq, h->srv_seq);
	assert_memory_equal(s.data, "data!", 5);
	/* an ACK stops retransmission */
	peer_send(h, TCP_ACK, h->peer_seq, h->srv_seq + 5, NULL, 0, 65535);
	before = h->nframes;
	advance(h, 10000);
	assert_int_equal(h->nframes, before);
	/* unacknowledged data: back off, then reset after the retry limit */
	net_tcp_write(h->conn, "more", 4);
	net_flush(h->n, h->now);
	for (int i = 0; i < 40 && !h->closed; i++)
		advance(h, NET_TCP_RTO_MAX_MS);
	assert_true(h->closed);
	assert_true(last_seg(h).flags & TCP_RST);
	teardown(h);
}

static void test_out_of_order_and_fast_retransmit_ack(void **state)
{
	struct harness *h = setup_conn();
	struct seg s;

	(void)state;
	peer_send(h, TCP_ACK, h->peer_seq + 3, h->srv_seq, "def", 3, 65535);
	assert_int_equal(h->ngot, 0);                /* future data is not delivered */
	s = last_seg(h);
	assert_int_equal(s.ack, h->peer_seq);        /* duplicate ACK */
	peer_send(h, TCP_ACK, h->peer_seq, h->srv_seq, "abc", 3, 65535);
	peer_send(h, TCP_ACK, h->peer_seq + 3, h->srv_seq, "def", 3, 65535);
	assert_int_equal(h->ngot, 6);
	assert_memory_equal(h->got, "abcdef", 6);
	/* overlap: a retransmission covering old and new bytes */
	peer_send(h, TCP_ACK, h->peer_seq + 4, h->srv_seq, "efgh", 4, 65535);
	assert_int_equal(h->ngot, 8);
	assert_memory_equal(h->got, "abcdefgh", 8);
	assert_int_equal(last_seg(h).ack, h->peer_seq + 8);
	teardown(h);
}

static void test_receive_window(void **state)
{
	struct harness *h = setup_conn();
	uint8_t chunk[1000];
	uint32_t sent = 0;
	struct seg s;

	(void)state;
	memset(chunk, 'x', sizeof(chunk));
	h->read_data = false;                      /* the application stops reading */
	while (sent < NET_TCP_RXBUF + 3000) {
		peer_send(h, TCP_ACK, h->peer_seq + sent, h->srv_seq, chunk, sizeof(chunk), 65535);
		sent += sizeof(chunk);
	}
	s = last_seg(h);
	assert_int_equal(s.wnd, 0);
	assert_int_equal(s.ack, h->peer_seq + NET_TCP_RXBUF);   /* nothing beyond the window */
	assert_int_equal(net_tcp_readable(h->conn), NET_TCP_RXBUF);
	h->nframes = 0;
	h->ngot = net_tcp_read(h->conn, h->got, sizeof(h->got));
	assert_int_equal(h->ngot, NET_TCP_RXBUF);
	net_flush(h->n, h->now);
	s = last_seg(h);                            /* window update */
	assert_int_equal(s.wnd, NET_TCP_RXBUF);
	teardown(h);
}

static void test_zero_window_probe(void **state)
{
	struct harness *h = setup_conn();
	struct seg s;

	(void)state;
	peer_send(h, TCP_ACK, h->peer_seq, h->srv_seq, NULL, 0, 0);   /* peer window 0 */
	h->nframes = 0;
	net_tcp_write(h->conn, "wait", 4);
	net_flush(h->n, h->now);
	assert_int_equal(h->nframes, 0);
	advance(h, NET_TCP_RTO_MIN_MS);
	assert_int_equal(h->nframes, 1);
	s = last_seg(h);
	assert_int_equal(s.dlen, 1);                /* one-byte probe */
	peer_send(h, TCP_ACK, h->peer_seq, h->srv_seq + 1, NULL, 0, 1000);
	s = last_seg(h);
	assert_int_equal(s.seq, h->srv_seq + 1);
	assert_int_equal(s.dlen, 3);
	assert_memory_equal(s.data, "ait", 3);
	teardown(h);
}

static void test_reset_rules(void **state)
{
	struct harness *h = setup_conn();

	(void)state;
	peer_send(h, TCP_RST, h->peer_seq + 10, 0, NULL, 0, 0);   /* in window, not exact */
	assert_false(h->closed);
	assert_int_equal(last_seg(h).flags, TCP_ACK);              /* challenge ACK */
	peer_send(h, TCP_RST, h->peer_seq + 1000000, 0, NULL, 0, 0);
	assert_false(h->closed);
	peer_send(h, TCP_RST, h->peer_seq, 0, NULL, 0, 0);
	assert_true(h->closed);
	teardown(h);
}

static void test_active_close_time_wait(void **state)
{
	struct harness *h = setup_conn();
	struct seg s;

	(void)state;
	net_tcp_close(h->conn);
	net_flush(h->n, h->now);
	s = last_seg(h);
	assert_true(s.flags & TCP_FIN);
	peer_send(h, TCP_ACK, h->peer_seq, h->srv_seq + 1, NULL, 0, 65535);   /* FIN_WAIT_2 */
	peer_send(h, TCP_ACK | TCP_FIN, h->peer_seq, h->srv_seq + 1, NULL, 0, 65535);
	s = last_seg(h);
	assert_int_equal(s.ack, h->peer_seq + 1);
	assert_true(h->closed);                     /* the application is done */
	/* a retransmitted FIN in TIME_WAIT is acknowledged again */
	h->nframes = 0;
	peer_send(h, TCP_ACK | TCP_FIN, h->peer_seq, h->srv_seq + 1, NULL, 0, 65535);
	assert_int_equal(h->nframes, 1);
	assert_int_equal(last_seg(h).ack, h->peer_seq + 1);
	/* after TIME_WAIT the same tuple can connect again */
	advance(h, NET_TCP_TIME_WAIT_MS);
	h->closed = false;
	peer_send(h, TCP_SYN, 5000, 0, NULL, 0, 65535);
	assert_int_equal(last_seg(h).flags, TCP_SYN | TCP_ACK);
	assert_int_equal(last_seg(h).ack, 5001);
	teardown(h);
}

static void test_closed_port_gets_rst(void **state)
{
	struct harness *h = setup_conn();
	struct seg s;

	(void)state;
	/* a segment for an unknown connection (other seq space, ACK set) */
	peer_send(h, TCP_ACK, 1, 0x12345678, "x", 1, 100);
	s = last_seg(h);
	assert_int_equal(s.flags, TCP_ACK);          /* challenge: tuple exists, out of window */
	net_tcp_abort(h->conn);
	net_flush(h->n, h->now);
	assert_true(last_seg(h).flags & TCP_RST);
	assert_true(h->closed);
	peer_send(h, TCP_ACK, 1, 0x12345678, "x", 1, 100);
	s = last_seg(h);
	assert_int_equal(s.flags, TCP_RST);
	assert_int_equal(s.seq, 0x12345678);
	teardown(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_echo_and_peer_close),
		cmocka_unit_test(test_retransmit_then_give_up),
		cmocka_unit_test(test_out_of_order_and_fast_retransmit_ack),
		cmocka_unit_test(test_receive_window),
		cmocka_unit_test(test_zero_window_probe),
		cmocka_unit_test(test_reset_rules),
		cmocka_unit_test(test_active_close_time_wait),
		cmocka_unit_test(test_closed_port_gets_rst),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
