/*
 * NBD: the transmission phase (requests to the disk hook, simple replies)
 * and serving a connected socket.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "diskrep/diskrep.h"
#include "diskrep/nbd.h"
#include "diskrep/nbd_impl.h"

static int reply(const struct nbd_io *io, uint64_t cookie, uint32_t error, const void *data,
                 size_t len)
{
	uint8_t h[16];
	int rc;

	nbd_put32(h, NBD_SIMPLE_MAGIC);
	nbd_put32(h + 4, error);
	nbd_put64(h + 8, cookie);
	if ((rc = io->write(io->arg, h, sizeof(h))) < 0 || error || len == 0)
		return rc;
	return io->write(io->arg, data, len);
}

/* The NBD error for a failed hook call (-errno). */
static uint32_t io_error(int rc)
{
	switch (-rc) {
	case ENOSPC: case EPERM: case ENOMEM: case EINVAL:
		return (uint32_t)-rc;
	default:
		return EIO;
	}
}

/* One well-formed request, its WRITE payload already in buf. */
static uint32_t serve_one(const struct nbd_export *ex, const struct nbd_request *r, uint8_t *buf,
                          struct nbd_stats *st)
{
	uint32_t e = nbd_request_error(r, ex);
	int rc = 0;

	if (e)
		return e;
	switch (r->type) {
	case NBDC_READ:
		rc = ex->io.read(ex->io.arg, r->offset, buf, r->length);
		st->reads++;
		st->read_bytes += r->length;
		break;
	case NBDC_WRITE:
		rc = ex->io.write(ex->io.arg, r->offset, buf, r->length);
		/* FUA: this write is on stable storage before the reply */
		if (rc == 0 && (r->flags & NBDC_FLAG_FUA) && ex->io.flush) {
			rc = ex->io.flush(ex->io.arg);
			st->fua_writes++;
		}
		st->writes++;
		st->write_bytes += r->length;
		break;
	case NBDC_FLUSH:
		rc = ex->io.flush ? ex->io.flush(ex->io.arg) : 0;
		st->flushes++;
		break;
	}
	return rc < 0 ? io_error(rc) : 0;
}

static int transmit(const struct nbd_io *io, const struct nbd_export *ex, struct nbd_stats *st,
                    struct remus_err *err)
{
	uint8_t h[28], *buf = NULL;
	size_t cap = 0;
	struct nbd_request r;
	uint32_t e;
	int rc;

	for (;;) {
		if ((rc = io->read(io->arg, h, sizeof(h))) < 0) {
			/* a client that closes between requests ends cleanly */
			rc = rc == -EPIPE ? 0 : remus_err_sys(err, -rc, "NBD request");
			break;
		}
		if ((rc = nbd_parse_request(h, &r, err)) < 0)
			break;
		if (r.type == NBDC_DISC)
			break;
		size_t need = (r.type == NBDC_READ && r.length <= NBD_IO_MAX) || r.type == NBDC_WRITE
		              ? r.length : 0;
		if (need > cap) {
			uint8_t *nb = realloc(buf, need);
			if (nb == NULL) {
				rc = remus_err_sys(err, ENOMEM, "NBD buffer of %zu bytes", need);
				break;
			}
			buf = nb;
			cap = need;
		}
		if (r.type == NBDC_WRITE && r.length &&
		    (rc = io->read(io->arg, buf, r.length)) < 0) {
			rc = remus_err_sys(err, -rc == EPIPE ? EPIPE : -rc, "NBD write payload of %u bytes",
			                   r.length);
			break;
		}
		e = serve_one(ex, &r, buf, st);
		st->refused += e != 0;
		if ((rc = reply(io, r.cookie, e, buf, r.type == NBDC_READ ? r.length : 0)) < 0) {
			rc = remus_err_sys(err, -rc, "NBD reply");
			break;
		}
	}
	free(buf);
	return rc;
}

int nbd_serve_io(const struct nbd_io *io, const struct nbd_export *ex, struct nbd_stats *st,
                 struct remus_err *err)
{
	struct nbd_stats local = { 0 };
	int rc;

	if (ex->size % NBD_SECTOR || ex->io.read == NULL || ex->io.write == NULL)
		return remus_err_set(err, -EINVAL, "NBD export: size %llu not a multiple of %u, or no "
		                     "read/write hook", (unsigned long long)ex->size, NBD_SECTOR);
	if ((rc = nbd_negotiate(io, ex, err)) <= 0)
		return rc;
	return transmit(io, ex, st ? st : &local, err);
}

/* ---- over a socket --------------------------------------------------- */

struct fd_io {
	int fd, stop_fd;
};

/* Wait until fd is ready for `ev`, or the stop fd is readable. */
static int fd_wait(const struct fd_io *f, short ev)
{
	struct pollfd p[2] = { { f->fd, ev, 0 }, { f->stop_fd, POLLIN, 0 } };

	for (;;) {
		int n = poll(p, f->stop_fd >= 0 ? 2 : 1, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (f->stop_fd >= 0 && (p[1].revents & POLLIN))
			return -ECANCELED;
		return 0;
	}
}

static int fd_read(void *arg, void *buf, size_t len)
{
	const struct fd_io *f = arg;
	size_t got = 0;

	while (got < len) {
		int rc = fd_wait(f, POLLIN);
		if (rc < 0)
			return rc;
		ssize_t n = read(f->fd, (uint8_t *)buf + got, len - got);
		if (n == 0)
			return got == 0 ? -EPIPE : -ECONNRESET;   /* mid-message: torn */
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		got += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

static int fd_write(void *arg, const void *buf, size_t len)
{
	const struct fd_io *f = arg;
	size_t put = 0;

	while (put < len) {
		int rc = fd_wait(f, POLLOUT);
		if (rc < 0)
			return rc;
		/* a client gone mid-reply is an error to return, not a SIGPIPE */
		ssize_t n = send(f->fd, (const uint8_t *)buf + put, len - put, MSG_NOSIGNAL);
		if (n < 0 && errno == ENOTSOCK)
			n = write(f->fd, (const uint8_t *)buf + put, len - put);
		if (n < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		put += n > 0 ? (size_t)n : 0;
	}
	return 0;
}

int nbd_serve(int fd, int stop_fd, const struct nbd_export *ex, struct nbd_stats *st,
              struct remus_err *err)
{
	struct fd_io f = { fd, stop_fd };
	struct nbd_io io = { &f, fd_read, fd_write };

	return nbd_serve_io(&io, ex, st, err);
}
