/*
 * httpd: a tiny HTTP/1.1 server on port 80.
 *   GET /          status: name, uptime, requests served, counter
 *   GET /bytes/N   N bytes of a fixed pattern (little-endian u64 words
 *                  k * 0x9E3779B97F4A7C15), for transfer tests
 *   POST /sum      replies with the CRC-32 and length of the body
 * Keep-alive is supported; the counter advances every 100 ms.
 */
#include "guest/apps/http_parse.h"
#include "guest/net/netif.h"
#include "guest/rt/rt.h"

#define HTTPD_PORT 80
#define HTTPD_TICK_MS 100
#define HTTPD_BYTES_MAX (1ull << 32)

enum httpd_phase { PH_HEAD, PH_BODY, PH_STREAM };

struct httpd {
	struct pvm_info info;
	uint64_t start_ms, requests, counter, next_tick;
};

struct httpd_conn {
	enum httpd_phase phase;
	bool close;
	size_t head_len;
	uint64_t remaining, total, pos;  /* body to read / bytes to stream */
	uint32_t crc;
	char head[HTTP_HEAD_MAX];
};

/* Byte i of the /bytes pattern. */
static uint8_t httpd_pattern(uint64_t i)
{
	uint64_t w = (i / 8) * 0x9E3779B97F4A7C15ull;

	return (uint8_t)(w >> (8 * (i % 8)));
}

/* Queue a complete response with a small body. */
static void httpd_respond(struct net_tcp *c, struct httpd_conn *hc, int code,
			  const char *reason, const char *body)
{
	char hdr[256];
	size_t blen = strlen(body);
	int n = rt_snprintf(hdr, sizeof(hdr),
			    "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			    "Connection: %s\r\n\r\n", code, reason, blen,
			    hc->close ? "close" : "keep-alive");
	net_tcp_write(c, hdr, (size_t)n);
	net_tcp_write(c, body, blen);
	if (hc->close)
		net_tcp_close(c);
}

/* Route a parsed request; the caller made sure 2 KiB of send space is free. */
static void httpd_route(struct httpd *h, struct net_tcp *c, struct httpd_conn *hc,
			const struct http_req *r)
{
	char body[512];
	uint64_t n;

	h->requests++;
	hc->close = r->close;
	if (r->method_len == 3 && !memcmp(r->method, "GET", 3) && r->path_len == 1) {
		uint64_t now = rt_now_ms();
		rt_snprintf(body, sizeof(body), "guest %s\nuptime_ms %llu\nrequests %llu\ncounter %llu\n"
			    "boot_count %llu\n", h->info.name,
			    (unsigned long long)(now - h->start_ms), (unsigned long long)h->requests,
			    (unsigned long long)h->counter, (unsigned long long)h->info.boot_count);
		httpd_respond(c, hc, 200, "OK", body);
	} else if (r->method_len == 3 && !memcmp(r->method, "GET", 3) && r->path_len > 7 &&
		   !memcmp(r->path, "/bytes/", 7) &&
		   rt_parse_u64(r->path + 7, r->path_len - 7, &n) && n <= HTTPD_BYTES_MAX) {
		int hl = rt_snprintf(body, sizeof(body), "HTTP/1.1 200 OK\r\nContent-Type: "
				     "application/octet-stream\r\nContent-Length: %llu\r\n\r\n",
				     (unsigned long long)n);
		net_tcp_write(c, body, (size_t)hl);
		hc->phase = PH_STREAM;
		hc->total = n;
		hc->pos = 0;
	} else if (r->method_len == 4 && !memcmp(r->method, "POST", 4) && r->path_len == 4 &&
		   !memcmp(r->path, "/sum", 4)) {
		hc->phase = PH_BODY;
		hc->remaining = r->has_length ? r->content_length : 0;
		hc->total = hc->remaining;
		hc->crc = 0;
	} else {
		httpd_respond(c, hc, 404, "Not Found", "not found\n");
	}
}

/* Stream the /bytes body as send space allows. */
static void httpd_stream(struct net_tcp *c, struct httpd_conn *hc)
{
	uint8_t buf[1024];

	while (hc->pos < hc->total) {
		size_t room = net_tcp_writable(c), n = sizeof(buf);
		if (room < n)
			n = room;
		if (hc->total - hc->pos < n)
			n = (size_t)(hc->total - hc->pos);
		if (!n)
			return;
		for (size_t i = 0; i < n; i++)
			buf[i] = httpd_pattern(hc->pos + i);
		net_tcp_write(c, buf, n);
		hc->pos += n;
	}
	hc->phase = PH_HEAD;
}

/* Consume a POST body into the running CRC; reply once it is complete. */
static void httpd_body(struct net_tcp *c, struct httpd_conn *hc)
{
	uint8_t buf[2048];
	char reply[96];

	while (hc->remaining) {
		size_t n = net_tcp_read(c, buf, hc->remaining < sizeof(buf) ? (size_t)hc->remaining
									   : sizeof(buf));
		if (!n)
			return;
		hc->crc = rt_crc32(hc->crc, buf, n);
		hc->remaining -= n;
	}
	if (net_tcp_writable(c) < 512)
		return;
	rt_snprintf(reply, sizeof(reply), "crc32 %08x length %llu\n", hc->crc,
		    (unsigned long long)hc->total);
	hc->phase = PH_HEAD;
	httpd_respond(c, hc, 200, "OK", reply);
}

/* Advance one connection as far as data and send space allow. */
static void httpd_serve(struct httpd *h, struct net_tcp *c, struct httpd_conn *hc)
{
	for (;;) {
		struct http_req r;
		const char *why;
		int rc;

		if (hc->phase == PH_STREAM) {
			httpd_stream(c, hc);
			if (hc->phase == PH_STREAM)
				return;
		}
		if (hc->phase == PH_BODY) {
			httpd_body(c, hc);
			if (hc->phase == PH_BODY)
				return;
		}
		if (net_tcp_writable(c) < 2048)
			return;
		hc->head_len += net_tcp_read(c, hc->head + hc->head_len,
					     sizeof(hc->head) - hc->head_len);
		rc = http_parse_head(hc->head, hc->head_len, &r, &why);
		if (rc == 0) {
			if (net_tcp_eof(c))
				net_tcp_close(c);
			return;
		}
		if (rc < 0) {
			hc->close = true;
			httpd_respond(c, hc, 400, "Bad Request", why);
			return;
		}
		httpd_route(h, c, hc, &r);
		/* bytes after the head belong to the body or the next request */
		memmove(hc->head, hc->head + r.head_len, hc->head_len - r.head_len);
		hc->head_len -= r.head_len;
		if (hc->phase == PH_BODY) {
			uint64_t take = hc->head_len < hc->remaining ? hc->head_len : hc->remaining;
			hc->crc = rt_crc32(hc->crc, hc->head, (size_t)take);
			hc->remaining -= take;
			memmove(hc->head, hc->head + take, hc->head_len - (size_t)take);
			hc->head_len -= (size_t)take;
		}
		if (hc->close && hc->phase == PH_HEAD)
			return;
	}
}

/* TCP events for port 80. */
static void httpd_event(struct net_tcp *c, enum net_tcp_event ev, void *user)
{
	struct httpd_conn *hc = net_tcp_app(c);

	switch (ev) {
	case NET_TCP_OPEN:
		hc = rt_calloc(1, sizeof(*hc));
		if (!hc) {
			net_tcp_abort(c);
			return;
		}
		net_tcp_set_app(c, hc);
		return;
	case NET_TCP_DATA:
	case NET_TCP_SPACE:
		if (hc)
			httpd_serve(user, c, hc);
		return;
	case NET_TCP_CLOSED:
		rt_free(hc);
		return;
	}
}

/* Loop hook: advance the counter every tick. */
static uint64_t httpd_idle(void *user, struct net *n, uint64_t now_ms)
{
	struct httpd *h = user;

	(void)n;
	while (now_ms >= h->next_tick) {
		h->counter++;
		h->next_tick += HTTPD_TICK_MS;
	}
	return h->next_tick;
}

/* Serve HTTP forever. */
int main(void)
{
	static struct httpd h;
	struct netif_hooks hooks = { httpd_idle, &h };
	struct net *n;

	hc_info(&h.info, sizeof(h.info));
	h.start_ms = rt_now_ms();
	h.next_tick = h.start_ms + HTTPD_TICK_MS;
	n = netif_open();
	if (!n || net_tcp_listen(n, HTTPD_PORT, httpd_event, &h)) {
		rt_printf("httpd: no NIC, no IPv4 address in PVM_HC_INFO, or no memory\n");
		return 1;
	}
	rt_printf("httpd: ready on port %d\n", HTTPD_PORT);
	netif_run(n, &hooks);
}
