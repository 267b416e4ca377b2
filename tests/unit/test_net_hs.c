/*
 * Unit tests for what an unauthenticated peer can learn and cost on the
 * replication port (lib/net, protocol version 2): the backup's HELLO is
 * neutral and its caps come only after the primary proved the key, bound
 * by a MAC; the HELLO deadline; the admission pool's eviction order.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/net_impl.h"
#include "test_net_util.h"


/* ---- a hand-driven peer over a socketpair --------------------------- */
struct raw {
	int fd;
	struct side other;              /* the real end, on a thread */
	uint8_t transcript[2 * RNET_HELLO_LEN];
	int choose_calls;
};

static void *other_thread(void *arg)
{
	struct side *s = arg;

	s->rc = rnet_handshake_fd(s->fd, s->primary, &s->p, &s->conn, &s->err);
	return NULL;
}

static void count_choose(void *arg, const struct rnet_caps *pri, struct rnet_caps *self)
{
	(void)pri;
	(void)self;
	((struct raw *)arg)->choose_calls++;
}

/* Start the real end (`primary` role) against us. */
static void raw_start(struct raw *r, bool primary)
{
	int sv[2];

	memset(r, 0, sizeof(*r));
	side_init(&r->other, tkeys_group.good, primary);
	r->other.p.choose_caps = count_choose;
	r->other.p.choose_arg = r;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	r->fd = sv[0];
	r->other.fd = sv[1];
	assert_int_equal(pthread_create(&r->other.th, NULL, other_thread, &r->other), 0);
}

static int raw_finish(struct raw *r)
{
	pthread_join(r->other.th, NULL);
	close(r->fd);
	side_free(&r->other);
	return r->other.rc;
}

static void raw_send(struct raw *r, uint32_t type, const void *body, size_t len)
{
	uint8_t hdr[RNET_HDR_LEN];

	rnet_frame_header(hdr, type, (uint32_t)len);
	assert_int_equal(write(r->fd, hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	assert_int_equal(write(r->fd, body, len), (ssize_t)len);
}

static void read_full(int fd, uint8_t *buf, size_t n)
{
	ssize_t k;

	for (size_t got = 0; got < n; got += (size_t)k) {
		k = read(fd, buf + got, n - got);
		assert_true(k > 0);
	}
}

/* One whole frame from the real end; returns its type. */
static uint32_t raw_recv(struct raw *r, uint8_t *body, size_t cap, size_t *len)
{
	uint8_t hdr[RNET_HDR_LEN];

	read_full(r->fd, hdr, sizeof(hdr));
	*len = get_be32(hdr + 4);
	assert_true(*len <= cap);
	read_full(r->fd, body, *len);
	return get_be32(hdr);
}

static void raw_mac(struct raw *r, const char *label, const uint8_t *extra, size_t elen,
		    uint8_t mac[RNET_MAC_LEN])
{
	uint8_t data[2 * RNET_HELLO_LEN + RNET_CAPS_LEN];
	struct remus_err err = { 0 };

	memcpy(data, r->transcript, sizeof(r->transcript));
	if (elen)
		memcpy(data + sizeof(r->transcript), extra, elen);
	assert_int_equal(rnet_key_derive(&r->other.key, label, data,
					 sizeof(r->transcript) + elen, mac, &err), 0);
}

/* As primary: our HELLO (the real backup's caps), its HELLO back. */
static void raw_primary_hello(struct raw *r, struct rnet_hello *theirs)
{
	struct rnet_hello h = { .version = RNET_VERSION };
	struct remus_err err = { 0 };
	uint8_t body[512];
	size_t len;

	h.caps = r->other.p.caps;
	memset(h.nonce, 0x5a, sizeof(h.nonce));
	assert_int_equal(rnet_hello_encode(&h, r->transcript), 0);
	raw_send(r, RNET_MSG_HELLO, r->transcript, RNET_HELLO_LEN);
	assert_int_equal(raw_recv(r, body, sizeof(body), &len), RNET_MSG_HELLO);
	assert_int_equal(len, RNET_HELLO_LEN);
	memcpy(r->transcript + RNET_HELLO_LEN, body, RNET_HELLO_LEN);
	assert_int_equal(rnet_hello_parse(body, len, theirs, &err), 0);
}

/* Before the primary proves the key, the backup says nothing about the
 * guest it holds (neutral HELLO; a wrong proof gets an ERROR that names no
 * caps) and its configuration is not even consulted (choose_caps). */
static void test_backup_discloses_nothing_before_auth(void **state)
{
	uint8_t body[512], wrong[RNET_MAC_LEN] = { 0 };
	struct rnet_hello h;
	struct raw r;
	size_t len;

	(void)state;
	raw_start(&r, false);
	raw_primary_hello(&r, &h);
	assert_true(rnet_caps_neutral(&h.caps));
	assert_null(memmem(r.transcript + RNET_HELLO_LEN, RNET_HELLO_LEN, "pvm", 3));
	raw_send(&r, RNET_MSG_AUTH, wrong, sizeof(wrong));
	assert_int_equal(raw_recv(&r, body, sizeof(body), &len), RNET_MSG_ERROR);
	assert_null(memmem(body, len, "kvstore", 7));
	assert_null(memmem(body, len, "pvm", 3));
	assert_int_equal(r.choose_calls, 0);
	assert_int_equal(raw_finish(&r), RNET_EAUTH);
}

/* After a valid proof: AUTH, then CAPS with the real caps and a MAC over
 * this handshake's transcript. */
static void test_backup_caps_after_auth(void **state)
{
	uint8_t body[512], mac[RNET_MAC_LEN];
	struct remus_err err = { 0 };
	struct rnet_caps caps;
	struct rnet_hello h;
	struct raw r;
	size_t len;

	(void)state;
	raw_start(&r, false);
	raw_primary_hello(&r, &h);
	raw_mac(&r, "remus auth primary v1", NULL, 0, mac);
	raw_send(&r, RNET_MSG_AUTH, mac, sizeof(mac));
	assert_int_equal(raw_recv(&r, body, sizeof(body), &len), RNET_MSG_AUTH);
	raw_mac(&r, "remus auth backup v1", NULL, 0, mac);
	assert_memory_equal(body, mac, RNET_MAC_LEN);
	assert_int_equal(raw_recv(&r, body, sizeof(body), &len), RNET_MSG_CAPS);
	assert_int_equal(len, RNET_CAPS_MSG_LEN);
	assert_int_equal(rnet_caps_parse(body, RNET_CAPS_LEN, &caps, &err), 0);
	assert_string_equal(caps.guest, "kvstore");
	assert_string_equal(caps.hv, "pvm");
	raw_mac(&r, "remus caps backup v2", body, RNET_CAPS_LEN, mac);
	assert_memory_equal(body + RNET_CAPS_LEN, mac, RNET_MAC_LEN);
	assert_int_equal(r.choose_calls, 1);
	assert_int_equal(raw_finish(&r), 0);
}

/* As backup: read the real primary's HELLO, answer with `caps` in ours. */
static void raw_backup_hello(struct raw *r, const struct rnet_caps *caps)
{
	struct rnet_hello h = { .version = RNET_VERSION };
	uint8_t body[512];
	size_t len;

	assert_int_equal(raw_recv(r, body, sizeof(body), &len), RNET_MSG_HELLO);
	memcpy(r->transcript, body, RNET_HELLO_LEN);
	if (caps)
		h.caps = *caps;
	memset(h.nonce, 0xa5, sizeof(h.nonce));
	assert_int_equal(rnet_hello_encode(&h, r->transcript + RNET_HELLO_LEN), 0);
	raw_send(r, RNET_MSG_HELLO, r->transcript + RNET_HELLO_LEN, RNET_HELLO_LEN);
}

/* A backup that discloses caps in its HELLO (version-1 behaviour under a
 * version-2 number) is refused by the primary. */
static void test_primary_refuses_disclosing_hello(void **state)
{
	uint8_t body[512];
	struct raw r;
	size_t len;

	(void)state;
	raw_start(&r, true);
	raw_backup_hello(&r, &r.other.p.caps);
	assert_int_equal(raw_recv(&r, body, sizeof(body), &len), RNET_MSG_ERROR);
	assert_int_equal(raw_finish(&r), RNET_EPROTO);
	assert_non_null(strstr(r.other.err.msg, "discloses capabilities before authentication"));
}

/* CAPS whose MAC does not match (caps altered on the way) are refused. */
static void test_primary_checks_caps_mac(void **state)
{
	uint8_t body[512], mac[RNET_MAC_LEN], caps[RNET_CAPS_MSG_LEN];
	struct raw r;
	size_t len;

	(void)state;
	raw_start(&r, true);
	raw_backup_hello(&r, NULL);
	assert_int_equal(raw_recv(&r, body, sizeof(body), &len), RNET_MSG_AUTH);
	raw_mac(&r, "remus auth backup v1", NULL, 0, mac);
	raw_send(&r, RNET_MSG_AUTH, mac, sizeof(mac));
	assert_int_equal(rnet_caps_encode(&r.other.p.caps, caps), 0);
	raw_mac(&r, "remus caps backup v2", caps, RNET_CAPS_LEN, caps + RNET_CAPS_LEN);
	caps[2] ^= 0x01;            /* the compression mask, after the MAC */
	raw_send(&r, RNET_MSG_CAPS, caps, sizeof(caps));
	assert_int_equal(raw_finish(&r), RNET_EAUTH);
	assert_non_null(strstr(r.other.err.msg, "capabilities fail their MAC"));
}

/* The primary's HELLO is due within hello_ms; afterwards only the whole
 * handshake's deadline applies. */
static void test_hello_deadline(void **state)
{
	struct remus_err err = { 0 };
	struct rnet_conn *c = NULL;
	struct rnet_hs *hs = NULL;
	struct rnet_hello h = { .version = RNET_VERSION };
	uint8_t hello[RNET_HELLO_LEN], hdr[RNET_HDR_LEN];
	struct side bak;
	int sv[2];

	(void)state;
	side_init(&bak, tkeys_group.good, false);
	bak.p.handshake_ms = 5000;
	bak.p.hello_ms = 300;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rnet_hs_start(sv[1], false, &bak.p, 1000, &hs, &err), 0);
	assert_int_equal(rnet_hs_next_ms(hs, 1000), 300);
	assert_int_equal(rnet_hs_step(hs, 1299, &c, &err), 0);
	assert_int_equal(rnet_hs_step(hs, 1300, &c, &err), RNET_ETIMEOUT);
	assert_non_null(strstr(err.msg, "no HELLO within 300 ms"));
	rnet_hs_free(hs);
	close(sv[0]);

	/* a HELLO in time: the short deadline is gone */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(rnet_hs_start(sv[1], false, &bak.p, 1000, &hs, &err), 0);
	assert_false(rnet_hs_got_hello(hs));
	h.caps = bak.p.caps;
	assert_int_equal(rnet_hello_encode(&h, hello), 0);
	rnet_frame_header(hdr, RNET_MSG_HELLO, RNET_HELLO_LEN);
	assert_int_equal(write(sv[0], hdr, sizeof(hdr)), (ssize_t)sizeof(hdr));
	assert_int_equal(write(sv[0], hello, sizeof(hello)), (ssize_t)sizeof(hello));
	assert_int_equal(rnet_hs_step(hs, 1100, &c, &err), 0);
	assert_true(rnet_hs_got_hello(hs));
	assert_int_equal(rnet_hs_next_ms(hs, 1100), 4900);
	assert_int_equal(rnet_hs_step(hs, 5999, &c, &err), 0);
	assert_int_equal(rnet_hs_step(hs, 6000, &c, &err), RNET_ETIMEOUT);
	rnet_hs_free(hs);
	close(sv[0]);
	side_free(&bak);
}

/* ---- admission ----------------------------------------------------- */
static struct rnet_peer_src src_v4(uint8_t last)
{
	struct rnet_peer_src s = { .b = { [10] = 0xff, [11] = 0xff, 10, 0, 0, last } };

	return s;
}

static void pool_put(struct rnet_hs_pool *p, uint8_t last, uint64_t started)
{
	assert_true(p->n < RNET_HS_POOL_MAX);
	p->e[p->n].hs = NULL;
	p->e[p->n].src = src_v4(last);
	p->e[p->n].started_ms = started;
	p->n++;
}

/* Per-source cap first (the newcomer's own oldest goes), then the oldest
 * of the source holding the most; room means nobody is evicted. */
static void test_pool_eviction_order(void **state)
{
	struct rnet_hs_pool p = { .total = 8, .per_source = 3 };
	struct rnet_peer_src s;

	(void)state;
	s = src_v4(1);
	assert_int_equal(rnet_hs_pool_victim(&p, &s), -1);
	pool_put(&p, 1, 100);
	pool_put(&p, 2, 50);            /* the legitimate peer, older */
	pool_put(&p, 1, 90);
	pool_put(&p, 1, 110);
	/* source 1 at its cap: its own oldest (index 2, t=90), not peer 2 */
	assert_int_equal(rnet_hs_pool_victim(&p, &s), 2);
	/* another source with room, table not full: nobody */
	s = src_v4(3);
	assert_int_equal(rnet_hs_pool_victim(&p, &s), -1);
	pool_put(&p, 3, 120);
	pool_put(&p, 3, 121);
	pool_put(&p, 4, 10);
	pool_put(&p, 5, 5);
	assert_int_equal(p.n, 8);
	/* full: source 1 holds the most (3), its oldest goes, not t=5 or t=10 */
	s = src_v4(6);
	assert_int_equal(rnet_hs_pool_victim(&p, &s), 2);
	/* the same at the table's cap for a source below its own cap */
	s = src_v4(3);
	assert_int_equal(rnet_hs_pool_victim(&p, &s), 2);
}

/* A flood from few sources never evicts a peer of another source while
 * the flood's sources are at their caps. */
static void test_pool_flood_spares_others(void **state)
{
	struct rnet_hs_pool p = { .total = 16, .per_source = 4 };
	struct rnet_peer_src s;
	uint64_t t = 0;
	long v;

	(void)state;
	pool_put(&p, 200, t++);         /* the peer that must survive */
	for (int i = 0; i < 10000; i++) {
		s = src_v4((uint8_t)(i % 5));
		v = rnet_hs_pool_victim(&p, &s);
		if (v >= 0) {
			assert_int_not_equal(p.e[v].src.b[15], 200);
			rnet_hs_pool_drop(&p, (size_t)v);
		}
		pool_put(&p, (uint8_t)(i % 5), t++);
		assert_true(p.n <= 16);
	}
	for (size_t i = 0; i < p.n; i++)
		if (p.e[i].src.b[15] == 200)
			return;
	fail_msg("the other source's handshake was evicted");
}

/* Sources from real sockets: IPv4 keyed by address (not port), with a
 * printable name for the logs. */
static void test_peer_src_of_tcp(void **state)
{
	struct remus_err err = { 0 };
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct rnet_peer_src a, b;
	char na[64], nb[64];
	int lfd, c1, c2, s1, s2;

	(void)state;
	lfd = rnet_listen("127.0.0.1", 0, &err);
	assert_true(lfd >= 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	c1 = socket(AF_INET, SOCK_STREAM, 0);
	c2 = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(c1, (struct sockaddr *)&sin, sl), 0);
	assert_int_equal(connect(c2, (struct sockaddr *)&sin, sl), 0);
	assert_int_equal(rnet_wait_fd(lfd, POLLIN, rnet_now_ms() + 5000, &err), 0);
	s1 = accept(lfd, NULL, NULL);
	assert_int_equal(rnet_wait_fd(lfd, POLLIN, rnet_now_ms() + 5000, &err), 0);
	s2 = accept(lfd, NULL, NULL);
	assert_true(s1 >= 0 && s2 >= 0);
	rnet_peer_src_of(s1, &a, na, sizeof(na));
	rnet_peer_src_of(s2, &b, nb, sizeof(nb));
	assert_memory_equal(&a, &b, sizeof(a));
	assert_int_equal(a.b[12], 127);
	assert_int_equal(strncmp(na, "127.0.0.1:", 10), 0);
	assert_string_not_equal(na, nb);
	close(s1);
	close(s2);
	close(c1);
	close(c2);
	close(lfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backup_discloses_nothing_before_auth),
		cmocka_unit_test(test_backup_caps_after_auth),
		cmocka_unit_test(test_primary_refuses_disclosing_hello),
		cmocka_unit_test(test_primary_checks_caps_mac),
		cmocka_unit_test(test_hello_deadline),
		cmocka_unit_test(test_pool_eviction_order),
		cmocka_unit_test(test_pool_flood_spares_others),
		cmocka_unit_test(test_peer_src_of_tcp),
	};

	return cmocka_run_group_tests(tests, tkeys_group_setup, tkeys_group_teardown);
}
