/*
 * remus-xl-receive: the receiving end of `xl remus`, built on remus's Xen
 * driver instead of libxl's receiver.
 *
 *   xl remus [-n -d ...] -i MS -s '' DOMAIN 'remus-xl-receive -i MS [-v] [-s STATS]'
 *
 * It speaks what `xl remus` expects of `xl migrate-receive -r` on
 * stdin/stdout: it writes xl's receiver banner, reads xl's migration header
 * (the guest's libxl JSON configuration) with remus's stream reader, then
 * hands the libxl/libxc stream to the driver's restore_stream, which stages
 * every checkpoint's libxl records with remus's assembler and lets libxc
 * apply only complete checkpoints.  The stream reaches the driver through a
 * relay (util/relay.h) that ends it when the sender dies (EOF) or falls
 * silent: xl's Remus stream has no heartbeat, but a live sender writes a
 * checkpoint every interval, so no byte for the silence timeout (-t,
 * default 10 x the interval, at least 5 s) is taken as a dead primary.
 * libxc then fails over to the last complete checkpoint; the replica gets
 * the guest's devices through libxl, the guest's own name (as xl's receiver
 * gives it; while the old primary still holds the name on this host the
 * replica keeps its temporary one and takes the name when that domain goes,
 * for at most -W seconds) and is unpaused.  Nothing is written back during
 * Remus (xl's receiver sends nothing either).
 *
 * stderr: the first (with -v every) complete checkpoint, the failover and
 * its steps.  Exit status 0: the replica runs; 1: failure (no domain left
 * behind); 2: usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xentoollog.h>

#include "hv/hv.h"
#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "util/relay.h"
#include "util/version.h"

/* `xl remus`'s default interval (ms), when -i is not given. */
#define XL_REMUS_DEFAULT_INTERVAL_MS 200u
/* The silence timeout unless -t: 10 intervals, at least this long (covers
 * the interval plus the slowest cooperative suspend seen under emulation,
 * ~2.7 s, with room to spare). */
#define SILENCE_MIN_MS 5000u
#define SILENCE_INTERVALS 10u
/* How long to wait for the guest's name to become free, unless -W. */
#define NAME_WAIT_DEFAULT_S 120u

/* The relay between xl's pipe and the driver, on a thread of its own. */
struct relay_thread {
	struct relay_cfg cfg;
	struct relay_result res;
	pthread_t th;
	int pipe[2];                /* [0] the driver reads, [1] the relay writes */
	int stop[2];
	bool running;
};

struct receiver {
	struct timespec t0;
	uint64_t checkpoints;
	FILE *stats;
	bool verbose;
};

static double since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The driver staged a complete checkpoint (fd -1): count and report it. */
static int on_checkpoint(void *arg, int fd)
{
	struct receiver *rx = arg;

	(void)fd;
	rx->checkpoints++;
	if (rx->verbose || rx->checkpoints == 1)
		fprintf(stderr, "remus-xl-receive: checkpoint %llu complete at %.3f s\n",
		    (unsigned long long)rx->checkpoints, since(&rx->t0));
	if (rx->stats != NULL) {
		fprintf(rx->stats, "checkpoint %llu %.3f\n", (unsigned long long)rx->checkpoints,
		    since(&rx->t0));
		fflush(rx->stats);
	}
	return 1;
}

static void usage(FILE *f)
{
	fprintf(f,
	    "usage: remus-xl-receive [-v] [-i MS] [-t MS] [-W S] [-s STATS] [-N NAME]\n"
	    "Receive `xl remus` on stdin/stdout (use as its receiver command with -s '').\n"
	    "options:\n"
	    "  -v, --verbose        report every checkpoint on stderr, and libxl's debug messages\n"
	    "  -i, --interval MS    the checkpoint interval given to `xl remus -i` (default %u)\n"
	    "  -t, --timeout MS     fail over after MS without a byte from the sender\n"
	    "                       (default 10 x the interval, at least %u; 0: only when the stream ends)\n"
	    "  -W, --name-wait S    after failover, wait up to S seconds for the guest's name to be\n"
	    "                       free (the old primary on this host) to rename the replica (default %u)\n"
	    "  -s, --stats STATS    append \"checkpoint N SECONDS\" lines, the failover and its steps to STATS\n"
	    "  -N, --name NAME      the replica's name until failover (default: the guest's name + \"--backup\")\n"
	    "  -h, --help           this help\n"
	    "  -V, --version        print the version\n",
	    XL_REMUS_DEFAULT_INTERVAL_MS, SILENCE_MIN_MS, NAME_WAIT_DEFAULT_S);
}

static void *relay_main(void *arg)
{
	struct relay_thread *rt = arg;

	relay_run(&rt->cfg, &rt->res);
	close(rt->pipe[1]);         /* the driver reads the end of the stream */
	rt->pipe[1] = -1;
	return NULL;
}

/* stdin -> relay -> a pipe the driver reads. */
static int relay_start(struct relay_thread *rt, unsigned silence_ms, struct remus_err *err)
{
	int rc;

	if (pipe2(rt->pipe, O_CLOEXEC) != 0 || pipe2(rt->stop, O_CLOEXEC) != 0)
		return remus_err_sys(err, errno, "remus-xl-receive: pipe");
	(void)fcntl(rt->pipe[1], F_SETPIPE_SZ, 1 << 20);    /* fewer wake-ups; best effort */
	rt->cfg = (struct relay_cfg){ .in_fd = STDIN_FILENO, .out_fd = rt->pipe[1],
		.stop_fd = rt->stop[0], .silence_ms = silence_ms };
	if ((rc = pthread_create(&rt->th, NULL, relay_main, rt)) != 0)
		return remus_err_sys(err, rc, "remus-xl-receive: relay thread");
	rt->running = true;
	return 0;
}

/* The driver is done reading: stop the relay if the stream still runs. */
static void relay_stop(struct relay_thread *rt)
{
	if (rt->running) {
		if (write(rt->stop[1], "q", 1) < 0) {
			/* closing the pipe below unblocks it as well */
		}
		close(rt->pipe[0]);
		rt->pipe[0] = -1;
		pthread_join(rt->th, NULL);
		rt->running = false;
	}
	for (int i = 0; i < 2; i++) {
		if (rt->pipe[i] >= 0)
			close(rt->pipe[i]);
		if (rt->stop[i] >= 0)
			close(rt->stop[i]);
		rt->pipe[i] = rt->stop[i] = -1;
	}
}

/* The failover's steps, each with its duration and its end after the
 * stream ended. */
static void report_phases(struct receiver *rx, struct hv_guest *g, const struct relay_result *rr)
{
	struct xen_failover_phases ph;
	uint64_t prev = rr->end_us;

	xen_guest_failover_phases(g, &ph);
	fprintf(stderr, "remus-xl-receive: failover steps after the stream ended (%s, last byte %.3f s before):",
	    relay_end_name(rr->end), (double)(rr->end_us - rr->last_in_us) / 1e6);
	for (unsigned i = 0; i < ph.n; i++) {
		double took = (double)(ph.p[i].end_us - prev) / 1e6;

		fprintf(stderr, " %s %.3f s%s", ph.p[i].step, took, i + 1 < ph.n ? "," : "\n");
		if (rx->stats != NULL)
			fprintf(rx->stats, "phase %s %.3f %.3f\n", ph.p[i].step, took,
			    (double)(ph.p[i].end_us - rr->end_us) / 1e6);
		prev = ph.p[i].end_us;
	}
	if (rx->stats != NULL)
		fflush(rx->stats);
}

/* Parse a number option within [0, max]. */
static bool opt_num(const char *arg, unsigned long max, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno != 0 || end == arg || *end != '\0' || arg[0] == '-' || v > max)
		return false;
	*out = (unsigned)v;
	return true;
}

/* After failover: the guest's own name, as xl's receiver gives it.  If the
 * old primary still holds it (one host), keep the temporary name, say what
 * to do, and take the name once it is free (at most wait_s). */
static void take_guest_name(struct receiver *rx, struct hv_guest *g, const char *name,
    unsigned wait_s)
{
	struct remus_err err = { 0 };
	const char *tmp = xen_guest_name(g);
	char tmpname[64];
	int rc;

	snprintf(tmpname, sizeof(tmpname), "%s", tmp);
	rc = xen_guest_rename(g, name, &err);
	if (rc == -EEXIST && wait_s > 0) {
		fprintf(stderr, "remus-xl-receive: warning: %s; destroy the old primary and the replica "
		    "takes the name within %u s (later: xl rename %s %s)\n", err.msg, wait_s, tmpname, name);
		rc = xen_guest_rename_when_free(g, name, wait_s * 1000u, &err);
	}
	if (rc == 0) {
		fprintf(stderr, "remus-xl-receive: domain %u is now '%s'\n", xen_guest_domid(g), name);
		if (rx->stats != NULL)
			fprintf(rx->stats, "name %s\n", name);
	} else {
		fprintf(stderr, "remus-xl-receive: warning: %s; the replica stays '%s' "
		    "(rename it with: xl rename %s %s)\n", err.msg, tmpname, tmpname, name);
		if (rx->stats != NULL)
			fprintf(rx->stats, "name %s kept: %s\n", tmpname, err.msg);
	}
}

int main(int argc, char **argv)
{
	struct receiver rx = { 0 };
	struct remus_err err = { 0 };
	struct hv_stream_hooks hooks = { .arg = &rx, .checkpoint = on_checkpoint };
	struct hv_guest_config cfg = { .cpu = -1, .console_fd = -1 };
	struct relay_thread rt = { .pipe = { -1, -1 }, .stop = { -1, -1 } };
	struct xen_json_guest jg;
	struct hv_guest *g = NULL;
	const char *stats = NULL, *name = NULL;
	unsigned interval_ms = XL_REMUS_DEFAULT_INTERVAL_MS, silence_ms = 0, wait_s = NAME_WAIT_DEFAULT_S;
	bool silence_set = false;
	char replica[80];
	char *json = NULL;
	size_t json_len = 0;
	double t_fail;
	int opt, rc;

	static const struct option lo[] = {
		{ "verbose", no_argument, NULL, 'v' }, { "stats", required_argument, NULL, 's' },
		{ "name", required_argument, NULL, 'N' }, { "interval", required_argument, NULL, 'i' },
		{ "timeout", required_argument, NULL, 't' }, { "name-wait", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};

	while ((opt = getopt_long(argc, argv, "vs:N:i:t:W:hV", lo, NULL)) != -1) {
		switch (opt) {
		case 'v': rx.verbose = true; break;
		case 's': stats = optarg; break;
		case 'N': name = optarg; break;
		case 'i':
			if (!opt_num(optarg, 3600000, &interval_ms) || interval_ms == 0) {
				fprintf(stderr, "remus-xl-receive: -i wants 1..3600000 ms, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 't':
			if (!opt_num(optarg, 86400000, &silence_ms)) {
				fprintf(stderr, "remus-xl-receive: -t wants 0..86400000 ms, not '%s'\n", optarg);
				return 2;
			}
			silence_set = true;
			break;
		case 'W':
			if (!opt_num(optarg, 86400, &wait_s)) {
				fprintf(stderr, "remus-xl-receive: -W wants 0..86400 s, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': remus_print_version("remus-xl-receive"); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!silence_set)
		silence_ms = interval_ms * SILENCE_INTERVALS > SILENCE_MIN_MS ?
		    interval_ms * SILENCE_INTERVALS : SILENCE_MIN_MS;
	signal(SIGPIPE, SIG_IGN);
	clock_gettime(CLOCK_MONOTONIC, &rx.t0);
	if (stats != NULL && (rx.stats = fopen(stats, "a")) == NULL) {
		fprintf(stderr, "remus-xl-receive: %s: %s\n", stats, strerror(errno));
		return 1;
	}
	if ((rc = xen_xl_send_banner(STDOUT_FILENO, &err)) < 0)
		goto fail;
	if ((rc = xen_xl_read_header(STDIN_FILENO, &json, &json_len, &err)) < 0)
		goto fail;
	if ((rc = xen_json_guest(json, json_len, &jg, &err)) < 0)
		goto fail;
	if (jg.type == XEN_GUEST_PV) {
		rc = remus_err_set(&err, -ENOTSUP, "guest '%s' is classic PV: protect PVH or HVM guests", jg.name);
		goto fail;
	}
	snprintf(replica, sizeof(replica), "%s--backup", jg.name);
	cfg.name = name != NULL ? name : replica;
	cfg.mem_bytes = jg.max_mem_bytes;
	fprintf(stderr, "remus-xl-receive: receiving '%s' (%llu MiB, %u vif, %u disk) as '%s'; "
	    "failover after %u ms of silence%s\n", jg.name, (unsigned long long)(jg.max_mem_bytes >> 20),
	    jg.nics, jg.disks, cfg.name, silence_ms, silence_ms ? "" : " (off: end of stream only)");
	if ((rc = relay_start(&rt, silence_ms, &err)) < 0)
		goto fail;
	rc = xen_hv_ops.restore_stream(&cfg, rt.pipe[0], &hooks, &g, &err);
	t_fail = since(&rx.t0);
	relay_stop(&rt);
	if (rc < 0)
		goto fail;
	fprintf(stderr, "remus-xl-receive: the sender is gone (%s after %llu bytes): failover to checkpoint %llu (domain %u) at %.3f s\n",
	    relay_end_name(rt.res.end), (unsigned long long)rt.res.bytes,
	    (unsigned long long)rx.checkpoints, xen_guest_domid(g), t_fail);
	if ((rc = xen_guest_attach_devices(g, json, json_len, rx.verbose ? XTL_DEBUG : XTL_WARN,
	    &err)) < 0)
		goto fail;
	if (strcmp(cfg.name, jg.name) != 0 && xen_guest_rename(g, jg.name, &err) == 0)
		fprintf(stderr, "remus-xl-receive: domain %u is now '%s'\n", xen_guest_domid(g), jg.name);
	if ((rc = xen_hv_ops.start(g, &err)) < 0)
		goto fail;
	fprintf(stderr, "remus-xl-receive: domain %u resumed from checkpoint %llu, devices attached in %.3f s\n",
	    xen_guest_domid(g), (unsigned long long)rx.checkpoints, since(&rx.t0) - t_fail);
	if (rx.stats != NULL)
		fprintf(rx.stats, "failover %llu %.3f %.3f %u %s\n", (unsigned long long)rx.checkpoints,
		    t_fail, since(&rx.t0), xen_guest_domid(g), relay_end_name(rt.res.end));
	report_phases(&rx, g, &rt.res);
	if (strcmp(xen_guest_name(g), jg.name) != 0)
		take_guest_name(&rx, g, jg.name, wait_s);
	else if (rx.stats != NULL)
		fprintf(rx.stats, "name %s\n", jg.name);
	xen_guest_release(g);
	rc = 0;
	goto out;
fail:
	relay_stop(&rt);
	fprintf(stderr, "remus-xl-receive: %s\n", err.msg);
	if (rx.stats != NULL)
		fprintf(rx.stats, "error %s\n", err.msg);
	if (g != NULL)
		xen_hv_ops.destroy(g);
	rc = 1;
out:
	free(json);
	if (rx.stats != NULL)
		fclose(rx.stats);
	return rc;
}
