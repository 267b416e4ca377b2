/*
 * remusd sessions, primary side: run the guest (its NIC output straight to
 * the TAP, or through netbuf while protected), protect it towards a peer
 * (connect, sync, epoch loop on the engine thread), unprotect, evacuate.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* A frame onto the guest NIC's backend, where the guest's own frames
 * would go (netbuf's released frames, and the pass-through below). */
static int session_nic_tx(void *arg, const void *frame, size_t len)
{
	struct remusd_session *s = arg;

	return s->hv->net_transmit(s->guest, frame, len);
}

/* The guest sent a frame (pvm monitor thread): out to the NIC, or held
 * by netbuf for its epoch while protected. */
static int session_guest_tx(void *arg, const void *frame, size_t len)
{
	struct remusd_session *s = arg;
	int rc;

	pthread_mutex_lock(&s->net_lock);
	/* nfqueue holds in the kernel, after the TAP: frames go out at once */
	if (s->nb_open && s->gc.netbuf == REMUSD_NETBUF_INLINE)
		rc = netbuf_guest_tx(&s->nb, frame, len);
	else
		rc = s->nic_tx ? session_nic_tx(s, frame, len) : -EIO;
	pthread_mutex_unlock(&s->net_lock);
	return rc;
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
	if (cfg.tap && s->hv->net_transmit == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: driver %s cannot transmit held "
		                     "frames on a TAP", s->name, s->hv->name);
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
	pthread_mutex_lock(&s->net_lock);   /* publishes s->guest to the hook */
	s->nic_tx = cfg.tap != NULL;
	pthread_mutex_unlock(&s->net_lock);
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

/* Sync progress from the engine thread or its disk resync thread. */
static void on_progress(void *arg, const struct ckpt_progress *p)
{
	struct remusd_session *s = arg;

	pthread_mutex_lock(&s->lock);
	s->progress = *p;
	pthread_mutex_unlock(&s->lock);
}

/* The hand-over is unconfirmed but the backup may run the guest: keep it
 * paused here and tell the operator what to check and how to resolve. */
void session_set_in_doubt(struct remusd_session *s, const char *why)
{
	char msg[2 * REMUS_ERR_MSG_MAX];    /* status keeps what fits */

	snprintf(msg, sizeof(msg), "%.240s. Check on %s whether %s runs there (remusctl status): "
	         "if it does, `remusctl destroy %s` here; if not, `remusctl resume %s --force` "
	         "here", why, s->peer, s->name, s->name, s->name);
	log_about(LOG_WARNING, &(struct log_about){ .guest = s->name }, "guest %s: %s", s->name, msg);
	remusd_session_set_state(s, RS_IN_DOUBT, msg);
}

/* Primary engine thread: sync, then the epoch loop until stop or loss. */
static void *primary_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	int rc;

	if ((rc = ckpt_sender_sync(s->snd, &err)) == 0) {
		remusd_session_set_state(s, RS_PROTECTED, "");
		rc = ckpt_sender_run(s->snd, s->stop_pipe[0], 0, &err);
	}
	if (rc == CKPT_ESTOPPED && session_evacuating(s)) {
		log_info("guest %s: evacuating to %s", s->name, s->peer);
		/* test hold point (hold.h): the hand-over is under way */
		if (s->fault.hit)
			(void)s->fault.hit(s->fault.arg, "handover-prepare", 0);
		if ((rc = ckpt_sender_handover(s->snd, REMUSD_EVAC_CONFIRM_MS, &err)) == 0)
			remusd_session_set_state(s, RS_EVACUATED, "handed over, running on the backup");
		else if (rc == CKPT_EINDOUBT)
			session_set_in_doubt(s, err.msg);
		else
			remusd_session_set_state(s, rc == CKPT_EGUEST ? RS_STOPPED : RS_UNPROTECTED,
			                         err.msg);
	} else if (rc == CKPT_ESTOPPED) {
		/* unprotected from now on: what netbuf holds leaves, later output
		 * passes at once */
		if (s->nb_open)
			netbuf_release_all(&s->nb);
		if (s->conn) {   /* none in a blackhole run */
			rnet_conn_send_bye(s->conn, 0, &(struct remus_err){ 0 });
			rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
		}
		remusd_session_set_state(s, RS_UNPROTECTED, "unprotected on request");
	} else if (rc == CKPT_EGUEST) {
		remusd_session_set_state(s, RS_STOPPED, err.msg);
	} else if (rc == HV_EUNRESTORABLE) {
		/* protected must mean restorable: the checkpoint was not sent, the
		 * backup keeps the last good one and must not fail over from it */
		rnet_conn_send_bye(s->conn, CKPT_BYE_END, &(struct remus_err){ 0 });
		rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
		remusd_session_set_state(s, RS_FAILED, err.msg);
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
static int open_netbuf(struct remusd_session *s, const struct remusd_env *env,
                       struct remus_err *err)
{
	struct netbuf_config nc = { .backend = "inline", .tag = s->name, .first_epoch = 1,
	                            .tx_fd = -1, .tx = session_nic_tx, .tx_arg = s };
	char what[48];

	if (!s->nic_tx || s->gc.netbuf == REMUSD_NETBUF_NONE)
		return 0;
	if (s->gc.netbuf == REMUSD_NETBUF_NFQUEUE) {
		/* the TAP's ingress (the guest's output) goes through the kernel's
		 * queue; one queue per guest: its place in the configuration */
		const struct remusd_guest_conf *gc = remusd_conf_guest(env->conf, s->name);
		nc.backend = "nfqueue";
		nc.ifname = s->gc.tap;
		nc.queue_num = (uint16_t)(REMUSD_NFQUEUE_BASE +
		                          (gc ? (size_t)(gc - env->conf->guests) : REMUSD_MAX_GUESTS));
		snprintf(what, sizeof(what), "nfqueue %u on %s", nc.queue_num, s->gc.tap);
		return session_netbuf_open(s, &nc, what, err);
	}
	if (s->gc.netbuf != REMUSD_NETBUF_INLINE)
		return remus_err_set(err, -ENOTSUP, "guest %s: netbuf %s is not wired to pvm",
		                     s->name, remusd_netbuf_name(s->gc.netbuf));
	return session_netbuf_open(s, &nc, "inline", err);
}

int remusd_session_protect(struct remusd_session *s, const struct remusd_env *env,
                           const char *peer, uint32_t unsafe, struct remus_err *err)
{
	/* unsafe = blackhole (or --unsafe blackhole): no backup at all */
	bool blackhole = ((unsafe | s->gc.unsafe) & REMUSD_UNSAFE_BLACKHOLE) != 0;   /* = CTL_UNSAFE_* */
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
	if (s->state == RS_IN_DOUBT)
		return remus_err_set(err, -EBUSY, "guest %s: evacuation in doubt, resolve it first "
		                     "(remusctl resume --force, or destroy)", s->name);
	if (blackhole && remusd_session_driver_loop(s))
		return remus_err_set(err, -ENOTSUP, "guest %s: blackhole is for guests remusd "
		                     "checkpoints itself (pvm); a %s driver's stream needs a backup",
		                     s->name, remusd_guest_type_name(s->gc.type));
	if (blackhole && s->disk)
		return remus_err_set(err, -EINVAL, "guest %s: blackhole: its disk is replicated "
		                     "(diskrep = builtin) and there is no backup; run it with "
		                     "diskrep = none and unsafe = no-diskrep", s->name);
	if (blackhole) {
		peer = "(blackhole)";
	} else if (peer == NULL || peer[0] == 0) {
		if (s->gc.peer_host[0] == 0)
			return remus_err_set(err, -EINVAL, "guest %s: no peer given or configured", s->name);
		peer = s->gc.peer_host;
	}
	if (!blackhole && (rc = split_peer(peer, host, sizeof(host), &port, err)))
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
	/* test hold point (hold.h): protect is connecting */
	if (s->fault.hit)
		(void)s->fault.hit(s->fault.arg, "protect-connect", 0);
	if (!blackhole && (rc = rnet_connect(host, port, &p, &s->conn, err)) < 0)
		return remus_err_wrap(err, "protect %s", s->name);
	pthread_mutex_lock(&s->lock);      /* status reads it */
	if (blackhole)
		snprintf(s->peer, sizeof(s->peer), "%s", peer);
	else
		snprintf(s->peer, sizeof(s->peer), "%s:%u", host, port);
	pthread_mutex_unlock(&s->lock);
	if (blackhole)
		log_warnx("guest %s: blackhole run: checkpoints are taken and dropped, no backup "
		          "holds them (unsafe)", s->name);
	if (remusd_session_driver_loop(s))
		return remusd_session_stream_protect(s, env, err);
	if ((rc = open_netbuf(s, env, err)) < 0)
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
	sc.blackhole = blackhole;
	sc.interval_ms = s->gc.interval_ms;
	sc.cow_capture = s->gc.capture == REMUSD_CAPTURE_COW;
	sc.ack_timeout_ms = env->conf->hb_timeout_ms * 10;
	sc.progress = on_progress;
	sc.progress_arg = s;
	sc.fault = s->fault;
	pthread_mutex_lock(&s->lock);
	memset(&s->progress, 0, sizeof(s->progress));
	rc = ckpt_sender_new(&sc, &s->snd, err);
	pthread_mutex_unlock(&s->lock);
	if (rc < 0)
		return rc;
	/* syncing before the reply: a client polling status after protect's
	 * "ok" never sees the state of before */
	remusd_session_set_state(s, RS_SYNCING, "");
	if ((rc = pthread_create(&s->th, NULL, primary_main, s)) != 0) {
		remus_err_sys(err, rc, "protect %s: thread", s->name);
		remusd_session_set_state(s, RS_UNPROTECTED, err->msg);
		return err->code;
	}
	pthread_mutex_lock(&s->lock);
	s->th_running = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int remusd_session_unprotect(struct remusd_session *s, struct remus_err *err)
{
	if (!s->primary || !session_engine_running(s))
		return remus_err_set(err, -EINVAL, "guest %s is not protected from here", s->name);
	session_join_engine(s);
	return 0;
}

int remusd_session_evacuate(struct remusd_session *s, struct remus_err *err)
{
	if (!s->primary)
		return remus_err_set(err, -EINVAL, "guest %s: evacuate runs on the primary; "
		                     "this host holds its replica", s->name);
	if (remusd_session_driver_loop(s))
		session_stream_sync_state(s);
	if (!session_engine_running(s) || s->state != RS_PROTECTED)
		return remus_err_set(err, -EINVAL, "guest %s is not protected (%s%s%s), nothing "
		                     "to hand over to", s->name, remusd_state_name(s->state),
		                     s->error[0] ? ": " : "", s->error);
	if (s->snd != NULL && s->conn == NULL)
		return remus_err_set(err, -EINVAL, "guest %s: a blackhole run has no backup to hand "
		                     "over to", s->name);
	pthread_mutex_lock(&s->lock);       /* the engine thread and status read it */
	s->evacuating = true;
	pthread_mutex_unlock(&s->lock);
	if (remusd_session_driver_loop(s))
		session_stream_request_handover(s);
	session_join_engine(s);
	pthread_mutex_lock(&s->lock);
	s->evacuating = false;
	pthread_mutex_unlock(&s->lock);
	if (s->state != RS_EVACUATED)
		return remus_err_set(err, s->state == RS_IN_DOUBT ? -EINPROGRESS : -EIO,
		                     "guest %s: %s", s->name, s->error);
	/* status reads s->guest under the lock (evacuate may run on a worker) */
	pthread_mutex_lock(&s->lock);
	struct hv_guest *g = s->guest;
	s->guest = NULL;
	pthread_mutex_unlock(&s->lock);
	session_destroy_copy(s, g);  /* paused since the final checkpoint */
	log_info("guest %s: evacuated to %s, local copy destroyed", s->name, s->peer);
	if (remusd_session_driver_loop(s))
		session_stream_after_evacuation(s);
	return 0;
}

int remusd_session_resolve(struct remusd_session *s, bool resume_here, struct remus_err *err)
{
	int rc;

	if (s->state != RS_IN_DOUBT || s->guest == NULL)
		return remus_err_set(err, -EINVAL, "guest %s is %s, not in doubt: nothing to resolve",
		                     s->name, remusd_state_name(s->state));
	if (!resume_here) {
		/* the backup runs it: what the paused copy still holds never leaves */
		if (s->nb_open)
			netbuf_discard(&s->nb);
		pthread_mutex_lock(&s->lock);   /* status reads it (resolve runs on a worker) */
		struct hv_guest *g = s->guest;
		s->guest = NULL;
		pthread_mutex_unlock(&s->lock);
		session_destroy_copy(s, g);
		remusd_session_set_state(s, RS_EVACUATED, "copy here destroyed by the operator "
		                         "after an evacuation in doubt; the guest runs on the backup");
		return 0;
	}
	if (s->nb_open)
		netbuf_release_all(&s->nb);
	if ((rc = s->hv->resume(s->guest, err)) < 0)
		return remus_err_wrap(err, "guest %s: resume", s->name);
	remusd_session_set_state(s, RS_UNPROTECTED, "resumed here by the operator (forced) after "
	                         "an evacuation in doubt");
	return 0;
}
