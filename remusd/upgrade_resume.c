/*
 * Live update, the new daemon's side (see upgrade.h): read the hand-over
 * stream and its descriptors from --upgrade-fd, take the replication and
 * control sockets, adopt every guest paused into its session, answer
 * "OK", and only then let the guests run.  Anything it cannot take (a
 * stream version it does not read, a guest its configuration lacks, a
 * driver that cannot adopt) makes it hand back what it adopted, answer
 * "NO <reason>" and exit: the old daemon takes everything back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "remusd/upgrade.h"
#include "remusd/upgrade_stream.h"
#include "util/log.h"

/* One line to the old daemon (best effort: it may be gone). */
static void answer(int fd, const char *what, const char *why)
{
	char line[REMUS_ERR_MSG_MAX + 8];
	int n = snprintf(line, sizeof(line), "%s%s%s\n", what, why ? " " : "", why ? why : "");

	for (char *p = line; p < line + n - 1; p++)
		if (*p == '\n')
			*p = ' ';
	if (write(fd, line, (size_t)n) != n)
		log_warn("upgrade: answering the old daemon");
}

/* Adopt one session's guest from the stream's descriptors. */
static int adopt_one(struct daemon *d, const struct lu_session *ls, const int *fds,
                     struct remusd_session **out, struct remus_err *err)
{
	struct remusd_session *s;
	struct hv_handoff h;

	*out = NULL;
	if (remusd_conf_guest(d->conf, ls->name) == NULL)
		return remus_err_set(err, -ENOENT, "guest %s is not in this daemon's configuration",
		                     ls->name);
	if ((s = daemon_get_session(d, ls->name, ls->role == LU_ROLE_PRIMARY, err)) == NULL)
		return err->code ? err->code : -EINVAL;
	if (!ls->has_guest) {
		pthread_mutex_lock(&s->lock);
		s->state = ls->state;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	if (s->hv == NULL || strcmp(s->hv->name, ls->guest.driver) != 0)
		return remus_err_set(err, -EINVAL, "guest %s: driver %s in the stream, %s here",
		                     ls->name, ls->guest.driver, s->hv ? s->hv->name : "none");
	for (int k = 0; k < HV_HANDOFF_FDS; k++)
		h.fd[k] = ls->guest.fd[k] == LU_NO_FD ? -1 : fds[ls->guest.fd[k]];
	h.blob.data = (uint8_t *)ls->guest.blob;        /* read only by adopt */
	h.blob.len = h.blob.cap = ls->guest.blob_len;
	if (remusd_session_adopt(s, &h, ls->state, err) < 0)
		return err->code;
	if (ls->flags & LU_SF_REPROTECT) {
		pthread_mutex_lock(&s->lock);
		snprintf(s->peer, sizeof(s->peer), "%s", ls->peer);
		/* the old run's final checkpoint: the backup holds it, the
		 * re-protection carries the run on from there */
		s->resume_from = ls->acked_epoch;
		pthread_mutex_unlock(&s->lock);
	}
	*out = s;
	return 0;
}

int daemon_upgrade_resume(struct daemon *d, int fd, struct remus_err *err)
{
	struct remusd_session *adopted[LU_MAX_SESSIONS];
	bool reprotect[LU_MAX_SESSIONS];
	struct lu_state st = { 0 };
	int fds[LU_MAX_FDS];
	unsigned nfds = 0, nad = 0;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if ((rc = lu_recv(fd, &buf, &len, fds, &nfds, err)) < 0) {
		answer(fd, "NO", err->msg);
		return rc;
	}
	if ((rc = lu_decode(buf, len, &st, err)) < 0)
		goto refuse;
	if (!st.has_daemon || st.daemon.listen_fd == LU_NO_FD || st.daemon.control_fd == LU_NO_FD) {
		rc = remus_err_set(err, LU_E_VALUE, "the stream passes no listen or control socket");
		goto refuse;
	}
	for (uint32_t i = 0; i < st.nsessions; i++) {
		struct remusd_session *s;
		if ((rc = adopt_one(d, &st.sessions[i], fds, &s, err)) < 0)
			goto refuse;
		if (s != NULL) {
			reprotect[nad] = st.sessions[i].flags & LU_SF_REPROTECT;
			adopted[nad++] = s;
		}
	}
	if ((rc = ctl_server_adopt(fds[st.daemon.control_fd], d->conf->control_socket,
	                           daemon_handle_ctl, d, &d->ctl, err)) < 0)
		goto refuse;
	fds[st.daemon.control_fd] = -1;                 /* the server's now */
	d->listen_fd = fds[st.daemon.listen_fd];
	fds[st.daemon.listen_fd] = -1;
	/* test hold point (hold.h): every guest adopted, paused, not answered */
	if (d->has_hold)
		(void)remusd_hold_hit(&d->hold, "upgrade-adopted", 0);
	answer(fd, "OK", NULL);
	log_info("upgrade: took over from remusd %u: %u sessions, %u guests", st.hdr.old_pid,
	         st.nsessions, nad);
	for (unsigned i = 0; i < nad; i++) {
		struct remus_err e = { 0 };
		if (remusd_session_resume_adopted(adopted[i], &d->env, reprotect[i], &e) < 0)
			log_warnx("guest %s: after the upgrade: %s", adopted[i]->name, e.msg);
		else if (reprotect[i])
			log_info("guest %s: protecting it again towards %s (the backup offers its "
			         "replica's page hashes)", adopted[i]->name, adopted[i]->peer);
	}
	rc = 0;
	goto out;
refuse:
	for (unsigned i = 0; i < nad; i++) {    /* stopped again, for the old daemon */
		struct hv_handoff h;
		struct remus_err e = { 0 };
		bool rp;
		if (remusd_session_hand_off(adopted[i], &d->env, &h, &rp, &e) < 0)
			log_warnx("guest %s: handing it back: %s", adopted[i]->name, e.msg);
		hv_handoff_free(&h);
	}
	answer(fd, "NO", err->msg);
out:
	for (unsigned i = 0; i < nfds; i++)     /* adopt duplicated what it kept */
		if (fds[i] >= 0)
			close(fds[i]);
	lu_state_free(&st);
	free(buf);
	close(fd);
	return rc;
}
