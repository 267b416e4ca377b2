/*
 * A session's disk: its replication handle (opened in the role of the
 * run, closed when the run's role ends), the socketpair that carries the
 * builtin backend's frames on the engine's link, the resync's progress,
 * and where a disk served to this host's kernel (Xen: nbd_device) sends
 * its I/O.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "diskrep/nbd_device.h"
#include "remusd/session_impl.h"

/* A fresh disk channel for a new run: nothing of an earlier run (frames
 * the engine never read) can reach the new peer. */
int session_disk_channel(struct remusd_session *s, struct remus_err *err)
{
	int sp[2], big = 16 << 20, rc;

	if (s->disk == NULL)
		return 0;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
		return remus_err_sys(err, errno, "guest %s: disk channel", s->name);
	for (int i = 0; i < 2; i++) {   /* room, so guest writes rarely wait */
		setsockopt(sp[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
		setsockopt(sp[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	if (fcntl(sp[1], F_SETFL, O_NONBLOCK) < 0) {
		rc = remus_err_sys(err, errno, "guest %s: disk channel", s->name);
		close(sp[0]);
		close(sp[1]);
		return rc;
	}
	s->dr->set_peer(s->disk, sp[0], err);     /* replaces the old fd first */
	for (int i = 0; i < 2; i++) {
		if (s->disk_sp[i] >= 0)
			close(s->disk_sp[i]);
		s->disk_sp[i] = sp[i];
	}
	return 0;
}

/* The run is over: diskrep stops sending (a primary's writes only mark
 * its bitmap, so the guest never waits on a channel nobody reads). */
void session_disk_detach(struct remusd_session *s)
{
	if (s->disk)
		s->dr->set_peer(s->disk, -1, &(struct remus_err){ 0 });
	for (int i = 0; i < 2; i++)
		if (s->disk_sp[i] >= 0) {
			close(s->disk_sp[i]);
			s->disk_sp[i] = -1;
		}
}

/* Sync progress from the engine thread or its disk resync thread. */
void session_on_progress(void *arg, const struct ckpt_progress *p)
{
	struct remusd_session *s = arg;

	pthread_mutex_lock(&s->lock);
	s->progress = *p;
	pthread_mutex_unlock(&s->lock);
}

/* Where the guest's served disk (Xen + builtin: its nbd_device) sends
 * I/O: through the primary handle while this host runs the guest, nowhere
 * while it holds a replica or no handle (only the receiver writes that
 * image, at commit).  Switched before a handle closes, after one opens. */
static void session_disk_route(struct remusd_session *s, bool primary_handle)
{
	if (s->nbd == NULL)
		return;
	if (primary_handle)
		nbd_device_route(s->nbd, NBD_DEVICE_HOOK, &s->dhook_io);
	else
		nbd_device_route(s->nbd, NBD_DEVICE_READ_ONLY, NULL);
}

/* Close the guest's disk replication handle (builtin: its journal and
 * bitmap stay in the image's state folder for the next opener). */
void session_close_disk(struct remusd_session *s)
{
	struct diskrep *d;

	session_disk_route(s, false);
	pthread_mutex_lock(&s->lock);       /* status reads it */
	d = s->disk;
	s->disk = NULL;
	pthread_mutex_unlock(&s->lock);
	if (d != NULL)
		s->dr->close(d);
}

/* Open the guest's disk replication handle: see session_impl.h. */
int session_open_disk(struct remusd_session *s, enum diskrep_role role, struct remus_err *err)
{
	struct diskrep_config dc = { .role = role, .image = s->gc.disk, .peer_fd = -1 };
	struct diskrep *d = NULL;
	char dir[REMUSD_PATH_MAX + 8];
	int rc;

	/* a backend that adopts a device is opened per run (session_driver.c) */
	if (s->disk || !s->gc.disk[0] || s->dr == NULL || s->dr->adopts_device)
		return 0;
	snprintf(dir, sizeof(dir), "%s.remus", s->gc.disk);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return remus_err_sys(err, errno, "guest %s: state folder %s", s->name, dir);
	dc.state_dir = dir;
	if ((rc = s->dr->open(&dc, &d, err)) < 0)
		return remus_err_wrap(err, "guest %s: diskrep", s->name);
	pthread_mutex_lock(&s->lock);       /* status reads it (a receive runs on a worker) */
	s->disk = d;
	pthread_mutex_unlock(&s->lock);
	if (role == DISKREP_PRIMARY)
		diskrep_hook_init(&s->dhook, s->dr, s->disk, &s->dhook_io);
	session_disk_route(s, role == DISKREP_PRIMARY);
	return 0;
}
