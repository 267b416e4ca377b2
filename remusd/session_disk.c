/*
 * What a session's run holds besides its engine: the disk replication
 * handle (a builtin backend's channel, or a device the backend adopts) and
 * the netbuf holding the guest's output, with its nfqueue pump.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* The configuration replicates the guest's disk by adopting its device. */
bool session_conf_adopts_disk(const struct remusd_session *s)
{
	return s->gc.disk[0] && s->dr != NULL && s->dr->adopts_device;
}

/* The guest's disk is a device the backend adopted (it is not the
 * engine's: no channel, no hook), open in this run. */
bool session_disk_adopted(const struct remusd_session *s)
{
	return s->disk != NULL && s->dr != NULL && s->dr->adopts_device;
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
	return 0;
}

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

/* The nfqueue pump: verdicts for what the kernel queued, until told to
 * stop.  The netbuf front end serialises dispatch with the engine's
 * epoch_close/release. */
static void *nb_pump_main(void *arg)
{
	struct remusd_session *s = arg;
	struct pollfd p[2] = { { netbuf_fd(&s->nb), POLLIN, 0 }, { s->nb_pump_stop[0], POLLIN, 0 } };

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR) {
			log_warn("guest %s: netbuf pump: poll", s->name);
			break;
		}
		if (p[1].revents)
			break;
		if ((p[0].revents & POLLIN) && netbuf_dispatch(&s->nb) < 0)
			log_warnx("guest %s: netbuf: %s", s->name, s->nb.err.msg);
		if (p[0].revents & (POLLERR | POLLNVAL))
			break;
	}
	return NULL;
}

/* Start the pump if the open netbuf has an fd to serve (nfqueue). */
static int nb_pump_start(struct remusd_session *s, struct remus_err *err)
{
	int rc;

	if (netbuf_fd(&s->nb) < 0)
		return 0;
	if (pipe2(s->nb_pump_stop, O_CLOEXEC | O_NONBLOCK) < 0)
		return remus_err_sys(err, errno, "guest %s: netbuf pump pipe", s->name);
	if ((rc = pthread_create(&s->nb_pump, NULL, nb_pump_main, s)) != 0) {
		close(s->nb_pump_stop[0]);
		close(s->nb_pump_stop[1]);
		s->nb_pump_stop[0] = s->nb_pump_stop[1] = -1;
		return remus_err_sys(err, rc, "guest %s: netbuf pump", s->name);
	}
	s->nb_pump_running = true;
	return 0;
}

void session_nb_pump_stop(struct remusd_session *s)
{
	if (!s->nb_pump_running)
		return;
	if (write(s->nb_pump_stop[1], "x", 1) < 0)
		log_warn("guest %s: netbuf pump stop", s->name);
	pthread_join(s->nb_pump, NULL);
	close(s->nb_pump_stop[0]);
	close(s->nb_pump_stop[1]);
	s->nb_pump_stop[0] = s->nb_pump_stop[1] = -1;
	s->nb_pump_running = false;
}

int session_netbuf_open(struct remusd_session *s, const struct netbuf_config *nc,
                        const char *what, struct remus_err *err)
{
	int rc;

	session_nb_pump_stop(s);
	pthread_mutex_lock(&s->net_lock);
	if (s->nb_open)
		netbuf_close(&s->nb);
	s->nb_open = false;
	memset(&s->nb, 0, sizeof(s->nb));
	if ((rc = netbuf_open(&s->nb, nc)) < 0)
		remus_err_set(err, rc, "guest %s: netbuf %s: %s", s->name, what, s->nb.err.msg);
	else
		s->nb_open = true;
	pthread_mutex_unlock(&s->net_lock);
	if (rc == 0 && (rc = nb_pump_start(s, err)) < 0) {
		pthread_mutex_lock(&s->net_lock);
		netbuf_close(&s->nb);
		s->nb_open = false;
		pthread_mutex_unlock(&s->net_lock);
	}
	return rc;
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
