/* Helpers for the rnet unit tests (see test_net_util.h). */
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "diskrep/kind.h"
#include "test_net_util.h"

void tkeys_write(struct tkeys *k, const char *name, const char *content, int mode,
		 char *buf, size_t cap)
{
	int fd;

	snprintf(buf, cap, "%s/%s", k->dir, name);
	fd = open(buf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	assert_int_equal(fchmod(fd, (mode_t)mode), 0);
	close(fd);
}

struct tkeys tkeys_group;

int tkeys_group_setup(void **state)
{
	(void)state;
	tkeys_setup(&tkeys_group);
	return 0;
}

int tkeys_group_teardown(void **state)
{
	(void)state;
	tkeys_cleanup(&tkeys_group);
	return 0;
}

void tkeys_setup(struct tkeys *k)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(k->dir, sizeof(k->dir), "%s/rnet-test-XXXXXX", tmp);
	assert_non_null(mkdtemp(k->dir));
	tkeys_write(k, "good.key", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 0600,
		    k->good, sizeof(k->good));
	tkeys_write(k, "other.key", "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210\n", 0600,
		    k->other, sizeof(k->other));
}

void tkeys_cleanup(struct tkeys *k)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", k->dir);
	assert_int_equal(system(cmd), 0);
}

void side_init(struct side *s, const char *keypath, bool primary)
{
	struct remus_err err = { 0 };

	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->primary = primary;
	if (keypath != NULL)
		assert_int_equal(rnet_key_load(keypath, &s->key, &err), 0);
	s->p.key = &s->key;
	s->p.caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE) |
				  RNET_COMPRESS_BIT(RNET_COMPRESS_ZLIB);
	s->p.caps.compress = RNET_COMPRESS_NONE;
	s->p.caps.diskrep = DISKREP_KIND_BUILTIN;
	s->p.caps.flags = RNET_CAP_XENSTORE;
	snprintf(s->p.caps.hv, sizeof(s->p.caps.hv), "pvm");
	snprintf(s->p.caps.guest, sizeof(s->p.caps.guest), "kvstore");
	s->p.handshake_ms = 10000;
}

static void *side_thread(void *arg)
{
	struct side *s = arg;

	s->rc = rnet_handshake_fd(s->fd, s->primary, &s->p, &s->conn, &s->err);
	return NULL;
}

void side_pair_handshake(struct side *pri, struct side *bak)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	pri->fd = sv[0];
	bak->fd = sv[1];
	assert_int_equal(pthread_create(&pri->th, NULL, side_thread, pri), 0);
	assert_int_equal(pthread_create(&bak->th, NULL, side_thread, bak), 0);
	pthread_join(pri->th, NULL);
	pthread_join(bak->th, NULL);
}

void side_free(struct side *s)
{
	rnet_conn_free(s->conn);
	s->conn = NULL;
}

/* One direction: flush a, then let b read and hand out its messages. */
static int pump_one(struct rnet_conn *a, struct rnet_conn *b, bool b_is_primary,
		    pump_msg_fn fn, void *arg, struct remus_err *err)
{
	struct rnet_msg m;
	int rc = rnet_conn_flush(a, err);

	if (rc < 0)
		return rc;
	rc = rnet_conn_feed(b, 0, err);
	if (rc < 0)
		return rc;
	while ((rc = rnet_conn_next(b, &m, err)) == 1)
		if (fn != NULL)
			fn(arg, b_is_primary, &m);
	return rc;
}

bool pump(struct rnet_conn *a, struct rnet_conn *b, pump_msg_fn fn, void *arg,
	  bool (*done)(void *arg), int *err_rc, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + 20000;
	struct pollfd pfd[2];
	int rc;

	*err_rc = 0;
	while (rnet_now_ms() < deadline) {
		if (done(arg))
			return true;
		rc = pump_one(a, b, false, fn, arg, err);
		if (rc == 0)
			rc = pump_one(b, a, true, fn, arg, err);
		if (rc < 0) {
			*err_rc = rc;
			return done(arg);
		}
		pfd[0] = (struct pollfd){ .fd = rnet_conn_fd(a), .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = rnet_conn_fd(b), .events = POLLIN };
		if (rnet_conn_want_write(a))
			pfd[0].events |= POLLOUT;
		if (rnet_conn_want_write(b))
			pfd[1].events |= POLLOUT;
		if (!done(arg))
			(void)poll(pfd, 2, 100);
	}
	return done(arg);
}

void side_pair_up(struct side *pri, struct side *bak, const char *keypath)
{
	side_init(pri, keypath, true);
	side_init(bak, keypath, false);
	/* a loaded test machine (ASan, shared CPUs) must not fake a peer loss */
	pri->p.hb_timeout_ms = bak->p.hb_timeout_ms = 30000;
	side_pair_handshake(pri, bak);
	assert_int_equal(pri->rc, 0);
	assert_int_equal(bak->rc, 0);
}

void tlink_up(struct tlink *l)
{
	memset(l, 0, sizeof(*l));
	tkeys_setup(&l->keys);
	side_pair_up(&l->pri, &l->bak, l->keys.good);
}

void tlink_down(struct tlink *l)
{
	side_free(&l->pri);
	side_free(&l->bak);
	tkeys_cleanup(&l->keys);
}

void conn_flush_all(struct rnet_conn *c, unsigned wait_ms)
{
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + wait_ms;

	while (rnet_conn_flush(c, &err) == 1 && rnet_now_ms() < until) {
		struct pollfd p = { .fd = rnet_conn_fd(c), .events = POLLOUT };
		poll(&p, 1, 100);
	}
}

void conn_wait_ack(struct rnet_conn *c, uint64_t *acks, uint64_t n, unsigned wait_ms)
{
	struct remus_err err = { 0 };
	uint64_t until = rnet_now_ms() + wait_ms;
	struct rnet_msg m;

	while (*acks < n && rnet_now_ms() < until) {
		struct pollfd pf = { .fd = rnet_conn_fd(c), .events = POLLIN };

		poll(&pf, 1, 50);
		if (rnet_conn_feed(c, rnet_now_ms(), &err) < 0)
			return;
		while (rnet_conn_next(c, &m, &err) == 1)
			if (m.type == RNET_MSG_ACK)
				*acks = m.u64;
		rnet_conn_tick(c, rnet_now_ms(), &err);
		rnet_conn_flush(c, &err);
	}
}

int open_fd_count(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}
