/*
 * Live update, the old daemon's side (see upgrade.h): refuse while a
 * session is in a phase that must finish first, hand every guest off,
 * start the new binary, send the hand-over stream and the descriptors,
 * wait a bounded time for its answer; on anything but "OK" take every
 * guest back.  Runs on the loop: the guests are paused meanwhile anyway,
 * and the wait is bounded.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "remusd/session_impl.h"
#include "remusd/upgrade.h"
#include "remusd/upgrade_stream.h"
#include "util/log.h"

/* Why no upgrade may start now, or 0. */
static int refusal(struct daemon *d, struct remus_err *err)
{
	if (d->ops.running)
		return remus_err_set(err, -EBUSY, "an operation on a guest is under way");
	for (size_t i = 0; i < d->ndisks; i++)
		if (d->disks[i].dev != NULL)    /* its kernel connection ends with this daemon */
			return remus_err_set(err, -ENOTSUP, "guest %s: its disk is served over NBD by "
			                     "this daemon, which a live update does not carry yet",
			                     d->disks[i].name);
	for (size_t i = 0; i < d->nsessions; i++) {
		struct remusd_session *s = d->sessions[i];
		remusd_session_refresh(s);      /* the engine's view: replica-ready, protected */
		enum remusd_state st = session_state(s);
		switch (remusd_state_phase(st)) {
		case PHASE_SYNCING:
			return remus_err_set(err, -EBUSY, "guest %s is %s: try again once that is over",
			                     s->name, remusd_state_name(st));
		case PHASE_EVACUATING:
			return remus_err_set(err, -EBUSY, "guest %s is being evacuated", s->name);
		case PHASE_IN_DOUBT:
			return remus_err_set(err, -EBUSY, "guest %s is in doubt: resolve it first "
			                     "(remusctl resume or destroy)", s->name);
		default:
			break;
		}
	}
	return 0;
}

/* Take back the guests handed off so far (the new daemon refused): each
 * runs again, protected again if it was. */
static void take_back(struct daemon *d, struct hv_handoff *ho, const bool *reprotect, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct remusd_session *s = d->sessions[i];
		struct remus_err err = { 0 };
		if (ho[i].blob.data != NULL &&
		    (remusd_session_adopt(s, &ho[i], session_state(s), &err) < 0 ||
		     remusd_session_resume_adopted(s, &d->env, reprotect[i], &err) < 0))
			log_warnx("guest %s: taking it back after the failed upgrade: %s", s->name, err.msg);
		hv_handoff_free(&ho[i]);
	}
}

/* The stream: the daemon's sockets (descriptors 0 and 1), then each
 * session with its guest's descriptors. */
static int build(struct daemon *d, struct hv_handoff *ho, const bool *reprotect,
                 struct stream_buf *b, int *fds, unsigned *nfds)
{
	struct lu_header h = { .version = LU_VERSION, .old_pid = (uint32_t)getpid() };
	struct lu_daemon dm = { .listen_fd = 0, .control_fd = 1 };
	unsigned n = 2;
	int rc;

	fds[0] = d->listen_fd;
	fds[1] = ctl_server_listen_fd(d->ctl);
	for (size_t i = 0; i < d->nsessions; i++)
		for (int k = 0; k < HV_HANDOFF_FDS; k++)
			n += ho[i].fd[k] >= 0;
	h.nfds = n;
	if ((rc = lu_put_header(b, &h)) < 0 || (rc = lu_put_daemon(b, &dm)) < 0)
		return rc;
	n = 2;
	for (size_t i = 0; i < d->nsessions; i++) {
		struct remusd_session *s = d->sessions[i];
		struct lu_session ls = { .id = (uint32_t)i, .state = session_state(s),
		                         .role = s->primary ? LU_ROLE_PRIMARY : LU_ROLE_BACKUP,
		                         .link_fd = LU_NO_FD,
		                         .flags = reprotect[i] ? LU_SF_REPROTECT : 0 };
		snprintf(ls.name, sizeof(ls.name), "%s", s->name);
		if (reprotect[i]) {
			snprintf(ls.peer, sizeof(ls.peer), "%.*s", (int)sizeof(ls.peer) - 1, s->peer);
			/* the stopped run's final checkpoint (acknowledged): the new
			 * daemon's run carries on from it */
			pthread_mutex_lock(&s->lock);
			ls.epoch = ls.acked_epoch = s->resume_from;
			pthread_mutex_unlock(&s->lock);
		}
		if ((rc = lu_put_session(b, &ls)) < 0)
			return rc;
		if (ho[i].blob.data == NULL)
			continue;
		struct lu_guest g = { .blob = ho[i].blob.data, .blob_len = (uint32_t)ho[i].blob.len };
		snprintf(g.driver, sizeof(g.driver), "%s", s->hv->name);
		for (int k = 0; k < LU_GFD_COUNT; k++)
			g.fd[k] = LU_NO_FD;
		for (int k = 0; k < HV_HANDOFF_FDS; k++)
			if (ho[i].fd[k] >= 0) {
				g.fd[k] = (int32_t)n;
				fds[n++] = ho[i].fd[k];
			}
		if ((rc = lu_put_guest(b, (uint32_t)i, &g)) < 0)
			return rc;
	}
	*nfds = n;
	return lu_put_end(b);
}

/* Start the new binary with its end of the socketpair as --upgrade-fd. */
static pid_t spawn(struct daemon *d, const char *path, int fd, struct remus_err *err)
{
	char fdarg[16];
	pid_t pid;

	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	if ((pid = fork()) < 0) {
		remus_err_sys(err, errno, "upgrade: fork");
		return -1;
	}
	if (pid == 0) {
		fcntl(fd, F_SETFD, 0);          /* the one descriptor it inherits */
		execl(path, path, "-c", d->conf_path, "-s", d->conf->control_socket,
		      "--upgrade-fd", fdarg, (char *)NULL);
		dprintf(2, "remusd: upgrade: exec %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* Bound for the answer, in ms. */
static int confirm_ms(void)
{
	const char *e = getenv(REMUSD_UPGRADE_TIMEOUT_ENV);
	long v = e ? strtol(e, NULL, 10) : 0;

	return v > 0 && v <= 600000 ? (int)v : (int)REMUSD_UPGRADE_CONFIRM_MS;
}

/* The child went away (or will): reap it and say how it ended. */
static int gone(pid_t pid, const char *path, struct remus_err *err)
{
	int st = 0;

	kill(pid, SIGKILL);             /* no-op if it exited already */
	waitpid(pid, &st, 0);
	if (WIFEXITED(st))
		return remus_err_set(err, -ECHILD, "the new remusd (%s) exited with status %d "
		                     "before confirming", path, WEXITSTATUS(st));
	return remus_err_set(err, -ECHILD, "the new remusd (%s) was killed by signal %d "
	                     "before confirming", path, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* Wait for the new daemon's one-line answer: 0 for "OK", else why not. */
static int await(int sock, pid_t pid, const char *path, struct remus_err *err)
{
	struct timespec t0, t;
	char line[256];
	size_t have = 0;
	int limit = confirm_ms(), st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct pollfd p = { sock, POLLIN, 0 };
		clock_gettime(CLOCK_MONOTONIC, &t);
		long left = limit - ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0 || poll(&p, 1, (int)left) == 0) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			return remus_err_set(err, -ETIMEDOUT, "the new remusd (%s) did not confirm "
			                     "within %d ms; killed", path, limit);
		}
		ssize_t n = read(sock, line + have, sizeof(line) - 1 - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			have += (size_t)n;
			line[have] = 0;
			if (strchr(line, '\n') == NULL && have < sizeof(line) - 1)
				continue;
			*strchrnul(line, '\n') = 0;
			if (strcmp(line, "OK") == 0)
				return 0;
			kill(pid, SIGKILL);     /* it exits after refusing; make sure */
			waitpid(pid, &st, 0);
			return remus_err_set(err, -ECANCELED, "the new remusd refused: %s",
			                     strncmp(line, "NO ", 3) == 0 ? line + 3 : line);
		}
		return gone(pid, path, err);    /* EOF: it closed its end, exiting */
	}
}

/* CLOCK_MONOTONIC in microseconds. */
static uint64_t mono_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

int daemon_upgrade(struct daemon *d, const char *exec_path, pid_t *new_pid,
                   uint64_t *pause_us, struct remus_err *err)
{
	struct hv_handoff ho[REMUSD_MAX_GUESTS];
	bool reprotect[REMUSD_MAX_GUESTS] = { false };
	int fds[LU_MAX_FDS], sv[2] = { -1, -1 }, rc;
	const char *path = exec_path && exec_path[0] ? exec_path : d->self_path;
	struct stream_buf b;
	unsigned nfds = 0;
	size_t done = 0;
	pid_t pid = -1;

	if ((rc = refusal(d, err)) < 0)
		return rc;
	if (access(path, X_OK) < 0)
		return remus_err_sys(err, errno, "upgrade: new remusd %s", path);
	stream_buf_init(&b);
	uint64_t t0 = mono_us();        /* the first guest pauses now */
	for (; done < d->nsessions; done++)
		if ((rc = remusd_session_hand_off(d->sessions[done], &d->env, &ho[done],
		                                  &reprotect[done], err)) < 0)
			goto back;
	log_info("upgrade: %zu sessions paused and handed off; starting %s", done, path);
	if ((rc = build(d, ho, reprotect, &b, fds, &nfds)) < 0) {
		remus_err_set(err, rc, "upgrade: building the hand-over stream");
		goto back;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		rc = remus_err_sys(err, errno, "upgrade: socketpair");
		goto back;
	}
	if ((pid = spawn(d, path, sv[1], err)) < 0) {
		rc = err->code;
		goto back;
	}
	close(sv[1]);
	sv[1] = -1;
	if ((rc = lu_send(sv[0], &b, fds, nfds, err)) < 0) {
		/* a closed socket: it exited before reading (say how) */
		if (rc == -EPIPE || rc == -ECONNRESET)
			rc = gone(pid, path, err);
		else {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		goto back;
	}
	/* test hold point (hold.h): the new daemon has everything, no answer yet */
	if (d->has_hold)
		(void)remusd_hold_hit(&d->hold, "upgrade-sent", 0);
	if ((rc = await(sv[0], pid, path, err)) < 0)
		goto back;
	for (size_t i = 0; i < done; i++)
		hv_handoff_free(&ho[i]);        /* our copies; the guests are the new daemon's */
	close(sv[0]);
	stream_buf_free(&b);
	*new_pid = pid;
	*pause_us = mono_us() - t0;     /* the new daemon resumes them right after OK */
	return 0;
back:
	take_back(d, ho, reprotect, done);
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	stream_buf_free(&b);
	log_warnx("upgrade abandoned, every guest runs here as before: %s", err->msg);
	return rc;
}

void daemon_upgrade_exit(pid_t new_pid, uint64_t pause_us)
{
	if (getenv("NOTIFY_SOCKET"))
		sd_notifyf(0, "MAINPID=%d", (int)new_pid);
	log_info("upgrade: remusd %d took over (guests paused %.1f ms); exiting", (int)new_pid,
	         (double)pause_us / 1000);
	_exit(0);       /* nothing to clean: every guest and socket is the new daemon's */
}

int daemon_handle_upgrade(struct daemon *d, struct ctl_conn *c, const struct ctl_msg *m)
{
	struct remus_err err = { 0 };
	uint8_t buf[CTL_HDR_LEN + 8 + REMUS_ERR_MSG_MAX + 64];
	char text[REMUS_ERR_MSG_MAX + 64];
	pid_t pid = -1;
	uint64_t pause_us = 0;
	int rc = daemon_upgrade(d, m->peer, &pid, &pause_us, &err), n;

	if (rc < 0)
		snprintf(text, sizeof(text), "upgrade refused: %s", err.msg);
	else
		snprintf(text, sizeof(text), "upgraded: remusd %d runs every guest now (guests "
		         "paused %.1f ms until it confirmed)", (int)pid, (double)pause_us / 1000);
	n = ctl_encode_reply(buf, sizeof(buf), m->seq, rc < 0 ? rc : 0, CTL_FMT_TEXT, text,
	                     strlen(text));
	if (n > 0)
		ctl_conn_send(c, buf, (size_t)n, 0, &err);
	if (rc == 0)
		daemon_upgrade_exit(pid, pause_us);
	return 0;
}
