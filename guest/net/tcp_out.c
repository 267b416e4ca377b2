/*
 * TCP output side: segment building, the send loop (window, FIN),
 * retransmission and persist timers, TIME_WAIT, and the application API
 * (read/write/close/abort).
 */
#include "guest/net/net_impl.h"

/* Copy n bytes starting off bytes into ring r out to dst. */
static void ring_copy_out(const struct tcp_ring *r, uint32_t off, uint8_t *dst, uint32_t n)
{
	uint32_t pos = (r->head + off) % r->cap;
	uint32_t first = r->cap - pos < n ? r->cap - pos : n;

	memcpy(dst, r->buf + pos, first);
	memcpy(dst + first, r->buf, n - first);
}

/* Append up to n bytes; returns how many fitted. */
static uint32_t ring_write(struct tcp_ring *r, const uint8_t *src, uint32_t n)
{
	uint32_t space = r->cap - r->len, pos, first;

	if (n > space)
		n = space;
	pos = (r->head + r->len) % r->cap;
	first = r->cap - pos < n ? r->cap - pos : n;
	memcpy(r->buf + pos, src, first);
	memcpy(r->buf, src + first, n - first);
	r->len += n;
	return n;
}

/* Discard n bytes from the front. */
static void ring_drop(struct tcp_ring *r, uint32_t n)
{
	r->head = (r->head + n) % r->cap;
	r->len -= n;
	if (!r->len)
		r->head = 0;
}

/* Receive window we can offer (no window scaling: at most 65535). */
uint32_t tcp_rx_window(const struct net_tcp *c)
{
	uint32_t w = c->rx.cap - c->rx.len;

	return w > 65535 ? 65535 : w;
}

/* Build and send one segment: header, optional MSS option, data from tx at off. */
void tcp_send_segment(struct net_tcp *c, uint32_t seq, uint8_t flags, uint32_t off, size_t dlen)
{
	struct net *n = c->n;
	uint8_t *t = n->tx + NET_ETH_HDR + NET_IP_HDR;
	size_t hlen = (flags & TCP_SYN) ? NET_TCP_HDR + 4 : NET_TCP_HDR;
	uint32_t wnd = tcp_rx_window(c);

	put16(t, c->lport);
	put16(t + 2, c->rport);
	put32(t + 4, seq);
	put32(t + 8, (flags & TCP_ACK) ? c->rcv_nxt : 0);
	t[12] = (uint8_t)((hlen / 4) << 4);
	t[13] = flags;
	put16(t + 14, (uint16_t)wnd);
	put16(t + 16, 0);
	put16(t + 18, 0);
	if (flags & TCP_SYN) {
		t[20] = 2;
		t[21] = 4;
		put16(t + 22, NET_TCP_MSS);
	}
	if (dlen)
		ring_copy_out(&c->tx, off, t + hlen, (uint32_t)dlen);
	put16(t + 16, net_csum_fold(net_csum_add(net_pseudo_sum(n->cfg.ipv4, c->rip,
			IP_PROTO_TCP, hlen + dlen), t, hlen + dlen)));
	if (flags & TCP_ACK) {
		c->ack_pending = false;
		c->rcv_adv = c->rcv_nxt + wnd;
	}
	ip_output(n, c->rip, IP_PROTO_TCP, hlen + dlen);
}

/* Send a reset for a segment that belongs to no connection. */
void tcp_send_rst(struct net *n, const uint8_t dst[4], uint16_t sport, uint16_t dport,
		  uint32_t seq, uint32_t ack, bool with_ack)
{
	struct net_tcp tmp = { .n = n, .lport = sport, .rport = dport, .rcv_nxt = ack };

	memcpy(tmp.rip, dst, 4);
	n->st.tcp_rst_tx++;
	tcp_send_segment(&tmp, seq, TCP_RST | (with_ack ? TCP_ACK : 0), 0, 0);
}

/* Data bytes sent and not yet acknowledged (the FIN's sequence excluded). */
static uint32_t tcp_in_flight(const struct net_tcp *c)
{
	return c->snd_nxt - c->snd_una - (c->fin_sent ? 1u : 0u);
}

/* Send what the window allows, the FIN once data is out, or a pending ACK. */
void tcp_output(struct net_tcp *c)
{
	uint32_t flight;

	if (c->state == TCP_TIME_WAIT && c->ack_pending)
		tcp_send_segment(c, c->snd_nxt, TCP_ACK, 0, 0);
	if (c->state < TCP_ESTABLISHED || c->state >= TCP_TIME_WAIT)
		return;
	flight = tcp_in_flight(c);
	while (flight < c->tx.len && !c->fin_sent) {
		uint32_t wnd_end = c->snd_una + c->snd_wnd;
		uint32_t usable = seq_lt(c->snd_nxt, wnd_end) ? wnd_end - c->snd_nxt : 0;
		uint32_t seg = c->tx.len - flight;
		if (seg > c->mss)
			seg = c->mss;
		if (seg > usable)
			seg = usable;
		if (!seg)
			break;
		tcp_send_segment(c, c->snd_nxt, TCP_ACK | TCP_PSH, flight, seg);
		c->snd_nxt += seg;
		flight += seg;
		if (!c->rto_at)
			c->rto_at = c->n->now_ms + c->rto_ms;
	}
	if (c->fin_queued && !c->fin_sent && flight == c->tx.len) {
		tcp_send_segment(c, c->snd_nxt, TCP_FIN | TCP_ACK, 0, 0);
		c->snd_nxt++;
		c->fin_sent = true;
		if (c->state == TCP_ESTABLISHED)
			c->state = TCP_FIN_WAIT_1;
		else if (c->state == TCP_CLOSE_WAIT)
			c->state = TCP_LAST_ACK;
		if (!c->rto_at)
			c->rto_at = c->n->now_ms + c->rto_ms;
	}
	if (c->ack_pending)
		tcp_send_segment(c, c->snd_nxt, TCP_ACK, 0, 0);
	if (!c->rto_at && c->tx.len > flight)      /* zero window: persist */
		c->rto_at = c->n->now_ms + c->rto_ms;
}

/* Mark a connection finished; the reaper tells the application and frees it. */
void tcp_set_closed(struct net_tcp *c)
{
	c->state = TCP_CLOSED;
	c->rto_at = 0;
	c->tw_at = 0;
}

/* Retransmission timeout: go back to snd_una, or probe a zero window. */
static void tcp_rto_expired(struct net_tcp *c)
{
	struct net *n = c->n;

	if (++c->retries > NET_TCP_RETRIES) {
		if (c->state != TCP_SYN_RCVD)
			tcp_send_rst(n, c->rip, c->lport, c->rport, c->snd_nxt, c->rcv_nxt, true);
		tcp_set_closed(c);
		return;
	}
	c->rto_ms = c->rto_ms * 2 > NET_TCP_RTO_MAX_MS ? NET_TCP_RTO_MAX_MS : c->rto_ms * 2;
	c->rto_at = n->now_ms + c->rto_ms;
	n->st.tcp_retransmits++;
	if (c->state == TCP_SYN_RCVD) {
		tcp_send_segment(c, c->iss, TCP_SYN | TCP_ACK, 0, 0);
		return;
	}
	if (c->snd_nxt == c->snd_una && c->tx.len && !c->fin_sent) {
		tcp_send_segment(c, c->snd_una, TCP_ACK, 0, 1);  /* window probe */
		c->snd_nxt = c->snd_una + 1;
		return;
	}
	c->snd_nxt = c->snd_una;
	c->fin_sent = false;
	c->dupacks = 0;
	tcp_output(c);
}

/* Run due retransmission, persist, TIME_WAIT and FIN_WAIT_2 timers. */
void tcp_timer(struct net *n)
{
	for (int i = 0; i < NET_TCP_CONNS; i++) {
		struct net_tcp *c = &n->tcp[i];
		if (c->state == TCP_FREE || c->state == TCP_CLOSED)
			continue;
		if (c->tw_at && c->tw_at <= n->now_ms) {
			tcp_set_closed(c);
			continue;
		}
		if (c->rto_at && c->rto_at <= n->now_ms)
			tcp_rto_expired(c);
	}
}

/* Earliest TCP timer (0: none). */
uint64_t tcp_next_timer(const struct net *n)
{
	uint64_t t = 0;

	for (int i = 0; i < NET_TCP_CONNS; i++) {
		const struct net_tcp *c = &n->tcp[i];
		if (c->state == TCP_FREE)
			continue;
		if (c->state == TCP_CLOSED)
			return n->now_ms;
		if (c->rto_at && (!t || c->rto_at < t))
			t = c->rto_at;
		if (c->tw_at && (!t || c->tw_at < t))
			t = c->tw_at;
	}
	return t;
}

/* Output for every live connection (after the application ran). */
void tcp_flush(struct net *n)
{
	for (int i = 0; i < NET_TCP_CONNS; i++)
		if (n->tcp[i].state != TCP_FREE)
			tcp_output(&n->tcp[i]);
}

/* Deliver CLOSED to applications whose connection ended; free closed slots. */
void tcp_reap(struct net *n)
{
	for (int i = 0; i < NET_TCP_CONNS; i++) {
		struct net_tcp *c = &n->tcp[i];
		struct tcp_ring rx, tx;
		if (c->state != TCP_CLOSED && c->state != TCP_TIME_WAIT)
			continue;
		if (c->opened) {
			c->opened = false;
			c->ls->fn(c, NET_TCP_CLOSED, c->ls->user);
		}
		if (c->state != TCP_CLOSED)
			continue;
		rx = c->rx;             /* keep the buffers for the next connection */
		tx = c->tx;
		memset(c, 0, sizeof(*c));
		c->rx = (struct tcp_ring){ .buf = rx.buf, .cap = rx.cap };
		c->tx = (struct tcp_ring){ .buf = tx.buf, .cap = tx.cap };
	}
}

/* Is the connection one the application may still send on? */
static bool tcp_can_send(const struct net_tcp *c)
{
	return (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT) && !c->fin_queued;
}

/* Hand received bytes to the application; a reopened window is advertised. */
size_t net_tcp_read(struct net_tcp *c, void *buf, size_t cap)
{
	uint32_t n = c->rx.len < cap ? c->rx.len : (uint32_t)cap;
	uint32_t edge;

	ring_copy_out(&c->rx, 0, buf, n);
	ring_drop(&c->rx, n);
	edge = c->rcv_nxt + tcp_rx_window(c);
	if (n && c->state != TCP_CLOSED &&
	    (int32_t)(edge - c->rcv_adv) >= (int32_t)(c->rx.cap / 2 < c->mss ? c->rx.cap / 2 : c->mss))
		c->ack_pending = true;        /* window update */
	return n;
}

/* Bytes waiting to be read. */
size_t net_tcp_readable(const struct net_tcp *c)
{
	return c->rx.len;
}

/* Let the application scan for a delimiter without copying. */
size_t net_tcp_peek(const struct net_tcp *c, size_t off, const uint8_t **p)
{
	uint32_t pos;

	if (off >= c->rx.len)
		return 0;
	pos = (c->rx.head + (uint32_t)off) % c->rx.cap;
	*p = c->rx.buf + pos;
	return c->rx.cap - pos < c->rx.len - off ? c->rx.cap - pos : c->rx.len - off;
}

/* Queue bytes for sending (sent by tcp_output after the callback). */
size_t net_tcp_write(struct net_tcp *c, const void *buf, size_t len)
{
	if (!tcp_can_send(c))
		return 0;
	return ring_write(&c->tx, buf, len > c->tx.cap ? c->tx.cap : (uint32_t)len);
}

/* Free send-buffer space (0 once closed for sending). */
size_t net_tcp_writable(const struct net_tcp *c)
{
	return tcp_can_send(c) ? c->tx.cap - c->tx.len : 0;
}

/* The peer finished sending and everything was read. */
bool net_tcp_eof(const struct net_tcp *c)
{
	return (c->fin_rcvd || c->state == TCP_CLOSED) && c->rx.len == 0;
}

/* Graceful close: a FIN follows the queued data. */
void net_tcp_close(struct net_tcp *c)
{
	if (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT)
		c->fin_queued = true;
}

/* Hard close: reset the peer and drop the connection. */
void net_tcp_abort(struct net_tcp *c)
{
	if (c->state == TCP_FREE || c->state == TCP_CLOSED || c->state == TCP_TIME_WAIT)
		return;
	tcp_send_rst(c->n, c->rip, c->lport, c->rport, c->snd_nxt, c->rcv_nxt, true);
	tcp_set_closed(c);
}

/* Attach the application's per-connection state. */
void net_tcp_set_app(struct net_tcp *c, void *app)
{
	c->app = app;
}

/* The application's per-connection state. */
void *net_tcp_app(const struct net_tcp *c)
{
	return c->app;
}

/* The stack a connection belongs to. */
struct net *net_tcp_net(const struct net_tcp *c)
{
	return c->n;
}
