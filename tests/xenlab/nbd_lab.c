/*
 * remus's NBD server (diskrep/nbd*.c) against the real kernel NBD client
 * (lab only, inside dom0; scenario 50): serves IMAGE on the unix socket
 * SOCKET, one client after another (nbd-client hands the connection to
 * the kernel), until SIGTERM.  After each client it prints one line:
 *   served rc=RC reads=R writes=W flushes=F fua=U refused=X
 * (RC 0: a clean end), and "FAIL what: why" on an error.
 *   nbd-lab SOCKET IMAGE
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "diskrep/nbd.h"

static int image_read(void *arg, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(*(int *)arg, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static int image_write(void *arg, uint64_t off, const void *buf, size_t len)
{
	ssize_t n = pwrite(*(int *)arg, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

static int image_flush(void *arg)
{
	return fdatasync(*(int *)arg) < 0 ? -errno : 0;
}

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct sigaction act = { .sa_handler = on_term };
	struct remus_err err = { 0 };
	struct stat st;
	int img, l;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: nbd-lab SOCKET IMAGE\n");
		return 2;
	}
	if ((img = open(argv[2], O_RDWR | O_CLOEXEC)) < 0 || fstat(img, &st) < 0) {
		printf("FAIL image %s: %s\n", argv[2], strerror(errno));
		return 1;
	}
	struct nbd_export ex = { .name = "disk", .size = (uint64_t)st.st_size,
	                         .io = { &img, image_read, image_write, image_flush } };
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	if ((l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0) {
		printf("FAIL listen %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	sigaction(SIGTERM, &act, NULL);     /* no SA_RESTART: accept returns */
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (!stop) {
		struct nbd_stats s = { 0 };
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC), rc;

		if (c < 0)
			continue;
		rc = nbd_serve(c, -1, &ex, &s, &err);
		close(c);
		if (rc < 0)
			printf("FAIL serve: %s\n", err.msg);
		printf("served rc=%d reads=%llu writes=%llu flushes=%llu fua=%llu refused=%llu\n", rc,
		       (unsigned long long)s.reads, (unsigned long long)s.writes,
		       (unsigned long long)s.flushes, (unsigned long long)s.fua_writes,
		       (unsigned long long)s.refused);
	}
	close(l);
	unlink(argv[1]);
	return 0;
}
