/*
 * Control socket plumbing shared by remusd and remusctl: a unix stream
 * socket (mode 0600, peer credentials checked) carrying ctl_proto
 * messages.  Non-blocking; the blocking helpers poll with a deadline.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "remusd/ctl_proto.h"

struct ctl_conn {
	int fd;
	size_t have;            /* bytes in buf */
	size_t used;            /* bytes of the message returned last */
	uint8_t buf[CTL_MSG_MAX];
};

/* Monotonic milliseconds for deadlines. */
static uint64_t ctl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Fill a sockaddr_un, refusing paths that do not fit. */
static int ctl_addr(const char *path, struct sockaddr_un *sun, struct remus_err *err)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path))
		return remus_err_set(err, -ENAMETOOLONG, "control socket path %s too long", path);
	strcpy(sun->sun_path, path);
	return 0;
}

/* A socket file left by a dead daemon may go; a live daemon's may not. */
static int ctl_clear_stale(const char *path, const struct sockaddr_un *sun,
			   struct remus_err *err)
{
	struct stat st;
	int fd, live;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : remus_err_sys(err, errno, "control socket %s", path);
	if (!S_ISSOCK(st.st_mode))
		return remus_err_set(err, -EEXIST, "control socket %s: exists and is not a socket",
				     path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return remus_err_sys(err, errno, "socket");
	live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	if (live)
		return remus_err_set(err, -EADDRINUSE,
				     "control socket %s: another remusd is listening", path);
	return unlink(path) < 0 ? remus_err_sys(err, errno, "unlink %s", path) : 0;
}

/* The daemon's listening socket, mode 0600 before anyone can connect. */
int ctl_listen(const char *path, struct remus_err *err)
{
	struct sockaddr_un sun;
	int fd, rc;

	rc = ctl_addr(path, &sun, err);
	if (rc == 0)
		rc = ctl_clear_stale(path, &sun, err);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return remus_err_sys(err, errno, "socket");
	/* chmod before listen(): nobody can connect in between */
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = remus_err_sys(err, errno, "bind %s", path);
		goto err;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 8) < 0) {
		rc = remus_err_sys(err, errno, "control socket %s", path);
		unlink(path);
		goto err;
	}
	return fd;
err:
	close(fd);
	return rc;
}

/* A connection object around a connected socket (closed on failure). */
static int ctl_conn_wrap(int fd, struct ctl_conn **out, struct remus_err *err)
{
	struct ctl_conn *c = malloc(sizeof(*c));

	if (c == NULL) {
		close(fd);
		return remus_err_sys(err, ENOMEM, "control connection");
	}
	c->fd = fd;
	c->have = c->used = 0;
	*out = c;
	return 0;
}

/* Accept one client, refusing any uid but root and ours. */
int ctl_accept(int lfd, struct ctl_conn **out, struct remus_err *err)
{
	struct ucred cred;
	socklen_t sl = sizeof(cred);
	int fd;

	*out = NULL;
	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR
			       ? -EAGAIN : remus_err_sys(err, errno, "accept");
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &sl) < 0) {
		close(fd);
		return remus_err_sys(err, errno, "SO_PEERCRED");
	}
	if (cred.uid != 0 && cred.uid != geteuid()) {
		close(fd);
		return remus_err_set(err, CTL_EPERM, "control client pid %d uid %u refused",
				     (int)cred.pid, (unsigned)cred.uid);
	}
	/* room for a whole reply and a progress message: a server never waits
	 * to answer a client that reads its replies */
	int room = 2 * (int)CTL_MSG_MAX;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
	return ctl_conn_wrap(fd, out, err);
}

/* remusctl's side: connect to the daemon. */
int ctl_connect(const char *path, struct ctl_conn **out, struct remus_err *err)
{
	struct sockaddr_un sun;
	int fd, rc;

	*out = NULL;
	rc = ctl_addr(path, &sun, err);
	if (rc < 0)
		return rc;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return remus_err_sys(err, errno, "socket");
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = remus_err_sys(err, errno, "connect to remusd at %s", path);
		close(fd);
		return rc;
	}
	return ctl_conn_wrap(fd, out, err);
}

/* The socket for the caller's poll set. */
int ctl_conn_fd(const struct ctl_conn *c)
{
	return c->fd;
}

/* Close a control connection. */
void ctl_conn_free(struct ctl_conn *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	free(c);
}

/* Whole message at the front of buf? Judges the header as soon as it is
 * in, so an oversized message is refused before its body is read. */
static int ctl_conn_split(struct ctl_conn *c, struct ctl_msg *m, struct remus_err *err)
{
	uint32_t blen = 0;
	uint16_t type = 0;
	int rc;

	if (c->have < CTL_HDR_LEN)
		return 0;
	rc = ctl_parse_header(c->buf, c->have, &type, &blen, err);
	if (rc < 0)
		return rc;
	if (c->have < CTL_HDR_LEN + (size_t)blen)
		return 0;
	rc = ctl_parse(c->buf, CTL_HDR_LEN + blen, m, err);
	if (rc < 0)
		return rc;
	c->used = CTL_HDR_LEN + blen;
	return 1;
}

/* Non-blocking receive that refuses bad messages from their header. */
int ctl_conn_recv(struct ctl_conn *c, struct ctl_msg *m, struct remus_err *err)
{
	ssize_t n;
	int rc;

	if (c->used > 0) {
		memmove(c->buf, c->buf + c->used, c->have - c->used);
		c->have -= c->used;
		c->used = 0;
	}
	rc = ctl_conn_split(c, m, err);
	if (rc != 0)
		return rc;
	for (;;) {
		n = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return 0;
		if (n < 0)
			return remus_err_sys(err, errno, "control socket read");
		if (n == 0)
			return remus_err_set(err, CTL_ECLOSED, "control peer closed the connection");
		c->have += (size_t)n;
		rc = ctl_conn_split(c, m, err);
		if (rc != 0)
			return rc;
	}
}

/* Blocking receive with a deadline, for remusctl. */
int ctl_conn_wait(struct ctl_conn *c, struct ctl_msg *m, uint32_t timeout_ms,
		  struct remus_err *err)
{
	uint64_t deadline = ctl_now_ms() + timeout_ms, now;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int rc;

	for (;;) {
		rc = ctl_conn_recv(c, m, err);
		if (rc != 0)
			return rc;
		now = ctl_now_ms();
		if (now >= deadline)
			return remus_err_set(err, CTL_ETIMEOUT, "no answer within %u ms", timeout_ms);
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
	}
}

/* Send a whole message, giving up on a peer that does not read. */
int ctl_conn_send(struct ctl_conn *c, const uint8_t *msg, size_t len, uint32_t timeout_ms,
		  struct remus_err *err)
{
	uint64_t deadline = ctl_now_ms() + timeout_ms, now;
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	ssize_t n;

	while (len > 0) {
		n = send(c->fd, msg, len, MSG_NOSIGNAL);
		if (n > 0) {
			msg += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			return errno == EPIPE || errno == ECONNRESET
				       ? remus_err_set(err, CTL_ECLOSED, "control peer went away")
				       : remus_err_sys(err, errno, "control socket write");
		now = ctl_now_ms();
		if (now >= deadline)
			return remus_err_set(err, CTL_ETIMEOUT, "control peer not reading");
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
	}
	return 0;
}

/* One remusctl request: send, relay progress, return the final reply. */
int ctl_call(struct ctl_conn *c, const uint8_t *req, size_t len, uint32_t timeout_ms,
	     void (*progress)(void *arg, const struct ctl_msg *m), void *arg,
	     struct ctl_msg *reply, struct remus_err *err)
{
	uint32_t seq;
	int rc;

	if (len < CTL_HDR_LEN)
		return remus_err_set(err, -EINVAL, "control request too short");
	seq = ((uint32_t)req[12] << 24) | ((uint32_t)req[13] << 16) |
	      ((uint32_t)req[14] << 8) | req[15];
	rc = ctl_conn_send(c, req, len, timeout_ms, err);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = ctl_conn_wait(c, reply, timeout_ms, err);
		if (rc < 0)
			return rc;
		if (reply->seq != seq)
			return remus_err_set(err, CTL_EPROTO, "reply to request %u, expected %u",
					     reply->seq, seq);
		if (reply->type == CTL_PROGRESS) {
			if (progress != NULL)
				progress(arg, reply);
			continue;
		}
		if (reply->type == CTL_REPLY || reply->type == CTL_CHECK_REPLY)
			return 0;
		return remus_err_set(err, CTL_EPROTO, "daemon sent a %s request",
				     ctl_type_name(reply->type));
	}
}
