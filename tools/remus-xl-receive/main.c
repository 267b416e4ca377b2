/*
 * remus-xl-receive: the receiving end of `xl remus`, built on remus's Xen
 * driver instead of libxl's receiver.
 *
 *   xl remus [-n -d ...] -s '' DOMAIN 'remus-xl-receive [-v] [-s STATS]'
 *
 * It speaks what `xl remus` expects of `xl migrate-receive -r` on
 * stdin/stdout: it writes xl's receiver banner, reads xl's migration header
 * (the guest's libxl JSON configuration) with remus's stream reader, then
 * hands the libxl/libxc stream to the driver's restore_stream, which stages
 * every checkpoint's libxl records with remus's assembler and lets libxc
 * apply only complete checkpoints.  When the sender dies (EOF) libxc fails
 * over to the last complete checkpoint; the replica then gets the guest's
 * devices through libxl and is unpaused.  Nothing is written back during
 * Remus (xl's receiver sends nothing either).
 *
 * stderr: one line per complete checkpoint ("checkpoint N complete at T s")
 * and the failover.  Exit status 0: the replica runs; 1: failure (no domain
 * left behind); 2: usage.
 */
#include <errno.h>
#include <getopt.h>
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
	    "usage: remus-xl-receive [-v] [-s STATS] [-N NAME]\n"
	    "Receive `xl remus` on stdin/stdout (use as its receiver command with -s '').\n"
	    "  -v        report every checkpoint on stderr, and libxl's debug messages\n"
	    "  -s STATS  append \"checkpoint N SECONDS\" lines and the failover to STATS\n"
	    "  -N NAME   name of the replica domain (default: the guest's name + \"--backup\")\n");
}

int main(int argc, char **argv)
{
	struct receiver rx = { 0 };
	struct remus_err err = { 0 };
	struct hv_stream_hooks hooks = { .arg = &rx, .checkpoint = on_checkpoint };
	struct hv_guest_config cfg = { .cpu = -1, .console_fd = -1 };
	struct xen_json_guest jg;
	struct hv_guest *g = NULL;
	const char *stats = NULL, *name = NULL;
	char replica[80];
	char *json = NULL;
	size_t json_len = 0;
	double t_fail;
	int opt, rc;

	while ((opt = getopt(argc, argv, "vs:N:h")) != -1) {
		switch (opt) {
		case 'v': rx.verbose = true; break;
		case 's': stats = optarg; break;
		case 'N': name = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
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
	fprintf(stderr, "remus-xl-receive: receiving '%s' (%llu MiB, %u vif, %u disk) as '%s'\n",
	    jg.name, (unsigned long long)(jg.max_mem_bytes >> 20), jg.nics, jg.disks, cfg.name);
	rc = xen_hv_ops.restore_stream(&cfg, STDIN_FILENO, &hooks, &g, &err);
	t_fail = since(&rx.t0);
	if (rc < 0)
		goto fail;
	fprintf(stderr, "remus-xl-receive: the sender is gone: failover to checkpoint %llu (domain %u) at %.3f s\n",
	    (unsigned long long)rx.checkpoints, xen_guest_domid(g), t_fail);
	if ((rc = xen_guest_attach_devices(g, json, json_len, rx.verbose ? XTL_DEBUG : XTL_WARN,
	    &err)) < 0)
		goto fail;
	if ((rc = xen_hv_ops.start(g, &err)) < 0)
		goto fail;
	fprintf(stderr, "remus-xl-receive: domain %u resumed from checkpoint %llu, devices attached in %.3f s\n",
	    xen_guest_domid(g), (unsigned long long)rx.checkpoints, since(&rx.t0) - t_fail);
	if (rx.stats != NULL)
		fprintf(rx.stats, "failover %llu %.3f %.3f %u\n", (unsigned long long)rx.checkpoints, t_fail,
		    since(&rx.t0), xen_guest_domid(g));
	xen_guest_release(g);
	rc = 0;
	goto out;
fail:
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
