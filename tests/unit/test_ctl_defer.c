/* Unit tests for the control server's deferred replies (CTL_PENDING):
 * other clients are served while one waits, the waiting client is not
 * read meanwhile, the late reply reaches it, a request it sent meanwhile
 * is served after, and a client that left while waiting is dropped
 * cleanly.  The server runs in the test's own thread (no timing). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/ctl_proto.h"

/* What the handler saw; EVACUATE is deferred, the rest answered at once. */
struct seen {
	unsigned requests;
	unsigned evacuates;
	struct ctl_conn *waiting;    /* the deferred client */
	uint32_t waiting_seq;
};

static int handler(void *arg, struct ctl_conn *c, const struct ctl_msg *m)
{
	struct seen *v = arg;
	struct remus_err err = { 0 };
	uint8_t out[256];
	int n;

	v->requests++;
	if (m->type == CTL_EVACUATE) {
		v->evacuates++;
		v->waiting = c;
		v->waiting_seq = m->seq;
		return CTL_PENDING;
	}
	n = ctl_encode_reply(out, sizeof(out), m->seq, 0, CTL_FMT_TEXT, "now", 3);
	return ctl_conn_send(c, out, (size_t)n, 1000, &err);
}

struct rig {
	struct ctl_server *s;
	struct seen seen;
	char path[108];
};

static void rig_start(struct rig *r)
{
	struct remus_err err = { 0 };
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	memset(r, 0, sizeof(*r));
	snprintf(r->path, sizeof(r->path), "%s/remus-ctl-defer-%d.sock", tmp, (int)getpid());
	if (ctl_server_new(r->path, handler, &r->seen, &r->s, &err) != 0)
		fail_msg("%s", err.msg);
}

/* Serve rounds until the handler has seen `want` requests (bounded). */
static void serve_until(struct rig *r, unsigned want)
{
	struct remus_err err = { 0 };

	for (int i = 0; i < 500 && r->seen.requests < want; i++)
		assert_true(ctl_server_poll(r->s, 100, &err) >= 0);
	assert_int_equal(r->seen.requests, want);
}

static struct ctl_conn *client(struct rig *r)
{
	struct remus_err err = { 0 };
	struct ctl_conn *c = NULL;

	assert_int_equal(ctl_connect(r->path, &c, &err), 0);
	return c;
}

static void send_req(struct ctl_conn *c, uint16_t type, uint32_t seq)
{
	struct remus_err err = { 0 };
	uint8_t req[CTL_MSG_MAX];
	int n = type == CTL_LIST ? ctl_encode_list(req, sizeof(req), seq)
	                         : ctl_encode_guest_req(req, sizeof(req), type, seq, "kv");

	assert_true(n > 0);
	assert_int_equal(ctl_conn_send(c, req, (size_t)n, 1000, &err), 0);
}

/* The answer a client gets next; the server runs between tries. */
static void expect_reply(struct rig *r, struct ctl_conn *c, uint32_t seq, const char *text)
{
	struct remus_err err = { 0 };
	struct ctl_msg m;
	int rc = 0;

	for (int i = 0; i < 500 && rc == 0; i++) {
		rc = ctl_conn_recv(c, &m, &err);
		if (rc == 0)
			assert_true(ctl_server_poll(r->s, 10, &err) >= 0);
	}
	assert_int_equal(rc, 1);
	assert_int_equal(m.type, CTL_REPLY);
	assert_int_equal(m.seq, seq);
	assert_int_equal(m.payload_len, strlen(text));
	assert_memory_equal(m.payload, text, m.payload_len);
}

static int late_reply(struct rig *r, const char *text)
{
	struct remus_err err = { 0 };
	uint8_t out[256];
	int n = ctl_encode_reply(out, sizeof(out), r->seen.waiting_seq, 0, CTL_FMT_TEXT, text,
	                         strlen(text));

	return ctl_conn_send(r->seen.waiting, out, (size_t)n, 1000, &err);
}

static void test_others_served_while_one_waits(void **state)
{
	struct ctl_server_stats st;
	struct ctl_conn *a, *b;
	struct rig r;

	(void)state;
	rig_start(&r);
	a = client(&r);
	b = client(&r);
	send_req(a, CTL_EVACUATE, 1);
	serve_until(&r, 1);
	assert_non_null(r.seen.waiting);
	/* a asks again while it waits: not read until its reply went out */
	send_req(a, CTL_LIST, 2);
	send_req(b, CTL_LIST, 10);
	expect_reply(&r, b, 10, "now");
	send_req(b, CTL_STATUS, 11);
	expect_reply(&r, b, 11, "now");
	assert_int_equal(r.seen.requests, 3);      /* a's LIST is still unread */
	assert_int_equal(ctl_server_finish(r.s, b, 0), -ENOENT);   /* b is not waiting */
	/* the operation ends: the late reply, then a's LIST is served */
	assert_int_equal(late_reply(&r, "evacuated"), 0);
	assert_int_equal(ctl_server_finish(r.s, r.seen.waiting, 0), 0);
	assert_int_equal(ctl_server_finish(r.s, r.seen.waiting, 0), -ENOENT);   /* once */
	expect_reply(&r, a, 1, "evacuated");
	expect_reply(&r, a, 2, "now");
	assert_int_equal(r.seen.requests, 4);
	assert_int_equal(r.seen.evacuates, 1);
	ctl_server_stats(r.s, &st);
	assert_int_equal(st.clients, 2);
	ctl_conn_free(a);
	ctl_conn_free(b);
	ctl_server_free(r.s);
}

static void test_client_gone_while_waiting(void **state)
{
	struct remus_err err = { 0 };
	struct ctl_server_stats st;
	struct ctl_conn *a, *b;
	struct rig r;

	(void)state;
	rig_start(&r);
	a = client(&r);
	send_req(a, CTL_EVACUATE, 1);
	serve_until(&r, 1);
	ctl_conn_free(a);                          /* remusctl killed meanwhile */
	for (int i = 0; i < 3; i++)                /* nothing is read from it */
		assert_true(ctl_server_poll(r.s, 0, &err) >= 0);
	ctl_server_stats(r.s, &st);
	assert_int_equal(st.clients, 1);
	/* the operation ends: its reply cannot go out, the client is dropped */
	assert_true(late_reply(&r, "evacuated") < 0);
	assert_int_equal(ctl_server_finish(r.s, r.seen.waiting, -EPIPE), 0);
	ctl_server_stats(r.s, &st);
	assert_int_equal(st.clients, 0);
	/* and the server goes on serving */
	b = client(&r);
	send_req(b, CTL_LIST, 5);
	expect_reply(&r, b, 5, "now");
	ctl_conn_free(b);
	ctl_server_free(r.s);
}

/* A client still waiting when the server shuts down is freed with it
 * (the sanitizer build checks nothing leaks). */
static void test_free_with_a_waiting_client(void **state)
{
	struct ctl_conn *a;
	struct rig r;

	(void)state;
	rig_start(&r);
	a = client(&r);
	send_req(a, CTL_EVACUATE, 1);
	serve_until(&r, 1);
	ctl_server_free(r.s);
	assert_int_equal(access(r.path, F_OK), -1);
	ctl_conn_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_others_served_while_one_waits),
		cmocka_unit_test(test_client_gone_while_waiting),
		cmocka_unit_test(test_free_with_a_waiting_client),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
