/*
 * remus-xen-send: protect a running Xen domain with the Xen driver's
 * save_stream towards Xen's own receiver, `xl migrate-receive -r`.
 *
 * It speaks the part of xl's migration protocol that `xl remus` speaks:
 * start the receiver command with a pipe on each of its stdin and stdout,
 * wait for the receiver's banner line, send xl's save header carrying the
 * domain's configuration as JSON (libxl, exactly what xl sends), then the
 * checkpointed libxl/libxc stream.  A Remus receiver sends nothing back.
 * When this program stops (after -c checkpoints, or killed), the receiver
 * sees the stream end and fails over to the last complete checkpoint.
 *
 * This is the lab's proof that streams written by our driver are accepted
 * by Xen's receiver; remusd's own path goes over the replication link.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "util/err.h"
#include "util/version.h"

/* What `xl migrate-receive` writes on its stdout when it is ready. */
static const char receiver_banner[] = "xl migration receiver ready, send binary domain data.\n";

struct send_opts {
	const char *domain, *receiver;
	unsigned interval_ms, count;
	enum xen_suspend_mode suspend;
};

/* Per-checkpoint timing, printed for the lab's figures. */
struct send_state {
	const struct send_opts *o;
	unsigned done;
	double t_epoch, t_suspended, t_resumed;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int hook_suspended(void *arg)
{
	struct send_state *s = arg;

	s->t_suspended = now_s();
	return 0;
}

static void hook_resumed(void *arg)
{
	struct send_state *s = arg;

	s->t_resumed = now_s();
}

/* The checkpoint is on the wire: report it, then wait one interval (as
 * libxl's Remus does after each checkpoint).  0 stops after -c of them. */
static int hook_wait(void *arg)
{
	struct send_state *s = arg;
	double t = now_s();

	s->done++;
	/* From the end of the last wait (libxc suspends right after it) to
	 * the resume; the first checkpoint also had its live copy before. */
	fprintf(stderr, "remus-xen-send: checkpoint %u suspend_ms %.1f pause_ms %.1f sent_ms %.1f\n",
	    s->done, (s->t_suspended - s->t_epoch) * 1e3, (s->t_resumed - s->t_epoch) * 1e3,
	    (t - s->t_epoch) * 1e3);
	if (s->o->count != 0 && s->done >= s->o->count)
		return 0;
	nanosleep(&(struct timespec){ s->o->interval_ms / 1000u,
	    (long)(s->o->interval_ms % 1000u) * 1000000L }, NULL);
	s->t_epoch = now_s();
	return 1;
}

/* Run `sh -c receiver` with pipes: *to_fd is its stdin, *from_fd its stdout. */
static pid_t spawn_receiver(const char *cmd, int *to_fd, int *from_fd, struct remus_err *err)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe(in) != 0)
		return remus_err_sys(err, errno, "pipe");
	if (pipe(out) != 0) {
		close(in[0]);
		close(in[1]);
		return remus_err_sys(err, errno, "pipe");
	}
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[0]); close(in[1]); close(out[0]); close(out[1]);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		return remus_err_sys(err, errno, "fork");
	}
	*to_fd = in[1];
	*from_fd = out[0];
	return pid;
}

/* Read exactly len bytes: 1, 0 at end of file, -errno. */
static int read_exactly(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = read(fd, (char *)buf + got, len - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		got += (size_t)n;
	}
	return 1;
}

/* The receiver's banner, then xl's header with the configuration. */
static int send_preamble(int to_fd, int from_fd, const char *json, size_t json_len,
    struct remus_err *err)
{
	char got[sizeof(receiver_banner) - 1];
	struct stream_buf b;
	int rc;

	if ((rc = read_exactly(from_fd, got, sizeof(got))) < 0)
		return remus_err_sys(err, -rc, "reading the receiver's banner");
	if (rc == 0 || memcmp(got, receiver_banner, sizeof(got)) != 0)
		return remus_err_set(err, -EPROTO, "the receiver did not send xl's migration banner");
	rc = 0;
	stream_buf_init(&b);
	rc = stream_put_xl_header(&b, json, json_len);
	if (rc == 0 && (rc = stream_buf_flush(&b, to_fd)) < 0)
		remus_err_sys(err, -rc, "writing the xl header");
	else if (rc < 0)
		remus_err_set(err, rc, "encoding the xl header");
	stream_buf_free(&b);
	return rc;
}

/* Help to stdout (status 0) when asked for, to stderr (2) on a usage error. */
static int usage(FILE *f, int status)
{
	fprintf(f, "usage: remus-xen-send [-i INTERVAL_MS] [-c CHECKPOINTS] [-R] DOMAIN 'RECEIVER COMMAND'\n"
	    "Protect a running Xen domain towards `xl migrate-receive -r` (RECEIVER COMMAND).\n"
	    "options:\n"
	    "  -i, --interval MS       epoch length (500)\n"
	    "  -c, --checkpoints N     stop after N checkpoints (0: until killed)\n"
	    "  -R, --remote-suspend    suspend the guest from outside (no guest help)\n"
	    "                          instead of cooperatively\n"
	    "  -h, --help              this help\n"
	    "  -V, --version           print the version\n");
	return status;
}

/* 0: run; -1: usage error; 1: help or version printed. */
static int parse_args(int argc, char **argv, struct send_opts *o)
{
	static const struct option lo[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "checkpoints", required_argument, NULL, 'c' },
		{ "remote-suspend", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct send_opts){ .interval_ms = 500, .suspend = XEN_SUSPEND_COOPERATIVE };
	while ((c = getopt_long(argc, argv, "i:c:RhV", lo, NULL)) != -1) {
		switch (c) {
		case 'i': o->interval_ms = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': o->count = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'R': o->suspend = XEN_SUSPEND_REMOTE; break;
		case 'h': usage(stdout, 0); return 1;
		case 'V': remus_print_version("remus-xen-send"); return 1;
		default: return -1;
		}
	}
	if (argc - optind != 2)
		return -1;
	o->domain = argv[optind];
	o->receiver = argv[optind + 1];
	return 0;
}

int main(int argc, char **argv)
{
	const struct hv_ops *ops = hv_driver("xen");
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct send_opts o;
	struct send_state st = { 0 };
	int to_fd = -1, from_fd = -1, rc = 1;
	char *json = NULL;
	size_t json_len = 0;
	pid_t child;

	if ((rc = parse_args(argc, argv, &o)) != 0)
		return rc > 0 ? 0 : usage(stderr, 2);
	rc = 1;
	signal(SIGPIPE, SIG_IGN);
	if (ops == NULL) {
		fprintf(stderr, "remus-xen-send: built without the Xen driver\n");
		return 1;
	}
	struct hv_guest_config cfg = { .name = o.domain };
	if (ops->create(&cfg, &g, &err) < 0 ||
	    xen_guest_config_json(g, &json, &json_len, &err) < 0 ||
	    (child = spawn_receiver(o.receiver, &to_fd, &from_fd, &err)) < 0 ||
	    send_preamble(to_fd, from_fd, json, json_len, &err) < 0)
		goto out;
	xen_guest_set_suspend_mode(g, o.suspend);
	st.o = &o;
	st.t_epoch = now_s();
	struct hv_stream_hooks hooks = {
		.arg = &st, .suspended = hook_suspended, .resumed = hook_resumed,
		.wait_checkpoint = hook_wait,
	};
	if (ops->save_stream(g, to_fd, &hooks, &err) < 0)
		goto out;
	fprintf(stderr, "remus-xen-send: stopped after %u checkpoints; receiver pid %d fails over\n",
	    st.done, (int)child);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "remus-xen-send: %s\n", err.msg);
	if (to_fd >= 0)
		close(to_fd);
	if (from_fd >= 0)
		close(from_fd);
	if (g != NULL)
		ops->destroy(g);
	free(json);
	return rc;
}
