/* Unit tests for netbuf's front end and inline backend: epoch holding,
 * ordering, discard, release_all, limits, counters, and a concurrent
 * guest_tx path. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/hv.h"
#include "netbuf/netbuf.h"

/* What the tx callback saw: the first 4 bytes of every frame (a seq). */
struct sink {
	uint32_t seq[4096];
	size_t n;
	int fail;   /* make the next transmit fail */
};

static int sink_tx(void *arg, const void *frame, size_t len)
{
	struct sink *s = arg;

	if (s->fail) {
		s->fail--;
		return -EIO;
	}
	assert_true(len >= 4);
	assert_true(s->n < 4096);
	memcpy(&s->seq[s->n++], frame, 4);
	return 0;
}

static void open_inline(struct netbuf *nb, struct sink *s, uint32_t max_pkts)
{
	struct netbuf_config cfg = { .backend = "inline", .tx_fd = -1, .tx = sink_tx,
				     .tx_arg = s, .first_epoch = 1,
				     .max_held_packets = max_pkts };

	memset(s, 0, sizeof(*s));
	assert_int_equal(netbuf_open(nb, &cfg), 0);
}

static void send_seq(struct netbuf *nb, uint32_t seq, size_t len)
{
	uint8_t frame[128] = { 0 };

	memcpy(frame, &seq, 4);
	assert_int_equal(netbuf_guest_tx(nb, frame, len), 0);
}

/* Open, one frame of len1 in epoch 1 (closed), one of len2 in open epoch 2. */
static void two_epochs(struct netbuf *nb, struct sink *s, size_t len1, size_t len2)
{
	open_inline(nb, s, 0);
	send_seq(nb, 1, len1);
	assert_int_equal(netbuf_epoch_close(nb, 1), 0);
	send_seq(nb, 2, len2);
}

static void test_epoch_held_until_release(void **state)
{
	struct netbuf nb;
	struct sink s;

	(void)state;
	open_inline(&nb, &s, 0);
	for (uint32_t i = 0; i < 5; i++)
		send_seq(&nb, i, 60);
	assert_int_equal(netbuf_epoch_close(&nb, 1), 0);
	for (uint32_t i = 5; i < 8; i++)
		send_seq(&nb, i, 60);
	assert_int_equal(netbuf_epoch_close(&nb, 2), 0);
	send_seq(&nb, 8, 60);
	assert_int_equal(s.n, 0);
	assert_int_equal(netbuf_release(&nb, 1), 0);
	assert_int_equal(s.n, 5);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(s.seq[i], i);
	assert_int_equal(netbuf_release(&nb, 1), 0);   /* idempotent */
	assert_int_equal(s.n, 5);
	assert_int_equal(netbuf_release(&nb, 2), 0);
	assert_int_equal(s.n, 8);
	for (uint32_t i = 0; i < 8; i++)
		assert_int_equal(s.seq[i], i);
	netbuf_close(&nb);   /* seq 8 (open epoch 3) is dropped, never sent */
	assert_int_equal(s.n, 8);
}

static void test_release_of_open_epoch_refused(void **state)
{
	struct netbuf nb;
	struct sink s;

	(void)state;
	open_inline(&nb, &s, 0);
	send_seq(&nb, 1, 60);
	assert_int_equal(netbuf_release(&nb, 1), NETBUF_EEPOCH);
	assert_non_null(strstr(nb.err.msg, "still open"));
	assert_int_equal(s.n, 0);
	assert_int_equal(netbuf_epoch_close(&nb, 3), 0);   /* may skip numbers */
	assert_int_equal(netbuf_epoch_close(&nb, 2), NETBUF_EEPOCH);
	assert_non_null(strstr(nb.err.msg, "already closed"));
	assert_int_equal(netbuf_release(&nb, 3), 0);
	assert_int_equal(s.n, 1);
	netbuf_close(&nb);
}

static void test_discard_drops_every_epoch(void **state)
{
	struct netbuf nb;
	struct netbuf_stats st;
	struct sink s;

	(void)state;
	two_epochs(&nb, &s, 100, 50);
	assert_int_equal(netbuf_discard(&nb), 0);
	assert_int_equal(netbuf_epoch_close(&nb, 2), 0);
	assert_int_equal(netbuf_release(&nb, 2), 0);
	assert_int_equal(s.n, 0);
	netbuf_get_stats(&nb, &st);
	assert_int_equal(st.dropped_packets, 2);
	assert_int_equal(st.dropped_bytes, 150);
	assert_int_equal(st.held_packets, 0);
	assert_int_equal(st.released_packets, 0);
	netbuf_close(&nb);
}

static void test_release_all_then_unbuffered(void **state)
{
	struct netbuf nb;
	struct netbuf_stats st;
	struct sink s;

	(void)state;
	two_epochs(&nb, &s, 60, 60);
	assert_int_equal(netbuf_release_all(&nb), 0);
	assert_int_equal(s.n, 2);
	send_seq(&nb, 3, 60);   /* unprotected: straight through */
	assert_int_equal(s.n, 3);
	assert_int_equal(s.seq[2], 3);
	netbuf_get_stats(&nb, &st);
	assert_int_equal(st.mode, NETBUF_UNPROTECTED);
	assert_int_equal(st.released_packets, 3);
	/* the epoch protocol still accepts calls */
	assert_int_equal(netbuf_epoch_close(&nb, 2), 0);
	assert_int_equal(netbuf_release(&nb, 2), 0);
	netbuf_close(&nb);
}

static void test_hold_limit_counts_full_drops(void **state)
{
	struct netbuf nb;
	struct netbuf_stats st;
	struct sink s;
	uint8_t frame[64] = { 0 };

	(void)state;
	open_inline(&nb, &s, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(netbuf_guest_tx(&nb, frame, sizeof(frame)), 0);
	assert_int_equal(netbuf_guest_tx(&nb, frame, sizeof(frame)), NETBUF_EFULL);
	netbuf_get_stats(&nb, &st);
	assert_int_equal(st.full_drops, 1);
	assert_int_equal(st.dropped_packets, 1);
	assert_int_equal(st.held_packets, 3);
	assert_int_equal(st.max_held_packets, 3);
	assert_int_equal(st.max_held_bytes, 3 * 64);
	netbuf_close(&nb);
}

static void test_stats_per_epoch_and_json(void **state)
{
	struct netbuf nb;
	struct netbuf_stats st;
	struct sink s;
	char json[1024];
	int n;

	(void)state;
	open_inline(&nb, &s, 0);
	send_seq(&nb, 1, 60);
	send_seq(&nb, 2, 70);
	assert_int_equal(netbuf_epoch_close(&nb, 1), 0);
	send_seq(&nb, 3, 80);
	netbuf_get_stats(&nb, &st);
	assert_int_equal(st.nr_epochs, 2);
	assert_int_equal(st.epochs[0].epoch, 1);
	assert_int_equal(st.epochs[0].packets, 2);
	assert_int_equal(st.epochs[0].bytes, 130);
	assert_int_equal(st.epochs[1].epoch, 2);
	assert_int_equal(st.epochs[1].bytes, 80);
	assert_int_equal(st.held_bytes, 210);
	n = netbuf_stats_json(&st, json, sizeof(json));
	assert_true(n > 0 && (size_t)n < sizeof(json));
	assert_non_null(strstr(json, "\"backend\":\"inline\""));
	assert_non_null(strstr(json, "\"held_packets\":3"));
	assert_non_null(strstr(json, "{\"epoch\":1,\"packets\":2,\"bytes\":130}"));
	/* truncation reports the needed length, like snprintf */
	assert_int_equal(netbuf_stats_json(&st, json, 10), n);
	assert_int_equal(strlen(json), 9);
	netbuf_close(&nb);
}

static void test_tx_failure_counted(void **state)
{
	struct netbuf nb;
	struct netbuf_stats st;
	struct sink s;

	(void)state;
	open_inline(&nb, &s, 0);
	send_seq(&nb, 1, 60);
	send_seq(&nb, 2, 60);
	assert_int_equal(netbuf_epoch_close(&nb, 1), 0);
	s.fail = 1;
	assert_int_equal(netbuf_release(&nb, 1), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq[0], 2);
	netbuf_get_stats(&nb, &st);
	assert_int_equal(st.tx_errors, 1);
	assert_int_equal(st.dropped_packets, 1);
	assert_int_equal(st.released_packets, 1);
	netbuf_close(&nb);
}

/* The TAP path: one write per frame, frame boundaries kept. */
static void test_tx_fd_writes_frames(void **state)
{
	struct netbuf_config cfg = { .backend = "inline", .first_epoch = 7 };
	struct netbuf nb;
	uint8_t buf[256];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	cfg.tx_fd = sv[0];
	assert_int_equal(netbuf_open(&nb, &cfg), 0);
	send_seq(&nb, 41, 60);
	send_seq(&nb, 42, 90);
	assert_int_equal(netbuf_epoch_close(&nb, 7), 0);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), -1);
	assert_int_equal(errno, EAGAIN);
	assert_int_equal(netbuf_release(&nb, 7), 0);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 60);
	assert_int_equal(*(uint32_t *)buf, 41);
	assert_int_equal(recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT), 90);
	assert_int_equal(*(uint32_t *)buf, 42);
	netbuf_close(&nb);
	close(sv[0]);
	close(sv[1]);
}

static void test_config_errors(void **state)
{
	struct netbuf_config cfg = { .backend = "carrier-pigeon", .tx_fd = -1 };
	struct netbuf nb;

	(void)state;
	assert_int_equal(netbuf_open(&nb, &cfg), NETBUF_ECONFIG);
	assert_non_null(strstr(nb.err.msg, "carrier-pigeon"));
	cfg.backend = "inline";   /* nowhere to send */
	assert_int_equal(netbuf_open(&nb, &cfg), NETBUF_ECONFIG);
	assert_non_null(strstr(nb.err.msg, "tx_fd"));
	cfg.backend = "nfqueue";
	cfg.ifname = "tap0";
	cfg.tag = "bad tag;rm";
	assert_int_equal(netbuf_open(&nb, &cfg), NETBUF_ECONFIG);
	assert_non_null(strstr(nb.err.msg, "tag"));
	cfg.backend = "plug";
	cfg.tag = "far-too-long-tag";
	assert_int_equal(netbuf_open(&nb, &cfg), NETBUF_ECONFIG);
	assert_ptr_equal(netbuf_backend(NULL), &netbuf_inline_ops);
	assert_null(netbuf_backend("nope"));
}

/* The inline backend plugs into pvm's hook with no adapter. */
static void test_fits_hv_net_hook(void **state)
{
	struct netbuf nb;
	struct sink s;
	struct hv_net_hook hook;
	uint32_t seq = 9;

	(void)state;
	open_inline(&nb, &s, 0);
	hook.arg = &nb;
	hook.guest_tx = netbuf_guest_tx;
	assert_int_equal(hook.guest_tx(hook.arg, &seq, sizeof(seq)), 0);
	assert_int_equal(netbuf_epoch_close(&nb, 1), 0);
	assert_int_equal(netbuf_release(&nb, 1), 0);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq[0], 9);
	netbuf_close(&nb);
}

struct producer {
	struct netbuf *nb;
	uint32_t count;
};

static void *produce(void *arg)
{
	struct producer *p = arg;

	for (uint32_t i = 0; i < p->count; i++)
		send_seq(p->nb, i, 64);
	return NULL;
}

/* A vCPU thread sends while the checkpoint thread closes and releases:
 * every frame arrives once, in order. */
static void test_concurrent_tx_and_release(void **state)
{
	struct netbuf nb;
	struct sink *s = malloc(sizeof(*s));
	struct producer p = { &nb, 4000 };
	pthread_t t;
	uint64_t e = 1;

	(void)state;
	assert_non_null(s);
	open_inline(&nb, s, 0);
	assert_int_equal(pthread_create(&t, NULL, produce, &p), 0);
	while (s->n < p.count) {
		assert_int_equal(netbuf_epoch_close(&nb, e), 0);
		assert_int_equal(netbuf_release(&nb, e), 0);
		e++;
	}
	pthread_join(t, NULL);
	for (uint32_t i = 0; i < p.count; i++)
		assert_int_equal(s->seq[i], i);
	netbuf_close(&nb);
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoch_held_until_release),
		cmocka_unit_test(test_release_of_open_epoch_refused),
		cmocka_unit_test(test_discard_drops_every_epoch),
		cmocka_unit_test(test_release_all_then_unbuffered),
		cmocka_unit_test(test_hold_limit_counts_full_drops),
		cmocka_unit_test(test_stats_per_epoch_and_json),
		cmocka_unit_test(test_tx_failure_counted),
		cmocka_unit_test(test_tx_fd_writes_frames),
		cmocka_unit_test(test_config_errors),
		cmocka_unit_test(test_fits_hv_net_hook),
		cmocka_unit_test(test_concurrent_tx_and_release),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
