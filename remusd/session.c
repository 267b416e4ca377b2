/*
 * Per-guest sessions of remusd: the one place a session's state moves
 * (checked against session_fsm.c's table), what both roles share
 * (creation, the engine thread, status counters, hypervisor and rnet
 * parameters, the netbuf of a run; the disk's handle in session_disk.c).
 * The primary's side is in session_primary.c, the backup's in session_backup.c; who drives the
 * checkpoint loop in session_step.c (pvm) and session_driver.c (Xen).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* Arm (or re-arm) the loop's own protection to peer, first try now. */
static void rp_arm_locked(struct remusd_session *s, const char *peer, unsigned max_tries,
                          uint32_t first_wait_ms, const char *why)
{
	struct remusd_rp *rp = &s->rp;

	snprintf(rp->peer, sizeof(rp->peer), "%s", peer);
	snprintf(rp->why, sizeof(rp->why), "%s", why);
	rp->armed = true;
	rp->due_ms = rnet_now_ms();
	rp->backoff_ms = first_wait_ms ? first_wait_ms : REMUSD_REPROTECT_MIN_MS;
	rp->tries = 0;
	rp->max_tries = max_tries;
}

void remusd_session_arm_reprotect(struct remusd_session *s, const char *peer,
                                  unsigned max_tries, uint32_t first_wait_ms, const char *why)
{
	pthread_mutex_lock(&s->lock);
	rp_arm_locked(s, peer, max_tries, first_wait_ms, why);
	pthread_mutex_unlock(&s->lock);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name },
	          "guest %s: will protect it again to %s by itself (%s)", s->name, peer, why);
}

void remusd_session_disarm_reprotect(struct remusd_session *s, const char *why)
{
	bool was;

	pthread_mutex_lock(&s->lock);
	was = s->rp.armed;
	s->rp.armed = false;
	pthread_mutex_unlock(&s->lock);
	if (was)
		log_about(LOG_INFO, &(struct log_about){ .guest = s->name },
		          "guest %s: no longer re-protecting by itself: %s", s->name, why);
}

/* What a move means for the loop's own re-protection (under s->lock):
 * protected again ends it, a lost run retries later, and reprotect = auto
 * arms it when the guest is left running unprotected here.  A line for
 * the log in note (empty: nothing to say). */
static void rp_after_move(struct remusd_session *s, enum remusd_event ev, enum remusd_state to,
                          char *note, size_t cap)
{
	struct remusd_rp *rp = &s->rp;
	char peer[sizeof(rp->peer)];

	note[0] = 0;
	if (rp->armed && ev == SE_SYNCED && to == RS_PROTECTED) {
		rp->armed = false;
		snprintf(note, cap, "protected again to %s (%s, try %u)", rp->peer, rp->why, rp->tries);
	} else if (rp->armed && ev == SE_LOST) {
		if (rp->max_tries && rp->tries >= rp->max_tries) {
			rp->armed = false;
			snprintf(note, cap, "gave up protecting it again to %s after %u tries",
			         rp->peer, rp->tries);
			return;
		}
		rp->due_ms = rnet_now_ms() + rp->backoff_ms;
		snprintf(note, cap, "protecting it again to %s failed (try %u), next in %u ms",
		         rp->peer, rp->tries, rp->backoff_ms);
		rp->backoff_ms = rp->backoff_ms * 2 > REMUSD_REPROTECT_MAX_MS ? REMUSD_REPROTECT_MAX_MS
		                                                              : rp->backoff_ms * 2;
	} else if (!rp->armed && s->gc.reprotect == REMUSD_REPROTECT_AUTO && s->primary &&
	           (ev == SE_TAKEN_OVER || ev == SE_LOST)) {
		/* promoted: the configured peer (the old primary, typically);
		 * backup lost: the same backup when it returns */
		if (ev == SE_TAKEN_OVER && s->gc.peer_host[0])
			snprintf(peer, sizeof(peer), "%s:%u", s->gc.peer_host,
			         s->gc.peer_port ? s->gc.peer_port : REMUSD_DEFAULT_PORT);
		else if (ev == SE_LOST && s->peer[0] && s->peer[0] != '(')
			snprintf(peer, sizeof(peer), "%s", s->peer);
		else
			return;
		rp_arm_locked(s, peer, 0, 0, "reprotect = auto");
		snprintf(note, cap, "reprotect = auto: will protect it again to %s", peer);
	}
}

int remusd_session_move(struct remusd_session *s, enum remusd_event ev, const char *why)
{
	char note[REMUSD_HOST_MAX + 128];
	enum remusd_state old;
	bool was_primary;
	int to;

	pthread_mutex_lock(&s->lock);
	old = s->state;
	was_primary = s->primary;
	to = remusd_fsm_next(s->primary, old, ev);
	if (to < 0 || (to == (int)old && why == NULL)) {
		pthread_mutex_unlock(&s->lock);
		if (to < 0)     /* a status refresh racing a real move: quietly */
			log_about(why ? LOG_WARNING : LOG_DEBUG, &(struct log_about){ .guest = s->name },
			          "guest %s: %s refused in state %s (%s)%s%s", s->name,
			          remusd_event_name(ev), remusd_state_name(old),
			          s->primary ? "primary" : "backup", why ? ": " : "", why ? why : "");
		return to;
	}
	/* promotion (taken-over) or becoming the backup of the host that runs
	 * the guest (receive with no copy here): the role goes with the move */
	if (remusd_fsm_flips_role(s->primary, old, ev))
		s->primary = !s->primary;
	s->state = (enum remusd_state)to;
	s->state_since_ms = rnet_now_ms();
	if (why != NULL)
		snprintf(s->error, sizeof(s->error), "%s", why);
	rp_after_move(s, ev, (enum remusd_state)to, note, sizeof(note));
	pthread_mutex_unlock(&s->lock);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name }, "guest %s: %s -> %s%s%s%s",
	          s->name, remusd_state_name(old), remusd_state_name(to),
	          was_primary == s->primary ? "" : was_primary ? " (now its backup)" : " (now its primary)",
	          why && why[0] ? ": " : "", why ? why : "");
	if (note[0])
		log_about(LOG_INFO, &(struct log_about){ .guest = s->name }, "guest %s: %s", s->name,
		          note);
	return to;
}

enum remusd_state session_state(struct remusd_session *s)
{
	enum remusd_state st;

	pthread_mutex_lock(&s->lock);
	st = s->state;
	pthread_mutex_unlock(&s->lock);
	return st;
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
	if (pipe2(s->ev_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		remus_err_sys(err, errno, "session %s: event pipe", gc->name);
		close(s->stop_pipe[0]);
		close(s->stop_pipe[1]);
		free(s);
		return NULL;
	}
	snprintf(s->name, sizeof(s->name), "%s", gc->name);
	s->gc = *gc;
	s->primary = primary;
	s->evac_reverse = true;     /* evacuate's default: protected back to here */
	s->hv = hv_driver(remusd_guest_type_name(gc->type));
	/* a driver with its own save/restore loop drives the checkpoints */
	s->eng = s->hv != NULL && s->hv->save_stream != NULL && s->hv->restore_stream != NULL
	         ? &session_driver_engine : &session_step_engine;
	s->dr = diskrep_backend_of(gc->diskrep);     /* NULL: none */
	s->state = primary ? RS_IDLE : RS_RECEIVING;
	s->state_since_ms = rnet_now_ms();
	s->disk_sp[0] = s->disk_sp[1] = -1;
	s->nb_pump_stop[0] = s->nb_pump_stop[1] = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->net_lock, NULL);
	return s;
}

/* Take the engine thread for joining: exactly one of the loop and a
 * worker joins it.  false: none to join. */
static bool session_claim_thread(struct remusd_session *s, pthread_t *th)
{
	bool claimed;

	pthread_mutex_lock(&s->lock);
	claimed = s->th_running;
	if (claimed)
		*th = s->th;
	s->th_running = false;
	pthread_mutex_unlock(&s->lock);
	return claimed;
}

/* Join the engine thread (after asking it to stop). */
void session_join_engine(struct remusd_session *s)
{
	pthread_t th;

	if (!session_claim_thread(s, &th))
		return;
	if (write(s->stop_pipe[1], "x", 1) < 0 && errno != EAGAIN)
		log_warn("guest %s: stop pipe", s->name);
	pthread_join(th, NULL);
}

bool session_engine_running(struct remusd_session *s)
{
	bool r;

	pthread_mutex_lock(&s->lock);
	r = s->th_running;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Start the engine thread: th_done cleared before it exists (it may end
 * at once and set it; a flag cleared after pthread_create could erase that,
 * and the session would never take a new run). */
int session_start_engine(struct remusd_session *s, void *(*main)(void *), struct remus_err *err)
{
	int rc;

	__atomic_store_n(&s->th_done, false, __ATOMIC_RELEASE);
	if ((rc = pthread_create(&s->th, NULL, main, s)) != 0)
		return remus_err_sys(err, rc, "guest %s: engine thread", s->name);
	pthread_mutex_lock(&s->lock);
	s->th_running = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void session_ended(struct remusd_session *s)
{
	struct remusd_session_msg m = { .type = SESSION_MSG_ENDED };

	__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
	pthread_mutex_lock(&s->lock);
	m.state = s->state;
	pthread_mutex_unlock(&s->lock);
	/* a message is far below PIPE_BUF: written whole or not at all; a full
	 * pipe means the loop has messages to read already */
	if (write(s->ev_pipe[1], &m, sizeof(m)) != (ssize_t)sizeof(m))
		log_warnx("guest %s: the loop's event pipe is full", s->name);
}

int remusd_session_event_fd(const struct remusd_session *s)
{
	return s->ev_pipe[0];
}

void remusd_session_events(struct remusd_session *s, bool may_join)
{
	struct remusd_session_msg m;
	bool ended = false;
	pthread_t th;
	ssize_t n;

	while ((n = read(s->ev_pipe[0], &m, sizeof(m))) > 0) {
		if (n != (ssize_t)sizeof(m) || m.type != SESSION_MSG_ENDED) {
			log_warnx("guest %s: bad session message (%zd bytes, type %u) ignored",
			          s->name, n, n >= 4 ? m.type : 0);
			continue;
		}
		log_debug("guest %s: engine ended (%s)", s->name, remusd_state_name(m.state));
		ended = true;
	}
	/* the thread posted as its last act: joining it does not wait */
	if (ended && may_join && __atomic_load_n(&s->th_done, __ATOMIC_ACQUIRE) &&
	    session_claim_thread(s, &th))
		pthread_join(th, NULL);
}

void remusd_session_free(struct remusd_session *s)
{
	if (s == NULL)
		return;
	session_join_engine(s);
	s->eng->free(s);
	rnet_conn_free(s->conn);
	if (s->guest)
		s->hv->destroy(s->guest);
	session_netbuf_close(s);
	session_close_disk(s);
	for (int i = 0; i < 2; i++)
		if (s->disk_sp[i] >= 0)
			close(s->disk_sp[i]);
	pthread_mutex_destroy(&s->net_lock);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	close(s->ev_pipe[0]);
	close(s->ev_pipe[1]);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

enum remusd_state remusd_session_stats_locked(struct remusd_session *s, struct ckpt_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (!s->eng->stats(s, st))
		return s->state;
	/* a run carried on from run_from (live update): numbered from there
	 * even before its engine thread said so */
	if (s->primary && st->acked < s->run_from)
		st->epoch = st->acked = s->run_from;
	if (s->state == RS_RECEIVING && st->checkpoints > 0)
		return RS_REPLICA_READY;
	/* protected from ACK(1) on (a driver's loop has no separate sync) */
	if (s->state == RS_SYNCING && st->acked > 0)
		return RS_PROTECTED;
	return s->state;
}

void remusd_session_refresh(struct remusd_session *s)
{
	struct ckpt_stats st;
	enum remusd_state seen;

	pthread_mutex_lock(&s->lock);
	seen = remusd_session_stats_locked(s, &st);
	pthread_mutex_unlock(&s->lock);
	if (seen == RS_REPLICA_READY)
		remusd_session_move(s, SE_CHECKPOINT, NULL);
	else if (seen == RS_PROTECTED)
		remusd_session_move(s, SE_SYNCED, NULL);
}

int session_hit(struct remusd_session *s, const char *point)
{
	return session_hit_at(s, point, 0);
}

int session_hit_at(struct remusd_session *s, const char *point, uint64_t epoch)
{
	return s->fault.hit ? s->fault.hit(s->fault.arg, point, epoch) : 0;
}

void session_send_bye(struct remusd_session *s, uint32_t code)
{
	if (s->conn == NULL)    /* none in a blackhole run */
		return;
	rnet_conn_send_bye(s->conn, code, &(struct remus_err){ 0 });
	rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
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
	const struct diskrep_ops *dr;

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
	/* negotiated: a backend whose frames the engine carries (one that
	 * adopts the operator's device replicates outside our link) */
	dr = diskrep_backend_of(gc->diskrep);
	p->caps.diskrep = gc->disk[0] && dr != NULL && !dr->adopts_device ? dr->kind
	                                                                  : DISKREP_KIND_NONE;
	snprintf(p->caps.hv, sizeof(p->caps.hv), "%s", remusd_guest_type_name(gc->type));
	snprintf(p->caps.guest, sizeof(p->caps.guest), "%s", gc->name);
	/* a driver that keeps the guest's store sends it with every
	 * checkpoint; both ends derive it from the same guest type */
	const struct hv_ops *hv = hv_driver(remusd_guest_type_name(gc->type));
	if (hv != NULL && hv->store_save != NULL && hv->store_validate != NULL)
		p->caps.flags |= RNET_CAP_XENSTORE;
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

static void nb_pump_stop(struct remusd_session *s)
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

void session_netbuf_close(struct remusd_session *s)
{
	nb_pump_stop(s);
	pthread_mutex_lock(&s->net_lock);
	if (s->nb_open)
		netbuf_close(&s->nb);
	s->nb_open = false;
	pthread_mutex_unlock(&s->net_lock);
}

int session_netbuf_open(struct remusd_session *s, const struct netbuf_config *nc,
                        const char *what, struct remus_err *err)
{
	int rc;

	session_netbuf_close(s);
	pthread_mutex_lock(&s->net_lock);
	memset(&s->nb, 0, sizeof(s->nb));
	if ((rc = netbuf_open(&s->nb, nc)) < 0)
		remus_err_set(err, rc, "guest %s: netbuf %s: %s", s->name, what, s->nb.err.msg);
	else
		s->nb_open = true;
	pthread_mutex_unlock(&s->net_lock);
	if (rc == 0 && (rc = nb_pump_start(s, err)) < 0)
		session_netbuf_close(s);
	return rc;
}
