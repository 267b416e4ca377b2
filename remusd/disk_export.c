/*
 * The guest disks this daemon serves to its host's kernel: every Xen guest
 * with `diskrep = builtin` has its `disk` image served as `nbd_device`
 * (diskrep/nbd_device.h), the device its xl configuration names, from the
 * daemon's start on, so the domain can be created before it is protected.
 * A session routes the device's I/O by its role (session_disk_route):
 * through the builtin backend's primary handle while this host runs the
 * guest, refused while it holds a replica.  A disk that cannot be served
 * (no nbd module, device busy) is logged and tried again when its guest is
 * started; `remusctl check` says why.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "diskrep/nbd_device.h"
#include "remusd/daemon.h"
#include "remusd/session_impl.h"
#include "util/log.h"

static struct daemon_disk *disk_entry(struct daemon *d, const char *guest)
{
	for (size_t i = 0; i < d->ndisks; i++)
		if (strcmp(d->disks[i].name, guest) == 0)
			return &d->disks[i];
	return NULL;
}

/* Its socket sits beside the control socket (one folder for the daemon's
 * runtime files, its permissions the operator's). */
static int socket_path(const struct daemon *d, const char *guest, char *out, size_t cap,
                       struct remus_err *err)
{
	const char *cs = d->conf->control_socket, *slash = strrchr(cs, '/');
	int dir = slash != NULL ? (int)(slash - cs) : 1;
	int n = snprintf(out, cap, "%.*s/nbd-%s.sock", dir, slash != NULL ? cs : ".", guest);

	if (n < 0 || (size_t)n >= cap)
		return remus_err_set(err, -ENAMETOOLONG, "guest %s: the NBD socket beside %s would "
		                     "be too long for a unix socket", guest, cs);
	return 0;
}

static int disk_open(struct daemon *d, struct daemon_disk *e, const struct remusd_guest_conf *gc,
                     struct remus_err *err)
{
	char sock[108];
	struct nbd_device_config c = { .name = gc->name, .image = gc->disk,
	                               .device = gc->nbd_device, .socket = sock };
	int rc;

	if ((rc = socket_path(d, gc->name, sock, sizeof(sock), err)) < 0 ||
	    (rc = nbd_device_open(&c, &e->dev, err)) < 0) {
		snprintf(e->why, sizeof(e->why), "%.250s", err->msg);
		return rc;
	}
	e->why[0] = '\0';
	log_info("guest %s: disk %s served as %s", gc->name, gc->disk, gc->nbd_device);
	return 0;
}

void daemon_disks_open(struct daemon *d)
{
	for (size_t i = 0; i < d->conf->nguests; i++) {
		const struct remusd_guest_conf *gc = &d->conf->guests[i];
		struct daemon_disk *e = disk_entry(d, gc->name);
		struct remus_err err = { 0 };

		if (!gc->nbd_device[0] || (e != NULL && e->dev != NULL))
			continue;
		if (e == NULL) {
			if (d->ndisks == REMUSD_MAX_GUESTS)
				return;
			e = &d->disks[d->ndisks++];
			snprintf(e->name, sizeof(e->name), "%s", gc->name);
		}
		if (disk_open(d, e, gc, &err) < 0)
			log_warnx("guest %s: its disk is not served: %s", gc->name, err.msg);
	}
}

/* The device of a guest's disk, opened now if it failed before; NULL
 * (and why in err) for a guest whose disk cannot be served. */
struct nbd_device *daemon_disk_of(struct daemon *d, const struct remusd_guest_conf *gc,
                                  struct remus_err *err)
{
	struct daemon_disk *e;

	if (!gc->nbd_device[0])
		return NULL;
	daemon_disks_open(d);
	if ((e = disk_entry(d, gc->name)) == NULL) {
		remus_err_set(err, -ENOSPC, "guest %s: no room for its disk", gc->name);
		return NULL;
	}
	if (e->dev == NULL)
		remus_err_set(err, -ENODEV, "guest %s: its disk %s is not served as %s: %s",
		              gc->name, gc->disk, gc->nbd_device, e->why);
	return e->dev;
}

/* Why a guest's disk is not served ("" when it is, or has no device). */
const char *daemon_disk_problem(struct daemon *d, const char *guest)
{
	struct daemon_disk *e = disk_entry(d, guest);

	return e != NULL && e->dev == NULL ? e->why : "";
}

void daemon_disks_close(struct daemon *d)
{
	for (size_t i = 0; i < d->ndisks; i++) {
		nbd_device_close(d->disks[i].dev);
		d->disks[i].dev = NULL;
	}
	d->ndisks = 0;
}
