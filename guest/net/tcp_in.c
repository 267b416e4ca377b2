/*
 * TCP input: segment validation, passive open, and the per-segment state
 * machine (RFC 9293 for a server: no active open, no simultaneous open).
 * Only in-order data is kept; out-of-order segments get a duplicate ACK
 * so the peer retransmits.
 */
#include "guest/net/net_impl.h"

/* Parsed fields of one segment (data points into the received frame). */
struct tcp_seg {
	const uint8_t *src;      /* source IPv4 (the destination follows) */
	uint16_t sport, dport, wnd;
	uint32_t seq, ack;
	uint8_t flags;
	const uint8_t *opt, *data;
	size_t optlen, dlen;
};

/* The connection for a segment's 4-tuple, or NULL. */
static struct net_tcp *tcp_find(struct net *n, const struct tcp_seg *s)
{
	for (int i = 0; i < NET_TCP_CONNS; i++) {
		struct net_tcp *c = &n->tcp[i];
		if (c->state != TCP_FREE && c->lport == s->dport && c->rport == s->sport &&
		    memcmp(c->rip, s->src, 4) == 0)
			return c;
	}
	return NULL;
}

/* A free connection slot, else the TIME_WAIT slot closest to expiry. */
static struct net_tcp *tcp_alloc(struct net *n)
{
	struct net_tcp *tw = NULL;

	for (int i = 0; i < NET_TCP_CONNS; i++) {
		struct net_tcp *c = &n->tcp[i];
		if (c->state == TCP_FREE)
			return c;
		if (c->state == TCP_TIME_WAIT && (!tw || c->tw_at < tw->tw_at))
			tw = c;
	}
	if (tw) {
		tcp_set_closed(tw);
		tcp_reap(n);
	}
	return tw;
}

/* The peer's MSS option, bounded by ours (536 if absent or malformed). */
static uint16_t tcp_parse_mss(const struct tcp_seg *s)
{
	size_t i = 0;

	while (i < s->optlen) {
		uint8_t kind = s->opt[i];
		if (kind == 0)
			break;
		if (kind == 1) {
			i++;
			continue;
		}
		if (i + 1 >= s->optlen || s->opt[i + 1] < 2 || s->opt[i + 1] > s->optlen - i)
			break;
		if (kind == 2 && s->opt[i + 1] == 4) {
			uint16_t mss = get16(s->opt + i + 2);
			if (mss < 64)
				return 64;
			return mss > NET_TCP_MSS ? NET_TCP_MSS : mss;
		}
		i += s->opt[i + 1];
	}
	return 536;
}

/* Pick an initial sequence number that differs per connection and over time. */
static uint32_t tcp_isn(struct net *n, const struct tcp_seg *s)
{
	uint8_t key[16];

	memcpy(key, s->src, 4);
	put16(key + 4, s->sport);
	put16(key + 6, s->dport);
	put32(key + 8, n->cfg.seed);
	put32(key + 12, ++n->isn_counter);
	return rt_crc32(0, key, sizeof(key)) + (uint32_t)(n->now_ms * 250u);
}

/* A SYN for a listening port: create the connection and answer SYN-ACK. */
static void tcp_passive_open(struct net *n, const struct tcp_listener *ls,
			     const struct tcp_seg *s)
{
	struct net_tcp *c = tcp_alloc(n);

	if (!c) {
		n->st.drop_other++;
		return;
	}
	if (!c->rx.buf) {
		c->rx = (struct tcp_ring){ .buf = rt_malloc(NET_TCP_RXBUF), .cap = NET_TCP_RXBUF };
		c->tx = (struct tcp_ring){ .buf = rt_malloc(NET_TCP_TXBUF), .cap = NET_TCP_TXBUF };
		if (!c->rx.buf || !c->tx.buf) {
			rt_free(c->rx.buf);
			rt_free(c->tx.buf);
			c->rx.buf = c->tx.buf = NULL;
			n->st.drop_other++;
			return;
		}
	}
	c->n = n;
	c->ls = ls;
	memcpy(c->rip, s->src, 4);
	c->rport = s->sport;
	c->lport = s->dport;
	c->iss = tcp_isn(n, s);
	c->snd_una = c->iss;
	c->snd_nxt = c->iss + 1;
	c->snd_wnd = s->wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = c->iss;
	c->rcv_nxt = s->seq + 1;
	c->mss = tcp_parse_mss(s);
	c->rto_ms = NET_TCP_RTO_MIN_MS;
	c->state = TCP_SYN_RCVD;
	tcp_send_segment(c, c->iss, TCP_SYN | TCP_ACK, 0, 0);
	c->rto_at = n->now_ms + c->rto_ms;
}

/* Deliver an event to the application if it still owns the connection. */
static void tcp_notify(struct net_tcp *c, enum net_tcp_event ev)
{
	if (c->opened)
		c->ls->fn(c, ev, c->ls->user);
}

/* Third step of the handshake: SYN_RCVD -> ESTABLISHED; false to stop. */
static bool tcp_complete_open(struct net_tcp *c, const struct tcp_seg *s)
{
	struct net *n = c->n;

	if (s->flags & TCP_RST) {
		if (s->seq == c->rcv_nxt)
			tcp_set_closed(c);
		return false;
	}
	if ((s->flags & TCP_SYN) && !(s->flags & TCP_ACK)) {
		if (s->seq + 1 == c->rcv_nxt)   /* our SYN-ACK was lost */
			tcp_send_segment(c, c->iss, TCP_SYN | TCP_ACK, 0, 0);
		return false;
	}
	if (!(s->flags & TCP_ACK))
		return false;
	if (s->ack != c->iss + 1 || (s->flags & TCP_SYN)) {
		tcp_send_rst(n, c->rip, c->lport, c->rport, s->ack, 0, false);
		return false;
	}
	c->state = TCP_ESTABLISHED;
	c->snd_una = s->ack;
	c->snd_wnd = s->wnd;
	c->snd_wl1 = s->seq;
	c->snd_wl2 = s->ack;
	c->rto_at = 0;
	c->retries = 0;
	c->opened = true;
	n->st.tcp_accepted++;
	tcp_notify(c, NET_TCP_OPEN);
	return c->state == TCP_ESTABLISHED;
}

/* Is seq inside our receive window? */
static bool tcp_in_window(const struct net_tcp *c, uint32_t seq)
{
	uint32_t w = tcp_rx_window(c);

	return seq_le(c->rcv_nxt, seq) && seq_lt(seq, c->rcv_nxt + (w ? w : 1));
}

/* Segment acceptability test (RFC 9293 3.10.7.4, first check). */
static bool tcp_acceptable(const struct net_tcp *c, const struct tcp_seg *s)
{
	size_t seglen = s->dlen + ((s->flags & TCP_FIN) ? 1 : 0);

	if (s->seq == c->rcv_nxt || tcp_in_window(c, s->seq))
		return true;
	return seglen && tcp_in_window(c, s->seq + (uint32_t)seglen - 1);
}

/* Our FIN was acknowledged: advance the closing states. */
static void tcp_fin_acked(struct net_tcp *c)
{
	struct net *n = c->n;

	if (c->state == TCP_FIN_WAIT_1) {
		c->state = TCP_FIN_WAIT_2;
		c->tw_at = n->now_ms + 30000;   /* do not wait forever for the peer */
	} else if (c->state == TCP_CLOSING) {
		c->state = TCP_TIME_WAIT;
		c->tw_at = n->now_ms + NET_TCP_TIME_WAIT_MS;
	} else if (c->state == TCP_LAST_ACK) {
		tcp_set_closed(c);
	}
}

/* Duplicate ACK: after three, resend the first unacknowledged segment. */
static void tcp_dupack(struct net_tcp *c)
{
	uint32_t len = c->tx.len < c->mss ? c->tx.len : c->mss;

	if (++c->dupacks != 3 || c->snd_nxt == c->snd_una)
		return;
	c->n->st.tcp_retransmits++;
	if (len)
		tcp_send_segment(c, c->snd_una, TCP_ACK | TCP_PSH, 0, len);
	else if (c->fin_sent)
		tcp_send_segment(c, c->snd_una, TCP_FIN | TCP_ACK, 0, 0);
}

/* Process the ACK field; false if the segment must be dropped. */
static bool tcp_process_ack(struct net_tcp *c, const struct tcp_seg *s)
{
	struct net *n = c->n;
	uint32_t acked, data_acked;
	bool wnd_changed = false, fin_acked = false;

	if (seq_lt(c->snd_nxt, s->ack)) {        /* acks what we never sent */
		c->ack_pending = true;
		return false;
	}
	if (seq_lt(s->ack, c->snd_una))
		return true;                       /* old duplicate: ignore the ACK */
	if (seq_lt(c->snd_wl1, s->seq) || (c->snd_wl1 == s->seq && seq_le(c->snd_wl2, s->ack))) {
		wnd_changed = c->snd_wnd != s->wnd;
		c->snd_wnd = s->wnd;
		c->snd_wl1 = s->seq;
		c->snd_wl2 = s->ack;
	}
	acked = s->ack - c->snd_una;
	if (!acked) {
		if (!s->dlen && !(s->flags & TCP_FIN) && !wnd_changed)
			tcp_dupack(c);
		return true;
	}
	data_acked = acked;
	if (c->fin_sent && acked == c->tx.len + 1) {
		fin_acked = true;
		data_acked = c->tx.len;
	}
	if (data_acked > c->tx.len)      /* a window probe byte beyond our data */
		data_acked = c->tx.len;
	c->tx.head = (c->tx.head + data_acked) % c->tx.cap;
	c->tx.len -= data_acked;
	if (!c->tx.len)
		c->tx.head = 0;
	c->snd_una = s->ack;
	c->dupacks = 0;
	c->retries = 0;
	c->rto_ms = NET_TCP_RTO_MIN_MS;
	c->rto_at = c->snd_una == c->snd_nxt ? 0 : n->now_ms + c->rto_ms;
	if (fin_acked)
		tcp_fin_acked(c);
	if (data_acked && (c->state == TCP_ESTABLISHED || c->state == TCP_CLOSE_WAIT))
		tcp_notify(c, NET_TCP_SPACE);
	return c->state != TCP_CLOSED;
}

/* Our side saw the peer's FIN: advance the closing states. */
static void tcp_fin_received(struct net_tcp *c)
{
	c->rcv_nxt++;
	c->fin_rcvd = true;
	c->ack_pending = true;
	if (c->state == TCP_ESTABLISHED) {
		c->state = TCP_CLOSE_WAIT;
	} else if (c->state == TCP_FIN_WAIT_1) {
		c->state = TCP_CLOSING;
	} else if (c->state == TCP_FIN_WAIT_2) {
		c->state = TCP_TIME_WAIT;
		c->rto_at = 0;
		c->tw_at = c->n->now_ms + NET_TCP_TIME_WAIT_MS;
	}
}

/* Take in-order data (trimmed to what is new and what fits) and the FIN. */
static void tcp_process_data(struct net_tcp *c, const struct tcp_seg *s)
{
	const uint8_t *data = s->data;
	uint32_t seq = s->seq, dlen = (uint32_t)s->dlen, take;
	bool fin = s->flags & TCP_FIN;

	c->ack_pending = true;
	if (c->state == TCP_TIME_WAIT && fin) {       /* our last ACK was lost */
		c->tw_at = c->n->now_ms + NET_TCP_TIME_WAIT_MS;
		return;
	}
	if (c->state != TCP_ESTABLISHED && c->state != TCP_FIN_WAIT_1 &&
	    c->state != TCP_FIN_WAIT_2)
		return;                                  /* nothing is new after a FIN */
	if (seq_lt(seq, c->rcv_nxt)) {
		uint32_t trim = c->rcv_nxt - seq;
		if (trim > dlen)
			return;                          /* all old, FIN included */
		data += trim;
		dlen -= trim;
		seq = c->rcv_nxt;
	}
	if (seq != c->rcv_nxt) {
		c->n->st.tcp_out_of_order++;
		return;
	}
	take = c->rx.cap - c->rx.len < dlen ? c->rx.cap - c->rx.len : dlen;
	if (take) {
		uint32_t pos = (c->rx.head + c->rx.len) % c->rx.cap;
		uint32_t first = c->rx.cap - pos < take ? c->rx.cap - pos : take;
		memcpy(c->rx.buf + pos, data, first);
		memcpy(c->rx.buf, data + first, take - first);
		c->rx.len += take;
		c->rcv_nxt += take;
	}
	if (fin && take == dlen)
		tcp_fin_received(c);
	if (take || (fin && take == dlen))
		tcp_notify(c, NET_TCP_DATA);
}

/* One segment for an existing connection. */
static void tcp_segment(struct net_tcp *c, const struct tcp_seg *s)
{
	if (c->state == TCP_SYN_RCVD && !tcp_complete_open(c, s))
		return;
	if (!tcp_acceptable(c, s)) {
		if (!(s->flags & TCP_RST)) {
			c->ack_pending = true;
			tcp_output(c);
		}
		return;
	}
	if (s->flags & TCP_RST) {
		if (s->seq == c->rcv_nxt)
			tcp_set_closed(c);
		else
			c->ack_pending = true;    /* challenge ACK (RFC 5961) */
		tcp_output(c);
		return;
	}
	if (s->flags & TCP_SYN) {
		c->ack_pending = true;
		tcp_output(c);
		return;
	}
	if (!(s->flags & TCP_ACK))
		return;
	if (!tcp_process_ack(c, s)) {
		tcp_output(c);
		return;
	}
	if (s->dlen || (s->flags & TCP_FIN))
		tcp_process_data(c, s);
	/* ACKs and replies go out in net_flush, once per receive batch */
}

/* Parse and check one segment (src points at the IP source, dst follows). */
static bool tcp_parse(struct net *n, const uint8_t *src, const uint8_t *p, size_t len,
		      struct tcp_seg *s)
{
	size_t doff;

	if (len < NET_TCP_HDR) {
		n->st.drop_short++;
		return false;
	}
	doff = (size_t)(p[12] >> 4) * 4;
	if (doff < NET_TCP_HDR || doff > len) {
		n->st.drop_malformed++;
		return false;
	}
	if (net_csum_fold(net_csum_add(net_pseudo_sum(src, src + 4, IP_PROTO_TCP, len),
				       p, len)) != 0) {
		n->st.drop_checksum++;
		return false;
	}
	*s = (struct tcp_seg){
		.src = src, .sport = get16(p), .dport = get16(p + 2),
		.seq = get32(p + 4), .ack = get32(p + 8), .flags = p[13],
		.wnd = get16(p + 14), .opt = p + NET_TCP_HDR, .optlen = doff - NET_TCP_HDR,
		.data = p + doff, .dlen = len - doff,
	};
	if (s->sport == 0 || s->dport == 0) {
		n->st.drop_malformed++;
		return false;
	}
	return true;
}

/* Entry from IP: find the connection, open one for a SYN, or answer RST. */
void tcp_input(struct net *n, const uint8_t *src, const uint8_t *p, size_t len)
{
	struct tcp_seg s;
	struct net_tcp *c;

	if (!tcp_parse(n, src, p, len, &s))
		return;
	n->st.tcp_rx++;
	c = tcp_find(n, &s);
	if (c && c->state == TCP_TIME_WAIT && (s.flags & (TCP_SYN | TCP_ACK | TCP_RST)) == TCP_SYN &&
	    seq_lt(c->rcv_nxt, s.seq)) {
		tcp_set_closed(c);            /* a new incarnation reuses the tuple */
		tcp_reap(n);
		c = NULL;
	}
	if (c) {
		tcp_segment(c, &s);
		return;
	}
	if (s.flags & TCP_RST)
		return;
	if ((s.flags & (TCP_SYN | TCP_ACK | TCP_FIN)) == TCP_SYN) {
		for (int i = 0; i < NET_TCP_LISTEN; i++)
			if (n->listen[i].fn && n->listen[i].port == s.dport) {
				tcp_passive_open(n, &n->listen[i], &s);
				return;
			}
	}
	n->st.drop_other++;
	if (s.flags & TCP_ACK)
		tcp_send_rst(n, src, s.dport, s.sport, s.ack, 0, false);
	else
		tcp_send_rst(n, src, s.dport, s.sport, 0,
			     s.seq + (uint32_t)s.dlen + ((s.flags & TCP_SYN) ? 1 : 0) +
			     ((s.flags & TCP_FIN) ? 1 : 0), true);
}

/* Accept connections on port; fn gets every connection's events. */
int net_tcp_listen(struct net *n, uint16_t port, net_tcp_fn fn, void *user)
{
	for (int i = 0; i < NET_TCP_LISTEN; i++) {
		if (!n->listen[i].fn) {
			n->listen[i] = (struct tcp_listener){ port, fn, user };
			return 0;
		}
	}
	return -PVM_ENOSPC;
}
