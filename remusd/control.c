/*
 * remusd's control requests, as the loop serves them (main.c polls; this
 * file answers): status, list, check and the operations on one guest.
 * Whatever waits on an engine thread, a peer, a restore or a tool goes to
 * a guest_op worker with a deferred reply; nothing here blocks.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <json-c/json.h>

#include "remusd/check_peer.h"
#include "remusd/daemon.h"
#include "remusd/upgrade.h"
#include "util/log.h"

/* Replies never wait on a client: the socket's send buffer holds a whole
 * reply (ctl_accept sizes it), and a client that leaves its replies unread
 * until one does not fit is dropped, not waited for. */
#define REPLY_WAIT_MS 0

/* Send a REPLY with a text or JSON payload. */
static int reply(struct ctl_conn *c, uint32_t seq, int code, uint32_t fmt, const char *text)
{
	static const size_t cap = CTL_MSG_MAX;
	struct remus_err err = { 0 };
	uint8_t *buf = malloc(cap);
	size_t len = strlen(text);
	int n, rc;

	if (buf == NULL)
		return -ENOMEM;
	if (len > CTL_BODY_MAX - 64)
		len = CTL_BODY_MAX - 64;
	n = ctl_encode_reply(buf, cap, seq, code, fmt, text, len);
	rc = n < 0 ? n : ctl_conn_send(c, buf, (size_t)n, REPLY_WAIT_MS, &err);
	free(buf);
	return rc;
}

/* The cluster's word as status shows it (JSON "quorum"). */
static struct json_object *quorum_json(struct daemon *d)
{
	struct json_object *q = json_object_new_object();
	struct remusd_quorum_state st;
	char text[192];

	remusd_quorum_view_get(&d->qview, &st);
	remusd_quorum_describe(&st, text, sizeof(text));
	json_object_object_add(q, "backend", json_object_new_string(d->qview.backend));
	json_object_object_add(q, "failover", json_object_new_string(
	                       d->conf->failover == REMUSD_FAILOVER_CLUSTER ? "cluster" : "auto"));
	json_object_object_add(q, "known", json_object_new_boolean(st.known));
	json_object_object_add(q, "quorate", json_object_new_boolean(st.quorate));
	if (d->conf->quorum == REMUSD_QUORUM_COROSYNC) {
		json_object_object_add(q, "nodeid", json_object_new_int64(st.nodeid));
		json_object_object_add(q, "votes", json_object_new_int64(st.total_votes));
		json_object_object_add(q, "expected_votes", json_object_new_int64(st.expected_votes));
		json_object_object_add(q, "quorum", json_object_new_int64(st.quorum));
		json_object_object_add(q, "node_votes", json_object_new_int64(st.votes));
		json_object_object_add(q, "members", json_object_new_int64(st.members));
		json_object_object_add(q, "peer_present", json_object_new_boolean(st.peer_present));
		json_object_object_add(q, "witness", json_object_new_string(
		                       !st.qdevice ? "none" : st.qdevice_alive ? "alive" : "lost"));
		json_object_object_add(q, "settle_ms", json_object_new_int64(d->qview.settle_ms));
	}
	json_object_object_add(q, "text", json_object_new_string(text));
	return q;
}

/* Status of one guest or all, as JSON. */
static int handle_status(struct daemon *d, struct ctl_conn *c, const struct ctl_msg *m)
{
	struct json_object *o = json_object_new_object(), *arr = json_object_new_array();
	int rc;

	for (size_t i = 0; i < d->nsessions; i++)
		if (m->guest[0] == 0 || strcmp(m->guest, d->sessions[i]->name) == 0)
			json_object_array_add(arr, remusd_session_json(d->sessions[i]));
	if (m->guest[0] && json_object_array_length(arr) == 0 && remusd_conf_guest(d->conf, m->guest) == NULL) {
		json_object_put(arr);
		json_object_put(o);
		return reply(c, m->seq, -ENOENT, CTL_FMT_TEXT, "no such guest");
	}
	json_object_object_add(o, "guests", arr);
	json_object_object_add(o, "quorum", quorum_json(d));
	rc = reply(c, m->seq, 0, CTL_FMT_JSON, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return rc;
}

/* Configured guests and what this daemon does with them. */
static int handle_list(struct daemon *d, struct ctl_conn *c, const struct ctl_msg *m)
{
	char text[8192];
	size_t off = 0;

	text[0] = 0;
	for (size_t i = 0; i < d->conf->nguests && off < sizeof(text) - 128; i++) {
		const struct remusd_guest_conf *gc = &d->conf->guests[i];
		struct remusd_session *s = daemon_find_session(d, gc->name);
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%-20s %-8s %s\n", gc->name,
		                        s ? (s->primary ? "primary" : "backup") : "-",
		                        s ? remusd_state_name(s->state) : "not running");
	}
	return reply(c, m->seq, 0, CTL_FMT_TEXT, text);
}

/* Why a guest cannot be protected, as the fixed list of reasons: what the
 * configuration and the session say (no tool runs: the driver's and the
 * disk backend's probes run on the guest's worker, for check and protect). */
static uint32_t check_reasons(struct daemon *d, const char *name, uint32_t unsafe)
{
	const struct remusd_guest_conf *gc = remusd_conf_guest(d->conf, name);
	struct remusd_session *s = daemon_find_session(d, name);
	uint32_t r = 0;

	if (gc == NULL)
		return CTL_CHECK_NO_SUCH_GUEST;
	if (s == NULL || s->guest == NULL || !s->primary)
		r |= CTL_CHECK_NOT_RUNNING;
	if (s && (s->state == RS_SYNCING || s->state == RS_PROTECTED || s->state == RS_EVACUATING))
		r |= CTL_CHECK_ALREADY_PROTECTED;
	if (hv_driver(remusd_guest_type_name(gc->type)) == NULL)
		r |= CTL_CHECK_HV_UNSUPPORTED;
	if (gc->tap[0] && gc->netbuf != REMUSD_NETBUF_INLINE && gc->netbuf != REMUSD_NETBUF_NFQUEUE &&
	    !(unsafe & CTL_UNSAFE_NO_NETBUF))
		r |= CTL_CHECK_NETBUF_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	/* the configuration pairs a backend only with a driver it serves */
	if (gc->disk[0] && diskrep_backend_of(gc->diskrep) == NULL &&
	    !(unsafe & CTL_UNSAFE_NO_DISKREP))
		r |= CTL_CHECK_DISKREP_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	return r;
}

/* Refuse a request on a guest whose operation runs on a worker (that
 * worker owns the session's guest and engine until it is done). */
static int busy_refusal(struct daemon *d, const char *guest, struct remus_err *err)
{
	struct remusd_session *s = daemon_find_session(d, guest);
	const struct guest_op *busy = s ? guest_ops_busy(&d->ops, s) : NULL;

	if (busy == NULL)
		return 0;
	return remus_err_set(err, -EBUSY, "guest %s: %s in progress", guest,
	                     guest_op_name(busy->type));
}

/* remusctl check: the local rules here, then the driver, key file and
 * peer on a worker (check_peer.h); the reply is deferred. */
static int handle_check(struct daemon *d, struct ctl_conn *c, const struct ctl_msg *m)
{
	const struct remusd_guest_conf *gc = remusd_conf_guest(d->conf, m->guest);
	struct remus_err err = { 0 };
	struct remusd_check *chk;
	uint8_t buf[64];
	int n;

	if ((n = busy_refusal(d, m->guest, &err)) < 0)
		return reply(c, m->seq, n, CTL_FMT_TEXT, err.msg);
	if (gc == NULL) {
		n = ctl_encode_check_reply(buf, sizeof(buf), m->seq, CTL_CHECK_NO_SUCH_GUEST);
		return n < 0 ? n : ctl_conn_send(c, buf, (size_t)n, REPLY_WAIT_MS, &err);
	}
	if ((chk = calloc(1, sizeof(*chk))) == NULL)
		return reply(c, m->seq, -ENOMEM, CTL_FMT_TEXT, "check: out of memory");
	chk->gc = *gc;
	chk->env = d->env;
	chk->s = daemon_find_session(d, m->guest);
	chk->unsafe = gc->unsafe;
	chk->reasons = check_reasons(d, m->guest, 0);
	if (daemon_disk_problem(d, m->guest)[0]) {   /* its disk is not served here */
		chk->reasons |= CTL_CHECK_DISKREP_UNAVAILABLE;
		snprintf(chk->detail, sizeof(chk->detail), "its disk %.300s is not served as %s: %.250s",
		         gc->disk, gc->nbd_device, daemon_disk_problem(d, m->guest));
	}
	if ((n = guest_ops_start_check(&d->ops, chk->s, c, m, chk, &err)) < 0)
		return reply(c, m->seq, n, CTL_FMT_TEXT, err.msg);
	return CTL_PENDING;
}

/* The requests that act on one guest. */
static int handle_guest_op(struct daemon *d, struct ctl_conn *c, const struct ctl_msg *m)
{
	struct remus_err err = { 0 };
	struct remusd_session *s;
	char why[512];
	uint32_t r;
	/* one operation per guest: nothing else acts on it meanwhile */
	int rc = busy_refusal(d, m->guest, &err);

	if (rc < 0) {
		/* refused, err says why */
	} else if (m->type == CTL_START) {
		s = daemon_get_session(d, m->guest, true, &err);
		rc = s ? remusd_session_start_guest(s, &err) : -EINVAL;
	} else if ((s = daemon_find_session(d, m->guest)) == NULL) {
		rc = remus_err_set(&err, -ENOENT, "guest %s is not running here", m->guest);
	} else if (m->type == CTL_PROTECT) {
		/* the driver's and the disk's probes run on the worker first */
		r = check_reasons(d, m->guest, m->unsafe) & ~CTL_CHECK_ALREADY_PROTECTED;
		if (r) {
			ctl_check_reasons_text(r, why, sizeof(why));
			rc = remus_err_set(&err, -EPERM, "cannot protect %s: %s", m->guest, why);
		} else if ((rc = guest_ops_start(&d->ops, s, c, m, &d->env, &err)) == 0) {
			return CTL_PENDING;   /* probes, connect + handshake: off the loop */
		}
	} else if (m->type == CTL_UNPROTECT || m->type == CTL_FAILOVER ||
	           m->type == CTL_FAILOVER_FORCE || m->type == CTL_EVACUATE ||
	           m->type == CTL_RESUME || m->type == CTL_DESTROY || m->type == CTL_STOP) {
		/* each waits on an engine thread, a peer, a restore or the
		 * driver (the hand-over: up to 2 x the ACK timeout + 5 s): off
		 * the loop */
		if ((rc = guest_ops_start(&d->ops, s, c, m, &d->env, &err)) == 0)
			return CTL_PENDING;
	} else if (m->type == CTL_STORE) {
		char *out = malloc(CTL_BODY_MAX - 64);
		rc = out ? remusd_session_store(s, m, out, CTL_BODY_MAX - 64, &err)
		         : remus_err_set(&err, -ENOMEM, "store: out of memory");
		if (rc == 0)
			rc = reply(c, m->seq, 0, CTL_FMT_TEXT, out);
		free(out);
		if (rc >= 0)
			return rc;
	} else if (m->type == CTL_SET) {
		if ((rc = remusd_session_set(s, m->setting, m->value, why, sizeof(why), &err)) == 0)
			return reply(c, m->seq, 0, CTL_FMT_TEXT, why);
	} else {
		rc = remus_err_set(&err, -ENOTSUP, "%s is not implemented yet", ctl_type_name(m->type));
	}
	if (rc < 0)
		log_warnx("%s %s: %s", ctl_type_name(m->type), m->guest, err.msg);
	return reply(c, m->seq, rc < 0 ? rc : 0, CTL_FMT_TEXT, rc < 0 ? err.msg : "ok");
}

/* A worker finished its operation: the deferred reply goes out now. */
void daemon_guest_op_done(void *arg, struct guest_op *op)
{
	struct daemon *d = arg;
	struct remus_err err = { 0 };
	uint8_t buf[CTL_HDR_LEN + 8 + CTL_CHECK_DETAIL_MAX];
	int rc;

	if (op->type == GUEST_OP_YIELD) {       /* not asked for by a client either */
		if (op->rc < 0)
			log_warnx("guest %s: yielding to a newer copy failed: %s", op->name, op->err.msg);
		return;
	}
	if (op->type == GUEST_OP_RECEIVE) {     /* not asked for by a client */
		if (op->rc < 0)
			log_warnx("guest %s: cannot receive from %s: %s", op->name, op->peer,
			          op->err.msg);
		else
			log_info("guest %s: receiving from a primary at %s", op->name, op->peer);
		return;
	}
	if (op->type == GUEST_OP_PROBE) {
		daemon_in_doubt_answered(d, op->check);
		return;
	}
	if (op->c == NULL) {                    /* the daemon's own operation */
		if (op->type == CTL_PROTECT && op->rc < 0)
			daemon_reprotect_failed(d, op->s, op->err.msg);
		else if (op->rc < 0)
			log_warnx("guest %s: %s: %s", op->name, guest_op_name(op->type), op->err.msg);
		return;
	}
	if (op->rc < 0)
		log_warnx("%s %s: %s", ctl_type_name(op->type), op->name, op->err.msg);
	/* the operator decides now: the daemon stops retrying by itself */
	if (op->rc == 0 && (op->type == CTL_PROTECT || op->type == CTL_UNPROTECT))
		remusd_session_disarm_reprotect(op->s, op->type == CTL_PROTECT ?
		                                "protected on request" : "unprotected on request");
	if (op->type == CTL_CHECK) {
		rc = ctl_encode_check_detail(buf, sizeof(buf), op->seq, op->check->reasons,
		                             op->check->detail);
		rc = rc < 0 ? rc : ctl_conn_send(op->c, buf, (size_t)rc, REPLY_WAIT_MS, &err);
	} else {
		rc = reply(op->c, op->seq, op->rc < 0 ? op->rc : 0, CTL_FMT_TEXT,
		           op->rc < 0 ? op->err.msg : "ok");
	}
	if (rc < 0)
		log_info("guest %s: %s ended, its client left meanwhile", op->name,
		         guest_op_name(op->type));
	ctl_server_finish(d->ctl, op->c, rc);
}

/* Control-socket dispatch. */
int daemon_handle_ctl(void *arg, struct ctl_conn *c, const struct ctl_msg *m)
{
	struct daemon *d = arg;

	switch (m->type) {
	case CTL_LIST:
		return handle_list(d, c, m);
	case CTL_STATUS:
	case CTL_STATS:
		return handle_status(d, c, m);
	case CTL_CHECK:
		return handle_check(d, c, m);
	case CTL_UPGRADE:
		return daemon_handle_upgrade(d, c, m);
	default:
		return handle_guest_op(d, c, m);
	}
}

