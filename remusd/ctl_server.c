/* A small poll()-driven control server: accepts clients, splits their
 * messages, hands good ones to the handler and turns bad ones away. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remusd/ctl_proto.h"

#define CTL_SEND_TIMEOUT_MS 1000u

struct ctl_server {
	int lfd;
	char path[108];
	ctl_handler fn;
	void *arg;
	ctl_refusal_fn on_refuse;       /* told of every refused client */
	struct ctl_conn *clients[CTL_SERVER_MAX_CLIENTS];
	bool pending[CTL_SERVER_MAX_CLIENTS];   /* reply deferred: not read */
	bool resumed[CTL_SERVER_MAX_CLIENTS];   /* read next round, ready or not */
	unsigned idx[1 + CTL_SERVER_MAX_CLIENTS]; /* pollfd k -> client slot (pollfds) */
	unsigned npfd;
	struct ctl_server_stats st;
};

/* Listen on the control socket with no clients yet. */
int ctl_server_new(const char *path, ctl_handler fn, void *arg, struct ctl_server **out,
		   struct remus_err *err)
{
	struct ctl_server *s;
	int fd;

	*out = NULL;
	if (strlen(path) >= sizeof(s->path))
		return remus_err_set(err, -ENAMETOOLONG, "control socket path %s too long", path);
	fd = ctl_listen(path, err);
	if (fd < 0)
		return fd;
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		close(fd);
		unlink(path);
		return remus_err_sys(err, ENOMEM, "control server");
	}
	s->lfd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->fn = fn;
	s->arg = arg;
	*out = s;
	return 0;
}

/* The same on a listening socket another remusd passed (live update). */
int ctl_server_adopt(int lfd, const char *path, ctl_handler fn, void *arg,
                     struct ctl_server **out, struct remus_err *err)
{
	struct ctl_server *s;

	*out = NULL;
	if (strlen(path) >= sizeof(s->path))
		return remus_err_set(err, -ENAMETOOLONG, "control socket path %s too long", path);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return remus_err_sys(err, ENOMEM, "control server");
	s->lfd = lfd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->fn = fn;
	s->arg = arg;
	*out = s;
	return 0;
}

int ctl_server_listen_fd(const struct ctl_server *s)
{
	return s->lfd;
}

void ctl_server_on_refuse(struct ctl_server *s, ctl_refusal_fn fn)
{
	s->on_refuse = fn;
}

/* Count a refusal and tell the owner why (it decides whether to log). */
static void ctl_server_refused(struct ctl_server *s, const char *why)
{
	s->st.refused++;
	if (s->on_refuse)
		s->on_refuse(s->arg, why);
}

/* Drop one client slot. */
static void ctl_server_drop(struct ctl_server *s, unsigned i)
{
	ctl_conn_free(s->clients[i]);
	s->clients[i] = NULL;
	s->pending[i] = false;
	s->resumed[i] = false;
	s->st.clients--;
}

/* Tell a misbehaving client what was wrong, then let it go. */
static void ctl_server_refuse(struct ctl_server *s, unsigned i, const struct remus_err *why)
{
	uint8_t buf[CTL_HDR_LEN + 8 + REMUS_ERR_MSG_MAX];
	struct remus_err ignored = { 0 };
	int n;

	n = ctl_encode_reply(buf, sizeof(buf), 0, CTL_EPROTO, CTL_FMT_TEXT, why->msg,
			     strlen(why->msg));
	if (n > 0)
		(void)ctl_conn_send(s->clients[i], buf, (size_t)n, 100, &ignored);
	ctl_server_refused(s, why->msg);
	ctl_server_drop(s, i);
}

/* Accept everyone waiting; past the client limit, newcomers are closed. */
static void ctl_server_accept_all(struct ctl_server *s)
{
	struct remus_err err = { 0 };
	struct ctl_conn *c;
	unsigned i;
	int rc;

	for (;;) {
		rc = ctl_accept(s->lfd, &c, &err);
		if (rc == -EAGAIN)
			return;
		if (rc < 0) {
			ctl_server_refused(s, err.msg);
			if (rc != CTL_EPERM)
				return;
			continue;
		}
		for (i = 0; i < CTL_SERVER_MAX_CLIENTS && s->clients[i] != NULL; i++)
			;
		if (i == CTL_SERVER_MAX_CLIENTS) {
			ctl_conn_free(c);
			ctl_server_refused(s, "control client refused: too many clients");
			continue;
		}
		s->clients[i] = c;
		s->st.accepted++;
		s->st.clients++;
	}
}

/* Read and dispatch everything one client has sent. */
static int ctl_server_serve(struct ctl_server *s, unsigned i)
{
	struct remus_err err = { 0 };
	struct ctl_msg m;
	int rc, handled = 0;

	for (;;) {
		rc = ctl_conn_recv(s->clients[i], &m, &err);
		if (rc == 0)
			return handled;
		if (rc < 0) {
			if (rc == CTL_EPROTO)
				ctl_server_refuse(s, i, &err);
			else
				ctl_server_drop(s, i);
			return handled;
		}
		if (m.type >= CTL_REPLY) {
			remus_err_set(&err, CTL_EPROTO, "%s is not a request", ctl_type_name(m.type));
			ctl_server_refuse(s, i, &err);
			return handled;
		}
		s->st.requests++;
		handled++;
		rc = s->fn(s->arg, s->clients[i], &m);
		if (rc < 0) {
			ctl_server_drop(s, i);
			return handled;
		}
		if (rc == CTL_PENDING) {
			/* one request at a time per client: the rest waits */
			s->pending[i] = true;
			return handled;
		}
	}
}

/* The server's fds for the caller's poll set: see ctl_proto.h. */
unsigned ctl_server_pollfds(struct ctl_server *s, struct pollfd *pfd, unsigned max,
                            int *timeout_ms)
{
	unsigned n = 0, k;

	if (max == 0)
		return 0;
	pfd[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
	for (k = 0; k < CTL_SERVER_MAX_CLIENTS && n < max; k++) {
		if (s->clients[k] == NULL || s->pending[k])
			continue;
		if (s->resumed[k])
			*timeout_ms = 0;
		pfd[n] = (struct pollfd){ .fd = ctl_conn_fd(s->clients[k]), .events = POLLIN };
		s->idx[n++] = k;
	}
	s->npfd = n;
	return n;
}

/* Serve what the poll found on the fds of the last ctl_server_pollfds. */
int ctl_server_dispatch(struct ctl_server *s, const struct pollfd *pfd)
{
	unsigned k;
	int handled = 0;

	for (k = 1; k < s->npfd; k++)
		if (s->clients[s->idx[k]] != NULL && (pfd[k].revents || s->resumed[s->idx[k]])) {
			s->resumed[s->idx[k]] = false;
			handled += ctl_server_serve(s, s->idx[k]);
		}
	if (s->npfd > 0 && (pfd[0].revents & POLLIN))
		ctl_server_accept_all(s);
	s->npfd = 0;
	return handled;
}

/* One round of the loop: serve readable clients, then accept newcomers. */
int ctl_server_poll(struct ctl_server *s, int timeout_ms, struct remus_err *err)
{
	struct pollfd pfd[1 + CTL_SERVER_MAX_CLIENTS];
	unsigned n = ctl_server_pollfds(s, pfd, 1 + CTL_SERVER_MAX_CLIENTS, &timeout_ms);

	if (poll(pfd, n, timeout_ms) < 0) {
		s->npfd = 0;
		return errno == EINTR ? 0 : remus_err_sys(err, errno, "poll");
	}
	return ctl_server_dispatch(s, pfd);
}

/* A deferred reply went out (or not): see ctl_proto.h. */
int ctl_server_finish(struct ctl_server *s, struct ctl_conn *c, int sent_rc)
{
	unsigned i;

	for (i = 0; i < CTL_SERVER_MAX_CLIENTS; i++)
		if (s->clients[i] == c && s->pending[i])
			break;
	if (i == CTL_SERVER_MAX_CLIENTS)
		return -ENOENT;
	if (sent_rc < 0)
		ctl_server_drop(s, i);
	else {
		/* a request it sent meanwhile may sit in its buffer already */
		s->pending[i] = false;
		s->resumed[i] = true;
	}
	return 0;
}

/* Counters for tests and remusctl stats. */
void ctl_server_stats(const struct ctl_server *s, struct ctl_server_stats *st)
{
	*st = s->st;
}

/* Shut the server down and remove the socket file. */
void ctl_server_free(struct ctl_server *s)
{
	unsigned i;

	if (s == NULL)
		return;
	for (i = 0; i < CTL_SERVER_MAX_CLIENTS; i++)
		if (s->clients[i] != NULL)
			ctl_conn_free(s->clients[i]);
	close(s->lfd);
	unlink(s->path);
	free(s);
}
