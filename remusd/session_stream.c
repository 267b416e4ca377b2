/*
 * Sessions of guests whose driver owns the checkpoint loop (`save_stream` /
 * `restore_stream` in its ops table: Xen).  The engine parts are in
 * lib/ckpt/stream_*.c; this file only fits them into the session's state
 * machine, next to session.c's step-loop engine.
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
#include "stream/stream.h"
#ifdef HV_HAVE_XEN
#include <xentoollog.h>
#include "hv/xen/xen.h"
#endif

/* How often the backup tries to close the dual-primary window after a
 * hand-over (0.5 s apart): the primary's confirm wait plus its destroy. */
#define REMUSD_DRBD_WINDOW_TRIES 180
/* How often the old primary tries to demote after its copy is destroyed. */
#define REMUSD_DRBD_DEMOTE_TRIES 20

bool remusd_session_driver_loop(const struct remusd_session *s)
{
	return s->hv != NULL && s->hv->save_stream != NULL && s->hv->restore_stream != NULL;
}

/* The run's DRBD handle goes (adopted: the resource stays as it is). */
static void stream_close_drbd_locked(struct remusd_session *s)
{
	if (s->disk != NULL && s->gc.diskrep == RNET_DISKREP_DRBD) {
		s->dr->close(s->disk);
		s->disk = NULL;
	}
}

/* A BYE to the peer, flushed (best effort: a lost peer never reads it). */
static void stream_send_bye(struct remusd_session *s, uint32_t code)
{
	rnet_conn_send_bye(s->conn, code, &(struct remus_err){ 0 });
	rnet_conn_flush(s->conn, &(struct remus_err){ 0 });
}

enum drbd_step { DRBD_DEMOTE, DRBD_WINDOW_CLOSE };

/* One DRBD role or window change that waits on the other side or on
 * blkback: tried every 0.5 s, at most `tries` times, without s->lock
 * (status must not wait on it); 0, or the last failure in err. */
static int stream_drbd_retry(struct remusd_session *s, enum drbd_step step, unsigned tries,
                             struct remus_err *err)
{
	const struct timespec pause = { 0, 500 * 1000 * 1000 };
	int rc = -1;

	for (unsigned i = 0; i < tries && rc < 0; i++) {
		memset(err, 0, sizeof(*err));
		rc = step == DRBD_DEMOTE ? s->dr->demote(s->disk, err) :
		     s->dr->dual_primary(s->disk, false, err);
		if (rc < 0 && i + 1 < tries)
			nanosleep(&pause, NULL);
	}
	return rc;
}

/* Output buffering for a Xen guest: the `plug` backend on its first vif. */
static int stream_open_netbuf(struct remusd_session *s, struct remus_err *err)
{
	char ifname[32], what[48];
	struct netbuf_config nc = { .backend = "plug", .tag = s->name, .first_epoch = 1,
	                            .ifname = ifname, .tx_fd = -1 };

	if (s->gc.netbuf == REMUSD_NETBUF_NONE)
		return 0;
	if (s->gc.netbuf != REMUSD_NETBUF_PLUG)
		return remus_err_set(err, -ENOTSUP, "guest %s: netbuf %s cannot hold a Xen vif; use plug",
		                     s->name, remusd_netbuf_name(s->gc.netbuf));
#ifdef HV_HAVE_XEN
	snprintf(ifname, sizeof(ifname), "vif%" PRIu32 ".0", xen_guest_domid(s->guest));
#else
	return remus_err_set(err, -ENOTSUP, "guest %s: built without the Xen driver", s->name);
#endif
	snprintf(what, sizeof(what), "plug on %s", ifname);
	return session_netbuf_open(s, &nc, what, err);
}

/* diskrep = drbd: adopt the operator's DRBD resource under the guest's
 * disk (`disk` is this host's device of it), in this side's role; the
 * backend refuses a resource in the wrong role or not replicating. */
static int stream_open_drbd(struct remusd_session *s, enum diskrep_role role,
                            struct remus_err *err)
{
	struct diskrep_config dc = {
		.role = role, .peer_fd = -1,
		.unsafe = (s->gc.unsafe & REMUSD_UNSAFE_DRBD_DISK_AHEAD) != 0,
		.drbd = { .adopt = true, .resource = s->gc.drbd_resource, .device = s->gc.disk },
	};
	struct diskrep *d = NULL;
	int rc;

	if (s->gc.diskrep != RNET_DISKREP_DRBD)
		return 0;
	if ((rc = diskrep_backend("drbd")->open(&dc, &d, err)) < 0)
		return remus_err_wrap(err, "guest %s: diskrep drbd (%s on %s)", s->name,
		                      s->gc.drbd_resource, s->gc.disk);
	pthread_mutex_lock(&s->lock);
	stream_close_drbd_locked(s);
	s->dr = diskrep_backend("drbd");
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

	remusd_session_set_state(s, RS_SYNCING, "");
	rc = ckpt_stream_sender_run(s->ssnd, s->stop_pipe[0], 0, &err);
	if (s->evacuating && rc != CKPT_ESTOPPED) {
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
		stream_close_drbd_locked(s);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

void session_stream_request_handover(struct remusd_session *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->ssnd != NULL)
		ckpt_stream_sender_request_handover(s->ssnd);
	pthread_mutex_unlock(&s->lock);
	if (s->gc.diskrep == RNET_DISKREP_DRBD)
		log_info("guest %s: hand-over: drbd resource %s opens its dual-primary window "
		         "(allow-two-primaries) before the final checkpoint", s->name,
		         s->gc.drbd_resource);
}

/* The old primary's DRBD side: Secondary (its copy is destroyed, the
 * device closed), then allow-two-primaries off again. */
void session_stream_after_evacuation(struct remusd_session *s)
{
	struct remus_err err = { 0 };

	/* the engine thread is done with s->disk (evacuated: no new run) */
	if (s->disk != NULL && s->gc.diskrep == RNET_DISKREP_DRBD) {
		/* blkback may hold the device a moment after libxl's destroy */
		if (stream_drbd_retry(s, DRBD_DEMOTE, REMUSD_DRBD_DEMOTE_TRIES, &err) < 0)
			log_warnx("guest %s: drbd resource %s stays Primary here: %s; with the guest "
			          "running on the backup, run drbdsetup secondary %s and then "
			          "allow-two-primaries=no on both sides", s->name, s->gc.drbd_resource,
			          err.msg, s->gc.disk);
		else if (s->dr->dual_primary(s->disk, false, &err) < 0)
			log_warnx("guest %s: drbd resource %s: Secondary here, but closing the "
			          "dual-primary window failed: %s", s->name, s->gc.drbd_resource, err.msg);
		else
			log_info("guest %s: drbd resource %s: Secondary here, dual-primary window closed "
			         "on this side", s->name, s->gc.drbd_resource);
	}
	pthread_mutex_lock(&s->lock);
	stream_close_drbd_locked(s);
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

void session_destroy_copy(struct remusd_session *s, struct hv_guest *g)
{
#ifdef HV_HAVE_XEN
	struct remus_err err = { 0 };

	if (g != NULL && s->gc.type == REMUSD_GUEST_XEN) {
		if (xen_guest_destroy_domain(g, XTL_WARN, &err) < 0)
			log_warnx("guest %s: %s", s->name, err.msg);
		xen_guest_release(g);
		return;
	}
#endif
	if (g != NULL)
		s->hv->destroy(g);
}

/* Xen: xl's migration header with the guest's libxl configuration goes
 * first, as `xl remus` sends it; the backup builds the replica's devices
 * from it.  The caller frees b. */
static int stream_preamble(struct remusd_session *s, struct stream_buf *b, struct remus_err *err)
{
	int rc = 0;

	stream_buf_init(b);
#ifdef HV_HAVE_XEN
	char *json = NULL;
	size_t len = 0;

	if (s->gc.type != REMUSD_GUEST_XEN)
		return 0;
	if ((rc = xen_guest_config_json(s->guest, &json, &len, err)) < 0)
		return remus_err_wrap(err, "protect %s", s->name);
	if ((rc = stream_put_xl_header(b, json, len)) < 0)
		remus_err_set(err, rc, "protect %s: encoding xl's migration header", s->name);
	free(json);
#else
	(void)s;
	(void)err;
#endif
	return rc;
}

int remusd_session_stream_protect(struct remusd_session *s, const struct remusd_env *env,
                                  struct remus_err *err)
{
	struct ckpt_stream_sender_cfg sc = { 0 };
	struct stream_buf pre;
	int rc;

	if ((rc = stream_preamble(s, &pre, err)) < 0) {
		stream_buf_free(&pre);
		return rc;
	}
	sc.preamble = pre.data;
	sc.preamble_len = pre.len;
	if ((rc = stream_open_netbuf(s, err)) < 0 || (rc = stream_open_drbd(s, DISKREP_PRIMARY, err)) < 0) {
		stream_buf_free(&pre);
		return rc;
	}
	if (s->gc.diskrep == RNET_DISKREP_DRBD) {
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
	pthread_mutex_lock(&s->lock);
	ckpt_stream_sender_free(s->ssnd);
	s->ssnd = NULL;
	rc = ckpt_stream_sender_new(&sc, &s->ssnd, err);
	pthread_mutex_unlock(&s->lock);
	stream_buf_free(&pre);
	if (rc < 0)
		return rc;
	if ((rc = pthread_create(&s->th, NULL, stream_primary_main, s)) != 0)
		return remus_err_sys(err, rc, "protect %s: thread", s->name);
	s->th_running = true;
	return 0;
}

/* Xen: the replica gets the name "<guest>--backup" (the primary may run
 * on this host under its own name, as with `xl remus` to localhost) and
 * the memory the guest's configuration gives it. */
static int stream_prepare(void *arg, const char *json, size_t len, struct hv_guest_config *gcfg,
                          char *name_buf, size_t name_cap, struct remus_err *err)
{
#ifdef HV_HAVE_XEN
	struct remusd_session *s = arg;
	struct xen_json_guest jg;
	int rc;

	if ((rc = xen_json_guest(json, len, &jg, err)) < 0)
		return remus_err_wrap(err, "guest %s: the primary's configuration", s->name);
	if (jg.type == XEN_GUEST_PV)
		return remus_err_set(err, HV_EUNSUPP, "guest %s is classic PV: protect PVH or HVM guests",
		                     s->name);
	if (s->gc.diskrep == RNET_DISKREP_DRBD && jg.disks != 1)
		return remus_err_set(err, -EINVAL, "guest %s has %u disks: diskrep = drbd replicates "
		                     "exactly one (the replica gets %s)", s->name, jg.disks, s->gc.disk);
	snprintf(name_buf, name_cap, "%s--backup", s->name);
	gcfg->name = name_buf;
	if (jg.max_mem_bytes > gcfg->mem_bytes)
		gcfg->mem_bytes = jg.max_mem_bytes;
	log_info("guest %s: receiving (%" PRIu64 " MiB, %u vif, %u disk) as %s", s->name,
	         gcfg->mem_bytes >> 20, jg.nics, jg.disks, name_buf);
	return 0;
#else
	(void)arg; (void)json; (void)len; (void)gcfg; (void)name_buf; (void)name_cap;
	return remus_err_set(err, -ENOTSUP, "built without the Xen driver");
#endif
}

/* Before the replica runs (the engine promoted its disk already): its PV
 * devices from the guest's configuration; with diskrep = drbd its disk is
 * this host's DRBD device, not the primary's path. */
static int stream_finish_replica(void *arg, struct hv_guest *g, struct remus_err *err)
{
	struct remusd_session *s = arg;
#ifdef HV_HAVE_XEN
	size_t len;
	const char *json = ckpt_stream_receiver_config(s->srcv, &len);

	if (s->gc.type == REMUSD_GUEST_XEN && json != NULL)
		return xen_guest_attach_devices_on(g, json, len, s->gc.diskrep == RNET_DISKREP_DRBD ?
		                                   s->gc.disk : NULL, XTL_WARN, err);
#else
	(void)s; (void)g; (void)err;
#endif
	return 0;
}

/* Xen: once the replica runs it is the guest.  It takes the guest's own
 * name (as xl's receiver gives it) unless the old primary still holds it
 * on this host, and is attached to like a primary (a later remusd exit
 * must not destroy it). */
static struct hv_guest *stream_adopt_replica(struct remusd_session *s, struct hv_guest *g)
{
#ifdef HV_HAVE_XEN
	char name[REMUSD_NAME_MAX + 16];
	struct hv_guest_config cfg = { .name = name, .cpu = -1, .console_fd = -1 };
	struct remus_err err = { 0 };
	struct hv_guest *attached = NULL;

	if (s->gc.type != REMUSD_GUEST_XEN)
		return g;
	snprintf(name, sizeof(name), "%s", xen_guest_name(g));
	if (xen_guest_rename(g, s->name, &err) == 0)
		snprintf(name, sizeof(name), "%s", s->name);
	else
		log_warnx("guest %s: %s; destroy the old primary, then: xl rename %s %s", s->name,
		          err.msg, name, s->name);
	if (s->hv->create(&cfg, &attached, &err) < 0) {
		log_warnx("guest %s: keeping the replica's own handle: %s", s->name, err.msg);
		return g;
	}
	xen_guest_release(g);
	return attached;
#else
	(void)s;
	return g;
#endif
}

/* Tell the primary its hand-over was refused: it resumes its own copy. */
static void stream_refuse_handover(struct remusd_session *s)
{
	stream_send_bye(s, CKPT_BYE_REFUSED);
}

/* Xen: where the failover spent its time, after the stream stopped. */
static void stream_note_steps(struct remusd_session *s, struct hv_guest *g, uint64_t end_us)
{
#ifdef HV_HAVE_XEN
	struct xen_failover_phases ph;
	char line[512];
	size_t off = 0;

	if (s->gc.type != REMUSD_GUEST_XEN || end_us == 0)
		return;
	xen_guest_failover_phases(g, &ph);
	pthread_mutex_lock(&s->lock);
	s->fo_nsteps = 0;
	for (unsigned i = 0; i < ph.n && i < sizeof(s->fo_steps) / sizeof(s->fo_steps[0]); i++) {
		uint64_t ms = ph.p[i].end_us > end_us ? (ph.p[i].end_us - end_us) / 1000u : 0;

		snprintf(s->fo_steps[i].step, sizeof(s->fo_steps[i].step), "%s", ph.p[i].step);
		s->fo_steps[i].end_ms = (uint32_t)ms;
		s->fo_nsteps++;
		if (off < sizeof(line))
			off += (size_t)snprintf(line + off, sizeof(line) - off, " %s@%" PRIu64 "ms",
			                        ph.p[i].step, ms);
	}
	pthread_mutex_unlock(&s->lock);
	log_info("guest %s: failover steps after the stream stopped:%s", s->name, line);
#else
	(void)s; (void)g; (void)end_us;
#endif
}

/* A hand-over's replica could not start: this side's disk goes back to
 * Secondary and the window closes, before the primary resumes its copy. */
static void stream_backup_give_disk_back(struct remusd_session *s)
{
	struct remus_err err = { 0 };

	pthread_mutex_lock(&s->lock);
	if (s->disk != NULL && s->gc.diskrep == RNET_DISKREP_DRBD &&
	    (s->dr->demote(s->disk, &err) < 0 || s->dr->dual_primary(s->disk, false, &err) < 0))
		log_warnx("guest %s: drbd resource %s: giving the disk back failed: %s", s->name,
		          s->gc.drbd_resource, err.msg);
	stream_close_drbd_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* After a hand-over the primary destroys its copy, demotes its side and
 * closes the window there; DRBD refuses allow-two-primaries=no here while
 * it is still Primary, so this side retries (every 0.5 s, for as long as
 * the primary may take: its confirm wait plus the destroy). */
static void stream_backup_close_window(struct remusd_session *s)
{
	struct remus_err err = { 0 };

	if (s->disk == NULL || s->gc.diskrep != RNET_DISKREP_DRBD)
		return;
	if (stream_drbd_retry(s, DRBD_WINDOW_CLOSE, REMUSD_DRBD_WINDOW_TRIES, &err) == 0)
		log_info("guest %s: drbd resource %s: dual-primary window closed (the old primary "
		         "demoted)", s->name, s->gc.drbd_resource);
	else
		log_warnx("guest %s: drbd resource %s: the dual-primary window is still open: %s; "
		          "once the old primary's side is Secondary, set allow-two-primaries=no here",
		          s->name, s->gc.drbd_resource, err.msg);
	pthread_mutex_lock(&s->lock);
	stream_close_drbd_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* Backup engine thread: the driver receives until the stream stops and
 * builds the replica from the last complete checkpoint; we start it. */
static void *stream_backup_main(void *arg)
{
	struct remusd_session *s = arg;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	uint64_t t0, end_us;
	int rc;

	rc = ckpt_stream_receiver_run(s->srcv, s->stop_pipe[0], &g, &err);
	t0 = ckpt_now_us();
	if (g == NULL || rc != CKPT_HANDOVER) {
		pthread_mutex_lock(&s->lock);
		stream_close_drbd_locked(s);    /* promoted (or not): the handle's work is done */
		pthread_mutex_unlock(&s->lock);
	} else if (s->gc.diskrep == RNET_DISKREP_DRBD) {
		log_info("guest %s: hand-over: drbd resource %s promoted inside the dual-primary "
		         "window", s->name, s->gc.drbd_resource);
	}
	if (g == NULL) {
		if (rc == 0) {
			remusd_session_set_state(s, RS_UNPROTECTED, "primary ended protection");
		} else {
			/* no replica (its disk or devices failed): a primary waiting
			 * on a hand-over resumes its copy; a lost one never reads it */
			stream_refuse_handover(s);
			remusd_session_set_state(s, RS_FAILED, err.msg);
		}
		/* no guest runs here: a new run may take the session */
		__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
		return NULL;
	}
	log_info("guest %s: failing over: %s", s->name, rc == CKPT_ESTOPPED ? "failover on command" :
	         rc == CKPT_HANDOVER ? "planned hand-over from the primary" : err.msg);
	if (s->hv->start(g, &err) < 0) {
		s->hv->destroy(g);
		if (rc == CKPT_HANDOVER) {  /* the primary resumes its copy */
			stream_backup_give_disk_back(s);
			stream_refuse_handover(s);
		}
		remusd_session_set_state(s, RS_FAILED, err.msg);
		__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
		return NULL;
	}
	end_us = ckpt_stream_receiver_end_us(s->srcv);
	stream_note_steps(s, g, end_us);
	g = stream_adopt_replica(s, g);
	pthread_mutex_lock(&s->lock);
	s->guest = g;
	memset(&s->fo, 0, sizeof(s->fo));
	s->fo.total_us = ckpt_now_us() - (end_us != 0 && end_us < t0 ? end_us : t0);
	s->failover_done = true;
	pthread_mutex_unlock(&s->lock);
	if (rc == CKPT_HANDOVER) {
		stream_send_bye(s, CKPT_BYE_RUNNING);
	}
	remusd_session_set_state(s, RS_ACTIVE, rc == CKPT_ESTOPPED ? "failover on command" :
	                         rc == CKPT_HANDOVER ? "planned hand-over from the primary" :
	                         "primary lost");
	if (rc == CKPT_HANDOVER)
		stream_backup_close_window(s);
	return NULL;
}

int remusd_session_stream_receive(struct remusd_session *s, struct remus_err *err)
{
	struct hv_guest_config gcfg;
	struct ckpt_stream_receiver_cfg rc = { .hv = s->hv, .guest_cfg = &gcfg, .conn = s->conn,
	                                       .xl_header = s->gc.type == REMUSD_GUEST_XEN,
	                                       .prepare = stream_prepare,
	                                       .finish = stream_finish_replica, .arg = s };
	int e;

	if ((e = stream_open_drbd(s, DISKREP_BACKUP, err)) < 0)
		return e;
	if (s->gc.diskrep == RNET_DISKREP_DRBD) {
		rc.dr_ops = s->dr;
		rc.dr = s->disk;
	}
	remusd_guest_hvcfg(&s->gc, &gcfg);
	pthread_mutex_lock(&s->lock);
	ckpt_stream_receiver_free(s->srcv);
	s->srcv = NULL;
	e = ckpt_stream_receiver_new(&rc, &s->srcv, err);
	pthread_mutex_unlock(&s->lock);
	if (e < 0)
		return e;
	remusd_session_set_state(s, RS_RECEIVING, "");
	s->th_done = false;
	if ((e = pthread_create(&s->th, NULL, stream_backup_main, s)) != 0)
		return remus_err_sys(err, e, "receive %s: thread", s->name);
	s->th_running = true;
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

#ifdef HV_HAVE_XEN
/* diskrep = drbd: the adopted resource must be ready for protection. */
static uint32_t stream_check_drbd(struct remusd_session *s, char *detail, size_t cap)
{
	struct diskrep_drbd_state st;
	struct remus_err err = { 0 };

	if (s->gc.diskrep != RNET_DISKREP_DRBD)
		return 0;
	if (diskrep_drbd_probe(s->gc.drbd_resource, &st, &err) < 0) {
		check_note(s, detail, cap, "drbd resource %s: %s", s->gc.drbd_resource, err.msg);
		return CTL_CHECK_DISKREP_UNAVAILABLE;
	}
	if (strcmp(st.role, "Primary") != 0 || strcmp(st.connection, "Connected") != 0 ||
	    strcmp(st.disk, "UpToDate") != 0 || strcmp(st.peer_disk, "UpToDate") != 0) {
		check_note(s, detail, cap, "drbd resource %s: role %s, connection %s, disk %s, peer "
		           "disk %s (needs Primary, Connected, UpToDate, UpToDate)", s->gc.drbd_resource,
		           st.role, st.connection, st.disk, st.peer_disk);
		return CTL_CHECK_DISKREP_UNAVAILABLE;
	}
	log_info("check %s: drbd resource %s: role %s, connection %s, disk %s, peer disk %s",
	         s->name, s->gc.drbd_resource, st.role, st.connection, st.disk, st.peer_disk);
	return 0;
}
#endif

/* remusctl check of a Xen guest: the driver's reasons, as the control
 * protocol's fixed reasons, each with the driver's text in detail (and
 * the log). */
uint32_t remusd_session_driver_check(struct remusd_session *s, uint32_t unsafe, char *detail,
                                     size_t cap)
{
	uint32_t r = 0;
#ifdef HV_HAVE_XEN
	struct xen_check_input in;
	struct remus_err err = { 0 };
	unsigned why;

	if (s == NULL || s->guest == NULL || s->gc.type != REMUSD_GUEST_XEN)
		return 0;
	if (xen_check_probe(s->guest, "/", &in, &err) < 0) {
		check_note(s, detail, cap, "%s", err.msg);
		return CTL_CHECK_HV_UNSUPPORTED;
	}
	why = xen_check(&in);
	xen_check_input_free(&in);
	for (unsigned bit = 1; bit < (1u << XEN_CHECK_NREASONS); bit <<= 1)
		if (why & bit)
			check_note(s, detail, cap, "%s", xen_check_reason_text(bit));
	if (why & (XEN_CHECK_PV_NO_SHADOW | XEN_CHECK_DEVICE_MODEL))
		r |= CTL_CHECK_HV_UNSUPPORTED;
	if ((why & (XEN_CHECK_NO_SCH_PLUG | XEN_CHECK_NO_IFB)) && s->gc.netbuf != REMUSD_NETBUF_NONE &&
	    !(unsafe & CTL_UNSAFE_NO_NETBUF))
		r |= CTL_CHECK_NETBUF_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if ((why & (XEN_CHECK_DISK_NOT_DRBD | XEN_CHECK_NO_DRBD)) && !(unsafe & CTL_UNSAFE_NO_DISKREP))
		r |= CTL_CHECK_DISKREP_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	r |= stream_check_drbd(s, detail, cap);
#else
	(void)s;
	(void)unsafe;
	(void)detail;
	(void)cap;
	(void)check_note;
#endif
	return r;
}
