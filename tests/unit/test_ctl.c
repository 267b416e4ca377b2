/* Unit tests for the control protocol: codec round trips, every refusal,
 * and the unix-socket client/server pair (mode 0600, malformed clients
 * turned away without disturbing others). */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "remusd/ctl_proto.h"

static uint8_t buf[CTL_MSG_MAX];

static void test_roundtrip_requests(void **state)
{
	static const uint16_t guest_types[] = { CTL_STATUS, CTL_STATS, CTL_UNPROTECT,
		CTL_FAILOVER, CTL_EVACUATE, CTL_CHECK, CTL_START, CTL_RESUME, CTL_DESTROY,
		CTL_FAILOVER_FORCE, CTL_STOP };
	struct remus_err err = { 0 };
	struct ctl_msg m;
	size_t i;
	int n;

	(void)state;
	n = ctl_encode_list(buf, sizeof(buf), 7);
	assert_int_equal(n, CTL_HDR_LEN);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.type, CTL_LIST);
	assert_int_equal(m.seq, 7);
	for (i = 0; i < sizeof(guest_types) / sizeof(guest_types[0]); i++) {
		n = ctl_encode_guest_req(buf, sizeof(buf), guest_types[i], (uint32_t)i, "kv-1.a");
		assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX);
		assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
		assert_int_equal(m.type, guest_types[i]);
		assert_string_equal(m.guest, "kv-1.a");
	}
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_STATUS, 1, "");
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);   /* all guests */
	assert_string_equal(m.guest, "");
	n = ctl_encode_protect(buf, sizeof(buf), 9, "kv", "host-b:7575", CTL_UNSAFE_NO_NETBUF);
	assert_true(n > 0);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_string_equal(m.peer, "host-b:7575");
	assert_int_equal(m.unsafe, CTL_UNSAFE_NO_NETBUF);
	assert_int_equal(ctl_encode_guest_req(buf, sizeof(buf), CTL_REPLY, 1, "x"), -EINVAL);
	n = ctl_encode_set(buf, sizeof(buf), 5, "kv", CTL_SET_INTERVAL, 40);
	assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX + 8);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.type, CTL_SET);
	assert_string_equal(m.guest, "kv");
	assert_int_equal(m.setting, CTL_SET_INTERVAL);
	assert_int_equal(m.value, 40);
	/* a SET the daemon must never act on */
	n = ctl_encode_set(buf, sizeof(buf), 5, "kv", CTL_SET_INTERVAL, 0);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "SET interval 0 ms out of range 1..10000"));
	n = ctl_encode_set(buf, sizeof(buf), 5, "kv", CTL_SET_COMPRESSION, 3);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "SET compression 3 unknown"));
	n = ctl_encode_set(buf, sizeof(buf), 5, "kv", 9, 1);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "SET setting 9 unknown"));
	n = ctl_encode_set(buf, sizeof(buf), 5, "", CTL_SET_INTERVAL, 40);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);   /* guest required */
	assert_int_equal(ctl_encode_guest_req(buf, 20, CTL_STATUS, 1, "x"), -ENOSPC);
	/* UPGRADE: the path of the new binary, or "" for the installed one; no guest */
	n = ctl_encode_upgrade(buf, sizeof(buf), 6, "/usr/sbin/remusd.new");
	assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX + CTL_PEER_MAX);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.type, CTL_UPGRADE);
	assert_string_equal(m.peer, "/usr/sbin/remusd.new");
	n = ctl_encode_upgrade(buf, sizeof(buf), 6, "");
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_string_equal(m.peer, "");
	buf[CTL_HDR_LEN] = 'g';                 /* an UPGRADE naming a guest */
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "UPGRADE names a guest"));
}

static void test_roundtrip_replies(void **state)
{
	static const char json[] = "{\"guests\":[]}";
	struct remus_err err = { 0 };
	struct ctl_msg m;
	int n;

	(void)state;
	n = ctl_encode_reply(buf, sizeof(buf), 3, -17, CTL_FMT_JSON, json, strlen(json));
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.code, -17);
	assert_int_equal(m.format, CTL_FMT_JSON);
	assert_int_equal(m.payload_len, strlen(json));
	assert_memory_equal(m.payload, json, strlen(json));
	n = ctl_encode_progress(buf, sizeof(buf), 3, "kv", CTL_PHASE_MEMORY, 5, 10);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.done, 5);
	assert_int_equal(m.total, 10);
	n = ctl_encode_check_reply(buf, sizeof(buf), 3, CTL_CHECK_NO_PEER | CTL_CHECK_NO_KEY);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.reasons, CTL_CHECK_NO_PEER | CTL_CHECK_NO_KEY);
	assert_string_equal(ctl_check_reason(CTL_CHECK_PEER_UNREACHABLE), "peer unreachable");
	assert_string_equal(ctl_check_reason(CTL_CHECK_UNSAFE_REQUIRED), "needs --unsafe");
	assert_string_equal(ctl_check_reason(CTL_CHECK_PEER_CANNOT_HOLD), "the peer cannot hold this guest");
	assert_null(ctl_check_reason(CTL_CHECK_ALL + 1));   /* the first bit beyond the list */
	/* the particulars travel with the reasons; unprintable bytes become '?' */
	n = ctl_encode_check_detail(buf, sizeof(buf), 4, CTL_CHECK_PEER_REFUSED,
	                            "peer h:1: authentication failed\nkey\tfile");
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.reasons, CTL_CHECK_PEER_REFUSED);
	assert_int_equal(m.payload_len, strlen("peer h:1: authentication failed\nkey?file"));
	assert_memory_equal(m.payload, "peer h:1: authentication failed\nkey?file", m.payload_len);
	assert_int_equal(ctl_encode_reply(buf, sizeof(buf), 1, 0, 0, json, CTL_BODY_MAX), -ENOSPC);
}

/* Patch a valid message and expect a refusal naming the problem. */
static void expect_refused(size_t len, const char *named)
{
	struct remus_err err = { 0 };
	struct ctl_msg m;

	assert_int_equal(ctl_parse(buf, len, &m, &err), CTL_EPROTO);
	if (strstr(err.msg, named) == NULL)
		fail_msg("expected '%s', got '%s'", named, err.msg);
}

static void test_malformed_refused(void **state)
{
	int n;

	(void)state;
	n = ctl_encode_list(buf, sizeof(buf), 1);
	buf[0] = 'X';
	expect_refused((size_t)n, "bad magic");
	n = ctl_encode_list(buf, sizeof(buf), 1);
	buf[5] = 2;
	expect_refused((size_t)n, "control protocol version 2, this side speaks 1");
	n = ctl_encode_list(buf, sizeof(buf), 1);
	buf[7] = 0x55;
	expect_refused((size_t)n, "unknown control message type 85");
	expect_refused(10, "header is 16");
	/* exact lengths per type */
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_CHECK, 1, "kv");
	buf[11] = CTL_GUEST_MAX + 1;
	expect_refused((size_t)n + 1, "CHECK body of 65 bytes, allowed 64..64");
	n = ctl_encode_list(buf, sizeof(buf), 1);
	buf[11] = 1;
	expect_refused((size_t)n + 1, "LIST body of 1 bytes, allowed 0..0");
	n = ctl_encode_list(buf, sizeof(buf), 1);
	buf[8] = 0x7f;
	expect_refused((size_t)n, "LIST body of 2130706432 bytes");
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_START, 1, "kv");
	expect_refused((size_t)n - 1, "START message is 79 bytes, header says 80");
	/* fields */
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_START, 1, "kv");
	memset(buf + CTL_HDR_LEN, 'a', CTL_GUEST_MAX);
	expect_refused((size_t)n, "START: guest field not terminated");
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_START, 1, "k v");
	expect_refused((size_t)n, "START: guest has a bad character at 1");
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_START, 1, "kv");
	buf[CTL_HDR_LEN + 40] = 1;
	expect_refused((size_t)n, "guest padding not zero");
	n = ctl_encode_guest_req(buf, sizeof(buf), CTL_FAILOVER, 1, "");
	expect_refused((size_t)n, "FAILOVER: guest field empty");
	n = ctl_encode_protect(buf, sizeof(buf), 1, "kv", "h:1", 0x80);
	expect_refused((size_t)n, "PROTECT: PROTECT unsafe flags 0x80 unknown");
	n = ctl_encode_progress(buf, sizeof(buf), 1, "kv", CTL_PHASE_DISK, 11, 10);
	expect_refused((size_t)n, "inconsistent");
	n = ctl_encode_reply(buf, sizeof(buf), 1, 0, 7, "x", 1);
	expect_refused((size_t)n, "REPLY format 7 unknown");
	n = ctl_encode_reply(buf, sizeof(buf), 1, 0, 0, "a\0b", 3);
	expect_refused((size_t)n, "NUL byte");
	n = ctl_encode_check_reply(buf, sizeof(buf), 1, 0x10000);
	expect_refused((size_t)n, "reasons 0x10000 unknown");
	/* a detail length that disagrees with the body, an unprintable byte */
	n = ctl_encode_check_detail(buf, sizeof(buf), 1, CTL_CHECK_NO_PEER, "abc");
	buf[CTL_HDR_LEN + 7] = 2;
	expect_refused((size_t)n, "CHECK_REPLY detail of 2 bytes in a body of 11");
	n = ctl_encode_check_detail(buf, sizeof(buf), 1, CTL_CHECK_NO_PEER, "abc");
	buf[CTL_HDR_LEN + 9] = 0x1b;
	expect_refused((size_t)n, "detail byte 1 is not printable");
}

/* ---- client/server over a real unix socket -------------------------- */
struct srv {
	struct ctl_server *s;
	pthread_t th;
	atomic_bool stop;
	char path[108];
};

static int handler(void *arg, struct ctl_conn *c, const struct ctl_msg *m)
{
	static const char json[] = "{\"guests\":[\"kv\"]}";
	uint8_t out[256];
	struct remus_err err = { 0 };
	uint64_t i;
	int n;

	(void)arg;
	switch (m->type) {
	case CTL_PROTECT:
		for (i = 1; i <= 3; i++) {
			n = ctl_encode_progress(out, sizeof(out), m->seq, m->guest,
						CTL_PHASE_MEMORY, i, 3);
			if (ctl_conn_send(c, out, (size_t)n, 1000, &err) < 0)
				return -1;
		}
		n = ctl_encode_reply(out, sizeof(out), m->seq, 0, CTL_FMT_TEXT, m->peer, strlen(m->peer));
		break;
	case CTL_CHECK:
		n = ctl_encode_check_reply(out, sizeof(out), m->seq, CTL_CHECK_NO_PEER);
		break;
	default:
		n = ctl_encode_reply(out, sizeof(out), m->seq, 0, CTL_FMT_JSON, json, strlen(json));
		break;
	}
	return ctl_conn_send(c, out, (size_t)n, 1000, &err);
}

static void *srv_thread(void *arg)
{
	struct srv *v = arg;
	struct remus_err err = { 0 };

	while (!atomic_load(&v->stop))
		if (ctl_server_poll(v->s, 20, &err) < 0)
			break;
	return NULL;
}

static void srv_start(struct srv *v)
{
	struct remus_err err = { 0 };

	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(v->path, sizeof(v->path), "%s/remus-ctl-test-%d.sock", tmp, (int)getpid());
	atomic_store(&v->stop, false);
	if (ctl_server_new(v->path, handler, NULL, &v->s, &err) != 0)
		fail_msg("%s", err.msg);
	assert_int_equal(pthread_create(&v->th, NULL, srv_thread, v), 0);
}

static void srv_stop(struct srv *v)
{
	atomic_store(&v->stop, true);
	pthread_join(v->th, NULL);
	ctl_server_free(v->s);
}

static void count_progress(void *arg, const struct ctl_msg *m)
{
	assert_int_equal(m->type, CTL_PROGRESS);
	(*(int *)arg)++;
}

/* STORE: a path and (WRITE only) a value, lengths that add up exactly. */
static void test_store_request(void **state)
{
	struct remus_err err = { 0 };
	struct ctl_msg m;
	int n;

	(void)state;
	n = ctl_encode_store(buf, sizeof(buf), 7, "kv", CTL_STORE_WRITE, "control/value", 13, "v\x01", 2);
	assert_true(n > 0);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.type, CTL_STORE);
	assert_int_equal(m.seq, 7);
	assert_string_equal(m.guest, "kv");
	assert_int_equal(m.store_op, CTL_STORE_WRITE);
	assert_int_equal(m.path_len, 13);
	assert_memory_equal(m.path, "control/value", 13);
	assert_int_equal(m.store_value_len, 2);
	assert_memory_equal(m.store_value, "v\x01", 2);
	/* the encoder refuses what the decoder would */
	assert_int_equal(ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "a", 1, "v", 1),
	                 -EINVAL);
	assert_int_equal(ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "", 0, NULL, 0),
	                 -EINVAL);
	assert_int_equal(ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "a\0b", 3,
	                                  NULL, 0), -EINVAL);
	/* and the decoder each field */
	n = ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "abc", 3, NULL, 0);
	buf[CTL_HDR_LEN + CTL_GUEST_MAX + 3] = 9;
	expect_refused((size_t)n, "STORE: STORE op 9 unknown");
	n = ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "abc", 3, NULL, 0);
	buf[CTL_HDR_LEN + CTL_GUEST_MAX + 7] = 2;
	expect_refused((size_t)n, "path of 2 and value of 0 bytes in a body of 83");
	n = ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "abc", 3, NULL, 0);
	buf[CTL_HDR_LEN + CTL_GUEST_MAX + 7] = 2;
	buf[CTL_HDR_LEN + CTL_GUEST_MAX + 11] = 1;
	expect_refused((size_t)n, "STORE value with an op that takes none");
	n = ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "abc", 3, NULL, 0);
	buf[CTL_HDR_LEN + CTL_GUEST_MAX + 16 + 1] = 0;
	expect_refused((size_t)n, "STORE path contains a NUL byte");
	n = ctl_encode_store(buf, sizeof(buf), 1, "kv", CTL_STORE_READ, "abc", 3, NULL, 0);
	buf[CTL_HDR_LEN + CTL_GUEST_MAX + 15] = 1;
	expect_refused((size_t)n, "STORE reserved field not zero");
	n = ctl_encode_store(buf, sizeof(buf), 1, "", CTL_STORE_READ, "abc", 3, NULL, 0);
	expect_refused((size_t)n, "guest field empty");
}

static void test_socket_calls(void **state)
{
	struct remus_err err = { 0 };
	struct ctl_conn *c = NULL;
	struct ctl_msg r;
	struct stat st;
	struct srv v;
	uint8_t req[CTL_MSG_MAX];
	int n, progress = 0;

	(void)state;
	srv_start(&v);
	assert_int_equal(stat(v.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(ctl_connect(v.path, &c, &err), 0);
	n = ctl_encode_list(req, sizeof(req), 1);
	assert_int_equal(ctl_call(c, req, (size_t)n, 5000, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.type, CTL_REPLY);
	assert_int_equal(r.format, CTL_FMT_JSON);
	assert_memory_equal(r.payload, "{\"guests\":[\"kv\"]}", r.payload_len);
	n = ctl_encode_protect(req, sizeof(req), 2, "kv", "host-b:7575", 0);
	assert_int_equal(ctl_call(c, req, (size_t)n, 5000, count_progress, &progress, &r, &err), 0);
	assert_int_equal(progress, 3);
	assert_memory_equal(r.payload, "host-b:7575", r.payload_len);
	n = ctl_encode_guest_req(req, sizeof(req), CTL_CHECK, 3, "kv");
	assert_int_equal(ctl_call(c, req, (size_t)n, 5000, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.type, CTL_CHECK_REPLY);
	assert_int_equal(r.reasons, CTL_CHECK_NO_PEER);
	ctl_conn_free(c);
	srv_stop(&v);
	assert_int_equal(stat(v.path, &st), -1);   /* socket file removed */
}

/* Send raw bytes on a fresh client and read the server's refusal. */
static void bad_client(const char *path, const uint8_t *bytes, size_t len, const char *named)
{
	struct remus_err err = { 0 };
	struct ctl_conn *c = NULL;
	struct ctl_msg r;

	assert_int_equal(ctl_connect(path, &c, &err), 0);
	assert_int_equal(ctl_conn_send(c, bytes, len, 5000, &err), 0);
	assert_int_equal(ctl_conn_wait(c, &r, 5000, &err), 1);
	assert_int_equal(r.type, CTL_REPLY);
	assert_int_equal(r.code, CTL_EPROTO);
	if (memmem(r.payload, r.payload_len, named, strlen(named)) == NULL)
		fail_msg("expected '%s' in '%.*s'", named, (int)r.payload_len, r.payload);
	assert_int_equal(ctl_conn_wait(c, &r, 5000, &err), CTL_ECLOSED);
	ctl_conn_free(c);
}

static void test_bad_clients_do_not_disturb(void **state)
{
	struct remus_err err = { 0 };
	struct ctl_conn *good = NULL;
	struct ctl_server_stats st;
	struct ctl_msg r;
	struct srv v;
	uint8_t req[CTL_MSG_MAX];
	int n;

	(void)state;
	srv_start(&v);
	assert_int_equal(ctl_connect(v.path, &good, &err), 0);
	/* oversized: a LIST header announcing 1 MiB; no body ever follows */
	n = ctl_encode_list(req, sizeof(req), 1);
	req[9] = 0x10;
	bad_client(v.path, req, (size_t)n, "LIST body of 1048576 bytes, allowed 0..0");
	/* a REPLY far larger than the maximum */
	n = ctl_encode_reply(req, sizeof(req), 1, 0, 0, "x", 1);
	req[8] = 0x01;
	req[9] = 0x00;
	req[10] = 0x00;
	bad_client(v.path, req, (size_t)n, "REPLY body of 16777225 bytes, allowed 8..65536");
	bad_client(v.path, (const uint8_t *)"GET / HTTP/1.0\r\n\r\n", 18, "bad magic");
	n = ctl_encode_check_reply(req, sizeof(req), 1, 0);
	bad_client(v.path, req, (size_t)n, "CHECK_REPLY is not a request");
	/* the client connected before all that is still served */
	n = ctl_encode_list(req, sizeof(req), 77);
	assert_int_equal(ctl_call(good, req, (size_t)n, 5000, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.seq, 77);
	ctl_conn_free(good);
	atomic_store(&v.stop, true);
	pthread_join(v.th, NULL);
	ctl_server_stats(v.s, &st);
	assert_int_equal(st.refused, 4);
	assert_int_equal(st.accepted, 5);
	assert_int_equal(st.requests, 1);
	ctl_server_free(v.s);
}

/* Mode 0600 in practice: another user cannot even connect. */
static void test_other_user_cannot_connect(void **state)
{
	struct srv v;
	pid_t pid;
	int status = 0;

	(void)state;
	if (geteuid() != 0)
		skip();
	srv_start(&v);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct remus_err err = { 0 };
		struct ctl_conn *c = NULL;

		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		_exit(ctl_connect(v.path, &c, &err) == -EACCES ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	srv_stop(&v);
}

static void test_listen_refuses_live_and_clears_stale(void **state)
{
	struct remus_err err = { 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct srv v;
	int fd;

	(void)state;
	srv_start(&v);
	assert_int_equal(ctl_listen(v.path, &err), -EADDRINUSE);
	assert_non_null(strstr(err.msg, "another remusd is listening"));
	srv_stop(&v);
	/* a socket file whose owner died */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", v.path);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd);
	fd = ctl_listen(v.path, &err);
	assert_true(fd >= 0);
	close(fd);
	unlink(v.path);
}

/* evacuate --no-reprotect: the long form carries the flag, the short
 * form (every older remusctl) means 0, unknown flags are refused. */
static void test_evacuate_flags(void **state)
{
	uint8_t buf[CTL_HDR_LEN + CTL_GUEST_MAX + 64];
	struct remus_err err = { 0 };
	struct ctl_msg m;
	int n;

	(void)state;
	n = ctl_encode_evacuate(buf, sizeof(buf), 3, "kv", CTL_EVAC_NO_REPROTECT);
	assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX + 4);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.type, CTL_EVACUATE);
	assert_string_equal(m.guest, "kv");
	assert_int_equal(m.evac_flags, CTL_EVAC_NO_REPROTECT);
	n = ctl_encode_evacuate(buf, sizeof(buf), 3, "kv", 0);
	assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX);
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.evac_flags, 0);
	assert_int_equal(ctl_encode_evacuate(buf, sizeof(buf), 3, "kv", 0x80), -EINVAL);
	/* a flag this daemon does not know */
	n = ctl_encode_evacuate(buf, sizeof(buf), 3, "kv", CTL_EVAC_NO_REPROTECT);
	buf[n - 1] |= 0x80;
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "EVACUATE flags 0x81 unknown"));
	/* between the two forms */
	n = ctl_encode_evacuate(buf, sizeof(buf), 3, "kv", CTL_EVAC_NO_REPROTECT);
	buf[11] = (uint8_t)(CTL_GUEST_MAX + 2);     /* body length, big-endian low byte */
	assert_int_equal(ctl_parse(buf, (size_t)n - 2, &m, &err), CTL_EPROTO);
}

/* evacuate --to HOST: the longest form, flag and destination together;
 * either one alone, or a destination with bad bytes, is refused. */
static void test_evacuate_to(void **state)
{
	uint8_t buf[CTL_HDR_LEN + CTL_GUEST_MAX + 4 + CTL_PEER_MAX + 16];
	const size_t flags_at = CTL_HDR_LEN + CTL_GUEST_MAX + 3, to_at = flags_at + 1;
	struct remus_err err = { 0 };
	struct ctl_msg m;
	int n;

	(void)state;
	n = ctl_encode_evacuate_to(buf, sizeof(buf), 4, "kv", CTL_EVAC_NO_REPROTECT,
	                           "10.0.0.3:7575");
	assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX + 4 + CTL_PEER_MAX);
	memset(&m, 0, sizeof(m));
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), 0);
	assert_int_equal(m.type, CTL_EVACUATE);
	assert_string_equal(m.guest, "kv");
	assert_string_equal(m.peer, "10.0.0.3:7575");
	assert_int_equal(m.evac_flags, CTL_EVAC_NO_REPROTECT | CTL_EVAC_TO);
	/* no destination: the older forms, and the flag alone cannot be encoded */
	n = ctl_encode_evacuate_to(buf, sizeof(buf), 4, "kv", 0, "");
	assert_int_equal(n, CTL_HDR_LEN + CTL_GUEST_MAX);
	assert_int_equal(ctl_encode_evacuate_to(buf, sizeof(buf), 4, "kv", CTL_EVAC_TO, NULL),
	                 -EINVAL);
	/* the destination without the flag */
	n = ctl_encode_evacuate_to(buf, sizeof(buf), 4, "kv", 0, "c");
	buf[flags_at] &= (uint8_t)~CTL_EVAC_TO;
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "to flag missing"));
	/* the flag without the destination (the flags-only length) */
	n = ctl_encode_evacuate(buf, sizeof(buf), 4, "kv", CTL_EVAC_NO_REPROTECT);
	buf[flags_at] |= CTL_EVAC_TO;
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "to flag without"));
	/* an empty or unprintable destination */
	n = ctl_encode_evacuate_to(buf, sizeof(buf), 4, "kv", 0, "c");
	buf[to_at] = 0;
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "destination field empty"));
	n = ctl_encode_evacuate_to(buf, sizeof(buf), 4, "kv", 0, "c");
	buf[to_at] = '\n';
	assert_int_equal(ctl_parse(buf, (size_t)n, &m, &err), CTL_EPROTO);
	assert_non_null(strstr(err.msg, "destination has a bad character"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_requests),
		cmocka_unit_test(test_evacuate_flags),
		cmocka_unit_test(test_evacuate_to),
		cmocka_unit_test(test_roundtrip_replies),
		cmocka_unit_test(test_malformed_refused),
		cmocka_unit_test(test_store_request),
		cmocka_unit_test(test_socket_calls),
		cmocka_unit_test(test_bad_clients_do_not_disturb),
		cmocka_unit_test(test_other_user_cannot_connect),
		cmocka_unit_test(test_listen_refuses_live_and_clears_stale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
