/*
 * Sessions of guests whose driver owns the checkpoint loop (`save_stream` /
 * `restore_stream` in its ops table: Xen), primary side and what both
 * sides share.  The engine parts are in lib/ckpt/stream_*.c; this file only
 * fits them into the session's state machine, next to session.c's
 * step-loop engine.  The backup's side is session_stream_backup.c.
 * Driver and disk backend are asked through their ops tables only: a
 * driver's optional daemon entries (hv.h), a backend that adopts the
 * operator's device and has a hand-over window (diskrep.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt/stream_link.h"
#include "remusd/ctl_proto.h"
#include "remusd/session_impl.h"
#include "util/log.h"

/* How often the old primary tries to demote after its copy is destroyed. */
#define REMUSD_DEMOTE_TRIES 20

bool remusd_session_driver_loop(const struct remusd_session *s)
{
	return s->hv != NULL && s->hv->save_stream != NULL && s->hv->restore_stream != NULL;
}

/* The guest's disk is a device the backend adopted (it is not the
 * engine's: no channel, no hook), open in this run. */
bool session_disk_adopted(const struct remusd_session *s)
{
	return s->disk != NULL && s->dr != NULL && s->dr->adopts_device;
}

/* The configuration replicates the guest's disk by adopting its device. */
bool session_conf_adopts_disk(const struct remusd_session *s)
{
	return s->gc.disk[0] && s->dr != NULL && s->dr->adopts_device;
}

/* The run's adopted disk handle goes (the resource stays as it is). */
void stream_close_adopted_locked(struct remusd_session *s)
{
	if (session_disk_adopted(s)) {
		s->dr->close(s->disk);
		s->disk = NULL;
	}
}

/* A BYE to the peer, flushed (best effort: a lost peer never reads it). */
void stream_send_bye(struct remusd_session *s, uint32_t code)
{
	rnet_conn_send_bye(s->conn, code, &(struct remus_err){ 0 });
	rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
}

/* One role or window change of an adopted disk that waits on the other
 * side or on the driver's backends: tried every 0.5 s, at most `tries`
 * times, without s->lock (status must not wait on it); 0, or the last
 * failure in err. */
int stream_disk_retry(struct remusd_session *s, enum disk_step step, unsigned tries,
                      struct remus_err *err)
{
	const struct timespec pause = { 0, 500 * 1000 * 1000 };
	int rc = -1;

	for (unsigned i = 0; i < tries && rc < 0; i++) {
		memset(err, 0, sizeof(*err));
		rc = step == DISK_DEMOTE ? s->dr->demote(s->disk, err) :
		     s->dr->dual_primary(s->disk, false, err);
		if (rc < 0 && i + 1 < tries)
			nanosleep(&pause, NULL);
	}
	return rc;
}

/* Output buffering for a guest whose output the kernel carries: the
 * `plug` backend on the interface the driver names. */
static int stream_open_netbuf(struct remusd_session *s, struct remus_err *err)
{
	char ifname[32], what[48];
	struct netbuf_config nc = { .backend = "plug", .tag = s->name, .first_epoch = 1,
	                            .ifname = ifname, .tx_fd = -1 };
	int rc;

	if (s->gc.netbuf == REMUSD_NETBUF_NONE)
		return 0;
	if (s->gc.netbuf != REMUSD_NETBUF_PLUG)
		return remus_err_set(err, -ENOTSUP, "guest %s: netbuf %s cannot hold a %s guest's "
		                     "interface; use plug", s->name,
		                     remusd_netbuf_name(s->gc.netbuf), s->hv->name);
	if (s->hv->output_ifname == NULL)
		return remus_err_set(err, -ENOTSUP, "guest %s: driver %s names no interface "
		                     "for its output", s->name, s->hv->name);
	if ((rc = s->hv->output_ifname(s->guest, ifname, sizeof(ifname), err)) < 0)
		return remus_err_wrap(err, "guest %s", s->name);
	snprintf(what, sizeof(what), "plug on %s", ifname);
	return session_netbuf_open(s, &nc, what, err);
}

/* A backend that adopts a device: take the operator's resource under the
 * guest's disk (`disk` is this host's device of it), in this side's role;
 * the backend refuses a resource in the wrong role or not replicating. */
int stream_open_adopted(struct remusd_session *s, enum diskrep_role role, struct remus_err *err)
{
	struct diskrep_config dc = {
		.role = role, .peer_fd = -1, .image = s->gc.disk, .resource = s->gc.drbd_resource,
		.unsafe = (s->gc.unsafe & REMUSD_UNSAFE_DRBD_DISK_AHEAD) != 0,
	};
	struct diskrep *d = NULL;
	int rc;

	if (!session_conf_adopts_disk(s))
		return 0;
	if ((rc = s->dr->open(&dc, &d, err)) < 0)
		return remus_err_wrap(err, "guest %s: diskrep %s (%s on %s)", s->name, s->dr->name,
		                      s->gc.drbd_resource, s->gc.disk);
	pthread_mutex_lock(&s->lock);
	stream_close_adopted_locked(s);
	s->disk = d;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Primary engine thread: the driver's loop until stop or loss. */
static void *stream_primary_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	int rc;

	rc = ckpt_stream_sender_run(s->ssnd, s->stop_pipe[0], 0, &err);
	if (session_evacuating(s) && rc != CKPT_ESTOPPED) {
		/* a hand-over was requested (session_stream_request_handover) */
		if (rc == 0)
			remusd_session_set_state(s, RS_EVACUATED, "handed over, running on the backup");
		else if (rc == CKPT_EINDOUBT)
			session_set_in_doubt(s, err.msg);   /* netbuf kept: it holds what follows N */
		else
			remusd_session_set_state(s, rc == CKPT_EGUEST ? RS_STOPPED : RS_UNPROTECTED,
			                         err.msg);
	} else if (rc == CKPT_ESTOPPED) {
		stream_send_bye(s, CKPT_BYE_END);
		remusd_session_set_state(s, RS_UNPROTECTED, "unprotected on request");
	} else if (rc == CKPT_EGUEST) {
		remusd_session_set_state(s, RS_STOPPED, err.msg);
	} else {
		remusd_session_set_state(s, RS_UNPROTECTED, rc == 0 ? "protection ended" : err.msg);
	}
	if (s->nb_open && s->state != RS_IN_DOUBT) {
		pthread_mutex_lock(&s->net_lock);
		netbuf_close(&s->nb);   /* released already on loss; nothing held now */
		s->nb_open = false;
		pthread_mutex_unlock(&s->net_lock);
	}
	pthread_mutex_lock(&s->lock);
	if (s->state != RS_EVACUATED)   /* evacuated: demoted once the copy is gone */
		stream_close_adopted_locked(s);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void session_stream_request_handover(struct remusd_session *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->ssnd != NULL)
		ckpt_stream_sender_request_handover(s->ssnd);
	pthread_mutex_unlock(&s->lock);
	if (session_disk_adopted(s) && s->dr->dual_primary != NULL)
		log_info("guest %s: hand-over: %s resource %s opens its dual-primary window "
		         "(allow-two-primaries) before the final checkpoint", s->name, s->dr->name,
		         s->gc.drbd_resource);
}

/* The old primary's adopted disk: Secondary (its copy is destroyed, the
 * device closed), then the dual-primary window closed again. */
void session_stream_after_evacuation(struct remusd_session *s)
{
	struct remus_err err = { 0 };

	/* the engine thread is done with s->disk (evacuated: no new run) */
	if (session_disk_adopted(s) && s->dr->demote != NULL && s->dr->dual_primary != NULL) {
		/* the driver's disk backend may hold the device a moment after
		 * the copy's destroy */
		if (stream_disk_retry(s, DISK_DEMOTE, REMUSD_DEMOTE_TRIES, &err) < 0)
			log_warnx("guest %s: %s resource %s stays Primary here: %s; with the guest "
			          "running on the backup, run drbdsetup secondary %s and then "
			          "allow-two-primaries=no on both sides", s->name, s->dr->name,
			          s->gc.drbd_resource, err.msg, s->gc.disk);
		else if (s->dr->dual_primary(s->disk, false, &err) < 0)
			log_warnx("guest %s: %s resource %s: Secondary here, but closing the "
			          "dual-primary window failed: %s", s->name, s->dr->name,
			          s->gc.drbd_resource, err.msg);
		else
			log_info("guest %s: %s resource %s: Secondary here, dual-primary window closed "
			         "on this side", s->name, s->dr->name, s->gc.drbd_resource);
	}
	pthread_mutex_lock(&s->lock);
	stream_close_adopted_locked(s);
	pthread_mutex_unlock(&s->lock);
}

void session_stream_sync_state(struct remusd_session *s)
{
	struct ckpt_stats st = { 0 };
	bool synced;

	pthread_mutex_lock(&s->lock);
	if (s->ssnd != NULL)
		ckpt_stream_sender_stats(s->ssnd, &st);
	synced = s->state == RS_SYNCING && s->ssnd != NULL && st.acked > 0;
	pthread_mutex_unlock(&s->lock);
	if (synced)
		remusd_session_set_state(s, RS_PROTECTED, "");
}

/* The primary's copy after a hand-over: a driver that attached to a guest
 * it did not build ends it for good and forgets the handle. */
void session_destroy_copy(struct remusd_session *s, struct hv_guest *g)
{
	struct remus_err err = { 0 };

	if (g == NULL)
		return;
	if (s->hv->destroy_copy != NULL && s->hv->release != NULL) {
		if (s->hv->destroy_copy(g, &err) < 0)
			log_warnx("guest %s: %s", s->name, err.msg);
		s->hv->release(g);
		return;
	}
	s->hv->destroy(g);
}

int remusd_session_stream_protect(struct remusd_session *s, const struct remusd_env *env,
                                  struct remus_err *err)
{
	struct ckpt_stream_sender_cfg sc = { 0 };
	struct hv_blob pre = { 0 };
	int rc;

	/* the guest's configuration first, for the backup to build the replica */
	if (s->hv->preamble != NULL && (rc = s->hv->preamble(s->guest, &pre, err)) < 0) {
		hv_blob_free(&pre);
		return remus_err_wrap(err, "protect %s", s->name);
	}
	sc.preamble = pre.data;
	sc.preamble_len = pre.len;
	if ((rc = stream_open_netbuf(s, err)) < 0 ||
	    (rc = stream_open_adopted(s, DISKREP_PRIMARY, err)) < 0) {
		hv_blob_free(&pre);
		return rc;
	}
	if (session_disk_adopted(s)) {
		sc.dr_ops = s->dr;
		sc.dr = s->disk;
	}
	sc.hv = s->hv;
	sc.guest = s->guest;
	sc.conn = s->conn;
	sc.nb = s->nb_open ? &s->nb : NULL;
	sc.interval_ms = s->gc.interval_ms;
	sc.ack_timeout_ms = env->conf->hb_timeout_ms * 10;
	sc.confirm_ms = REMUSD_EVAC_CONFIRM_XEN_MS;
	sc.fault = s->fault;
	pthread_mutex_lock(&s->lock);
	ckpt_stream_sender_free(s->ssnd);
	s->ssnd = NULL;
	rc = ckpt_stream_sender_new(&sc, &s->ssnd, err);
	pthread_mutex_unlock(&s->lock);
	hv_blob_free(&pre);
	if (rc < 0)
		return rc;
	/* syncing before the reply: a client polling status after protect's
	 * "ok" never sees the state of before */
	remusd_session_set_state(s, RS_SYNCING, "");
	if ((rc = pthread_create(&s->th, NULL, stream_primary_main, s)) != 0) {
		remus_err_sys(err, rc, "protect %s: thread", s->name);
		remusd_session_set_state(s, RS_UNPROTECTED, err->msg);
		return err->code;
	}
	pthread_mutex_lock(&s->lock);
	s->th_running = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

void remusd_session_stream_stats(struct remusd_session *s, struct ckpt_stats *st)
{
	if (s->ssnd)
		ckpt_stream_sender_stats(s->ssnd, st);
	else if (s->srcv)
		ckpt_stream_receiver_stats(s->srcv, st);
}

void remusd_session_stream_free(struct remusd_session *s)
{
	ckpt_stream_sender_free(s->ssnd);
	ckpt_stream_receiver_free(s->srcv);
	s->ssnd = NULL;
	s->srcv = NULL;
}

/* One of check's particulars: logged, and added as a line of the
 * client's detail (detail may be NULL). */
static void check_note(struct remusd_session *s, char *detail, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void check_note(struct remusd_session *s, char *detail, size_t cap, const char *fmt, ...)
{
	char line[REMUS_ERR_MSG_MAX];
	size_t off;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_info("check %s: %s", s->name, line);
	if (detail == NULL || cap == 0)
		return;
	off = strnlen(detail, cap);
	if (off + 2 < cap)
		snprintf(detail + off, cap - off, "%s%s", off ? "\n" : "", line);
}

/* remusctl check of a guest whose driver judges it: the driver's reasons
 * as the control protocol's fixed reasons, each with the driver's text in
 * detail (and the log), and the adopted disk's state (its report in
 * detail when it is not ready). */
uint32_t remusd_session_driver_check(struct remusd_session *s, uint32_t unsafe, char *detail,
                                     size_t cap)
{
	struct remus_err err = { 0 };
	struct hv_check hc;
	uint32_t r = 0;

	if (s == NULL || s->guest == NULL || s->hv == NULL || s->hv->check == NULL)
		return 0;
	if (s->hv->check(s->guest, &hc, &err) < 0) {
		check_note(s, detail, cap, "%s", err.msg);
		return CTL_CHECK_HV_UNSUPPORTED;
	}
	for (unsigned i = 0; i < hc.n; i++)
		check_note(s, detail, cap, "%s", hc.text[i]);
	if (hc.blocks & HV_CHECK_UNSUPPORTED)
		r |= CTL_CHECK_HV_UNSUPPORTED;
	if ((hc.blocks & HV_CHECK_NO_NETBUF) && s->gc.netbuf != REMUSD_NETBUF_NONE &&
	    !(unsafe & CTL_UNSAFE_NO_NETBUF))
		r |= CTL_CHECK_NETBUF_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if ((hc.blocks & HV_CHECK_NO_DISKREP) && !(unsafe & CTL_UNSAFE_NO_DISKREP))
		r |= CTL_CHECK_DISKREP_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if (session_conf_adopts_disk(s) && s->dr->check != NULL) {
		struct diskrep_config dc = { .role = DISKREP_PRIMARY, .peer_fd = -1,
		                             .image = s->gc.disk, .resource = s->gc.drbd_resource };

		if (s->dr->check(&dc, &err) < 0) {
			r |= CTL_CHECK_DISKREP_UNAVAILABLE;
			check_note(s, detail, cap, "%s", err.msg);
		} else {
			log_info("check %s: %s", s->name, err.msg);
		}
	}
	return r;
}
