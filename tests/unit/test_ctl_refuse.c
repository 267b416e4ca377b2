/*
 * Refused control clients are reported to the daemon (ctl_server_on_refuse),
 * which logs them rate-limited: a malformed request, a client of another
 * uid (the socket opened up on purpose so it can connect at all).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
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

struct seen {
	int n;
	char why[256];
};

static int handler(void *arg, struct ctl_conn *c, const struct ctl_msg *m)
{
	(void)arg; (void)c; (void)m;
	return -1;
}

static void on_refuse(void *arg, const char *why)
{
	struct seen *s = arg;

	s->n++;
	snprintf(s->why, sizeof(s->why), "%s", why);
}

static void sock_path(char *buf, size_t cap)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(buf, cap, "%s/remus-ctl-refuse-%d.sock", tmp, (int)getpid());
}

/* Poll the server until the refusal callback ran (bounded rounds). */
static void poll_until_refused(struct ctl_server *s, struct seen *seen)
{
	struct remus_err err = { 0 };

	for (int i = 0; i < 500 && seen->n == 0; i++)
		assert_true(ctl_server_poll(s, 10, &err) >= 0);
	assert_int_equal(seen->n, 1);
}

static void test_malformed_client_reported(void **state)
{
	struct remus_err err = { 0 };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ctl_server *s = NULL;
	struct seen seen = { 0 };
	char path[100];
	int fd;

	(void)state;
	sock_path(path, sizeof(path));
	assert_int_equal(ctl_server_new(path, handler, &seen, &s, &err), 0);
	ctl_server_on_refuse(s, on_refuse);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(write(fd, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	poll_until_refused(s, &seen);
	assert_non_null(strstr(seen.why, "bad magic"));
	close(fd);
	ctl_server_free(s);
}

/* Another uid: refused by SO_PEERCRED, reported with its pid and uid. */
static void test_other_uid_reported(void **state)
{
	struct remus_err err = { 0 };
	struct ctl_server *s = NULL;
	struct seen seen = { 0 };
	char path[100], want[64];
	int status = 0;
	pid_t pid;

	(void)state;
	if (geteuid() != 0)
		skip();
	sock_path(path, sizeof(path));
	assert_int_equal(ctl_server_new(path, handler, &seen, &s, &err), 0);
	ctl_server_on_refuse(s, on_refuse);
	assert_int_equal(chmod(path, 0666), 0);    /* let the other uid reach us */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		char b;
		if (setgid(65534) != 0 || setuid(65534) != 0)
			_exit(2);
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
			_exit(3);
		_exit(read(fd, &b, 1) == 0 ? 0 : 4);   /* closed on us */
	}
	poll_until_refused(s, &seen);
	snprintf(want, sizeof(want), "pid %d uid 65534 refused", (int)pid);
	if (strstr(seen.why, want) == NULL)
		fail_msg("expected '%s' in '%s'", want, seen.why);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	ctl_server_free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malformed_client_reported),
		cmocka_unit_test(test_other_uid_reported),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
