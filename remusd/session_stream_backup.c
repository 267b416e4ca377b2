/*
 * Sessions of guests whose driver owns the checkpoint loop, backup side:
 * the driver receives until the stream stops and builds the replica from
 * the last complete checkpoint; this file names it, gives it its devices
 * (the driver's finish_replica), starts and adopts it, and after a
 * hand-over gives the adopted disk's window back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/stream_link.h"
#include "remusd/session_impl.h"
#include "util/log.h"

/* How often the backup tries to close the dual-primary window after a
 * hand-over (0.5 s apart): the primary's confirm wait plus its destroy. */
#define REMUSD_WINDOW_CLOSE_TRIES 180

/* The replica gets the name "<guest>--backup" (the primary may run on
 * this host under its own name, as with `xl remus` to localhost) and the
 * memory the guest's configuration gives it. */
static int stream_prepare(void *arg, const char *json, size_t len, struct hv_guest_config *gcfg,
                          char *name_buf, size_t name_cap, struct remus_err *err)
{
	struct remusd_session *s = arg;
	struct hv_config_summary cs = { 0 };
	int rc;

	if (s->hv->describe_config != NULL &&
	    (rc = s->hv->describe_config(json, len, &cs, err)) < 0)
		return rc == HV_EUNSUPP ? remus_err_wrap(err, "guest %s", s->name)
		                        : remus_err_wrap(err, "guest %s: the primary's configuration",
		                                         s->name);
	if (session_conf_adopts_disk(s) && cs.disks != 1)
		return remus_err_set(err, -EINVAL, "guest %s has %u disks: diskrep = %s replicates "
		                     "exactly one (the replica gets %s)", s->name, cs.disks,
		                     s->dr->name, s->gc.disk);
	snprintf(name_buf, name_cap, "%s--backup", s->name);
	gcfg->name = name_buf;
	if (cs.max_mem_bytes > gcfg->mem_bytes)
		gcfg->mem_bytes = cs.max_mem_bytes;
	log_info("guest %s: receiving (%" PRIu64 " MiB, %u vif, %u disk) as %s", s->name,
	         gcfg->mem_bytes >> 20, cs.nics, cs.disks, name_buf);
	return 0;
}

/* Before the replica runs (the engine promoted its disk already): its
 * devices from the guest's configuration; with an adopted disk its disk is
 * this host's device, not the primary's path. */
static int stream_finish_replica(void *arg, struct hv_guest *g, struct remus_err *err)
{
	struct remusd_session *s = arg;
	size_t len;
	const char *json = ckpt_stream_receiver_config(s->srcv, &len);

	if (s->hv->finish_replica != NULL && json != NULL)
		return s->hv->finish_replica(g, json, len, session_conf_adopts_disk(s) ?
		                             s->gc.disk : NULL, err);
	return 0;
}

/* Once the replica runs it is the guest.  It takes the guest's own name
 * (as xl's receiver gives it) unless the old primary still holds it on
 * this host, and is attached to like a primary (a later remusd exit must
 * not destroy it). */
static struct hv_guest *stream_adopt_replica(struct remusd_session *s, struct hv_guest *g)
{
	char name[REMUSD_NAME_MAX + 16];
	struct hv_guest_config cfg = { .name = name, .cpu = -1, .console_fd = -1 };
	struct remus_err err = { 0 };
	struct hv_guest *attached = NULL;

	if (s->hv->rename == NULL || s->hv->guest_name == NULL || s->hv->release == NULL)
		return g;
	snprintf(name, sizeof(name), "%s", s->hv->guest_name(g));
	if (s->hv->rename(g, s->name, &err) == 0)
		snprintf(name, sizeof(name), "%s", s->name);
	else
		log_warnx("guest %s: %s; destroy the old primary, then: xl rename %s %s", s->name,
		          err.msg, name, s->name);
	if (s->hv->create(&cfg, &attached, &err) < 0) {
		log_warnx("guest %s: keeping the replica's own handle: %s", s->name, err.msg);
		return g;
	}
	s->hv->release(g);
	return attached;
}

/* Where the failover spent its time, after the stream stopped. */
static void stream_note_steps(struct remusd_session *s, struct hv_guest *g, uint64_t end_us)
{
	struct hv_failover_steps ph;
	char line[512];
	size_t off = 0;

	if (s->hv->failover_steps == NULL || end_us == 0)
		return;
	line[0] = 0;
	s->hv->failover_steps(g, &ph);
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
}

/* A hand-over's replica could not start: this side's disk goes back to
 * Secondary and the window closes, before the primary resumes its copy. */
static void stream_backup_give_disk_back(struct remusd_session *s)
{
	struct remus_err err = { 0 };

	pthread_mutex_lock(&s->lock);
	if (session_disk_adopted(s) && s->dr->demote != NULL && s->dr->dual_primary != NULL &&
	    (s->dr->demote(s->disk, &err) < 0 || s->dr->dual_primary(s->disk, false, &err) < 0))
		log_warnx("guest %s: %s resource %s: giving the disk back failed: %s", s->name,
		          s->dr->name, s->gc.drbd_resource, err.msg);
	stream_close_adopted_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* After a hand-over the primary destroys its copy, demotes its side and
 * closes the window there; the backend refuses to close it here while that
 * side is still writable, so this side retries (every 0.5 s, for as long
 * as the primary may take: its confirm wait plus the destroy). */
static void stream_backup_close_window(struct remusd_session *s)
{
	struct remus_err err = { 0 };

	if (!session_disk_adopted(s) || s->dr->dual_primary == NULL)
		return;
	if (stream_disk_retry(s, DISK_WINDOW_CLOSE, REMUSD_WINDOW_CLOSE_TRIES, &err) == 0)
		log_info("guest %s: %s resource %s: dual-primary window closed (the old primary "
		         "demoted)", s->name, s->dr->name, s->gc.drbd_resource);
	else
		log_warnx("guest %s: %s resource %s: the dual-primary window is still open: %s; "
		          "once the old primary's side is Secondary, set allow-two-primaries=no here",
		          s->name, s->dr->name, s->gc.drbd_resource, err.msg);
	pthread_mutex_lock(&s->lock);
	stream_close_adopted_locked(s);
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
		stream_close_adopted_locked(s);  /* promoted (or not): the handle's work is done */
		pthread_mutex_unlock(&s->lock);
	} else if (session_disk_adopted(s)) {
		log_info("guest %s: hand-over: %s resource %s promoted inside the dual-primary "
		         "window", s->name, s->dr->name, s->gc.drbd_resource);
	}
	if (g == NULL) {
		if (rc == 0) {
			remusd_session_set_state(s, RS_UNPROTECTED, "primary ended protection");
		} else {
			/* no replica (its disk or devices failed): a primary waiting
			 * on a hand-over resumes its copy; a lost one never reads it */
			stream_send_bye(s, CKPT_BYE_REFUSED);
			remusd_session_set_state(s, RS_FAILED, err.msg);
		}
		/* no guest runs here: a new run may take the session */
		__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
		session_post(s, SESSION_MSG_ENDED);
		return NULL;
	}
	log_info("guest %s: failing over: %s", s->name, rc == CKPT_ESTOPPED ? "failover on command" :
	         rc == CKPT_HANDOVER ? "planned hand-over from the primary" : err.msg);
	if (s->hv->start(g, &err) < 0) {
		s->hv->destroy(g);
		if (rc == CKPT_HANDOVER) {  /* the primary resumes its copy */
			stream_backup_give_disk_back(s);
			stream_send_bye(s, CKPT_BYE_REFUSED);
		}
		remusd_session_set_state(s, RS_FAILED, err.msg);
		__atomic_store_n(&s->th_done, true, __ATOMIC_RELEASE);
		session_post(s, SESSION_MSG_ENDED);
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
	if (rc == CKPT_HANDOVER)
		stream_send_bye(s, CKPT_BYE_RUNNING);
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
	                                       .xl_header = s->hv->preamble != NULL,
	                                       .prepare = stream_prepare,
	                                       .finish = stream_finish_replica, .arg = s,
	                                       .fault = s->fault };
	int e;

	if ((e = stream_open_adopted(s, DISKREP_BACKUP, err)) < 0)
		return e;
	if (session_disk_adopted(s)) {
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
	/* before the thread exists: it may finish at once and say so */
	__atomic_store_n(&s->th_done, false, __ATOMIC_RELEASE);
	if ((e = pthread_create(&s->th, NULL, stream_backup_main, s)) != 0)
		return remus_err_sys(err, e, "receive %s: thread", s->name);
	pthread_mutex_lock(&s->lock);
	s->th_running = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}
