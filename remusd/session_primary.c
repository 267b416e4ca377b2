/*
 * remusd sessions, primary side: run the guest (its NIC output straight to
 * the TAP, or through netbuf while protected), protect it towards a peer
 * (connect, sync, epoch loop on the engine thread), unprotect, evacuate.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

static int session_guest_tx(void *arg, const void *frame, size_t len)
{
	struct remusd_session *s = arg;
	int rc;

	pthread_mutex_lock(&s->net_lock);
	if (s->nb_open)
		rc = netbuf_guest_tx(&s->nb, frame, len);
	else
		rc = s->tap_tx_fd >= 0 && write(s->tap_tx_fd, frame, len) == (ssize_t)len ? 0 : -EIO;
	pthread_mutex_unlock(&s->net_lock);
	return rc;
}

/* Our own handle on the guest's TAP queue: the driver opened it in this
 * process; find it by name and dup it, so released frames enter the LAN
 * exactly where the guest's own frames would. */
static int find_tap_fd(const char *tap, struct remus_err *err)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int found = -1;

	if (d == NULL)
		return remus_err_sys(err, errno, "open /proc/self/fd");
	while (found < 0 && (e = readdir(d)) != NULL) {
		char link[300], target[64];
		struct ifreq ifr;
		ssize_t n;
		int fd = atoi(e->d_name);
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0 || fd == dirfd(d))
			continue;
		target[n] = 0;
		memset(&ifr, 0, sizeof(ifr));
		if (strcmp(target, "/dev/net/tun") == 0 && ioctl(fd, TUNGETIFF, &ifr) == 0 &&
		    strncmp(ifr.ifr_name, tap, IFNAMSIZ) == 0)
			found = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	}
	closedir(d);
	return found >= 0 ? found : remus_err_set(err, -ENODEV, "TAP %s: no queue open here", tap);
}

int remusd_session_start_guest(struct remusd_session *s, struct remus_err *err)
{
	struct hv_guest_config cfg;
	int rc;

	if (s->hv == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: hypervisor driver %s not built in",
		                     s->name, remusd_guest_type_name(s->gc.type));
	if (s->guest != NULL)
		return remus_err_set(err, -EEXIST, "guest %s is already running", s->name);
	if (s->state == RS_EVACUATED)
		return remus_err_set(err, -EEXIST, "guest %s was evacuated to %s and runs there",
		                     s->name, s->peer);
	remusd_guest_hvcfg(&s->gc, &cfg);
	if (cfg.tap) {
		cfg.net.arg = s;
		cfg.net.guest_tx = session_guest_tx;
	}
	if ((rc = session_open_disk(s, DISKREP_PRIMARY, err)) < 0)
		return rc;
	if (s->disk)
		diskrep_hook_init(&s->dhook, s->dr, s->disk, &cfg.disk_io);
	if ((rc = s->hv->create(&cfg, &s->guest, err)) < 0)
		return rc;
	if (cfg.tap && (s->tap_tx_fd = find_tap_fd(cfg.tap, err)) < 0) {
		rc = s->tap_tx_fd;
		s->hv->destroy(s->guest);
		s->guest = NULL;
		return rc;
	}
	if ((rc = s->hv->start(s->guest, err)) < 0) {
		s->hv->destroy(s->guest);
		s->guest = NULL;
		return rc;
	}
	remusd_session_set_state(s, RS_IDLE, "guest started");
	return 0;
}

/* Sync progress from the engine thread or its disk resync thread. */
static void on_progress(void *arg, const struct ckpt_progress *p)
{
	struct remusd_session *s = arg;

	pthread_mutex_lock(&s->lock);
	s->progress = *p;
	pthread_mutex_unlock(&s->lock);
}

/* Primary engine thread: sync, then the epoch loop until stop or loss. */
static void *primary_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	int rc;

	remusd_session_set_state(s, RS_SYNCING, "");
	if ((rc = ckpt_sender_sync(s->snd, &err)) == 0) {
		remusd_session_set_state(s, RS_PROTECTED, "");
		rc = ckpt_sender_run(s->snd, s->stop_pipe[0], 0, &err);
	}
	if (rc == CKPT_ESTOPPED && s->evacuating) {
		log_info("guest %s: evacuating to %s", s->name, s->peer);
		if ((rc = ckpt_sender_handover(s->snd, REMUSD_EVAC_CONFIRM_MS, &err)) == 0)
			remusd_session_set_state(s, RS_EVACUATED, "handed over, running on the backup");
		else
			remusd_session_set_state(s, rc == CKPT_EGUEST ? RS_STOPPED : RS_UNPROTECTED,
			                         err.msg);
	} else if (rc == CKPT_ESTOPPED) {
		/* unprotected from now on: what netbuf holds leaves, later output
		 * passes at once */
		if (s->nb_open)
			netbuf_release_all(&s->nb);
		rnet_conn_send_bye(s->conn, 0, &(struct remus_err){ 0 });
		rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
		remusd_session_set_state(s, RS_UNPROTECTED, "unprotected on request");
	} else if (rc == CKPT_EGUEST) {
		remusd_session_set_state(s, RS_STOPPED, err.msg);
	} else {
		remusd_session_set_state(s, RS_UNPROTECTED, err.msg);
	}
	session_disk_detach(s);
	return NULL;
}

/* "host:port" -> parts; port defaults to the configured peer's. */
static int split_peer(const char *peer, char *host, size_t cap, uint16_t *port,
                      struct remus_err *err)
{
	const char *colon = strrchr(peer, ':');
	size_t hl = colon ? (size_t)(colon - peer) : strlen(peer);
	long v;

	if (hl == 0 || hl >= cap)
		return remus_err_set(err, -EINVAL, "peer '%s': bad host", peer);
	memcpy(host, peer, hl);
	host[hl] = 0;
	if (colon) {
		v = strtol(colon + 1, NULL, 10);
		if (v <= 0 || v > 65535)
			return remus_err_set(err, -EINVAL, "peer '%s': bad port", peer);
		*port = (uint16_t)v;
	} else if (*port == 0) {
		*port = REMUSD_DEFAULT_PORT;
	}
	return 0;
}

/* A fresh netbuf for a new protection (epochs restart at 1); the guest's
 * frames are held from now on. */
static int open_netbuf(struct remusd_session *s, struct remus_err *err)
{
	struct netbuf_config nc = { .backend = "inline", .tag = s->name, .first_epoch = 1,
	                            .tx_fd = s->tap_tx_fd };
	int rc = 0;

	if (s->tap_tx_fd < 0 || s->gc.netbuf == REMUSD_NETBUF_NONE)
		return 0;
	if (s->gc.netbuf != REMUSD_NETBUF_INLINE)
		return remus_err_set(err, -ENOTSUP, "guest %s: netbuf %s is not wired to pvm yet",
		                     s->name, remusd_netbuf_name(s->gc.netbuf));
	pthread_mutex_lock(&s->net_lock);
	if (s->nb_open)
		netbuf_close(&s->nb);
	s->nb_open = false;
	memset(&s->nb, 0, sizeof(s->nb));
	if ((rc = netbuf_open(&s->nb, &nc)) < 0)
		remus_err_set(err, rc, "guest %s: %s", s->name, s->nb.err.msg);
	else
		s->nb_open = true;
	pthread_mutex_unlock(&s->net_lock);
	return rc;
}

int remusd_session_protect(struct remusd_session *s, const struct remusd_env *env,
                           const char *peer, struct remus_err *err)
{
	struct ckpt_sender_cfg sc = { 0 };
	struct rnet_params p;
	char host[REMUSD_HOST_MAX];
	uint16_t port = s->gc.peer_port;
	char buf[16];
	int rc;

	if (s->guest == NULL)
		return remus_err_set(err, -ESRCH, "guest %s is not running here", s->name);
	if (s->state == RS_SYNCING || s->state == RS_PROTECTED)
		return remus_err_set(err, -EALREADY, "guest %s is already %s", s->name,
		                     remusd_state_name(s->state));
	if (peer == NULL || peer[0] == 0) {
		if (s->gc.peer_host[0] == 0)
			return remus_err_set(err, -EINVAL, "guest %s: no peer given or configured", s->name);
		peer = s->gc.peer_host;
	}
	if ((rc = split_peer(peer, host, sizeof(host), &port, err)))
		return rc;
	session_join_engine(s);
	while (read(s->stop_pipe[0], buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&s->lock);
	ckpt_sender_free(s->snd);
	s->snd = NULL;
	pthread_mutex_unlock(&s->lock);
	rnet_conn_free(s->conn);
	s->conn = NULL;
	remusd_rnet_params(env, &s->gc, &p);
	if ((rc = rnet_connect(host, port, &p, &s->conn, err)) < 0)
		return remus_err_wrap(err, "protect %s", s->name);
	snprintf(s->peer, sizeof(s->peer), "%s:%u", host, port);
	if ((rc = open_netbuf(s, err)) < 0)
		return rc;
	sc.nb = s->nb_open ? &s->nb : NULL;
	if (s->disk) {
		if ((rc = session_disk_channel(s, err)) < 0)
			return rc;
		sc.dr = s->dr;
		sc.disk = s->disk;
		sc.disk_fd = s->disk_sp[1];
	}
	sc.hv = s->hv;
	sc.guest = s->guest;
	sc.conn = s->conn;
	sc.interval_ms = s->gc.interval_ms;
	sc.ack_timeout_ms = env->conf->hb_timeout_ms * 10;
	sc.progress = on_progress;
	sc.progress_arg = s;
	memset(&s->progress, 0, sizeof(s->progress));
	pthread_mutex_lock(&s->lock);
	rc = ckpt_sender_new(&sc, &s->snd, err);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return rc;
	if ((rc = pthread_create(&s->th, NULL, primary_main, s)) != 0)
		return remus_err_sys(err, rc, "protect %s: thread", s->name);
	s->th_running = true;
	return 0;
}

int remusd_session_unprotect(struct remusd_session *s, struct remus_err *err)
{
	if (!s->primary || !s->th_running)
		return remus_err_set(err, -EINVAL, "guest %s is not protected from here", s->name);
	session_join_engine(s);
	return 0;
}

int remusd_session_evacuate(struct remusd_session *s, struct remus_err *err)
{
	if (!s->primary)
		return remus_err_set(err, -EINVAL, "guest %s: evacuate runs on the primary; "
		                     "this host holds its replica", s->name);
	if (!s->th_running || s->state != RS_PROTECTED)
		return remus_err_set(err, -EINVAL, "guest %s is not protected (%s%s%s), nothing "
		                     "to hand over to", s->name, remusd_state_name(s->state),
		                     s->error[0] ? ": " : "", s->error);
	s->evacuating = true;
	session_join_engine(s);
	s->evacuating = false;
	if (s->state != RS_EVACUATED)
		return remus_err_set(err, -EIO, "guest %s: %s", s->name, s->error);
	s->hv->destroy(s->guest);   /* paused since the final checkpoint */
	s->guest = NULL;
	log_info("guest %s: evacuated to %s, local copy destroyed", s->name, s->peer);
	return 0;
}

/* Restore the replica and run it here. */
