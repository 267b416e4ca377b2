/*
 * Per-guest sessions of remusd: the state machine, and the engine thread
 * of each protected guest (primary: connect, sync, epoch loop; backup:
 * receive, then fail over when the primary is lost or on command).
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

#include "remusd/session.h"
#include "util/log.h"

static const char *const state_names[] = {
	[RS_IDLE] = "idle", [RS_SYNCING] = "syncing", [RS_PROTECTED] = "protected",
	[RS_UNPROTECTED] = "unprotected", [RS_STOPPED] = "stopped",
	[RS_RECEIVING] = "receiving", [RS_REPLICA_READY] = "replica-ready",
	[RS_ACTIVE] = "active", [RS_FAILED] = "failed", [RS_EVACUATED] = "evacuated",
};

const char *remusd_state_name(enum remusd_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

/* Every transition goes through here: logged with guest and epoch. */
void remusd_session_set_state(struct remusd_session *s, enum remusd_state st, const char *why)
{
	enum remusd_state old;

	pthread_mutex_lock(&s->lock);
	old = s->state;
	s->state = st;
	s->state_since_ms = rnet_now_ms();
	if (why != NULL)
		snprintf(s->error, sizeof(s->error), "%s", why);
	pthread_mutex_unlock(&s->lock);
	log_info("guest %s: %s -> %s%s%s", s->name, remusd_state_name(old), remusd_state_name(st),
	         why ? ": " : "", why ? why : "");
}

struct remusd_session *remusd_session_new(const struct remusd_guest_conf *gc, bool primary,
                                          struct remus_err *err)
{
	struct remusd_session *s = calloc(1, sizeof(*s));

	if (s == NULL) {
		remus_err_sys(err, ENOMEM, "session %s", gc->name);
		return NULL;
	}
	if (pipe2(s->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		remus_err_sys(err, errno, "session %s: pipe", gc->name);
		free(s);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", gc->name);
	s->gc = *gc;
	s->primary = primary;
	s->hv = hv_driver(remusd_guest_type_name(gc->type));
	s->state = primary ? RS_IDLE : RS_RECEIVING;
	s->state_since_ms = rnet_now_ms();
	s->tap_tx_fd = -1;
	s->disk_sp[0] = s->disk_sp[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->net_lock, NULL);
	return s;
}

/* Join the engine thread (after asking it to stop). */
static void join_engine(struct remusd_session *s)
{
	if (!s->th_running)
		return;
	if (write(s->stop_pipe[1], "x", 1) < 0 && errno != EAGAIN)
		log_warn("guest %s: stop pipe", s->name);
	pthread_join(s->th, NULL);
	s->th_running = false;
}

void remusd_session_free(struct remusd_session *s)
{
	if (s == NULL)
		return;
	join_engine(s);
	ckpt_sender_free(s->snd);
	ckpt_receiver_free(s->rcv);
	remusd_session_stream_free(s);
	rnet_conn_free(s->conn);
	if (s->guest)
		s->hv->destroy(s->guest);
	if (s->nb_open)
		netbuf_close(&s->nb);
	if (s->tap_tx_fd >= 0)
		close(s->tap_tx_fd);
	if (s->disk)
		s->dr->close(s->disk);
	for (int i = 0; i < 2; i++)
		if (s->disk_sp[i] >= 0)
			close(s->disk_sp[i]);
	pthread_mutex_destroy(&s->net_lock);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

void remusd_guest_hvcfg(const struct remusd_guest_conf *gc, struct hv_guest_config *out)
{
	char ip[sizeof(gc->ip)], *slash;

	memset(out, 0, sizeof(*out));
	out->name = gc->name;
	out->image = gc->image;
	out->mem_bytes = (uint64_t)gc->mem_mb << 20;
	out->tap = gc->tap[0] ? gc->tap : NULL;
	if (gc->has_mac)
		memcpy(out->mac, gc->mac, 6);
	snprintf(ip, sizeof(ip), "%s", gc->ip);
	if ((slash = strchr(ip, '/')) != NULL) {
		*slash = 0;
		out->ipv4_prefix = (uint8_t)atoi(slash + 1);
	}
	if (ip[0] && inet_pton(AF_INET, ip, out->ipv4_addr) == 1 && out->ipv4_prefix == 0)
		out->ipv4_prefix = 24;
	out->disk = gc->disk[0] ? gc->disk : NULL;
	out->cpu = -1;
	out->console_fd = -1;
}

void remusd_rnet_params(const struct remusd_env *env, const struct remusd_guest_conf *gc,
                        struct rnet_params *p)
{
	memset(p, 0, sizeof(*p));
	p->key = env->key;
	p->tls = env->conf->tls;
	p->hb_interval_ms = env->conf->hb_interval_ms;
	p->hb_timeout_ms = env->conf->hb_timeout_ms;
	p->caps.compress_mask = RNET_COMPRESS_BIT(RNET_COMPRESS_NONE) |
	                        RNET_COMPRESS_BIT(RNET_COMPRESS_ZLIB) |
	                        RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA);
	p->caps.compress = gc->compress < RNET_COMPRESS_COUNT ? gc->compress : RNET_COMPRESS_NONE;
	p->caps.diskrep = gc->disk[0] && gc->diskrep == RNET_DISKREP_BUILTIN ? RNET_DISKREP_BUILTIN
	                                                                    : RNET_DISKREP_NONE;
	snprintf(p->caps.hv, sizeof(p->caps.hv), "%s", remusd_guest_type_name(gc->type));
	snprintf(p->caps.guest, sizeof(p->caps.guest), "%s", gc->name);
}

/* The guest sent a frame (pvm monitor thread): out to the TAP, or held
 * by netbuf for its epoch while protected. */
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

/* Open the guest's disk replication handle (builtin backend) with its
 * state next to the image ("IMAGE.remus/") and the frame socketpair. */
static int open_disk(struct remusd_session *s, enum diskrep_role role, struct remus_err *err)
{
	struct diskrep_config dc = { .role = role, .image = s->gc.disk, .peer_fd = -1 };
	char dir[REMUSD_PATH_MAX + 8];
	int big = 16 << 20, rc;

	if (s->disk || !s->gc.disk[0] || s->gc.diskrep != RNET_DISKREP_BUILTIN)
		return 0;
	snprintf(dir, sizeof(dir), "%s.remus", s->gc.disk);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return remus_err_sys(err, errno, "guest %s: state folder %s", s->name, dir);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s->disk_sp) < 0)
		return remus_err_sys(err, errno, "guest %s: disk channel", s->name);
	for (int i = 0; i < 2; i++) {   /* room, so guest writes rarely wait */
		setsockopt(s->disk_sp[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
		setsockopt(s->disk_sp[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	}
	if (fcntl(s->disk_sp[1], F_SETFL, O_NONBLOCK) < 0)
		return remus_err_sys(err, errno, "guest %s: disk channel", s->name);
	if (role == DISKREP_BACKUP)
		dc.peer_fd = s->disk_sp[0];
	dc.state_dir = dir;
	s->dr = diskrep_backend("builtin");
	if ((rc = s->dr->open(&dc, &s->disk, err)) < 0)
		return remus_err_wrap(err, "guest %s: diskrep", s->name);
	return 0;
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
	if ((rc = open_disk(s, DISKREP_PRIMARY, err)) < 0)
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
	/* a driver that attaches to a running guest (Xen) has nothing to start */
	struct hv_info info;
	if ((s->hv->info(s->guest, &info) < 0 || info.state != HV_RUNNING) &&
	    (rc = s->hv->start(s->guest, err)) < 0) {
		s->hv->destroy(s->guest);
		s->guest = NULL;
		return rc;
	}
	remusd_session_set_state(s, RS_IDLE, "guest started");
	return 0;
}

/* Sync progress from the engine thread. */
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
		rnet_conn_send_bye(s->conn, 0, &(struct remus_err){ 0 });
		rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
		remusd_session_set_state(s, RS_UNPROTECTED, "unprotected on request");
	} else if (rc == CKPT_EGUEST) {
		remusd_session_set_state(s, RS_STOPPED, err.msg);
	} else {
		remusd_session_set_state(s, RS_UNPROTECTED, err.msg);
	}
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
	join_engine(s);
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
	if (remusd_session_driver_loop(s))
		return remusd_session_stream_protect(s, env, err);
	if ((rc = open_netbuf(s, err)) < 0)
		return rc;
	sc.nb = s->nb_open ? &s->nb : NULL;
	if (s->disk) {
		if ((rc = s->dr->set_peer(s->disk, s->disk_sp[0], err)) < 0)
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
	join_engine(s);
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
	join_engine(s);
	s->evacuating = false;
	if (s->state != RS_EVACUATED)
		return remus_err_set(err, -EIO, "guest %s: %s", s->name, s->error);
	s->hv->destroy(s->guest);   /* paused since the final checkpoint */
	s->guest = NULL;
	log_info("guest %s: evacuated to %s, local copy destroyed", s->name, s->peer);
	return 0;
}

/* Restore the replica and run it here. */
static void do_failover(struct remusd_session *s, const char *why)
{
	struct hv_guest_config cfg;
	struct ckpt_failover_times t;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;

	log_info("guest %s: failing over: %s", s->name, why);
	remusd_guest_hvcfg(&s->gc, &cfg);
	if (ckpt_receiver_failover(s->rcv, &cfg, &g, &t, &err) < 0) {
		remusd_session_set_state(s, RS_FAILED, err.msg);
		return;
	}
	pthread_mutex_lock(&s->lock);
	s->guest = g;
	s->fo = t;
	s->failover_done = true;
	pthread_mutex_unlock(&s->lock);
	log_info("guest %s: restored checkpoint %" PRIu64 " in %" PRIu64 " us (total %" PRIu64 " us)",
	         s->name, t.checkpoint, t.restore_us, t.total_us);
	remusd_session_set_state(s, RS_ACTIVE, why);
}

/* Backup engine thread: receive until the stream stops, then fail over. */
static void *backup_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	int rc;

	rc = ckpt_receiver_run(s->rcv, s->stop_pipe[0], &err);
	if (rc == CKPT_HANDOVER) {
		do_failover(s, "planned hand-over from the primary");
		if (ckpt_receiver_confirm(s->rcv, s->state == RS_ACTIVE, &err) < 0)
			log_warnx("guest %s: hand-over answer: %s", s->name, err.msg);
		return NULL;
	}
	if (rc == 0) {
		remusd_session_set_state(s, RS_UNPROTECTED, "primary ended protection");
		return NULL;
	}
	do_failover(s, rc == CKPT_ESTOPPED ? "failover on command" : err.msg);
	return NULL;
}

int remusd_session_receive(struct remusd_session *s, struct rnet_conn *conn,
                           struct remus_err *err)
{
	struct ckpt_receiver_cfg rc = { .hv = s->hv, .conn = conn,
	                                .ram_bytes = (uint64_t)s->gc.mem_mb << 20 };
	int e;

	if (!s->th_running && s->guest == NULL && (e = open_disk(s, DISKREP_BACKUP, err)) < 0) {
		rnet_conn_free(conn);
		return e;
	}
	if (s->disk) {
		rc.dr = s->dr;
		rc.disk = s->disk;
		rc.disk_fd = s->disk_sp[1];
	}

	if (s->th_running || s->guest != NULL) {
		rnet_conn_free(conn);
		return remus_err_set(err, -EBUSY, "guest %s is already %s here", s->name,
		                     remusd_state_name(s->state));
	}
	rnet_conn_free(s->conn);
	s->conn = conn;
	if (remusd_session_driver_loop(s))
		return remusd_session_stream_receive(s, err);
	pthread_mutex_lock(&s->lock);
	ckpt_receiver_free(s->rcv);
	s->rcv = NULL;
	e = ckpt_receiver_new(&rc, &s->rcv, err);
	pthread_mutex_unlock(&s->lock);
	if (e < 0)
		return e;
	remusd_session_set_state(s, RS_RECEIVING, "");
	if ((e = pthread_create(&s->th, NULL, backup_main, s)) != 0)
		return remus_err_sys(err, e, "receive %s: thread", s->name);
	s->th_running = true;
	return 0;
}

int remusd_session_failover(struct remusd_session *s, struct remus_err *err)
{
	if (s->primary)
		return remusd_session_evacuate(s, err);
	if (!s->th_running || s->state == RS_ACTIVE)
		return remus_err_set(err, -EINVAL, "guest %s: nothing to fail over (%s)", s->name,
		                     remusd_state_name(s->state));
	join_engine(s);
	return s->state == RS_ACTIVE ? 0 : remus_err_set(err, -EIO, "guest %s: %s", s->name, s->error);
}
