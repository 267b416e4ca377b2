/*
 * A guest disk served to this host's kernel as /dev/nbdN (nbd_device.h):
 * the serving thread, the switch of where I/O goes, and the kernel
 * binding through nbd-client.
 */
#include "diskrep/nbd_device.h"
#include "diskrep/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct nbd_device {
	char name[NBD_NAME_MAX + 1], image[4096], device[64], socket[108], client[256];
	int image_fd, listen_fd, stop[2];
	uint64_t size;
	pthread_t th;
	bool th_started, bound;
	/* the route: held for reading by each request, for writing by a switch */
	pthread_rwlock_t route;
	enum nbd_device_mode mode;
	struct hv_disk_hook hook;
	/* what status shows (the serving thread writes it) */
	pthread_mutex_t lock;
	unsigned clients;
	struct nbd_stats st;        /* counted along the route (fua_writes: unused) */
	char last_error[256];
};

const char *nbd_device_mode_name(enum nbd_device_mode m)
{
	switch (m) {
	case NBD_DEVICE_DIRECT:
		return "direct";
	case NBD_DEVICE_HOOK:
		return "replicated";
	case NBD_DEVICE_READ_ONLY:
		return "read-only";
	}
	return "unknown";
}

/* ---- the I/O the server does, along the current route ---- */

static int image_read(int fd, uint64_t off, void *buf, size_t len)
{
	ssize_t n = pread(fd, buf, len, (off_t)off);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
}

/* Live counters for status (the server's own come only at a connection's
 * end, and the kernel keeps its connection for the device's life). */
static int count(struct nbd_device *d, int rc, uint64_t *ops, uint64_t *bytes, size_t len)
{
	pthread_mutex_lock(&d->lock);
	if (rc < 0) {
		d->st.refused++;
	} else {
		(*ops)++;
		if (bytes != NULL)
			*bytes += len;
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

static int route_read(void *arg, uint64_t off, void *buf, size_t len)
{
	struct nbd_device *d = arg;
	int rc;

	pthread_rwlock_rdlock(&d->route);
	rc = d->mode == NBD_DEVICE_HOOK && d->hook.read != NULL
	     ? d->hook.read(d->hook.arg, off, buf, len) : image_read(d->image_fd, off, buf, len);
	pthread_rwlock_unlock(&d->route);
	return count(d, rc, &d->st.reads, &d->st.read_bytes, len);
}

static int route_write(void *arg, uint64_t off, const void *buf, size_t len)
{
	struct nbd_device *d = arg;
	ssize_t n;
	int rc;

	pthread_rwlock_rdlock(&d->route);
	switch (d->mode) {
	case NBD_DEVICE_HOOK:
		rc = d->hook.write(d->hook.arg, off, buf, len);
		break;
	case NBD_DEVICE_DIRECT:
		n = pwrite(d->image_fd, buf, len, (off_t)off);
		rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
		break;
	default:        /* this host holds a replica: nothing else writes it */
		rc = -EPERM;
		break;
	}
	pthread_rwlock_unlock(&d->route);
	return count(d, rc, &d->st.writes, &d->st.write_bytes, len);
}

static int route_flush(void *arg)
{
	struct nbd_device *d = arg;
	int rc;

	pthread_rwlock_rdlock(&d->route);
	if (d->mode == NBD_DEVICE_HOOK && d->hook.flush != NULL)
		rc = d->hook.flush(d->hook.arg);
	else
		rc = fdatasync(d->image_fd) < 0 ? -errno : 0;
	pthread_rwlock_unlock(&d->route);
	return count(d, rc, &d->st.flushes, NULL, 0);
}

void nbd_device_route(struct nbd_device *d, enum nbd_device_mode mode,
                      const struct hv_disk_hook *hook)
{
	pthread_rwlock_wrlock(&d->route);
	d->mode = mode == NBD_DEVICE_HOOK && (hook == NULL || hook->write == NULL)
	          ? NBD_DEVICE_READ_ONLY : mode;       /* never write around a hook */
	d->hook = hook != NULL ? *hook : (struct hv_disk_hook){ 0 };
	pthread_rwlock_unlock(&d->route);
}

/* ---- the serving thread: one client at a time until stopped ---- */

static void *serve_main(void *arg)
{
	struct nbd_device *d = arg;
	struct nbd_export ex = { .name = d->name, .size = d->size,
	                         .io = { d, route_read, route_write, route_flush } };

	for (;;) {
		struct pollfd p[2] = { { d->listen_fd, POLLIN, 0 }, { d->stop[0], POLLIN, 0 } };
		struct remus_err err = { 0 };
		struct nbd_stats st = { 0 };
		int c, rc;

		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN) ||
		    (c = accept4(d->listen_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		rc = nbd_serve(c, d->stop[0], &ex, &st, &err);
		close(c);
		pthread_mutex_lock(&d->lock);
		d->clients++;
		if (rc < 0 && rc != -ECANCELED)
			snprintf(d->last_error, sizeof(d->last_error), "%.250s", err.msg);
		pthread_mutex_unlock(&d->lock);
		if (rc == -ECANCELED)
			break;
	}
	return NULL;
}

/* ---- open / close ---- */

static int image_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, size) < 0 ? -errno : 0;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int listen_on(const char *path, int *out, struct remus_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l;

	if (strlen(path) >= sizeof(sa.sun_path))
		return remus_err_set(err, -ENAMETOOLONG, "nbd: socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	if ((l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return remus_err_sys(err, errno, "nbd: socket");
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(l, 4) < 0) {
		int e = errno;
		close(l);
		return remus_err_sys(err, e, "nbd: listen on %s", path);
	}
	*out = l;
	return 0;
}

static int copy_str(char *dst, size_t cap, const char *src, const char *what,
                    struct remus_err *err)
{
	if (strlen(src) >= cap)
		return remus_err_set(err, -ENAMETOOLONG, "nbd: %s '%.100s' is too long", what, src);
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* `nbd-client -unix SOCKET DEVICE`: it does the handshake with the serving
 * thread and hands the connection to the kernel. */
static int bind_device(struct nbd_device *d, struct remus_err *err)
{
	char *bind_argv[] = { d->client, "-unix", d->socket, d->device, "-block-size", "4096",
	                      "-name", d->name, NULL };
	int rc;

	if ((rc = dr_run_tool(bind_argv, NULL, 0, err)) < 0)
		return remus_err_wrap(err, "nbd: binding %s to the disk %s (is the nbd kernel module "
		                      "loaded and %s free? `nbd-client -c %s` tells)", d->device,
		                      d->image, d->device, d->device);
	d->bound = true;
	return 0;
}

void nbd_device_close(struct nbd_device *d)
{
	if (d == NULL)
		return;
	if (d->bound) {
		char *argv[] = { d->client, "-d", d->device, NULL };
		struct remus_err e = { 0 };

		(void)dr_run_tool(argv, NULL, 0, &e);   /* the device goes either way */
	}
	if (d->th_started) {
		if (write(d->stop[1], "x", 1) < 0) {
			/* the pipe has room: one byte is ever written */
		}
		pthread_join(d->th, NULL);
	}
	if (d->listen_fd >= 0) {
		close(d->listen_fd);
		unlink(d->socket);
	}
	for (int i = 0; i < 2; i++)
		if (d->stop[i] >= 0)
			close(d->stop[i]);
	if (d->image_fd >= 0)
		close(d->image_fd);
	pthread_rwlock_destroy(&d->route);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

int nbd_device_open(const struct nbd_device_config *c, struct nbd_device **out,
                    struct remus_err *err)
{
	struct nbd_device *d;
	int rc;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return remus_err_sys(err, ENOMEM, "nbd device");
	d->image_fd = d->listen_fd = d->stop[0] = d->stop[1] = -1;
	pthread_rwlock_init(&d->route, NULL);
	pthread_mutex_init(&d->lock, NULL);
	if ((rc = copy_str(d->name, sizeof(d->name), c->name, "export name", err)) < 0 ||
	    (rc = copy_str(d->image, sizeof(d->image), c->image, "image", err)) < 0 ||
	    (rc = copy_str(d->device, sizeof(d->device), c->device ? c->device : "", "device",
	                   err)) < 0 ||
	    (rc = copy_str(d->socket, sizeof(d->socket), c->socket, "socket", err)) < 0 ||
	    (rc = copy_str(d->client, sizeof(d->client), c->client ? c->client : "nbd-client",
	                   "client", err)) < 0)
		goto fail;
	if ((d->image_fd = open(c->image, O_RDWR | O_CLOEXEC)) < 0) {
		rc = remus_err_sys(err, errno, "nbd: disk image %s", c->image);
		goto fail;
	}
	if ((rc = image_size(d->image_fd, &d->size)) < 0) {
		rc = remus_err_sys(err, -rc, "nbd: size of %s", c->image);
		goto fail;
	}
	if (d->size == 0 || d->size % NBD_SECTOR) {
		rc = remus_err_set(err, -EINVAL, "nbd: disk image %s is %llu bytes, not a non-zero "
		                   "multiple of %u", c->image, (unsigned long long)d->size, NBD_SECTOR);
		goto fail;
	}
	if (pipe2(d->stop, O_CLOEXEC) < 0) {
		rc = remus_err_sys(err, errno, "nbd: pipe");
		goto fail;
	}
	if ((rc = listen_on(c->socket, &d->listen_fd, err)) < 0)
		goto fail;
	if ((rc = pthread_create(&d->th, NULL, serve_main, d)) != 0) {
		rc = remus_err_sys(err, rc, "nbd: serving thread");
		goto fail;
	}
	d->th_started = true;
	if (d->device[0] && (rc = bind_device(d, err)) < 0)
		goto fail;
	*out = d;
	return 0;
fail:
	nbd_device_close(d);
	return rc;
}

int nbd_device_drop_cache(struct nbd_device *d, struct remus_err *err)
{
	int fd, rc = 0;

	if (!d->bound)
		return 0;
	if ((fd = open(d->device, O_RDONLY | O_CLOEXEC)) < 0)
		return remus_err_sys(err, errno, "nbd: %s", d->device);
	if (ioctl(fd, BLKFLSBUF, 0) < 0)
		rc = remus_err_sys(err, errno, "nbd: dropping the cached blocks of %s", d->device);
	close(fd);
	return rc;
}

void nbd_device_status(struct nbd_device *d, struct nbd_device_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_rwlock_rdlock(&d->route);
	out->mode = d->mode;
	pthread_rwlock_unlock(&d->route);
	out->bound = d->bound;
	out->size = d->size;
	pthread_mutex_lock(&d->lock);
	out->clients = d->clients;
	out->st = d->st;
	snprintf(out->last_error, sizeof(out->last_error), "%s", d->last_error);
	pthread_mutex_unlock(&d->lock);
}
