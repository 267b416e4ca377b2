/*
 * remusd — the remus daemon: one per host.  Runs guests, protects them
 * towards a peer daemon (primary), receives replicas and fails over
 * (backup).  Foreground process; tells systemd when ready if started with
 * NOTIFY_SOCKET.  Control over a unix socket (remusctl); replication
 * peers' handshakes run non-blocking in the same loop (bounded number).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "remusd/check_peer.h"
#include "remusd/ctl_proto.h"
#include "remusd/fault.h"
#include "remusd/guest_op.h"
#include "remusd/hold.h"
#include "remusd/metrics.h"
#include "remusd/session.h"
#include "util/log.h"
#include "util/version.h"

/* Replication peers whose handshake runs (non-blocking, in the main loop,
 * so a silent or slow peer never stalls the control socket); a peer beyond
 * the bound is refused at once. */
#define REMUSD_MAX_PENDING_HS 8u

struct pending_peer {
	struct rnet_hs *hs;
	char addr[INET6_ADDRSTRLEN + 8];
};

struct daemon {
	const char *conf_path;
	struct remusd_conf *conf;
	struct rnet_key key;
	struct remusd_env env;
	struct ctl_server *ctl;
	int listen_fd;
	struct remusd_session *sessions[REMUSD_MAX_GUESTS];
	size_t nsessions;
	struct pending_peer pending[REMUSD_MAX_PENDING_HS];
	size_t npending;
	struct remusd_hold hold;        /* test hold points (REMUSD_HOLD) */
	bool has_hold;
	struct remusd_fault fault;      /* REMUSD_FAULT (fault trials only) */
	struct guest_ops ops;           /* evacuate / protect off the loop */
	struct remusd_metrics *metrics; /* metrics_listen (NULL: off) */
};

static volatile sig_atomic_t got_stop, got_reload;

/* Signal handlers only set flags; the loop does the work. */
static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_reload = 1;
	else
		got_stop = 1;
}

/* The session of a guest, or NULL. */
static struct remusd_session *find_session(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nsessions; i++)
		if (strcmp(d->sessions[i]->name, name) == 0)
			return d->sessions[i];
	return NULL;
}

/* The session of a configured guest, created in the given role if new. */
static struct remusd_session *get_session(struct daemon *d, const char *name, bool primary,
                                          struct remus_err *err)
{
	const struct remusd_guest_conf *gc = remusd_conf_guest(d->conf, name);
	struct remusd_session *s = find_session(d, name);

	if (s != NULL)
		return s;
	if (gc == NULL) {
		remus_err_set(err, -ENOENT, "no guest '%s' in the configuration", name);
		return NULL;
	}
	if (d->nsessions == REMUSD_MAX_GUESTS) {
		remus_err_set(err, -ENOSPC, "too many sessions");
		return NULL;
	}
	if ((s = remusd_session_new(gc, primary, err)) == NULL)
		return NULL;
	/* test hooks, one at a time: hold points win over fault trials */
	if (d->has_hold)
		s->fault = (struct ckpt_fault){ &d->hold, remusd_hold_hit };
	else
		s->fault = remusd_fault_hook(&d->fault);
	d->sessions[d->nsessions++] = s;
	remusd_metrics_add_session(d->metrics, s);
	return s;
}

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
	rc = n < 0 ? n : ctl_conn_send(c, buf, (size_t)n, 1000, &err);
	free(buf);
	return rc;
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
		struct remusd_session *s = find_session(d, gc->name);
		off += (size_t)snprintf(text + off, sizeof(text) - off, "%-20s %-8s %s\n", gc->name,
		                        s ? (s->primary ? "primary" : "backup") : "-",
		                        s ? remusd_state_name(s->state) : "not running");
	}
	return reply(c, m->seq, 0, CTL_FMT_TEXT, text);
}

/* Why a guest cannot be protected, as the fixed list of reasons (the
 * driver's own only if with_driver: check asks it on its worker). */
static uint32_t check_reasons(struct daemon *d, const char *name, uint32_t unsafe,
                              bool with_driver)
{
	const struct remusd_guest_conf *gc = remusd_conf_guest(d->conf, name);
	struct remusd_session *s = find_session(d, name);
	uint32_t r = 0;

	if (gc == NULL)
		return CTL_CHECK_NO_SUCH_GUEST;
	if (s == NULL || s->guest == NULL || !s->primary)
		r |= CTL_CHECK_NOT_RUNNING;
	if (s && (s->state == RS_SYNCING || s->state == RS_PROTECTED))
		r |= CTL_CHECK_ALREADY_PROTECTED;
	if (hv_driver(remusd_guest_type_name(gc->type)) == NULL)
		r |= CTL_CHECK_HV_UNSUPPORTED;
	if (gc->tap[0] && gc->netbuf != REMUSD_NETBUF_INLINE && gc->netbuf != REMUSD_NETBUF_NFQUEUE &&
	    !(unsafe & CTL_UNSAFE_NO_NETBUF))
		r |= CTL_CHECK_NETBUF_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if (gc->disk[0] && gc->diskrep != RNET_DISKREP_BUILTIN &&
	    !(gc->diskrep == RNET_DISKREP_DRBD && gc->type == REMUSD_GUEST_XEN) &&
	    !(unsafe & CTL_UNSAFE_NO_DISKREP))
		r |= CTL_CHECK_DISKREP_UNAVAILABLE | CTL_CHECK_UNSAFE_REQUIRED;
	if (s && s->primary && with_driver)
		r |= remusd_session_driver_check(s, unsafe | gc->unsafe, NULL, 0);
	return r;
}

/* Reasons as text lines. */
static void reasons_text(uint32_t r, char *buf, size_t cap)
{
	size_t off = 0;

	buf[0] = 0;
	for (uint32_t bit = 1; bit & CTL_CHECK_ALL; bit <<= 1)
		if ((r & bit) && off < cap)
			off += (size_t)snprintf(buf + off, cap - off, "%s%s", off ? "; " : "",
			                        ctl_check_reason(bit));
}

/* Refuse a request on a guest whose operation runs on a worker (that
 * worker owns the session's guest and engine until it is done). */
static int busy_refusal(struct daemon *d, const char *guest, struct remus_err *err)
{
	struct remusd_session *s = find_session(d, guest);
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
		return n < 0 ? n : ctl_conn_send(c, buf, (size_t)n, 1000, &err);
	}
	if ((chk = calloc(1, sizeof(*chk))) == NULL)
		return reply(c, m->seq, -ENOMEM, CTL_FMT_TEXT, "check: out of memory");
	chk->gc = *gc;
	chk->env = d->env;
	chk->s = find_session(d, m->guest);
	chk->unsafe = gc->unsafe;
	chk->reasons = check_reasons(d, m->guest, 0, false);
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
		s = get_session(d, m->guest, true, &err);
		rc = s ? remusd_session_start_guest(s, &err) : -EINVAL;
	} else if ((s = find_session(d, m->guest)) == NULL) {
		rc = remus_err_set(&err, -ENOENT, "guest %s is not running here", m->guest);
	} else if (m->type == CTL_PROTECT) {
		r = check_reasons(d, m->guest, m->unsafe, true) & ~CTL_CHECK_ALREADY_PROTECTED;
		if (r) {
			reasons_text(r, why, sizeof(why));
			rc = remus_err_set(&err, -EPERM, "cannot protect %s: %s", m->guest, why);
		} else if ((rc = guest_ops_start(&d->ops, s, c, m, &d->env, &err)) == 0) {
			return CTL_PENDING;   /* connect + handshake: off the loop */
		}
	} else if (m->type == CTL_UNPROTECT) {
		rc = remusd_session_unprotect(s, &err);
	} else if ((m->type == CTL_FAILOVER && s->primary) || m->type == CTL_EVACUATE) {
		/* the hand-over: up to 2 x the ACK timeout + 5 s, off the loop */
		if ((rc = guest_ops_start(&d->ops, s, c, m, &d->env, &err)) == 0)
			return CTL_PENDING;
	} else if (m->type == CTL_FAILOVER) {
		rc = remusd_session_failover(s, &err);
	} else if (m->type == CTL_SET) {
		if ((rc = remusd_session_set(s, m->setting, m->value, why, sizeof(why), &err)) == 0)
			return reply(c, m->seq, 0, CTL_FMT_TEXT, why);
	} else if (m->type == CTL_RESUME || m->type == CTL_DESTROY) {
		rc = remusd_session_resolve(s, m->type == CTL_RESUME, &err);
	} else {
		rc = remus_err_set(&err, -ENOTSUP, "%s is not implemented yet", ctl_type_name(m->type));
	}
	if (rc < 0)
		log_warnx("%s %s: %s", ctl_type_name(m->type), m->guest, err.msg);
	return reply(c, m->seq, rc < 0 ? rc : 0, CTL_FMT_TEXT, rc < 0 ? err.msg : "ok");
}

/* A worker finished its operation: the deferred reply goes out now. */
static void guest_op_done(void *arg, struct guest_op *op)
{
	struct daemon *d = arg;
	struct remus_err err = { 0 };
	uint8_t buf[CTL_HDR_LEN + 8 + CTL_CHECK_DETAIL_MAX];
	int rc;

	if (op->rc < 0)
		log_warnx("%s %s: %s", ctl_type_name(op->type), op->name, op->err.msg);
	if (op->type == CTL_CHECK) {
		rc = ctl_encode_check_detail(buf, sizeof(buf), op->seq, op->check->reasons,
		                             op->check->detail);
		rc = rc < 0 ? rc : ctl_conn_send(op->c, buf, (size_t)rc, 1000, &err);
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
static int handle_ctl(void *arg, struct ctl_conn *c, const struct ctl_msg *m)
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
	default:
		return handle_guest_op(d, c, m);
	}
}

/* Handshake hook: the primary's HELLO names the guest it replicates; if it
 * is configured here and not running here as a primary, answer with that
 * guest's capabilities (several replicas per daemon, one per guest). */
static void choose_replica(void *arg, const struct rnet_caps *pri, struct rnet_caps *self)
{
	struct daemon *d = arg;
	char name[RNET_NAME_MAX];
	const struct remusd_guest_conf *gc;
	struct remusd_session *s;
	struct rnet_params p;

	if (pri->flags & RNET_CAP_CHECK) {   /* answered after authentication */
		remusd_check_caps(pri, self);
		return;
	}
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(name) - 1, pri->guest);
	if ((gc = remusd_conf_guest(d->conf, name)) == NULL ||
	    ((s = find_session(d, gc->name)) != NULL && s->primary))
		return;
	remusd_rnet_params(&d->env, gc, &p);
	*self = p.caps;
}

/* "address:port" of an accepted socket, for the logs. */
static void peer_name(int fd, char *buf, size_t cap)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, cap, "%s:%u", host, port);
}

/* Primaries connecting: accept every waiting one and start its handshake
 * (it runs on in serve()'s loop). */
static void accept_peers(struct daemon *d)
{
	struct remus_err err = { 0 };
	struct rnet_params p;
	char addr[INET6_ADDRSTRLEN + 8];
	int fd;

	while ((fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct pending_peer *pp = &d->pending[d->npending];
		peer_name(fd, addr, sizeof(addr));
		if (d->conf->nguests == 0 || d->npending == REMUSD_MAX_PENDING_HS) {
			close(fd);
			remusd_metrics_count(d->metrics, REMUSD_M_HS_REFUSED);
			if (d->conf->nguests == 0)
				log_warnx("refused a replication peer from %s: no guest configured", addr);
			else
				log_warnx("refused a replication peer from %s: %u handshakes already "
				          "pending", addr, REMUSD_MAX_PENDING_HS);
			continue;
		}
		/* until the primary's HELLO names a guest we hold: a name no guest
		 * can have, so the verdict after authentication is a clear mismatch */
		remusd_rnet_params(&d->env, &d->conf->guests[0], &p);
		snprintf(p.caps.guest, sizeof(p.caps.guest), "(no-replica-here)");
		p.choose_caps = choose_replica;
		p.choose_arg = d;
		if (rnet_hs_start(fd, false, &p, rnet_now_ms(), &pp->hs, &err) < 0) {
			remusd_metrics_count(d->metrics, REMUSD_M_HS_REFUSED);
			log_warnx("replication peer %s refused: %s", addr, err.msg);
			continue;
		}
		snprintf(pp->addr, sizeof(pp->addr), "%s", addr);
		d->npending++;
		log_debug("replication peer %s: handshake started", addr);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("accept on the replication port");
}

/* A handshake succeeded: hand the authenticated link to a backup session. */
static void peer_ready(struct daemon *d, const struct pending_peer *pp, struct rnet_conn *conn)
{
	struct remus_err err = { 0 };
	struct remusd_session *s;
	char name[RNET_NAME_MAX];

	/* the guest the primary named and choose_replica() accepted */
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(name) - 1, rnet_conn_peer_caps(conn)->guest);
	if (rnet_conn_peer_caps(conn)->flags & RNET_CAP_CHECK) {   /* remusctl check there */
		remusd_check_answer(&d->env, find_session(d, name), name, pp->addr, conn);
		return;
	}
	if ((s = get_session(d, name, false, &err)) == NULL ||
	    remusd_session_receive(s, conn, &err) < 0) {
		if (s == NULL)
			rnet_conn_free(conn);
		log_warnx("guest %s: cannot receive from %s: %s", name, pp->addr, err.msg);
		return;
	}
	log_info("guest %s: receiving from a primary at %s", name, pp->addr);
}

/* Advance the handshakes whose socket is ready (pfd[i] belongs to
 * pending[i]) or whose deadline passed; finished ones leave the list. */
static void step_peers(struct daemon *d, const struct pollfd *pfd)
{
	uint64_t now = rnet_now_ms();

	for (size_t i = d->npending; i-- > 0;) {
		struct pending_peer *pp = &d->pending[i];
		struct remus_err err = { 0 };
		struct rnet_conn *conn = NULL;
		int rc;
		if (pfd[i].revents == 0 && rnet_hs_next_ms(pp->hs, now) > 0)
			continue;
		if ((rc = rnet_hs_step(pp->hs, now, &conn, &err)) == 0)
			continue;
		if (rc < 0)
			log_warnx("replication peer %s refused: %s", pp->addr, err.msg);
		remusd_metrics_count(d->metrics, rc < 0 ? REMUSD_M_HS_REFUSED : REMUSD_M_HS_ACCEPTED);
		rnet_hs_free(pp->hs);
		if (rc == 1)
			peer_ready(d, pp, conn);
		/* i's successors were stepped already: the last one may move here */
		d->pending[i] = d->pending[--d->npending];
	}
}

/* SIGHUP: all-or-nothing reload; running sessions keep their copy. */
static void reload(struct daemon *d)
{
	struct remus_err err = { 0 };

	got_reload = 0;
	if (remusd_conf_reload(d->conf_path, &d->conf, &err) < 0)
		log_warnx("reload refused, keeping the old configuration: %s", err.msg);
	else
		log_info("configuration reloaded");
	d->env.conf = d->conf;
}

static int serve(struct daemon *d)
{
	struct remus_err err = { 0 };

	if (getenv("NOTIFY_SOCKET"))
		sd_notify(0, "READY=1");
	log_info("ready: replication port %u, control socket %s", d->conf->listen_port,
	         d->conf->control_socket);
	while (!got_stop) {
		/* pending handshakes first, then the listening socket, then the
		 * guest operations' wake-up pipe */
		struct pollfd p[REMUSD_MAX_PENDING_HS + 2];
		uint64_t now = rnet_now_ms();
		int timeout = 10, n;
		size_t i;
		if (got_reload && d->ops.running == 0)   /* workers read the conf */
			reload(d);
		for (i = 0; i < d->npending; i++) {
			uint32_t left = rnet_hs_next_ms(d->pending[i].hs, now);
			p[i] = (struct pollfd){ rnet_hs_fd(d->pending[i].hs),
			                        rnet_hs_events(d->pending[i].hs), 0 };
			if (left < (uint32_t)timeout)
				timeout = (int)left;
		}
		p[i] = (struct pollfd){ d->listen_fd, POLLIN, 0 };
		p[i + 1] = (struct pollfd){ guest_ops_fd(&d->ops), POLLIN, 0 };
		if ((n = poll(p, i + 2, timeout)) < 0 && errno != EINTR)
			log_warn("poll");
		if (n > 0 && (p[i + 1].revents & POLLIN))
			guest_ops_reap(&d->ops, guest_op_done, d);
		if (d->npending)
			step_peers(d, p);
		if (n > 0 && (p[i].revents & POLLIN))
			accept_peers(d);
		/* control requests wait at most one short round of the above */
		if (ctl_server_poll(d->ctl, d->npending ? 0 : 10, &err) < 0 && errno != EINTR)
			log_warnx("control socket: %s", err.msg);
	}
	for (size_t i = 0; i < d->npending; i++)
		rnet_hs_free(d->pending[i].hs);
	log_info("stopping");
	guest_ops_free(&d->ops);   /* each bounded; their clients get no reply */
	return 0;
}

/* Help to stdout (status 0) when asked for, to stderr (2) on a usage error. */
static void usage(FILE *f, int status)
{
	fprintf(f, "usage: remusd -c remus.conf [-s control-socket] [-v]\n"
	        "options:\n"
	        "  -c, --config FILE    the configuration (remus.conf(5)); required\n"
	        "  -s, --socket PATH    control socket, overrides control_socket of the file\n"
	        "  -v, --verbose        log debug messages too\n"
	        "  -h, --help           this help\n"
	        "  -V, --version        print the version\n");
	exit(status);
}

int main(int argc, char **argv)
{
	struct daemon d = { .listen_fd = -1 };
	struct log_cfg lc = { .progname = "remusd" };
	struct remus_err err = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *sock = NULL;
	int ch, rc;

	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' }, { "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "c:s:vhV", lo, NULL)) != -1) {
		if (ch == 'c')
			d.conf_path = optarg;
		else if (ch == 's')
			sock = optarg;
		else if (ch == 'v')
			lc.verbose = 1;
		else if (ch == 'h')
			usage(stdout, 0);
		else if (ch == 'V') {
			remus_print_version("remusd");
			return 0;
		} else
			usage(stderr, 2);
	}
	if (d.conf_path == NULL || optind != argc)
		usage(stderr, 2);
	log_init(&lc);
	if (remusd_fault_parse(&d.fault, getenv(REMUSD_FAULT_ENV), &err) < 0)
		fatalx("%s", err.msg);
	if (d.fault.armed)
		log_warnx("fault injection armed (%s): %s at epoch >= %" PRIu64, REMUSD_FAULT_ENV,
		          d.fault.point, d.fault.min_epoch);
	if (remusd_conf_load(d.conf_path, &d.conf, &err) < 0)
		fatalx("%s", err.msg);
	if (sock)
		snprintf(d.conf->control_socket, sizeof(d.conf->control_socket), "%s", sock);
	if (rnet_key_load(d.conf->key_file, &d.key, &err) < 0)
		fatalx("%s", err.msg);
	d.env.conf = d.conf;
	d.env.key = &d.key;
	if (getenv("REMUSD_HOLD")) {
		if (remusd_hold_parse(getenv("REMUSD_HOLD"), &d.hold, &err) < 0)
			fatalx("%s", err.msg);
		d.has_hold = true;
		log_warnx("test hold point %s enabled (REMUSD_HOLD)", d.hold.point);
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	d.listen_fd = rnet_listen(strcmp(d.conf->listen_addr, "*") ? d.conf->listen_addr : NULL,
	                          d.conf->listen_port, &err);
	if (d.listen_fd < 0)
		fatalx("%s", err.msg);
	if (guest_ops_init(&d.ops, &err) < 0)
		fatalx("%s", err.msg);
	if (ctl_server_new(d.conf->control_socket, handle_ctl, &d, &d.ctl, &err) < 0)
		fatalx("%s", err.msg);
	if (remusd_metrics_start(d.conf, &d.metrics, &err) < 0)
		fatalx("%s", err.msg);
	rc = serve(&d);
	remusd_metrics_stop(d.metrics);   /* before the sessions it reads go */
	for (size_t i = 0; i < d.nsessions; i++)
		remusd_session_free(d.sessions[i]);
	ctl_server_free(d.ctl);
	close(d.listen_fd);
	remusd_conf_free(d.conf);
	return rc;
}
