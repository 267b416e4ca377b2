/*
 * Per-guest sessions of remusd: the state machine and what both roles
 * share (creation, the engine thread's stop, the disk replication handle,
 * hypervisor and rnet parameters).  The primary's side is in
 * session_primary.c, the backup's in session_backup.c.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

static const char *const state_names[] = {
	[RS_IDLE] = "idle", [RS_SYNCING] = "syncing", [RS_PROTECTED] = "protected",
	[RS_UNPROTECTED] = "unprotected", [RS_STOPPED] = "stopped",
	[RS_RECEIVING] = "receiving", [RS_REPLICA_READY] = "replica-ready",
	[RS_ACTIVE] = "active", [RS_FAILED] = "failed", [RS_EVACUATED] = "evacuated",
	[RS_IN_DOUBT] = "in-doubt",
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
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name }, "guest %s: %s -> %s%s%s",
	          s->name, remusd_state_name(old), remusd_state_name(st), why ? ": " : "",
	          why ? why : "");
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
	s->disk_sp[0] = s->disk_sp[1] = -1;
	s->nb_pump_stop[0] = s->nb_pump_stop[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->net_lock, NULL);
	return s;
}

/* Join the engine thread (after asking it to stop). */
void session_join_engine(struct remusd_session *s)
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
	session_join_engine(s);
	ckpt_sender_free(s->snd);
	ckpt_receiver_free(s->rcv);
	remusd_session_stream_free(s);
	rnet_conn_free(s->conn);
	if (s->guest)
		s->hv->destroy(s->guest);
	session_nb_pump_stop(s);
	if (s->nb_open)
		netbuf_close(&s->nb);
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
	out->cow_capture = gc->capture == REMUSD_CAPTURE_COW;
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
	                        RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA) |
	                        RNET_COMPRESS_BIT(RNET_COMPRESS_ZSTD) |
	                        RNET_COMPRESS_BIT(RNET_COMPRESS_DELTA_ZSTD);
	p->caps.compress = gc->compress < RNET_COMPRESS_COUNT ? gc->compress : RNET_COMPRESS_NONE;
	p->caps.diskrep = gc->disk[0] && gc->diskrep == RNET_DISKREP_BUILTIN ? RNET_DISKREP_BUILTIN
	                                                                    : RNET_DISKREP_NONE;
	snprintf(p->caps.hv, sizeof(p->caps.hv), "%s", remusd_guest_type_name(gc->type));
	snprintf(p->caps.guest, sizeof(p->caps.guest), "%s", gc->name);
}

/* The guest sent a frame (pvm monitor thread): out to the TAP, or held
 * by netbuf for its epoch while protected. */
/* Open the guest's disk replication handle: see session_impl.h. */
int session_open_disk(struct remusd_session *s, enum diskrep_role role, struct remus_err *err)
{
	struct diskrep_config dc = { .role = role, .image = s->gc.disk, .peer_fd = -1 };
	char dir[REMUSD_PATH_MAX + 8];
	int rc;

	if (s->disk || !s->gc.disk[0] || s->gc.diskrep != RNET_DISKREP_BUILTIN)
		return 0;
	snprintf(dir, sizeof(dir), "%s.remus", s->gc.disk);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return remus_err_sys(err, errno, "guest %s: state folder %s", s->name, dir);
	dc.state_dir = dir;
	s->dr = diskrep_backend("builtin");
	if ((rc = s->dr->open(&dc, &s->disk, err)) < 0)
		return remus_err_wrap(err, "guest %s: diskrep", s->name);
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
