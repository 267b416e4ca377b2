/* The device model of an HVM guest on the primary: the driver's QMP client
 * against a fake QEMU (a real unix socket served by a thread of this test,
 * with scripted failures, events, garbage and a hang-up), wired into the
 * save loop of the fake Xen (test_xen_fake.c): the emulator records appear
 * in libxl's order before each CHECKPOINT_END, failures name QEMU's reason,
 * the guest and QEMU are left running, nothing leaks. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <json-c/json.h>

#include "hv/xen/xen.h"
#include "hv/xen/xen_qmp.h"
#include "stream/stream.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"

enum qs_act { QS_OK, QS_ERROR, QS_GARBAGE, QS_HANGUP, QS_WRONG_ID };

struct qmp_server {
	char dir[64], path[128];
	int lfd;
	pthread_t th;
	/* script: the nth call of fail_cmd gets fail_act; events before replies */
	const char *fail_cmd;
	int fail_nth;
	enum qs_act fail_act;
	bool events;
	/* what the fake QEMU saw */
	char log[64][32];
	int nlog;
	int held_fd;               /* the fd of the current fd set */
	int64_t fdset;
	int fdsets_open, saves, bad_args, logdirty_on, logdirty_off;
	int conns;                 /* client connections accepted */
	bool stopped;
};

/* The client may hang up as soon as it has what it needs (after an error
 * it sends `cont` and leaves without reading the answer), as it may with
 * a real QEMU: a failed send is the client's business, not a test failure
 * (and an assert in this thread cannot unwind the test anyway). */
static void qs_send(int fd, const char *text)
{
	size_t len = strlen(text);
	ssize_t n = send(fd, text, len, MSG_NOSIGNAL);

	if (n >= 0)
		assert_int_equal(n, (ssize_t)len);
}

static void qs_reply(struct qmp_server *s, int fd, int64_t id, const char *ret)
{
	char buf[256];

	if (s->events)
		qs_send(fd, "{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 2}}\r\n");
	snprintf(buf, sizeof(buf), "{\"return\": %s, \"id\": %lld}\r\n", ret, (long long)id);
	qs_send(fd, buf);
}

/* Read one command (and an fd passed with it); NULL when the client left. */
static struct json_object *qs_read_cmd(struct qmp_server *s, int fd, struct json_tokener *tok)
{
	struct json_object *o = NULL;
	char c;

	json_tokener_reset(tok);
	while (o == NULL) {
		union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr a; } ctl;
		struct iovec iov = { .iov_base = &c, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
		    .msg_controllen = sizeof(ctl.buf) };
		ssize_t n = recvmsg(fd, &mh, 0);
		struct cmsghdr *cm;

		if (n <= 0)
			return NULL;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_type == SCM_RIGHTS) {
				assert_int_equal(s->held_fd, -1);
				memcpy(&s->held_fd, CMSG_DATA(cm), sizeof(int));
			}
		o = json_tokener_parse_ex(tok, &c, 1);
		assert_true(o != NULL || json_tokener_get_error(tok) == json_tokener_continue);
	}
	return o;
}

static const char *qs_str(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, k1, &v) || (k2 && !json_object_object_get_ex(v, k2, &v)))
		return NULL;
	return json_object_get_string(v);
}

/* The fake QEMU's side of one command. */
static void qs_serve(struct qmp_server *s, int fd, const char *cmd, int64_t id,
    struct json_object *o)
{
	char buf[128];
	const char *v;

	if (strcmp(cmd, "add-fd") == 0) {
		if (s->held_fd < 0) {
			s->bad_args++;
			snprintf(buf, sizeof(buf), "{\"error\": {\"class\": \"GenericError\", "
			    "\"desc\": \"No file descriptor supplied via SCM_RIGHTS\"}, \"id\": %lld}\r\n",
			    (long long)id);
			qs_send(fd, buf);
			return;
		}
		s->fdset++;
		s->fdsets_open++;
		snprintf(buf, sizeof(buf), "{\"fdset-id\": %lld, \"fd\": 42}", (long long)s->fdset);
		qs_reply(s, fd, id, buf);
	} else if (strcmp(cmd, "xen-save-devices-state") == 0) {
		snprintf(buf, sizeof(buf), "/dev/fdset/%lld", (long long)s->fdset);
		v = qs_str(o, "arguments", "filename");
		if (v == NULL || strcmp(v, buf) != 0 || s->held_fd < 0 || !s->stopped ||
		    (v = qs_str(o, "arguments", "live")) == NULL || strcmp(v, "false") != 0)
			s->bad_args++;
		s->saves++;
		snprintf(buf, sizeof(buf), "QEVM-device-state-%d", s->saves);
		assert_int_equal(write(s->held_fd, buf, strlen(buf)), (ssize_t)strlen(buf));
		qs_reply(s, fd, id, "{}");
	} else if (strcmp(cmd, "remove-fd") == 0) {
		snprintf(buf, sizeof(buf), "%lld", (long long)s->fdset);
		if ((v = qs_str(o, "arguments", "fdset-id")) == NULL || strcmp(v, buf) != 0)
			s->bad_args++;
		if (s->held_fd >= 0)
			close(s->held_fd);
		s->held_fd = -1;
		s->fdsets_open--;
		qs_reply(s, fd, id, "{}");
	} else {
		if (strcmp(cmd, "stop") == 0)
			s->stopped = true;
		if (strcmp(cmd, "cont") == 0)
			s->stopped = false;
		if (strcmp(cmd, "xen-set-global-dirty-log") == 0) {
			v = qs_str(o, "arguments", "enable");
			if (v != NULL && strcmp(v, "true") == 0)
				s->logdirty_on++;
			else if (v != NULL && strcmp(v, "false") == 0)
				s->logdirty_off++;
			else
				s->bad_args++;
		}
		qs_reply(s, fd, id, "{}");
	}
}

/* One client connection, until it leaves (or the script hangs up). */
static void qs_serve_conn(struct qmp_server *s, int fd, int *nth_p)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *o, *idv;
	int nth = *nth_p;

	s->conns++;
	qs_send(fd, "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 0, \"minor\": 2, \"major\": 7}, "
	    "\"package\": \"Debian 1:7.2\"}, \"capabilities\": [\"oob\"]}}\r\n");
	while ((o = qs_read_cmd(s, fd, tok)) != NULL) {
		const char *cmd = qs_str(o, "execute", NULL);
		int64_t id = json_object_object_get_ex(o, "id", &idv) ? json_object_get_int64(idv) : -1;
		char buf[256];

		assert_non_null(cmd);
		if (s->nlog < 64)
			snprintf(s->log[s->nlog++], sizeof(s->log[0]), "%s", cmd);
		if (s->fail_cmd != NULL && strcmp(cmd, s->fail_cmd) == 0 && ++nth == s->fail_nth) {
			if (s->fail_act == QS_HANGUP) {
				json_object_put(o);
				break;
			}
			if (s->fail_act == QS_ERROR)
				snprintf(buf, sizeof(buf), "{\"error\": {\"class\": \"GenericError\", "
				    "\"desc\": \"saving Xen device state failed\"}, \"id\": %lld}\r\n",
				    (long long)id);
			else if (s->fail_act == QS_WRONG_ID)
				snprintf(buf, sizeof(buf), "{\"return\": {}, \"id\": %lld}\r\n",
				    (long long)id + 100);
			else
				snprintf(buf, sizeof(buf), "{\"return\": nope}\r\n");
			qs_send(fd, buf);
		} else {
			qs_serve(s, fd, cmd, id, o);
		}
		json_object_put(o);
	}
	if (s->held_fd >= 0)
		close(s->held_fd);
	s->held_fd = -1;
	json_tokener_free(tok);
	close(fd);
	*nth_p = nth;
}

/* Like QEMU's chardev server: one client at a time, a new one after the
 * last left (the driver reconnects after a broken answer), until qs_stop
 * shuts the listening socket down. */
static void *qs_thread(void *arg)
{
	struct qmp_server *s = arg;
	int fd, nth = 0;

	while ((fd = accept(s->lfd, NULL, NULL)) >= 0)
		qs_serve_conn(s, fd, &nth);
	return NULL;
}

/* A listening fake QEMU for domain 5 in a fresh directory. */
static void qs_start(struct qmp_server *s, bool serve)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(s, 0, sizeof(*s));
	s->held_fd = -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/remus-qmp-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/qmp-libxl-5", s->dir);
	assert_true(strlen(s->path) < sizeof(sa.sun_path));
	memcpy(sa.sun_path, s->path, strlen(s->path));
	s->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->lfd >= 0);
	if (serve) {
		assert_int_equal(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
		assert_int_equal(listen(s->lfd, 1), 0);
	}
}

static void qs_run(struct qmp_server *s)
{
	assert_int_equal(pthread_create(&s->th, NULL, qs_thread, s), 0);
}

static void qs_stop(struct qmp_server *s, bool served)
{
	if (served) {
		shutdown(s->lfd, SHUT_RDWR);    /* wakes the accept */
		assert_int_equal(pthread_join(s->th, NULL), 0);
	}
	close(s->lfd);
	unlink(s->path);
	rmdir(s->dir);
}

/* The fake dom0 with "web" as an HVM guest whose QEMU registered two
 * physmap entries (vga ram and a rom). */
static void setup_hvm_host_physmap(bool complete)
{
	static const char *const dm = "/local/domain/0/device-model/5";
	char p[128];

	xt_setup_host();
	fake_set_node("/local/domain/0/device-model", "", 0, 0, 0);
	fake_set_node(dm, "", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap", "", 0, 0, 0);
	snprintf(p, sizeof(p), "%s/physmap/f0000000", dm);
	fake_set_node(p, "", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap/f0000000/start_addr", "f0000000", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap/f0000000/size", "800000", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap/f0000000/name", "vga.vram", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap/f1000000", "", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap/f1000000/start_addr", "f1000000", 0, 0, 0);
	if (complete)
		fake_set_node("/local/domain/0/device-model/5/physmap/f1000000/size", "10000", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5/physmap/f1000000/name", "rom", 0, 0, 0);
}

static void setup_hvm_host(void)
{
	setup_hvm_host_physmap(true);
}

/* Protect "web" with its QEMU at s; rc of save_stream, message in err. */
static int save_hvm(struct qmp_server *s, struct engine *e, int fd, bool xs_records,
    struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	int rc;

	xt_engine_init(e, &h, fd);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, err), 0);
	xen_guest_set_xenstore_records(g, xs_records);
	assert_int_equal(xen_guest_set_qmp_dir(g, s->dir, err), 0);
	rc = xen_hv_ops.save_stream(g, fd, &h, err);
	xen_hv_ops.destroy(g);
	return rc;
}

/* One libxl record of a checkpoint as the test reads it back. */
struct rec {
	uint32_t type, len;
	uint8_t body[512];
};

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The libxl records between from and to (after the fake libxc chunk). */
static int read_recs(int fd, off_t from, off_t to, struct rec *r, int max)
{
	uint8_t h[8];
	int n = 0;

	while (from < to) {
		assert_true(n < max);
		assert_int_equal(pread(fd, h, 8, from), 8);
		r[n].type = le32(h);
		r[n].len = le32(h + 4);
		assert_true(r[n].len <= sizeof(r[n].body));
		assert_int_equal(pread(fd, r[n].body, r[n].len, from + 8), (ssize_t)r[n].len);
		from += 8 + ((r[n].len + 7) & ~7u);
		n++;
	}
	assert_int_equal(from, to);
	return n;
}

static void assert_log(const struct qmp_server *s, const char *const *want, int n)
{
	assert_int_equal(s->nlog, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(s->log[i], want[i]);
}

/* Three epochs: per checkpoint EMULATOR_XENSTORE_DATA (the physmap keys,
 * relative), EMULATOR_CONTEXT (that epoch's device state), the remus
 * xenstore record, CHECKPOINT_END; QEMU saw libxl's command sequence. */
static void test_hvm_records_in_order(void **state)
{
	static const char *const want[] = {
		"qmp_capabilities", "xen-set-global-dirty-log",
		"stop", "add-fd", "xen-save-devices-state", "remove-fd", "cont",
		"stop", "add-fd", "xen-save-devices-state", "remove-fd", "cont",
		"stop", "add-fd", "xen-save-devices-state", "remove-fd", "cont",
		"xen-set-global-dirty-log",
	};
	static const char xsd[] =
	    "physmap/f0000000/start_addr\0f0000000\0physmap/f0000000/size\0800000\0"
	    "physmap/f0000000/name\0vga.vram\0physmap/f1000000/start_addr\0f1000000\0"
	    "physmap/f1000000/size\0" "10000\0physmap/f1000000/name\0rom";
	struct remus_err err = { 0 };
	struct qmp_server s;
	struct engine e;
	struct rec r[8];
	char state_n[32];
	int fd = xt_memfd(), n;
	off_t at = 16 + 8;

	(void)state;
	setup_hvm_host();
	qs_start(&s, true);
	s.events = true;
	qs_run(&s);
	assert_int_equal(save_hvm(&s, &e, fd, true, &err), 0);
	qs_stop(&s, true);
	assert_log(&s, want, 18);
	assert_int_equal(s.bad_args, 0);
	assert_int_equal(s.logdirty_on, 1);
	assert_int_equal(s.logdirty_off, 1);
	assert_int_equal(s.fdsets_open, 0);
	assert_false(s.stopped);
	assert_int_equal(fake.save_checkpoints, 3);
	for (int c = 0; c < 3; c++) {
		n = read_recs(fd, at + FAKE_CHUNK, e.ends[c], r, 8);
		assert_int_equal(n, 4);
		assert_int_equal(r[0].type, STREAM_XL_EMULATOR_XENSTORE_DATA);
		assert_int_equal(le32(r[0].body), STREAM_EMU_QEMU_UPSTREAM);
		assert_int_equal(le32(r[0].body + 4), 0);
		assert_int_equal(r[0].len, 8 + sizeof(xsd));
		assert_memory_equal(r[0].body + 8, xsd, sizeof(xsd));
		assert_int_equal(r[1].type, STREAM_XL_EMULATOR_CONTEXT);
		assert_int_equal(le32(r[1].body), STREAM_EMU_QEMU_UPSTREAM);
		snprintf(state_n, sizeof(state_n), "QEVM-device-state-%d", c + 1);
		assert_int_equal(r[1].len, 8 + strlen(state_n));
		assert_memory_equal(r[1].body + 8, state_n, strlen(state_n));
		assert_int_equal(r[2].type, STREAM_XL_REMUS_XENSTORE);
		assert_int_equal(r[3].type, STREAM_XL_CHECKPOINT_END);
		at = e.ends[c];
	}
	assert_false(fake.suspended);
	assert_int_equal(fake.xc_open, 0);
	close(fd);
}

/* No physmap entries: no EMULATOR_XENSTORE_DATA (as libxl), still the
 * context; towards xl (no remus xenstore records) nothing else. */
static void test_hvm_without_physmap(void **state)
{
	struct remus_err err = { 0 };
	struct qmp_server s;
	struct engine e;
	struct rec r[8];

	(void)state;
	xt_setup_host();
	fake_set_node("/local/domain/0/device-model", "", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5", "", 0, 0, 0);
	int fd = xt_memfd();
	qs_start(&s, true);
	qs_run(&s);
	assert_int_equal(save_hvm(&s, &e, fd, false, &err), 0);
	qs_stop(&s, true);
	assert_int_equal(read_recs(fd, 16 + 8 + FAKE_CHUNK, e.ends[0], r, 8), 2);
	assert_int_equal(r[0].type, STREAM_XL_EMULATOR_CONTEXT);
	assert_int_equal(r[1].type, STREAM_XL_CHECKPOINT_END);
	close(fd);
}

/* A failure of QEMU at checkpoint 2: QEMU's own reason in the message, the
 * first checkpoint complete, no partial second one, QEMU and the guest
 * running again, the fd set handed back. */
static void run_failure(enum qs_act act, const char *cmd, int nth, const char *want_msg,
    bool served_cont)
{
	struct remus_err err = { 0 };
	struct qmp_server s;
	struct engine e;
	int fd = xt_memfd();

	setup_hvm_host();
	qs_start(&s, true);
	s.fail_cmd = cmd;
	s.fail_nth = nth;
	s.fail_act = act;
	qs_run(&s);
	assert_true(save_hvm(&s, &e, fd, true, &err) < 0);
	qs_stop(&s, true);
	print_message("%s: %s\n", cmd, err.msg);
	assert_non_null(strstr(err.msg, want_msg));
	assert_false(fake.suspended);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	/* QEMU refusing a command leaves the connection usable; a broken
	 * answer or a hang-up makes the next command reconnect */
	assert_int_equal(s.conns, act == QS_ERROR ? 1 : 2);
	if (served_cont) {
		assert_string_equal(s.log[s.nlog - 1], "cont");
		assert_false(s.stopped);
	}
	/* the stream ends with the last complete checkpoint (or the prologue) */
	assert_int_equal(fake.save_checkpoints, nth - 1);
	assert_int_equal(e.waits, nth - 1);
	assert_int_equal(lseek(fd, 0, SEEK_END), nth > 1 ? e.ends[nth - 2] : 16 + 8);
	close(fd);
}

static void test_hvm_qemu_error(void **state)
{
	(void)state;
	run_failure(QS_ERROR, "xen-save-devices-state", 2,
	    "QEMU refused xen-save-devices-state: saving Xen device state failed (GenericError)", true);
}

static void test_hvm_qemu_garbage(void **state)
{
	(void)state;
	run_failure(QS_GARBAGE, "stop", 2, "bad JSON", true);
}

static void test_hvm_qemu_wrong_id(void **state)
{
	(void)state;
	run_failure(QS_WRONG_ID, "add-fd", 1, "a reply with another id", true);
}

static void test_hvm_qemu_hangs_up(void **state)
{
	(void)state;
	run_failure(QS_HANGUP, "xen-save-devices-state", 3, "QEMU closed", true);
}

static void test_hvm_logdirty_refused(void **state)
{
	(void)state;
	run_failure(QS_ERROR, "xen-set-global-dirty-log", 1, "log-dirty mode on", false);
}

/* The device model's QMP socket is missing: refused before a byte is sent. */
static void test_hvm_no_qmp_socket(void **state)
{
	struct remus_err err = { 0 };
	struct qmp_server s;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	setup_hvm_host();
	qs_start(&s, false);
	assert_true(save_hvm(&s, &e, fd, true, &err) < 0);
	qs_stop(&s, false);
	assert_non_null(strstr(err.msg, "QMP socket"));
	assert_non_null(strstr(err.msg, "qmp-libxl-5"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	assert_int_equal(fake.xc_open, 0);
	assert_false(fake.suspended);
	close(fd);
}

/* A physmap entry without its size: named, nothing of that checkpoint sent. */
static void test_hvm_physmap_incomplete(void **state)
{
	struct remus_err err = { 0 };
	struct qmp_server s;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	setup_hvm_host_physmap(false);
	qs_start(&s, true);
	qs_run(&s);
	int rc = save_hvm(&s, &e, fd, false, &err);
	qs_stop(&s, true);
	assert_true(rc < 0);
	print_message("physmap: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "/local/domain/0/device-model/5/physmap/f1000000/size"));
	assert_false(fake.suspended);
	assert_int_equal(lseek(fd, 0, SEEK_END), 16 + 8 + FAKE_CHUNK);
	close(fd);
}

/* The backup: a remusd replica cannot restart QEMU from EMULATOR_CONTEXT,
 * so the first checkpoint carrying it ends the protection (libxc error,
 * never a failover, never an acknowledgement) and no replica is left. */
static void test_backup_refuses_device_model_state(void **state)
{
	struct hv_guest_config cfg = { .name = "web", .mem_bytes = 128u << 20 };
	struct remus_err err = { 0 };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	struct qmp_server s;
	struct engine e;
	int fd = xt_memfd(), rc;

	(void)state;
	setup_hvm_host();
	qs_start(&s, true);
	qs_run(&s);
	assert_int_equal(save_hvm(&s, &e, fd, true, &err), 0);
	qs_stop(&s, true);

	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	xt_engine_init(&e, &h, fd);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	rc = xen_hv_ops.restore_stream(&cfg, fd, &h, &g, &err);
	print_message("backup: %s\n", err.msg);
	assert_int_equal(rc, HV_EUNSUPP);
	assert_null(g);
	assert_non_null(strstr(err.msg, "checkpoint 1 carries a device model's state"));
	assert_non_null(strstr(err.msg, "without xl's header"));
	assert_int_equal(e.ckpt_calls, 0);
	assert_false(fake.restore_failed_over);
	assert_int_equal(fake.domains_created, 1);
	assert_int_equal(fake.domains_destroyed, 1);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	close(fd);
}

/* The reply parser on its own: framing across reads, bounds, bad shapes. */
static int feed_all(const char *text, struct xen_qmp_msg *m, struct remus_err *err)
{
	struct xen_qmp_parser p;
	size_t used, off = 0, len = strlen(text);
	int rc = 0;

	assert_int_equal(xen_qmp_parser_init(&p, err), 0);
	while (off < len && rc == 0) {
		/* one byte at a time: framing must not depend on read sizes */
		rc = xen_qmp_parser_feed(&p, text + off, 1, &used, m, err);
		off += used;
	}
	xen_qmp_parser_free(&p);
	return rc;
}

static void test_qmp_parser(void **state)
{
	struct remus_err err = { 0 };
	struct xen_qmp_msg m;
	char *big, *deep;

	(void)state;
	assert_int_equal(feed_all("{\"return\": {\"fdset-id\": 3}, \"id\": 7}\r\n", &m, &err), 1);
	assert_int_equal(m.kind, XEN_QMP_RETURN);
	assert_true(m.has_id);
	assert_int_equal(m.id, 7);
	xen_qmp_msg_free(&m);
	assert_int_equal(feed_all("{\"QMP\": {\"version\": {\"qemu\": {\"major\": 7, \"minor\": 2, \"micro\": 1}}}}",
	    &m, &err), 1);
	assert_int_equal(m.kind, XEN_QMP_GREETING);
	assert_int_equal(m.qemu_major, 7);
	assert_int_equal(m.qemu_micro, 1);
	xen_qmp_msg_free(&m);
	assert_int_equal(feed_all("{\"event\": \"STOP\"}", &m, &err), 1);
	assert_string_equal(m.event, "STOP");
	xen_qmp_msg_free(&m);

	assert_int_equal(feed_all("[1, 2]", &m, &err), XEN_QMP_EPROTO);
	assert_non_null(strstr(err.msg, "not an object"));
	assert_int_equal(feed_all("{\"return\": {}, \"id\": \"7\"}", &m, &err), XEN_QMP_EPROTO);
	assert_non_null(strstr(err.msg, "id is not an integer"));
	assert_int_equal(feed_all("{\"error\": {\"class\": \"GenericError\"}, \"id\": 1}", &m, &err),
	    XEN_QMP_EPROTO);
	assert_non_null(strstr(err.msg, "class and desc"));
	assert_int_equal(feed_all("{\"hello\": 1}", &m, &err), XEN_QMP_EPROTO);
	assert_int_equal(feed_all("{\"return\": nope}", &m, &err), XEN_QMP_EPROTO);
	assert_non_null(strstr(err.msg, "bad JSON"));

	big = malloc(XEN_QMP_MAX_MSG + 64);
	assert_non_null(big);
	memset(big, ' ', XEN_QMP_MAX_MSG + 63);
	memcpy(big, "{\"return\": \"", 12);
	big[XEN_QMP_MAX_MSG + 63] = '\0';
	{
		struct xen_qmp_parser p;
		size_t used;

		assert_int_equal(xen_qmp_parser_init(&p, &err), 0);
		assert_int_equal(xen_qmp_parser_feed(&p, big, strlen(big), &used, &m, &err),
		    XEN_QMP_EPROTO);
		assert_non_null(strstr(err.msg, "longer than"));
		xen_qmp_parser_free(&p);
	}
	free(big);

	deep = calloc(1, 2 * XEN_QMP_MAX_DEPTH + 64);
	assert_non_null(deep);
	strcpy(deep, "{\"return\": ");
	for (int i = 0; i < XEN_QMP_MAX_DEPTH + 2; i++)
		strcat(deep, "[");
	assert_int_equal(feed_all(deep, &m, &err), XEN_QMP_EPROTO);
	assert_non_null(strstr(err.msg, "bad JSON"));
	free(deep);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qmp_parser),
		cmocka_unit_test(test_hvm_records_in_order),
		cmocka_unit_test(test_hvm_without_physmap),
		cmocka_unit_test(test_hvm_qemu_error),
		cmocka_unit_test(test_hvm_qemu_garbage),
		cmocka_unit_test(test_hvm_qemu_wrong_id),
		cmocka_unit_test(test_hvm_qemu_hangs_up),
		cmocka_unit_test(test_hvm_logdirty_refused),
		cmocka_unit_test(test_hvm_no_qmp_socket),
		cmocka_unit_test(test_hvm_physmap_incomplete),
		cmocka_unit_test(test_backup_refuses_device_model_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
