/* remusctl check's peer contact, both ends: see check_peer.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "remusd/check_peer.h"
#include "remusd/check_proto.h"
#include "util/log.h"

/* Append one particular to a "; "-separated (answer) or line (detail)
 * text, cut at cap. */
static void add_text(char *buf, size_t cap, const char *sep, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void add_text(char *buf, size_t cap, const char *sep, const char *fmt, ...)
{
	size_t off = strnlen(buf, cap);
	va_list ap;

	if (off + 1 >= cap)
		return;
	if (off > 0)
		off += (size_t)snprintf(buf + off, cap - off, "%s", sep);
	if (off + 1 >= cap)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + off, cap - off, fmt, ap);
	va_end(ap);
}

/* One of check's particulars: logged, and added as a line of the
 * client's detail (detail may be NULL). */
static void check_note(const char *guest, char *detail, size_t cap, const char *line)
{
	log_info("check %s: %s", guest, line);
	if (detail != NULL)
		add_text(detail, cap, "\n", "%s", line);
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
		check_note(s->name, detail, cap, err.msg);
		return CTL_CHECK_HV_UNSUPPORTED;
	}
	for (unsigned i = 0; i < hc.n; i++)
		check_note(s->name, detail, cap, hc.text[i]);
	if (hc.blocks & HV_CHECK_UNSUPPORTED)
		r |= CTL_CHECK_HV_UNSUPPORTED;
	if ((hc.blocks & HV_CHECK_NO_NETBUF) && s->gc.netbuf != REMUSD_NETBUF_NONE &&
	    !(unsafe & CTL_UNSAFE_NO_NETBUF))
		r |= CTL_CHECK_NETBUF_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if ((hc.blocks & HV_CHECK_NO_DISKREP) && !(unsafe & CTL_UNSAFE_NO_DISKREP))
		r |= CTL_CHECK_DISKREP_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if (s->gc.disk[0] && s->dr != NULL && s->dr->adopts_device && s->dr->check != NULL) {
		struct diskrep_config dc = { .role = DISKREP_PRIMARY, .peer_fd = -1,
		                             .image = s->gc.disk, .resource = s->gc.drbd_resource };

		if (s->dr->check(&dc, &err) < 0) {
			r |= CTL_CHECK_DISKREP_UNAVAILABLE;
			check_note(s->name, detail, cap, err.msg);
		} else {
			log_info("check %s: %s", s->name, err.msg);
		}
	}
	return r;
}

/* Size of a block device from sysfs, without opening it: a backup's DRBD
 * minor is Secondary and refuses every open (EMEDIUMTYPE) until promoted. */
static int blockdev_size(const char *path, const struct stat *st, uint64_t *bytes,
                         struct remus_err *err)
{
	char sys[96];
	unsigned long long sectors;
	FILE *f;
	int n;

	snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/size", major(st->st_rdev), minor(st->st_rdev));
	if ((f = fopen(sys, "re")) == NULL)
		return remus_err_sys(err, errno, "%s: size (%s)", path, sys);
	n = fscanf(f, "%llu", &sectors);
	fclose(f);
	if (n != 1 || sectors > UINT64_MAX / 512u)
		return remus_err_set(err, -EINVAL, "%s: size: %s is not a sector count", path, sys);
	*bytes = sectors * 512u;
	return 0;
}

/* Size of a disk image (lseek to the end) or block device (sysfs). */
static int disk_size(const char *path, uint64_t *bytes, struct remus_err *err)
{
	struct stat st;
	off_t end;
	int fd;

	if (stat(path, &st) < 0)
		return remus_err_sys(err, errno, "%s", path);
	if (S_ISBLK(st.st_mode))
		return blockdev_size(path, &st, bytes, err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return remus_err_sys(err, errno, "%s", path);
	end = lseek(fd, 0, SEEK_END);
	close(fd);
	if (end < 0)
		return remus_err_sys(err, errno, "%s: size", path);
	*bytes = (uint64_t)end;
	return 0;
}

/* MemAvailable of this host in MiB (0 if unknown). */
static uint64_t mem_available_mb(void)
{
	char line[128];
	unsigned long long kb = 0;
	FILE *f = fopen("/proc/meminfo", "re");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return kb / 1024u;
}

/* ---- backup side ------------------------------------------------------ */

void remusd_check_caps(const struct rnet_caps *pri, struct rnet_caps *self)
{
	self->compress_mask |= RNET_COMPRESS_BIT(pri->compress < 32 ? pri->compress : 0);
	self->flags = pri->flags;
	self->diskrep = pri->diskrep;
	memcpy(self->hv, pri->hv, sizeof(self->hv));
	memcpy(self->guest, pri->guest, sizeof(self->guest));
}

/* Whether a guest of this name runs or is received here now. */
static bool session_busy(struct remusd_session *s, char *why, size_t cap)
{
	enum remusd_state st;

	if (s == NULL)
		return false;
	pthread_mutex_lock(&s->lock);
	st = s->state;
	pthread_mutex_unlock(&s->lock);
	switch (st) {
	case RS_IDLE: case RS_SYNCING: case RS_PROTECTED: case RS_EVACUATING: case RS_UNPROTECTED:
	case RS_IN_DOUBT: case RS_FENCED: case RS_WAITING_QUORUM:
	case RS_RECEIVING: case RS_REPLICA_READY: case RS_ACTIVE:
		snprintf(why, cap, "guest %s %s there (state %s)", s->name,
		         s->primary || st == RS_ACTIVE ? "runs" : "is being received", remusd_state_name(st));
		return true;
	default:
		return false;
	}
}

/* What this host lacks to hold the guest the primary names. */
static void judge_here(const struct remusd_env *env, struct remusd_session *s, const char *name,
                       const struct rnet_caps *pri, struct remusd_check_answer *a)
{
	const struct remusd_guest_conf *gc = remusd_conf_guest(env->conf, name);
	struct remus_err err = { 0 };
	struct rnet_params p;
	char why[160];
	uint64_t avail;

	if (gc == NULL) {
		a->problems |= REMUSD_PEER_NO_GUEST;
		add_text(a->text, sizeof(a->text), "; ", "no [guest %s] in its configuration", name);
		return;
	}
	if (session_busy(s, why, sizeof(why))) {
		a->problems |= REMUSD_PEER_BUSY;
		add_text(a->text, sizeof(a->text), "; ", "%s", why);
	}
	if (s != NULL) {
		pthread_mutex_lock(&s->lock);
		if (s->guest != NULL)
			a->problems |= REMUSD_PEER_RUNS;
		else if (!s->primary && s->th_running)
			a->problems |= REMUSD_PEER_TAKING;
		pthread_mutex_unlock(&s->lock);
	}
	remusd_rnet_params(env, gc, &p);
	if (strncmp(p.caps.hv, pri->hv, sizeof(p.caps.hv)) != 0 || p.caps.diskrep != pri->diskrep) {
		a->problems |= REMUSD_PEER_TYPE;
		add_text(a->text, sizeof(a->text), "; ", "type %s with diskrep %s there, %.15s with %s "
		         "here", p.caps.hv, diskrep_kind_name(p.caps.diskrep), pri->hv,
		         diskrep_kind_name(pri->diskrep));
	}
	a->mem_mb = gc->mem_mb;
	avail = mem_available_mb();
	if (gc->mem_mb && avail && avail < gc->mem_mb && !(a->problems & REMUSD_PEER_BUSY)) {
		a->problems |= REMUSD_PEER_MEMORY;
		add_text(a->text, sizeof(a->text), "; ", "needs %u MiB, %" PRIu64 " MiB available",
		         gc->mem_mb, avail);
	}
	if (gc->disk[0] && disk_size(gc->disk, &a->disk_bytes, &err) < 0) {
		a->problems |= REMUSD_PEER_DISK;
		add_text(a->text, sizeof(a->text), "; ", "disk image %s", err.msg);
	}
	if (gc->type == REMUSD_GUEST_PVM && access(gc->image, R_OK) < 0) {
		a->problems |= REMUSD_PEER_IMAGE;
		add_text(a->text, sizeof(a->text), "; ", "image %s: %s", gc->image, strerror(errno));
	}
}

void remusd_check_answer(const struct remusd_env *env, struct remusd_session *s,
                         const char *name, const char *from, struct rnet_conn *conn)
{
	struct remusd_check_answer a = { 0 };
	struct remus_err err = { 0 };
	uint8_t body[RNET_CHECK_MAX];
	size_t n;

	judge_here(env, s, name, rnet_conn_peer_caps(conn), &a);
	n = remusd_check_answer_encode(&a, body);
	/* a fresh link: the few bytes fit in the socket buffer at once */
	if (rnet_conn_send_check(conn, body, n, &err) < 0 || rnet_conn_flush(conn, &err) != 0)
		log_warnx("check of guest %s from %s: cannot answer: %s", name, from,
		          err.msg[0] ? err.msg : "answer not sent at once");
	else
		log_info("check of guest %s from %s: %s", name, from, a.problems ? a.text : "can hold it");
	rnet_conn_free(conn);
}

/* ---- primary side (worker) ------------------------------------------- */

/* Wait for the backup's answer on a check-only link. */
static int wait_answer(struct rnet_conn *conn, struct remusd_check_answer *a, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + REMUSD_CHECK_ANSWER_MS;
	struct rnet_msg msg;
	int rc, closed = 0;

	for (;;) {
		uint64_t now = rnet_now_ms();
		struct pollfd pfd = { rnet_conn_fd(conn), POLLIN, 0 };
		/* the answer and the close may come in one read: next() then
		 * reports the close first, and the frame on the following call */
		if ((rc = rnet_conn_next(conn, &msg, err)) == RNET_ECLOSED && !closed) {
			closed = rc;
			continue;
		}
		if (rc < 0 && rc != RNET_ECLOSED)
			return rc;
		if (rc == 1 && msg.type == RNET_MSG_CHECK)
			return remusd_check_answer_parse(msg.body, msg.len, a, err);
		if (rc == 1)
			return remus_err_set(err, RNET_EPROTO, "a %u frame instead of the check answer",
			                     msg.type);
		if (closed)
			return remus_err_set(err, closed, "the peer closed the link without answering "
			                     "the check (a peer too old to answer checks?)");
		if (now >= deadline)
			return remus_err_set(err, RNET_ETIMEOUT, "no check answer within %u ms",
			                     REMUSD_CHECK_ANSWER_MS);
		if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
		if ((rc = rnet_conn_feed(conn, rnet_now_ms(), err)) == RNET_ECLOSED)
			closed = rc;
		else if (rc < 0)
			return rc;
	}
}

/* An error of the connect or handshake: unreachable or refused? */
static uint32_t link_reason(int rc)
{
	switch (rc) {
	case RNET_EAUTH: case RNET_EVERSION: case RNET_ECAPS: case RNET_EREFUSED:
	case RNET_EPROTO: case RNET_ETLS: case RNET_ECLOSED: case -ECONNRESET:
		return CTL_CHECK_PEER_REFUSED;
	default:   /* refused connect, no route, timeouts, name lookup */
		return CTL_CHECK_PEER_UNREACHABLE;
	}
}

/* Compare the backup's answer with the guest here. */
static void judge_answer(struct remusd_check *c, const struct remusd_check_answer *a)
{
	const char *peer = c->gc.peer_host;
	struct remus_err err = { 0 };
	uint64_t here = 0;

	if (a->problems) {
		c->reasons |= CTL_CHECK_PEER_CANNOT_HOLD;
		add_text(c->detail, sizeof(c->detail), "\n", "peer %s: %s", peer, a->text);
	}
	if (a->problems & (REMUSD_PEER_NO_GUEST | REMUSD_PEER_BUSY))
		return;
	if (c->gc.mem_mb && a->mem_mb && a->mem_mb != c->gc.mem_mb) {
		c->reasons |= CTL_CHECK_PEER_CANNOT_HOLD;
		add_text(c->detail, sizeof(c->detail), "\n", "peer %s: mem = %u MiB there, %u MiB here",
		         peer, a->mem_mb, c->gc.mem_mb);
	}
	/* a disk the engine replicates (not an adopted device): same size there */
	const struct diskrep_ops *dr = diskrep_backend_of(c->gc.diskrep);
	if (c->gc.disk[0] && dr != NULL && !dr->adopts_device &&
	    !(a->problems & REMUSD_PEER_DISK) && disk_size(c->gc.disk, &here, &err) == 0 &&
	    a->disk_bytes != here) {
		c->reasons |= CTL_CHECK_PEER_CANNOT_HOLD;
		add_text(c->detail, sizeof(c->detail), "\n", "peer %s: disk of %" PRIu64 " bytes there, "
		         "%" PRIu64 " here", peer, a->disk_bytes, here);
	}
}

int remusd_check_contact(const struct remusd_env *env, const struct remusd_guest_conf *gc,
                         const char *host, uint16_t port, struct remusd_check_answer *a,
                         bool *linked, struct remus_err *err)
{
	struct rnet_conn *conn = NULL;
	struct rnet_params p;
	int rc;

	*linked = false;
	remusd_rnet_params(env, gc, &p);
	p.caps.flags |= RNET_CAP_CHECK;
	p.handshake_ms = REMUSD_CHECK_CONNECT_MS;
	if ((rc = rnet_connect(host, port, &p, &conn, err)) < 0)
		return rc;
	*linked = true;
	rc = wait_answer(conn, a, err);
	rnet_conn_free(conn);
	return rc;
}

/* Contact the configured peer over a check-only link. */
static void check_peer(struct remusd_check *c)
{
	struct remusd_check_answer a;
	struct remus_err err = { 0 };
	bool linked;
	int rc;

	if (c->gc.peer_port == 0) {
		c->reasons |= CTL_CHECK_NO_PEER;
		add_text(c->detail, sizeof(c->detail), "\n", "no peer = in [guest %s]", c->gc.name);
		return;
	}
	rc = remusd_check_contact(&c->env, &c->gc, c->gc.peer_host, c->gc.peer_port, &a, &linked,
	                          &err);
	if (rc < 0 && !linked) {
		c->reasons |= link_reason(rc);
		if (strncmp(err.msg, "peer ", 5) == 0 && strchr(err.msg, ':') != NULL &&
		    strncmp(err.msg + 5, c->gc.peer_host, strlen(c->gc.peer_host)) == 0)
			add_text(c->detail, sizeof(c->detail), "\n", "%s", err.msg);  /* names it */
		else
			add_text(c->detail, sizeof(c->detail), "\n", "peer %s:%u: %s", c->gc.peer_host,
			         c->gc.peer_port, err.msg);
		return;
	}
	if (rc < 0) {
		c->reasons |= CTL_CHECK_PEER_REFUSED;
		add_text(c->detail, sizeof(c->detail), "\n", "peer %s:%u: %s", c->gc.peer_host,
		         c->gc.peer_port, err.msg);
	} else {
		judge_answer(c, &a);
	}
}

void remusd_check_run(struct remusd_check *c)
{
	struct remus_err err = { 0 };
	struct rnet_key *key = malloc(sizeof(*key));

	if (c->s != NULL && c->s->primary)
		c->reasons |= remusd_session_driver_check(c->s, c->unsafe, c->detail, sizeof(c->detail));
	/* the key the daemon holds still works, but a restart or reload would
	 * fail: the file is what is checked */
	if (key == NULL || rnet_key_load(c->env.conf->key_file, key, &err) < 0) {
		c->reasons |= CTL_CHECK_NO_KEY;
		add_text(c->detail, sizeof(c->detail), "\n", "%s",   /* names the file */
		         key ? err.msg : "key file: out of memory");
	}
	if (key != NULL) {
		memset(key, 0, sizeof(*key));
		free(key);
	}
	/* protected: the peer holds our replica, so it is reachable and busy */
	if (!(c->reasons & CTL_CHECK_ALREADY_PROTECTED))
		check_peer(c);
}
