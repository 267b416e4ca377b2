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
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <json-c/json.h>
#include <systemd/sd-daemon.h>

#include "remusd/check_peer.h"
#include "remusd/daemon.h"
#include "remusd/ctl_proto.h"
#include "remusd/fault.h"
#include "remusd/generation.h"
#include "remusd/guest_op.h"
#include "remusd/hold.h"
#include "remusd/metrics.h"
#include "remusd/session.h"
#include "remusd/upgrade.h"
#include "util/log.h"
#include "util/version.h"
#include "util/ratelim.h"

/* Replication peers whose handshake runs (non-blocking, in the main loop,
 * so a silent or slow peer never stalls the control socket): bounded in
 * total and per source address, the oldest evicted to make room (lib/net
 * hs_limit.c); the primary's HELLO is due within REMUSD_HELLO_MS. */
#define REMUSD_MAX_PENDING_HS 32u
#define REMUSD_PENDING_PER_SRC 4u
#define REMUSD_HELLO_MS 1000u
/* Warnings unauthenticated peers can cause: at most 5 lines per 10 s for
 * each class (dropped or timed out / refused for what they sent). */
#define REMUSD_PEER_WARN_BURST 5u
#define REMUSD_PEER_WARN_WINDOW_MS 10000u


static volatile sig_atomic_t got_stop, got_reload, got_upgrade;

/* Signal handlers only set flags; the loop does the work. */
static void on_signal(int sig)
{
	if (sig == SIGHUP)
		got_reload = 1;
	else if (sig == SIGUSR2)
		got_upgrade = 1;
	else
		got_stop = 1;
}

/* SIGUSR2: a live update to the installed binary; on success no return. */
static void upgrade_on_signal(struct daemon *d)
{
	struct remus_err err = { 0 };
	uint64_t pause_us;
	pid_t pid;

	got_upgrade = 0;
	if (daemon_upgrade(d, NULL, &pid, &pause_us, &err) == 0)
		daemon_upgrade_exit(pid, pause_us);
	log_warnx("upgrade (SIGUSR2) refused: %s", err.msg);
}

/* The session of a guest, or NULL. */
struct remusd_session *daemon_find_session(struct daemon *d, const char *name)
{
	for (size_t i = 0; i < d->nsessions; i++)
		if (strcmp(d->sessions[i]->name, name) == 0)
			return d->sessions[i];
	return NULL;
}

/* The session of a configured guest, created in the given role if new. */
struct remusd_session *daemon_get_session(struct daemon *d, const char *name, bool primary,
                                          struct remus_err *err)
{
	const struct remusd_guest_conf *gc = remusd_conf_guest(d->conf, name);
	struct remusd_session *s = daemon_find_session(d, name);
	struct nbd_device *nbd = NULL;

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
	/* a disk served here (Xen + builtin) that cannot be: no session */
	if (gc->nbd_device[0] && (nbd = daemon_disk_of(d, gc, err)) == NULL)
		return NULL;
	if ((s = remusd_session_new(gc, primary, err)) == NULL)
		return NULL;
	s->nbd = nbd;
	/* test hooks, one at a time: hold points win over fault trials */
	if (d->has_hold)
		s->fault = (struct ckpt_fault){ &d->hold, remusd_hold_hit };
	else
		s->fault = remusd_fault_hook(&d->fault);
	/* the daemon's quorum judges a lost peer (quorum = none: no view) */
	s->qv = d->conf->quorum == REMUSD_QUORUM_COROSYNC ? &d->qview : NULL;
	if (s->qv != NULL) {
		/* its ownership generation: a damaged record is not taken for 0 */
		snprintf(s->state_dir, sizeof(s->state_dir), "%s", d->conf->state_dir);
		if (remusd_gen_load(s->state_dir, s->name, &s->generation, err) < 0) {
			remusd_session_free(s);
			return NULL;
		}
		s->announce = true;
	}
	s->failover_by_cluster = d->conf->failover == REMUSD_FAILOVER_CLUSTER;
	d->sessions[d->nsessions++] = s;
	remusd_metrics_add_session(d->metrics, s);
	return s;
}

/* Handshake hook, called once the primary has proved the key: its HELLO
 * names the guest it replicates; if it is configured here and no copy of
 * it runs here, answer with that guest's capabilities (several replicas
 * per daemon, one per guest).  A primary session whose copy is gone
 * (evacuated, stopped, failed) may become the backup of the host that
 * runs the guest now; one whose copy runs (or may: in doubt) refuses, so
 * two copies never run. */
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
	if ((gc = remusd_conf_guest(d->conf, name)) == NULL)
		return;
	if ((s = daemon_find_session(d, gc->name)) != NULL && !remusd_session_may_receive(s)) {
		log_warnx("guest %s: refused a primary's run: %s here (%s)", gc->name,
		          s->guest ? "a copy of it runs" : "its copy may run", remusd_state_name(s->state));
		snprintf(self->guest, sizeof(self->guest), "%s", REMUSD_CAPS_COPY_HERE);
		return;
	}
	remusd_rnet_params(&d->env, gc, &p);
	*self = p.caps;
}

/* A warning an unauthenticated peer caused: rate-limited, the next line
 * that gets through says how many were suppressed. */
static void peer_warn(struct ratelim *rl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void peer_warn(struct ratelim *rl, const char *fmt, ...)
{
	char line[512];
	uint64_t suppressed = 0;
	va_list ap;

	if (!ratelim_allow(rl, rnet_now_ms(), &suppressed))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (suppressed)
		log_warnx("%s (%" PRIu64 " similar warnings suppressed)", line, suppressed);
	else
		log_warnx("%s", line);
}

/* Warnings about peers suppressed in a window that is over: say how many,
 * even when the flood has stopped. */
static void peer_warn_flush(struct daemon *d)
{
	uint64_t now = rnet_now_ms(), n;

	if ((n = ratelim_flush(&d->warn_idle, now)))
		log_warnx("%" PRIu64 " similar warnings about silent replication peers suppressed", n);
	if ((n = ratelim_flush(&d->warn_bad, now)))
		log_warnx("%" PRIu64 " similar warnings about refused replication peers suppressed", n);
	if ((n = ratelim_flush(&d->warn_ctl, now)))
		log_warnx("%" PRIu64 " similar warnings about refused control clients suppressed", n);
}

/* The control server refused a client: say so, rate-limited. */
static void ctl_refused(void *arg, const char *why)
{
	struct daemon *d = arg;

	peer_warn(&d->warn_ctl, "control socket: %s", why);
}

/* Primaries connecting: accept every waiting one and start its handshake
 * (it runs on in serve()'s loop), evicting the oldest pending one of the
 * same source, or of the source holding the most, when full. */
static void accept_peers(struct daemon *d)
{
	struct remus_err err = { 0 };
	struct rnet_peer_src src;
	struct rnet_params p;
	char addr[sizeof(d->pending.e[0].name)];
	long victim;
	int fd;

	while ((fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct rnet_hs_entry *pe;
		rnet_peer_src_of(fd, &src, addr, sizeof(addr));
		if (d->conf->nguests == 0) {
			close(fd);
			remusd_metrics_count(d->metrics, REMUSD_M_HS_REFUSED);
			peer_warn(&d->warn_bad, "refused a replication peer from %s: no guest configured", addr);
			continue;
		}
		if ((victim = rnet_hs_pool_victim(&d->pending, &src)) >= 0) {
			peer_warn(&d->warn_idle, "replication peer %s dropped: handshake pending for %" PRIu64
			          " ms, making room for %s (%zu pending)", d->pending.e[victim].name,
			          rnet_now_ms() - d->pending.e[victim].started_ms, addr, d->pending.n);
			rnet_hs_pool_drop(&d->pending, (size_t)victim);
		}
		/* the guest's caps are chosen once the primary has authenticated
		 * (choose_replica); until then a name no guest can have, so the
		 * verdict is a clear mismatch */
		remusd_rnet_params(&d->env, &d->conf->guests[0], &p);
		snprintf(p.caps.guest, sizeof(p.caps.guest), "(no-replica-here)");
		p.choose_caps = choose_replica;
		p.choose_arg = d;
		p.hello_ms = REMUSD_HELLO_MS;
		pe = &d->pending.e[d->pending.n];
		if (rnet_hs_start(fd, false, &p, rnet_now_ms(), &pe->hs, &err) < 0) {
			remusd_metrics_count(d->metrics, REMUSD_M_HS_REFUSED);
			peer_warn(&d->warn_bad, "replication peer %s refused: %s", addr, err.msg);
			continue;
		}
		pe->src = src;
		pe->started_ms = rnet_now_ms();
		snprintf(pe->name, sizeof(pe->name), "%s", addr);
		d->pending.n++;
		log_debug("replication peer %s: handshake started", addr);
	}
	if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		log_warn("accept on the replication port");
}

/* A handshake succeeded: hand the authenticated link to a backup session. */
static void peer_ready(struct daemon *d, const struct rnet_hs_entry *pp, struct rnet_conn *conn)
{
	struct remus_err err = { 0 };
	struct remusd_session *s;
	char name[RNET_NAME_MAX];

	/* the guest the primary named and choose_replica() accepted */
	snprintf(name, sizeof(name), "%.*s", (int)sizeof(name) - 1, rnet_conn_peer_caps(conn)->guest);
	if (rnet_conn_peer_caps(conn)->flags & RNET_CAP_CHECK) {   /* remusctl check there */
		remusd_check_answer(&d->env, daemon_find_session(d, name), name, pp->name, conn);
		return;
	}
	if ((s = daemon_get_session(d, name, false, &err)) == NULL) {
		rnet_conn_free(conn);
		log_warnx("guest %s: cannot receive from %s: %s", name, pp->name, err.msg);
		return;
	}
	/* taking the run may wait for the last run's end: off the loop; a
	 * session busy with an operation refuses it (the op owns conn) */
	if (guest_ops_start_receive(&d->ops, s, conn, pp->name, &err) < 0)
		log_warnx("guest %s: cannot receive from %s: %s", name, pp->name, err.msg);
}

/* Advance the handshakes whose socket is ready (pfd[i] belongs to
 * pending[i]) or whose deadline passed; finished ones leave the list. */
static void step_peers(struct daemon *d, const struct pollfd *pfd)
{
	uint64_t now = rnet_now_ms();

	for (size_t i = d->pending.n; i-- > 0;) {
		struct rnet_hs_entry *pp = &d->pending.e[i];
		struct remus_err err = { 0 };
		struct rnet_conn *conn = NULL;
		int rc;
		if (pfd[i].revents == 0 && rnet_hs_next_ms(pp->hs, now) > 0)
			continue;
		if ((rc = rnet_hs_step(pp->hs, now, &conn, &err)) == 0)
			continue;
		if (rc < 0)
			peer_warn(rc == RNET_ETIMEOUT ? &d->warn_idle : &d->warn_bad,
			          "replication peer %s refused: %s", pp->name, err.msg);
		remusd_metrics_count(d->metrics, rc < 0 ? REMUSD_M_HS_REFUSED : REMUSD_M_HS_ACCEPTED);
		if (rc == 1)
			peer_ready(d, pp, conn);
		/* i's successors were stepped already: the last one may move here */
		rnet_hs_pool_drop(&d->pending, i);
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
	daemon_disks_open(d);             /* disks of guests added */
	if (d->conf->file_warning[0])
		log_warnx("%s", d->conf->file_warning);
	d->env.conf = d->conf;
}

/* The quorum backend said something: the view the sessions read follows;
 * a change of quorum or of the peer's presence is logged. */
static void quorum_events(struct daemon *d, const struct pollfd *pfd)
{
	struct remus_err err = { 0 };
	char q[192];

	if (d->qops->dispatch(d->qb, pfd, &d->qstate, &err) < 0)
		log_warnx("quorum: %s: no quorum from now on", err.msg);
	/* a peer daemon (re)joined: it learns what runs here */
	if (d->qstate.peer_present && !d->peer_was_present)
		ownership_announce_all(d);
	d->peer_was_present = d->qstate.peer_present;
	ownership_receive(d);
	if (remusd_quorum_view_set(&d->qview, &d->qstate)) {
		remusd_quorum_describe(&d->qstate, q, sizeof(q));
		if (d->qstate.quorate)
			log_info("quorum: %s", q);
		else
			log_warnx("quorum: %s", q);
	}
}

/* Open the configured quorum backend (fatal on error: a daemon told to
 * ask corosync must not judge a lost peer alone). */
static void quorum_open(struct daemon *d)
{
	struct remus_err err = { 0 };

	d->qops = remusd_quorum_ops(d->conf->quorum);
	remusd_quorum_view_init(&d->qview, d->qops->name, d->conf->quorum_settle_ms);
	if (d->qops->open(&d->qb, &err) < 0)
		fatalx("%s", err.msg);
	if (d->conf->quorum == REMUSD_QUORUM_COROSYNC && mkdir(d->conf->state_dir, 0700) < 0 &&
	    errno != EEXIST)
		fatal("state_dir %s", d->conf->state_dir);
	if (d->conf->quorum == REMUSD_QUORUM_NONE) {
		quorum_events(d, NULL);     /* the constant answer */
		log_warnx("quorum = none: a backup that loses its primary's link fails over alone; "
		          "a partition (a cut replication link) can make two copies run. "
		          "Set quorum = corosync with a witness (docs/cluster.md)");
	}
	if (d->conf->failover == REMUSD_FAILOVER_CLUSTER)
		log_info("failover = cluster: a lost primary is reported, the cluster manager "
		         "promotes the backup (remusctl failover --force)");
}

/* The loop's one poll set, in this order: pending handshakes, the
 * listening socket, the guest operations' wake-up pipe, one event pipe per
 * session, the quorum backend's fds, the control socket and its clients. */
#define QUORUM_FDS 4u
#define LOOP_FDS (REMUSD_MAX_PENDING_HS + 2 + REMUSD_MAX_GUESTS + QUORUM_FDS + 1 + \
                  CTL_SERVER_MAX_CLIENTS)

static int serve(struct daemon *d)
{
	if (getenv("NOTIFY_SOCKET"))       /* after a live update: the new main pid */
		sd_notifyf(0, "MAINPID=%d\nREADY=1", (int)getpid());
	log_info("ready: replication port %u, control socket %s", d->conf->listen_port,
	         d->conf->control_socket);
	while (!got_stop) {
		struct pollfd p[LOOP_FDS];
		uint64_t now = rnet_now_ms();
		int timeout = 100, n;   /* bounds a signal that hit another thread */
		size_t i, lis, ops, ses, quo, nquo, ctl, nses;
		if (got_reload && d->ops.running == 0)   /* workers read the conf */
			reload(d);
		if (got_upgrade)
			upgrade_on_signal(d);
		for (i = 0; i < d->pending.n; i++) {
			uint32_t left = rnet_hs_next_ms(d->pending.e[i].hs, now);
			p[i] = (struct pollfd){ rnet_hs_fd(d->pending.e[i].hs),
			                        rnet_hs_events(d->pending.e[i].hs), 0 };
			if (left < (uint32_t)timeout)
				timeout = (int)left;
		}
		lis = i;
		ops = lis + 1;
		ses = ops + 1;
		p[lis] = (struct pollfd){ d->listen_fd, POLLIN, 0 };
		p[ops] = (struct pollfd){ guest_ops_fd(&d->ops), POLLIN, 0 };
		nses = d->nsessions;    /* sessions created below are polled next round */
		for (i = 0; i < nses; i++)
			p[ses + i] = (struct pollfd){ remusd_session_event_fd(d->sessions[i]), POLLIN, 0 };
		quo = ses + nses;
		nquo = d->qops->pollfds(d->qb, p + quo, QUORUM_FDS);
		ctl = quo + nquo;
		n = (int)ctl_server_pollfds(d->ctl, p + ctl, LOOP_FDS - (unsigned)ctl, &timeout);
		if ((n = poll(p, ctl + (size_t)n, timeout)) < 0) {
			if (errno != EINTR)
				log_warn("poll");
			continue;       /* a signal: the revents are not valid */
		}
		if (p[ops].revents & POLLIN)
			guest_ops_reap(&d->ops, daemon_guest_op_done, d);
		for (i = 0; i < nses; i++)
			if (p[ses + i].revents & POLLIN)
				remusd_session_events(d->sessions[i],
				                      guest_ops_busy(&d->ops, d->sessions[i]) == NULL);
		for (i = 0; i < nquo; i++)
			if (p[quo + i].revents) {
				quorum_events(d, p + quo);
				break;
			}
		if (d->conf->quorum == REMUSD_QUORUM_COROSYNC)
			ownership_tick(d);
		if (d->pending.n)
			step_peers(d, p);
		peer_warn_flush(d);
		if (p[lis].revents & POLLIN)
			accept_peers(d);
		ctl_server_dispatch(d->ctl, p + ctl);
		daemon_reprotect_tick(d);
		daemon_in_doubt_tick(d);
	}
	while (d->pending.n)
		rnet_hs_pool_drop(&d->pending, 0);
	log_info("stopping");
	guest_ops_free(&d->ops);   /* each bounded; their clients get no reply */
	return 0;
}

/* Help to stdout (status 0) when asked for, to stderr (2) on a usage error. */
static void usage(FILE *f, int status)
{
	fprintf(f, "usage: remusd -c remus.conf [-s control-socket] [-v] [--upgrade-fd FD]\n"
	        "options:\n"
	        "  -c, --config FILE    the configuration (remus.conf(5)); required\n"
	        "  -s, --socket PATH    control socket, overrides control_socket of the file\n"
	        "  -v, --verbose        log debug messages too\n"
	        "      --upgrade-fd FD  take over from the remusd that started us (live update)\n"
	        "  -h, --help           this help\n"
	        "  -V, --version        print the version\n");
	exit(status);
}

int main(int argc, char **argv)
{
	struct daemon d = {
		.listen_fd = -1,
		.pending = { .total = REMUSD_MAX_PENDING_HS, .per_source = REMUSD_PENDING_PER_SRC },
		.warn_idle = RATELIM_INIT(REMUSD_PEER_WARN_BURST, REMUSD_PEER_WARN_WINDOW_MS),
		.warn_bad = RATELIM_INIT(REMUSD_PEER_WARN_BURST, REMUSD_PEER_WARN_WINDOW_MS),
		.warn_ctl = RATELIM_INIT(REMUSD_PEER_WARN_BURST, REMUSD_PEER_WARN_WINDOW_MS),
	};
	struct log_cfg lc = { .progname = "remusd" };
	struct remus_err err = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	const char *sock = NULL;
	int ch, rc, upgrade_fd = -1;

	static const struct option lo[] = {
		{ "config", required_argument, NULL, 'c' }, { "socket", required_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' }, { "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' }, { "upgrade-fd", required_argument, NULL, 'U' },
		{ NULL, 0, NULL, 0 },
	};

	while ((ch = getopt_long(argc, argv, "c:s:vhV", lo, NULL)) != -1) {
		if (ch == 'c')
			d.conf_path = optarg;
		else if (ch == 's')
			sock = optarg;
		else if (ch == 'v')
			lc.verbose = 1;
		else if (ch == 'U')
			upgrade_fd = atoi(optarg) >= 3 ? atoi(optarg) : -1;
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
	if (d.conf->file_warning[0])
		log_warnx("%s", d.conf->file_warning);
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
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (realpath("/proc/self/exe", d.self_path) == NULL)
		snprintf(d.self_path, sizeof(d.self_path), "%s", argv[0]);
	if (guest_ops_init(&d.ops, &err) < 0)
		fatalx("%s", err.msg);
	if (upgrade_fd >= 0) {          /* live update: the old daemon's sockets and guests */
		if (daemon_upgrade_resume(&d, upgrade_fd, &err) < 0)
			fatalx("upgrade refused: %s", err.msg);
	} else {
		d.listen_fd = rnet_listen(strcmp(d.conf->listen_addr, "*") ? d.conf->listen_addr : NULL,
		                          d.conf->listen_port, &err);
		if (d.listen_fd < 0)
			fatalx("%s", err.msg);
		if (ctl_server_new(d.conf->control_socket, daemon_handle_ctl, &d, &d.ctl, &err) < 0)
			fatalx("%s", err.msg);
	}
	if (remusd_metrics_start(d.conf, &d.metrics, &err) < 0)
		fatalx("%s", err.msg);
	ctl_server_on_refuse(d.ctl, ctl_refused);
	quorum_open(&d);
	daemon_disks_open(&d);
	rc = serve(&d);
	remusd_metrics_stop(d.metrics);   /* before the sessions it reads go */
	for (size_t i = 0; i < d.nsessions; i++)
		remusd_session_free(d.sessions[i]);
	daemon_disks_close(&d);           /* after the sessions that route them */
	ctl_server_free(d.ctl);
	d.qops->close(d.qb);
	remusd_quorum_view_destroy(&d.qview);
	close(d.listen_fd);
	remusd_conf_free(d.conf);
	return rc;
}
