/* rnet byte transport over a plain TCP (or socketpair) file descriptor. */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/net_impl.h"

/* Non-blocking read; EAGAIN/EINTR become -EAGAIN for the caller's poll. */
static ssize_t plain_read(struct rnet_io *io, void *buf, size_t len, struct remus_err *err)
{
	ssize_t n = recv(io->fd, buf, len, 0);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	if (errno == ECONNRESET)
		return remus_err_set(err, RNET_ECLOSED, "peer reset the connection");
	return remus_err_sys(err, errno, "recv");
}

/* Non-blocking write, never raising SIGPIPE on a vanished peer. */
static ssize_t plain_write(struct rnet_io *io, const void *buf, size_t len,
			   struct remus_err *err)
{
	ssize_t n = send(io->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	if (errno == EPIPE || errno == ECONNRESET)
		return remus_err_set(err, RNET_ECLOSED, "peer closed the connection");
	return remus_err_sys(err, errno, "send");
}

/* Gathered write straight from the caller's pieces (no staging copy). */
static ssize_t plain_writev(struct rnet_io *io, const struct iovec *iov, int n,
			    struct remus_err *err)
{
	struct msghdr m = { .msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)n };
	ssize_t w = sendmsg(io->fd, &m, MSG_NOSIGNAL);

	if (w >= 0)
		return w;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return -EAGAIN;
	if (errno == EPIPE || errno == ECONNRESET)
		return remus_err_set(err, RNET_ECLOSED, "peer closed the connection");
	return remus_err_sys(err, errno, "sendmsg");
}

/* Plain sockets buffer nothing in user space. */
static size_t plain_pending(struct rnet_io *io)
{
	(void)io;
	return 0;
}

/* Nothing to release beyond the socket. */
static void plain_free(struct rnet_io *io)
{
	(void)io;
}

static const struct rnet_io_ops plain_ops = {
	.name = "tcp",
	.read = plain_read,
	.write = plain_write,
	.writev = plain_writev,
	.pending = plain_pending,
	.free = plain_free,
};

/* Wrap a connected socket; the io owns fd from here on. */
int rnet_io_plain_new(int fd, struct rnet_io **out, struct remus_err *err)
{
	struct rnet_io *io = calloc(1, sizeof(*io));

	if (io == NULL)
		return remus_err_sys(err, ENOMEM, "rnet io");
	io->ops = &plain_ops;
	io->fd = fd;
	*out = io;
	return 0;
}

/* Release backend state and close the socket. */
void rnet_io_free(struct rnet_io *io)
{
	if (io == NULL)
		return;
	io->ops->free(io);
	if (io->fd >= 0)
		close(io->fd);
	free(io);
}
