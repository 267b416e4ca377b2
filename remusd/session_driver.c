/*
 * The driver drives the checkpoint loop (Xen: libxc's Remus loop, its
 * `save_stream`/`restore_stream`): lib/ckpt/stream_*.c pump its byte
 * stream over the link; here the hooks of struct session_engine around
 * it.  Primary: xl's header (the guest's configuration) first, netbuf
 * `plug` on the interface the driver names.  Backup: the replica named,
 * given its devices, started and adopted.  A disk backend that adopts the
 * operator's device (drbd) is opened per run, with its dual-primary window
 * around a hand-over.  Driver and backend through their ops tables only.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt/stream_link.h"
#include "diskrep/nbd_device.h"
#include "remusd/session_impl.h"
#include "util/log.h"

/* How long an evacuating primary waits for the backup to confirm: the
 * backup builds the replica's devices through libxl and its hotplug
 * scripts first (7-34 s measured in the emulated lab); below remusctl's
 * 60 s for the whole evacuation. */
#define REMUSD_EVAC_CONFIRM_XEN_MS 45000u
/* How often the old primary tries to demote after its copy is destroyed. */
#define REMUSD_DEMOTE_TRIES 20
/* How often the backup tries to close the dual-primary window after a
 * hand-over (0.5 s apart): the primary's confirm wait plus its destroy. */
#define REMUSD_WINDOW_CLOSE_TRIES 180

/* The configuration replicates the guest's disk by adopting its device. */
static bool conf_adopts_disk(const struct remusd_session *s)
{
	return s->gc.disk[0] && s->dr != NULL && s->dr->adopts_device;
}

/* The guest's disk is a device the backend adopted (it is not the
 * engine's: no channel, no hook), open in this run. */
static bool disk_adopted(const struct remusd_session *s)
{
	return s->disk != NULL && s->dr != NULL && s->dr->adopts_device;
}

/* The run's adopted disk handle goes (the resource stays as it is). */
static void close_adopted_locked(struct remusd_session *s)
{
	if (disk_adopted(s)) {
		s->dr->close(s->disk);
		s->disk = NULL;
	}
}

/* Demote (or close the dual-primary window of) an adopted disk, which
 * waits on the other side or the driver's backends: tried every 0.5 s, at
 * most `tries` times, without s->lock (status must not wait on it). */
static int disk_retry(struct remusd_session *s, bool demote, unsigned tries,
                      struct remus_err *err)
{
	const struct timespec pause = { 0, 500 * 1000 * 1000 };
	int rc = 0;

	for (unsigned i = 0; i < tries; i++) {
		memset(err, 0, sizeof(*err));
		rc = demote ? s->dr->demote(s->disk, err) : s->dr->dual_primary(s->disk, false, err);
		if (rc == 0)
			break;
		if (i + 1 < tries)
			nanosleep(&pause, NULL);
	}
	return rc;
}

/* After a hand-over (or a cancelled one) this side of an adopted disk lets
 * go: Secondary (demote_tries, 0: stays as it is), then the dual-primary
 * window closed (close_tries: the backend refuses while the other side is
 * still writable); then the handle goes, the resource stays. */
static void disk_let_go(struct remusd_session *s, unsigned demote_tries, unsigned close_tries)
{
	struct remus_err err = { 0 };

	if (disk_adopted(s) && s->dr->demote != NULL && s->dr->dual_primary != NULL) {
		if (disk_retry(s, true, demote_tries, &err) < 0 ||
		    disk_retry(s, false, close_tries, &err) < 0)
			log_warnx("guest %s: %s resource %s: %s; once the guest runs on one side "
			          "only, make the other side Secondary (drbdsetup secondary) and set "
			          "allow-two-primaries=no on both", s->name, s->dr->name,
			          s->gc.drbd_resource, err.msg);
		else
			log_info("guest %s: %s resource %s: %sdual-primary window closed on this side",
			         s->name, s->dr->name, s->gc.drbd_resource,
			         demote_tries ? "Secondary here, " : "");
	}
	pthread_mutex_lock(&s->lock);
	close_adopted_locked(s);
	pthread_mutex_unlock(&s->lock);
}

/* Output buffering for a guest whose output the kernel carries: the
 * `plug` backend on the interface the driver names. */
static int open_plug_netbuf(struct remusd_session *s, struct remus_err *err)
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
static int open_adopted(struct remusd_session *s, enum diskrep_role role, struct remus_err *err)
{
	struct diskrep_config dc = {
		.role = role, .peer_fd = -1, .image = s->gc.disk, .resource = s->gc.drbd_resource,
		.unsafe = (s->gc.unsafe & REMUSD_UNSAFE_DRBD_DISK_AHEAD) != 0,
	};
	struct diskrep *d = NULL;
	int rc;

	if (!conf_adopts_disk(s))
		return 0;
	if ((rc = s->dr->open(&dc, &d, err)) < 0)
		return remus_err_wrap(err, "guest %s: diskrep %s (%s on %s)", s->name, s->dr->name,
		                      s->gc.drbd_resource, s->gc.disk);
	pthread_mutex_lock(&s->lock);
	close_adopted_locked(s);
	s->disk = d;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int driver_protect(struct remusd_session *s, const struct remusd_env *env, bool blackhole,
                          struct remus_err *err)
{
	struct ckpt_stream_sender_cfg sc = { 0 };
	struct hv_blob pre = { 0 };
	int rc;

	(void)blackhole;   /* refused: .blackhole is false */
	/* the guest's configuration first, for the backup to build the replica */
	if (s->hv->preamble != NULL && (rc = s->hv->preamble(s->guest, &pre, err)) < 0) {
		hv_blob_free(&pre);
		return remus_err_wrap(err, "protect %s", s->name);
	}
	sc.preamble = pre.data;
	sc.preamble_len = pre.len;
	if ((rc = open_plug_netbuf(s, err)) < 0 ||
	    (rc = open_adopted(s, DISKREP_PRIMARY, err)) < 0) {
		hv_blob_free(&pre);
		return rc;
	}
	if (disk_adopted(s)) {
		sc.dr_ops = s->dr;
		sc.dr = s->disk;
	} else if (s->disk != NULL) {   /* builtin: its frames ride our link */
		if ((rc = session_disk_channel(s, err)) < 0) {
			hv_blob_free(&pre);
			return rc;
		}
		sc.dr_ops = s->dr;
		sc.dr = s->disk;
		sc.disk_channel = true;
		sc.disk_fd = s->disk_sp[1];
	}
	sc.hv = s->hv;
	sc.guest = s->guest;
	sc.conn = s->conn;
	sc.nb = s->nb_open ? &s->nb : NULL;
	sc.hold_on_loss = true;         /* primary_outcome releases, or quorum fences */
	sc.interval_ms = s->gc.interval_ms;
	sc.ack_timeout_ms = env->conf->hb_timeout_ms * 10;
	sc.confirm_ms = REMUSD_EVAC_CONFIRM_XEN_MS;
	sc.fault = s->fault;
	pthread_mutex_lock(&s->lock);
	rc = ckpt_stream_sender_new(&sc, &s->ssnd, err);
	pthread_mutex_unlock(&s->lock);
	hv_blob_free(&pre);
	return rc;
}

/* The driver's save loop until stop, loss, or the end of a hand-over
 * (done inside the loop: ckpt_stream_sender_request_handover). */
static int driver_run(struct remusd_session *s, struct remus_err *err)
{
	return ckpt_stream_sender_run(s->ssnd, s->stop_pipe[0], 0, err);
}

static void driver_request_handover(struct remusd_session *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->ssnd != NULL)
		ckpt_stream_sender_request_handover(s->ssnd);
	pthread_mutex_unlock(&s->lock);
	if (disk_adopted(s) && s->dr->dual_primary != NULL)
		log_info("guest %s: hand-over: %s resource %s opens its dual-primary window "
		         "(allow-two-primaries) before the final checkpoint", s->name, s->dr->name,
		         s->gc.drbd_resource);
}

/* Primary: held output was released on loss; nothing is held now unless
 * the hand-over is in doubt (netbuf holds what follows N).  The adopted
 * disk goes, unless evacuated (demoted once the copy is gone).  Backup:
 * the adopted disk went with the run already. */
static void driver_end_run(struct remusd_session *s)
{
	if (!s->primary)
		return;
	if (s->state != RS_IN_DOUBT)
		session_netbuf_close(s);
	pthread_mutex_lock(&s->lock);
	if (s->state != RS_EVACUATED)
		close_adopted_locked(s);
	pthread_mutex_unlock(&s->lock);
	if (!disk_adopted(s))
		session_disk_detach(s);     /* builtin: writes only mark its bitmap now */
}

/* The old primary's adopted disk, its copy destroyed (the driver's disk
 * backend may hold the device a moment after the destroy). */
static void driver_after_evacuation(struct remusd_session *s)
{
	disk_let_go(s, REMUSD_DEMOTE_TRIES, 1);
}

/* The replica gets the name "<guest>--backup" (the primary may run on
 * this host under its own name, as with `xl remus` to localhost) and the
 * memory the guest's configuration gives it. */
static int replica_prepare(void *arg, const char *json, size_t len, struct hv_guest_config *gcfg,
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
	if ((conf_adopts_disk(s) || s->nbd != NULL) && cs.disks != 1)
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

/* The replica's disk, served here as nbd_device, becomes the running
 * guest's: the receiver (which committed every whole checkpoint's epoch
 * and promoted the image) lets go of the backup's handle, the image is
 * reopened as a primary's (every write journaled, so the guest can be
 * protected from here), the device routed through it, and the kernel's
 * cached blocks, read before the last commits changed the image under
 * them, dropped. */
static int served_disk_take_over(struct remusd_session *s, struct remus_err *err)
{
	int rc;

	ckpt_stream_receiver_release_disk(s->srcv);
	session_disk_detach(s);
	session_close_disk(s);
	if ((rc = session_open_disk(s, DISKREP_PRIMARY, err)) < 0 ||
	    (rc = nbd_device_drop_cache(s->nbd, err)) < 0) {
		session_close_disk(s);
		return remus_err_wrap(err, "guest %s: the replica's disk %s", s->name,
		                      s->gc.nbd_device);
	}
	log_info("guest %s: the replica's disk is %s (image %s), its writes replicated from now on",
	         s->name, s->gc.nbd_device, s->gc.disk);
	return 0;
}

/* Before the replica runs (the engine promoted its disk already): its
 * devices from the guest's configuration; with an adopted disk its disk is
 * this host's device, not the primary's path. */
static int replica_finish(void *arg, struct hv_guest *g, struct remus_err *err)
{
	struct remusd_session *s = arg;
	size_t len;
	const char *json = ckpt_stream_receiver_config(s->srcv, &len);
	int rc;

	if (s->nbd != NULL && (rc = served_disk_take_over(s, err)) < 0)
		return rc;
	if (s->hv->finish_replica != NULL && json != NULL &&
	    (rc = s->hv->finish_replica(g, json, len, conf_adopts_disk(s) ? s->gc.disk :
	                                s->nbd != NULL ? s->gc.nbd_device : NULL, err)) < 0) {
		if (s->nbd != NULL)
			session_close_disk(s);  /* no replica runs: nothing writes the image */
		return rc;
	}
	return 0;
}

/* Once the replica runs it is the guest.  It takes the guest's own name
 * (as xl's receiver gives it) unless the old primary still holds it on
 * this host, and is attached to like a primary (a later remusd exit must
 * not destroy it). */
static struct hv_guest *replica_adopt(struct remusd_session *s, struct hv_guest *g)
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
static void note_failover_steps(struct remusd_session *s, struct hv_guest *g, uint64_t end_us)
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

static int driver_receive(struct remusd_session *s, struct remus_err *err)
{
	struct hv_guest_config gcfg;
	struct ckpt_stream_receiver_cfg rc = { .hv = s->hv, .guest_cfg = &gcfg, .conn = s->conn,
	                                       .xl_header = s->hv->preamble != NULL,
	                                       .prepare = replica_prepare,
	                                       .finish = replica_finish, .arg = s,
	                                       .fault = s->fault };
	int e;

	if ((e = open_adopted(s, DISKREP_BACKUP, err)) < 0)
		return e;
	if (disk_adopted(s)) {
		rc.dr_ops = s->dr;
		rc.dr = s->disk;
	} else if (s->gc.disk[0] && s->dr != NULL) {
		/* builtin: a new run drops what the last left staged */
		if ((e = session_open_disk(s, DISKREP_BACKUP, err)) < 0 ||
		    (e = s->dr->discard_uncommitted(s->disk, err)) < 0 ||
		    (e = session_disk_channel(s, err)) < 0)
			return e;
		rc.dr_ops = s->dr;
		rc.dr = s->disk;
		rc.disk_channel = true;
		rc.disk_fd = s->disk_sp[1];
	}
	remusd_guest_hvcfg(&s->gc, &gcfg);
	pthread_mutex_lock(&s->lock);
	ckpt_stream_receiver_free(s->srcv);
	s->srcv = NULL;
	e = ckpt_stream_receiver_new(&rc, &s->srcv, err);
	pthread_mutex_unlock(&s->lock);
	return e;
}

/* The driver receives until the stream stops and builds the replica
 * (s->replica, paused) from the last complete checkpoint. */
static int driver_receive_run(struct remusd_session *s, struct remus_err *err)
{
	struct hv_guest *g = NULL;
	int rc;

	rc = ckpt_stream_receiver_run(s->srcv, s->stop_pipe[0], &g, err);
	if (g == NULL || rc != CKPT_HANDOVER) {
		pthread_mutex_lock(&s->lock);
		close_adopted_locked(s);  /* promoted (or not): the handle's work is done */
		pthread_mutex_unlock(&s->lock);
	} else if (disk_adopted(s)) {
		log_info("guest %s: hand-over: %s resource %s promoted inside the dual-primary "
		         "window", s->name, s->dr->name, s->gc.drbd_resource);
	}
	s->replica = g;
	return rc;
}

/* Start the replica the driver built and adopt it as the guest. */
static int driver_take_over(struct remusd_session *s, int rc, struct remus_err *err)
{
	struct hv_guest *g = s->replica;
	uint64_t t0 = ckpt_now_us(), end_us;
	int e;

	s->replica = NULL;
	if (g == NULL) {
		/* no replica (its disk or devices failed): a primary waiting on a
		 * hand-over resumes its copy (answer); a lost one never reads it */
		if (rc != CKPT_HANDOVER)
			session_send_bye(s, CKPT_BYE_REFUSED);
		return rc < 0 ? rc : -EIO;
	}
	if ((e = s->hv->start(g, err)) < 0) {
		s->hv->destroy(g);
		if (rc == CKPT_HANDOVER)    /* the primary resumes its copy: disk back first */
			disk_let_go(s, 1, 1);
		if (s->nbd != NULL)         /* no replica runs: nothing writes the image */
			session_close_disk(s);
		return e;
	}
	end_us = ckpt_stream_receiver_end_us(s->srcv);
	note_failover_steps(s, g, end_us);
	g = replica_adopt(s, g);
	pthread_mutex_lock(&s->lock);
	s->guest = g;
	memset(&s->fo, 0, sizeof(s->fo));
	s->fo.total_us = ckpt_now_us() - (end_us != 0 && end_us < t0 ? end_us : t0);
	s->failover_done = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* A hand-over's answer; once running, this side's window closes too. */
static void driver_answer(struct remusd_session *s, bool running)
{
	session_send_bye(s, running ? CKPT_BYE_RUNNING : CKPT_BYE_REFUSED);
	if (running)   /* once the old primary demoted: its confirm wait plus the destroy */
		disk_let_go(s, 0, REMUSD_WINDOW_CLOSE_TRIES);
}

static bool driver_stats(struct remusd_session *s, struct ckpt_stats *st)
{
	if (s->ssnd)
		ckpt_stream_sender_stats(s->ssnd, st);
	else if (s->srcv)
		ckpt_stream_receiver_stats(s->srcv, st);
	return s->ssnd != NULL || s->srcv != NULL;
}

static int driver_set_interval(struct remusd_session *s, uint32_t ms, struct remus_err *err)
{
	return ckpt_stream_sender_set_interval(s->ssnd, ms, err);
}

static void driver_free(struct remusd_session *s)
{
	ckpt_stream_sender_free(s->ssnd);
	ckpt_stream_receiver_free(s->srcv);
	s->ssnd = NULL;
	s->srcv = NULL;
}

const struct session_engine session_driver_engine = {
	.blackhole = false,
	.hold_on_loss = true,
	.protect = driver_protect,
	.run = driver_run,
	.request_handover = driver_request_handover,
	.end_run = driver_end_run,
	.after_evacuation = driver_after_evacuation,
	.receive = driver_receive,
	.receive_run = driver_receive_run,
	.take_over = driver_take_over,
	.answer = driver_answer,
	.stats = driver_stats,
	.set_interval = driver_set_interval,
	.free = driver_free,
};
