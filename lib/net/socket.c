/* rnet TCP endpoints: connect (primary), listen and accept (backup). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_impl.h"

/* Resolve host:port (names work inside a netns with /etc/hosts). */
static int sock_resolve(const char *host, uint16_t port, bool passive,
			struct addrinfo **res, struct remus_err *err)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	char svc[8];
	int g;

	if (passive)
		hints.ai_flags = AI_PASSIVE;
	snprintf(svc, sizeof(svc), "%u", port);
	if (host != NULL && (strcmp(host, "*") == 0 || host[0] == '\0'))
		host = NULL;
	g = getaddrinfo(host, svc, &hints, res);
	if (g != 0)
		return remus_err_set(err, -EHOSTUNREACH, "resolve %s:%u: %s",
				     host ? host : "*", port, gai_strerror(g));
	return 0;
}

/* Non-blocking connect bounded by the deadline. */
static int sock_connect_one(const struct addrinfo *ai, uint64_t deadline,
			    struct remus_err *err)
{
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0)
		return remus_err_sys(err, errno, "socket");
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			rc = remus_err_sys(err, errno, "connect");
			goto err;
		}
		rc = rnet_wait_fd(fd, POLLOUT, deadline, err);
		if (rc < 0)
			goto err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
			soerr = errno;
		if (soerr != 0) {
			rc = remus_err_sys(err, soerr, "connect");
			goto err;
		}
	}
	return fd;
err:
	close(fd);
	return rc;
}

/* Primary side: connect to the backup, then handshake. */
int rnet_connect(const char *host, uint16_t port, const struct rnet_params *p,
		 struct rnet_conn **out, struct remus_err *err)
{
	uint32_t ms = p->handshake_ms ? p->handshake_ms : RNET_HANDSHAKE_DEFAULT;
	uint64_t deadline = rnet_now_ms() + ms;
	struct addrinfo *res = NULL, *ai;
	int fd = -1, rc;

	*out = NULL;
	rc = sock_resolve(host, port, false, &res, err);
	if (rc < 0)
		return rc;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = sock_connect_one(ai, deadline, err);
		if (fd >= 0)
			break;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return remus_err_wrap(err, "peer %s:%u", host, port);
	return rnet_handshake_fd(fd, true, p, out, err);
}

/* Backup side: a non-blocking listening socket for the daemon's poll loop. */
int rnet_listen(const char *addr, uint16_t port, struct remus_err *err)
{
	struct addrinfo *res = NULL;
	int fd, one = 1, rc;

	rc = sock_resolve(addr, port, true, &res, err);
	if (rc < 0)
		return rc;
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = remus_err_sys(err, errno, "socket");
		goto out;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 128) < 0) {
		rc = remus_err_sys(err, errno, "listen on %s:%u", addr ? addr : "*", port);
		close(fd);
		goto out;
	}
	rc = fd;
out:
	freeaddrinfo(res);
	return rc;
}

/* Take one pending connection off the listening socket. */
static int sock_accept(int lfd, struct remus_err *err)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	return remus_err_sys(err, errno, "accept");
}

/* Accept one pending peer and handshake with it (blocking). */
int rnet_accept(int lfd, const struct rnet_params *p, struct rnet_conn **out,
		struct remus_err *err)
{
	int fd = sock_accept(lfd, err);

	*out = NULL;
	return fd < 0 ? fd : rnet_handshake_fd(fd, false, p, out, err);
}

/* Accept one pending peer and start a non-blocking handshake with it. */
int rnet_accept_start(int lfd, const struct rnet_params *p, uint64_t now_ms,
		      struct rnet_hs **out, struct remus_err *err)
{
	int fd = sock_accept(lfd, err);

	*out = NULL;
	return fd < 0 ? fd : rnet_hs_start(fd, false, p, now_ms, out, err);
}
