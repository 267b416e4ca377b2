/*
 * The engine drives the checkpoint loop itself (pvm): lib/ckpt's sender
 * steps the driver (suspend, dirty log, copy, resume) and its receiver
 * stages and commits, with netbuf inline/nfqueue and the builtin disk's
 * channel.  Hooks of struct session_engine; the state machine is in
 * session_primary.c and session_backup.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include "remusd/session_impl.h"
#include "util/log.h"

/* How long an evacuating primary waits for the backup to confirm that the
 * guest runs there (restore + start) before it resumes its own copy. */
#define REMUSD_EVAC_CONFIRM_MS 5000u
/* Tries of the reverse protection after a hand-over before giving up (the
 * old primary may have gone meanwhile), the first retry soon: the old
 * primary refuses while its evacuate is still ending (keeping the final
 * checkpoint, destroying its copy): 0.2+0.4+...+25.6 s. */
#define REMUSD_REVERSE_TRIES 9u
#define REMUSD_REVERSE_FIRST_WAIT_MS 200u

/* A fresh netbuf for a new protection (epochs restart at 1, or go on after
 * the checkpoint a resumed run carries on from); the guest's frames are
 * held from now on. */
static int open_netbuf(struct remusd_session *s, const struct remusd_env *env,
                       struct remus_err *err)
{
	struct netbuf_config nc = { .backend = "inline", .tag = s->name,
	                            .first_epoch = s->run_from + 1,
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

static int step_protect(struct remusd_session *s, const struct remusd_env *env, bool blackhole,
                        struct remus_err *err)
{
	struct ckpt_sender_cfg sc = { 0 };
	int rc;

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
	sc.hold_on_loss = true;         /* primary_outcome releases, or quorum fences */
	sc.interval_ms = s->gc.interval_ms;
	sc.cow_capture = s->gc.capture == REMUSD_CAPTURE_COW;
	sc.xenstore = s->conn != NULL && (rnet_conn_peer_caps(s->conn)->flags & RNET_CAP_XENSTORE);
	sc.ack_timeout_ms = env->conf->hb_timeout_ms * 10;
	sc.progress = session_on_progress;
	sc.progress_arg = s;
	sc.fault = s->fault;
	pthread_mutex_lock(&s->lock);
	memset(&s->progress, 0, sizeof(s->progress));
	rc = ckpt_sender_new(&sc, &s->snd, err);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Sync, then the epoch loop until stop or loss. */
static int step_run(struct remusd_session *s, struct remus_err *err)
{
	int rc;

	/* a run carried on over a live update: no sync, the backup holds run_from */
	if ((rc = s->run_from ? ckpt_sender_resume(s->snd, s->run_from, err)
	                      : ckpt_sender_sync(s->snd, err)) < 0)
		return rc;
	remusd_session_move(s, SE_SYNCED, NULL);
	rc = ckpt_sender_run(s->snd, s->stop_pipe[0], 0, err);
	/* stopped for a live update: nothing held, nothing in flight (the
	 * final checkpoint acknowledged), the guest paused */
	if (rc == CKPT_ESTOPPED && s->upgrade_stop &&
	    (rc = ckpt_sender_pause_final(s->snd, err)) == 0)
		rc = CKPT_ESTOPPED;
	return rc;
}

/* The loop stopped for a hand-over: prepare, perform, finish
 * (lib/ckpt/handover.c). */
static int step_hand_over(struct remusd_session *s, int rc, struct remus_err *err)
{
	if (rc != CKPT_ESTOPPED)
		return rc;
	log_info("guest %s: evacuating to %s%s", s->name, s->peer,
	         s->evac_reverse ? ", to be protected back to here" : "");
	ckpt_sender_set_reverse(s->snd, s->evac_reverse && s->hv->ram_view != NULL);
	/* test hold point (hold.h): the hand-over is under way */
	(void)session_hit(s, "handover-prepare");
	return ckpt_sender_handover(s->snd, REMUSD_EVAC_CONFIRM_MS, err);
}

/* The run is over (either role): the disk channel goes. */
static void step_end_run(struct remusd_session *s)
{
	session_disk_detach(s);
}

static int step_receive(struct remusd_session *s, struct remus_err *err)
{
	struct ckpt_receiver_cfg rc = { .hv = s->hv, .conn = s->conn,
	                                .ram_bytes = (uint64_t)s->gc.mem_mb << 20,
	                                .xenstore = s->conn != NULL &&
	                                            (rnet_conn_peer_caps(s->conn)->flags &
	                                             RNET_CAP_XENSTORE),
	                                .fault = s->fault };
	int e;

	if ((e = session_open_disk(s, DISKREP_BACKUP, err)) < 0)
		return e;
	/* a new run: whatever the last one left staged or half-received goes */
	if (s->disk && ((e = s->dr->discard_uncommitted(s->disk, err)) < 0 ||
	                (e = session_disk_channel(s, err)) < 0))
		return e;
	if (s->disk) {
		rc.dr = s->dr;
		rc.disk = s->disk;
		rc.disk_fd = s->disk_sp[1];
	}
	pthread_mutex_lock(&s->lock);
	/* the primary carries on the run whose last checkpoint we hold (a
	 * live update of its daemon): that or nothing */
	if (s->conn != NULL && (rnet_conn_peer_caps(s->conn)->flags & RNET_CAP_RESUME)) {
		e = s->rcv ? ckpt_receiver_resume(s->rcv, &rc, err)
		           : remus_err_set(err, CKPT_ENOREPLICA, "guest %s: asked to carry a run on, "
		                           "but no replica is held here", s->name);
		pthread_mutex_unlock(&s->lock);
		return e;
	}
	/* a replica kept from an earlier run (BYE, unprotect) is offered to
	 * the primary by page hashes: only what changed is sent again */
	if (s->rcv == NULL || ckpt_receiver_restart(s->rcv, &rc, err) < 0) {
		ckpt_receiver_free(s->rcv);
		s->rcv = NULL;
		e = ckpt_receiver_new(&rc, &s->rcv, err);
	} else {
		e = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return e;
}

static int step_receive_run(struct remusd_session *s, struct remus_err *err)
{
	return ckpt_receiver_run(s->rcv, s->stop_pipe[0], err);
}

/* The disk at failover: the receiver lets go of it, uncommitted writes
 * are dropped, and the image is reopened as a primary's handle that the
 * restored guest writes through, so the guest can be protected from here
 * (the session is promoted to its primary).  On failure no handle stays:
 * a later run reopens the backup's. */
static int take_over_disk(struct remusd_session *s, struct hv_guest_config *cfg,
                          struct remus_err *err)
{
	int rc;

	if (s->disk == NULL)
		return 0;
	ckpt_receiver_release_disk(s->rcv);
	if ((rc = s->dr->discard_uncommitted(s->disk, err)) < 0 ||
	    (s->dr->promote && (rc = s->dr->promote(s->disk, err)) < 0 && rc != DISKREP_EUNSUPP))
		remus_err_wrap(err, "failover disk");
	session_disk_detach(s);
	session_close_disk(s);
	if (rc < 0 && rc != DISKREP_EUNSUPP)
		return rc;
	if ((rc = session_open_disk(s, DISKREP_PRIMARY, err)) < 0)
		return rc;
	cfg->disk_io = s->dhook_io;
	return 0;
}

/* Restore the replica from the last applied checkpoint and start it, its
 * NIC and disk wired as a primary's (session_guest_tx, the disk hook). */
static int step_take_over(struct remusd_session *s, int rc, struct remus_err *err)
{
	struct hv_guest_config cfg;
	struct ckpt_failover_times t;
	struct hv_guest *g = NULL;

	(void)rc;
	remusd_guest_hvcfg(&s->gc, &cfg);
	if (cfg.tap && s->hv->net_transmit != NULL) {
		cfg.net.arg = s;
		cfg.net.guest_tx = session_guest_tx;
	}
	if ((rc = take_over_disk(s, &cfg, err)) < 0)
		return rc;
	if ((rc = ckpt_receiver_failover(s->rcv, &cfg, &g, &t, err)) < 0) {
		session_close_disk(s);
		return rc;
	}
	pthread_mutex_lock(&s->net_lock);   /* publishes s->guest to the hook */
	s->nic_tx = cfg.net.guest_tx != NULL;
	pthread_mutex_unlock(&s->net_lock);
	pthread_mutex_lock(&s->lock);
	s->guest = g;
	s->fo = t;
	s->failover_done = true;
	pthread_mutex_unlock(&s->lock);
	log_about(LOG_INFO, &(struct log_about){ .guest = s->name, .epoch = t.checkpoint, .has_epoch = true },
	          "guest %s: restored checkpoint %" PRIu64 " in %" PRIu64 " us (total %" PRIu64 " us)",
	          s->name, t.checkpoint, t.restore_us, t.total_us);
	return 0;
}

/* The hand-over is confirmed and our copy, paused at the final
 * checkpoint, is about to go: its RAM becomes the replica this host
 * offers to the reverse run by page hashes, so only what the guest
 * dirtied since the switch travels back. */
static void step_keep_final(struct remusd_session *s)
{
	struct ckpt_receiver_cfg rc = { .hv = s->hv, .ram_bytes = (uint64_t)s->gc.mem_mb << 20,
	                                .fault = s->fault };
	struct remus_err err = { 0 };
	struct ckpt_receiver *r = NULL;
	const uint8_t *ram;

	if (s->guest == NULL || s->hv->ram_view == NULL || (ram = s->hv->ram_view(s->guest)) == NULL)
		return;
	if (ckpt_receiver_new(&rc, &r, &err) < 0) {
		log_warnx("guest %s: keeping the final checkpoint: %s", s->name, err.msg);
		return;
	}
	ckpt_receiver_seed(r, ram);
	pthread_mutex_lock(&s->lock);       /* status reads the engine */
	ckpt_sender_free(s->snd);
	s->snd = NULL;
	ckpt_receiver_free(s->rcv);
	s->rcv = r;
	pthread_mutex_unlock(&s->lock);
	log_info("guest %s: kept the final checkpoint's RAM (%u MiB) for the reverse run",
	         s->name, s->gc.mem_mb);
}

/* After a hand-over that asked for it: protect the guest back to the old
 * primary, at the address its link came from (its port: ours for the
 * peer, as configured, or the default). */
static void arm_reverse(struct remusd_session *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[64], peer[96];
	uint16_t port = s->gc.peer_port ? s->gc.peer_port : REMUSD_DEFAULT_PORT;

	if (getpeername(rnet_conn_fd(s->conn), (struct sockaddr *)&ss, &sl) < 0 ||
	    getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST)) {
		log_warnx("guest %s: the old primary asked to be protected back; its address is "
		          "unknown", s->name);
		return;
	}
	snprintf(peer, sizeof(peer), ss.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", host, port);
	remusd_session_arm_reprotect(s, peer, REMUSD_REVERSE_TRIES, REMUSD_REVERSE_FIRST_WAIT_MS,
	                             "role reversal after a hand-over");
}

static void step_answer(struct remusd_session *s, bool running)
{
	struct remus_err err = { 0 };

	if (ckpt_receiver_confirm(s->rcv, running, &err) < 0)
		log_warnx("guest %s: hand-over answer: %s", s->name, err.msg);
	else if (running && ckpt_receiver_reverse_asked(s->rcv))
		arm_reverse(s);
}

static bool step_stats(struct remusd_session *s, struct ckpt_stats *st)
{
	if (s->snd)
		ckpt_sender_stats(s->snd, st);
	else if (s->rcv)
		ckpt_receiver_stats(s->rcv, st);
	return s->snd != NULL || s->rcv != NULL;
}

static int step_set_interval(struct remusd_session *s, uint32_t ms, struct remus_err *err)
{
	return ckpt_sender_set_interval(s->snd, ms, err);
}

static int step_set_compress(struct remusd_session *s, uint32_t kind, struct remus_err *err)
{
	return ckpt_sender_set_compress(s->snd, kind, err);
}

static void step_free(struct remusd_session *s)
{
	ckpt_sender_free(s->snd);
	ckpt_receiver_free(s->rcv);
	s->snd = NULL;
	s->rcv = NULL;
}

const struct session_engine session_step_engine = {
	.blackhole = true,
	.hold_on_loss = true,
	.protect = step_protect,
	.run = step_run,
	.hand_over = step_hand_over,
	.end_run = step_end_run,
	.receive = step_receive,
	.receive_run = step_receive_run,
	.take_over = step_take_over,
	.answer = step_answer,
	.keep_final = step_keep_final,
	.stats = step_stats,
	.set_interval = step_set_interval,
	.set_compress = step_set_compress,
	.free = step_free,
};
