/*
 * pvm: run a pvm guest on its own, save it to a migration v2 stream and
 * restore it, like `xl create/save/restore/list`.
 *   pvm run [OPTIONS] GUEST.elf
 *   pvm save NAME FILE
 *   pvm restore [OPTIONS] FILE
 * OPTIONS: --name NAME --mem 64M --tap IF --mac MAC --ip A.B.C.D/N --gw A.B.C.D
 *          --disk IMG --cpu N|none
 *   pvm list
 * `run`/`restore` put the console on stdout and serve a control socket
 * ($REMUS_RUNDIR/pvm/NAME.sock, default /run/remus) for save and list.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hv/pvm/pvm.h"
#include "tools/pvm/pvm_tool.h"
#include "util/log.h"
#include "util/version.h"

/* Bounded string copy that always terminates (truncation is fine here). */
static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strnlen(src, cap - 1);
	memcpy(dst, src, n);
	dst[n] = 0;
}

static const char *state_name(uint32_t s)
{
	static const char *n[] = { "created", "running", "paused", "crashed", "exited" };
	return s <= HV_EXITED ? n[s] : "?";
}

/* Help to stdout (status 0) when asked for, to stderr (2) on a usage error. */
static void usage_to(FILE *f, int status)
{
	fprintf(f,
	        "usage: pvm run [OPTIONS] GUEST.elf\n"
	        "       pvm save NAME FILE\n"
	        "       pvm restore [OPTIONS] FILE\n"
	        "       pvm list\n"
	        "options of run and restore:\n"
	        "  --name NAME      the guest's name (default: the image's file name)\n"
	        "  --mem SIZE       guest RAM, e.g. 64M, 1G (64M)\n"
	        "  --tap IF         attach the guest's NIC to this TAP interface\n"
	        "  --mac MAC        the NIC's MAC address\n"
	        "  --ip A.B.C.D/N   the guest's IPv4 address and prefix\n"
	        "  --gw A.B.C.D     the guest's default gateway\n"
	        "  --disk IMG       the guest's disk image\n"
	        "  --cpu N|none     pin the vCPU thread to CPU N (default: the current CPU)\n"
	        "  -h, --help       this help\n"
	        "  -V, --version    print the version\n");
	exit(status);
}

static void usage(void)
{
	usage_to(stderr, 2);
}

/* `pvm CMD ... --help` for the commands without options of their own. */
static void help_if_asked(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			usage_to(stdout, 0);
		if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
			remus_print_version("pvm");
			exit(0);
		}
	}
}

/* "64M", "1G", "4096K" or bytes. */
static uint64_t parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	default: break;
	}
	if (*end != 0 || v == 0)
		fatalx("bad size '%s'", s);
	return v;
}

/* "a.b.c.d" into 4 bytes, network order. */
static void parse_ipv4(const char *s, uint8_t out[4])
{
	unsigned a, b, c, d;
	char extra;
	if (sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 ||
	    c > 255 || d > 255)
		fatalx("bad IPv4 address '%s'", s);
	out[0] = (uint8_t)a; out[1] = (uint8_t)b; out[2] = (uint8_t)c; out[3] = (uint8_t)d;
}

/* "a.b.c.d/n" into the config. */
static void parse_cidr(const char *s, struct hv_guest_config *cfg)
{
	char buf[32];
	const char *slash = strchr(s, '/');
	int n = slash ? atoi(slash + 1) : 24;

	if (slash == NULL || (size_t)(slash - s) >= sizeof(buf) || n < 1 || n > 32)
		fatalx("bad address '%s' (want A.B.C.D/N)", s);
	memcpy(buf, s, (size_t)(slash - s));
	buf[slash - s] = 0;
	parse_ipv4(buf, cfg->ipv4_addr);
	cfg->ipv4_prefix = (uint8_t)n;
}

static void parse_mac(const char *s, uint8_t mac[6])
{
	unsigned m[6];
	char extra;
	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5], &extra) != 6)
		fatalx("bad MAC address '%s'", s);
	for (int i = 0; i < 6; i++) {
		if (m[i] > 255)
			fatalx("bad MAC address '%s'", s);
		mac[i] = (uint8_t)m[i];
	}
}

/* Options shared by run and restore. */
static void parse_opts(int argc, char **argv, struct hv_guest_config *cfg)
{
	static const struct option lo[] = {
		{ "name", required_argument, NULL, 'n' }, { "mem", required_argument, NULL, 'm' },
		{ "tap", required_argument, NULL, 't' }, { "disk", required_argument, NULL, 'd' },
		{ "cpu", required_argument, NULL, 'c' }, { "mac", required_argument, NULL, 'M' },
		{ "ip", required_argument, NULL, 'i' }, { "gw", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	cfg->cpu = sched_getcpu();
	cfg->mem_bytes = 64ULL << 20;
	cfg->console_fd = STDOUT_FILENO;
	optind = 1;
	while ((c = getopt_long(argc, argv, "hV", lo, NULL)) != -1) {
		switch (c) {
		case 'n': cfg->name = optarg; break;
		case 'm': cfg->mem_bytes = parse_size(optarg); break;
		case 't': cfg->tap = optarg; break;
		case 'd': cfg->disk = optarg; break;
		case 'c': cfg->cpu = strcmp(optarg, "none") == 0 ? -1 : atoi(optarg); break;
		case 'M': parse_mac(optarg, cfg->mac); break;
		case 'i': parse_cidr(optarg, cfg); break;
		case 'g': parse_ipv4(optarg, cfg->ipv4_gw); break;
		case 'h': usage_to(stdout, 0); break;
		case 'V': remus_print_version("pvm"); exit(0);
		default: usage();
		}
	}
	if (optind != argc - 1)
		usage();
}

/* Listen on the guest's control socket (0600, in a 0700 directory).
 * -EADDRINUSE when a live guest already has the name. */
static int ctl_listen(const char *name, char *path, size_t cap)
{
	struct remus_err err = { 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[256];
	int s;

	if (pvm_ctl_dir(dir, sizeof(dir), &err) < 0 || pvm_ctl_path(name, path, cap, &err) < 0)
		fatalx("%s", err.msg);
	char parent[256];
	snprintf(parent, sizeof(parent), "%s", dir);
	mkdir(dirname(parent), 0755);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		fatal("mkdir %s", dir);
	copy_str(sa.sun_path, sizeof(sa.sun_path), path);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		fatal("socket");
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(s);
		return -EADDRINUSE;
	}
	unlink(path);
	mode_t old = umask(0177);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 4) < 0)
		fatal("bind %s", path);
	umask(old);
	return s;
}

/* Answer one control connection; returns 1 when the guest was saved. */
static int serve(const struct hv_ops *ops, struct hv_guest *g, int c)
{
	struct remus_err err = { 0 };
	struct pvm_ctl_msg m, r = { .type = PVM_CTL_REPLY };
	struct hv_info in;
	int fd, saved = 0;

	if (pvm_ctl_recv(c, &m, &fd, &err) < 0) {
		log_warnx("%s", err.msg);
		return 0;
	}
	if (m.type == PVM_CTL_SAVE) {
		if (fd < 0)
			r.reply.rc = remus_err_set(&err, -EINVAL, "save: no file descriptor received");
		else if ((r.reply.rc = ops->suspend(g, &err)) == 0) {
			r.reply.rc = pvm_image_save(ops, g, fd, &err);
			if (r.reply.rc < 0)
				ops->resume(g, &err);
			else
				saved = 1;
		}
		if (r.reply.rc < 0)
			copy_str(r.reply.msg, sizeof(r.reply.msg), err.msg);
	} else if (m.type != PVM_CTL_INFO) {
		r.reply.rc = -EPROTO;
		snprintf(r.reply.msg, sizeof(r.reply.msg), "unexpected message type %u", m.type);
	}
	if (fd >= 0)
		close(fd);
	ops->info(g, &in);
	r.reply.state = in.state;
	r.reply.ram_bytes = in.ram_bytes;
	if (r.reply.rc == 0)
		copy_str(r.reply.msg, sizeof(r.reply.msg), in.reason);
	if (pvm_ctl_send(c, &r, -1, &err) < 0)
		log_warnx("%s", err.msg);
	return saved;
}

/* Run the started guest until it ends, is saved, or we are signalled.
 * A default name already in use gets "-PID" appended; a chosen one is an error. */
static int supervise(const struct hv_ops *ops, struct hv_guest *g, const char *name,
                     bool chosen)
{
	char path[256], alt[96];
	sigset_t set;
	struct hv_info in;
	int ls = ctl_listen(name, path, sizeof(path)), sfd, code = 0;

	if (ls == -EADDRINUSE && !chosen) {
		snprintf(alt, sizeof(alt), "%.64s-%d", name, (int)getpid());
		log_info("name %s in use, serving as %s", name, alt);
		name = alt;
		ls = ctl_listen(name, path, sizeof(path));
	}
	if (ls < 0)
		fatalx("a guest named '%s' is already running (%s)", name, path);
	ops->info(g, &in);
	if (in.dirty_mode == HV_DIRTY_HASH)
		log_info("guest %s: dirty log by page hashing (no userfaultfd WP-async): O(RAM) per checkpoint", name);

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	if ((sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
		fatal("signalfd");
	for (;;) {
		struct pollfd p[2] = { { ls, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int n = poll(p, 2, 50);         /* guest end has no fd: look every 50 ms */
		ops->info(g, &in);
		if (in.state == HV_EXITED || in.state == HV_CRASHED) {
			code = in.state == HV_EXITED ? in.exit_code & 0xff : 2;
			if (in.state == HV_CRASHED)
				log_warnx("guest %s crashed: %s", name, in.reason);
			break;
		}
		if (n > 0 && (p[1].revents & POLLIN)) {
			log_info("guest %s: stopped by signal", name);
			code = 1;
			break;
		}
		if (n > 0 && (p[0].revents & POLLIN)) {
			int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			if (c >= 0) {
				int saved = serve(ops, g, c);
				close(c);
				if (saved)
					break;
			}
		}
	}
	unlink(path);
	close(ls);
	close(sfd);
	ops->destroy(g);
	return code;
}

static int cmd_run(int argc, char **argv)
{
	const struct hv_ops *ops = &pvm_hv_ops;
	struct hv_guest_config cfg = { 0 };
	struct remus_err err = { 0 };
	struct hv_guest *g;
	char base[256];

	parse_opts(argc, argv, &cfg);
	cfg.image = argv[optind];
	bool chosen = cfg.name != NULL;
	if (cfg.name == NULL) {
		snprintf(base, sizeof(base), "%s", basename(argv[optind]));
		char *dot = strrchr(base, '.');
		if (dot && strcmp(dot, ".elf") == 0)
			*dot = 0;
		cfg.name = base;
	}
	if (ops->create(&cfg, &g, &err) < 0 || ops->start(g, &err) < 0)
		fatalx("%s", err.msg);
	return supervise(ops, g, cfg.name, chosen);
}

static int cmd_restore(int argc, char **argv)
{
	const struct hv_ops *ops = &pvm_hv_ops;
	struct hv_guest_config cfg = { 0 };
	struct remus_err err = { 0 };
	struct pvm_image im;
	struct hv_guest *g;
	int fd;

	parse_opts(argc, argv, &cfg);
	if ((fd = open(argv[optind], O_RDONLY | O_CLOEXEC)) < 0)
		fatal("open %s", argv[optind]);
	if (pvm_image_load(fd, &im, &err) < 0)
		fatalx("%s: refused: %s", argv[optind], err.msg);
	close(fd);
	bool chosen = cfg.name != NULL;
	if (cfg.name == NULL)
		cfg.name = "restored";
	struct hv_checkpoint ck = {
		.ram_fd = im.ram_fd, .ram_bytes = im.ram_bytes,
		.hvm_context = im.hvm.data, .hvm_context_len = im.hvm.len,
		.emu_context = im.emu.data, .emu_context_len = im.emu.len,
	};
	if (ops->restore(&cfg, &ck, &g, &err) < 0)
		fatalx("%s: refused: %s", argv[optind], err.msg);
	pvm_image_free(&im);
	if (ops->start(g, &err) < 0)
		fatalx("%s", err.msg);
	if (ops->announce(g, &err) < 0)         /* moved: tell the LAN (gratuitous ARP) */
		log_warnx("announce: %s", err.msg);
	return supervise(ops, g, cfg.name, chosen);
}

/* Connect to a guest's control socket and exchange one message. */
static int ctl_call(const char *path, uint32_t type, int fd, struct pvm_ctl_msg *r,
                    struct remus_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct pvm_ctl_msg m = { .type = type };
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), rfd, rc;

	copy_str(sa.sun_path, sizeof(sa.sun_path), path);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = remus_err_sys(err, errno, "connect %s", path);
		goto out;
	}
	if ((rc = pvm_ctl_send(s, &m, fd, err)) < 0 || (rc = pvm_ctl_recv(s, r, &rfd, err)) < 0)
		goto out;
	if (rfd >= 0)
		close(rfd);
	if (r->type != PVM_CTL_REPLY)
		rc = remus_err_set(err, -EPROTO, "control: reply of type %u", r->type);
out:
	if (s >= 0)
		close(s);
	return rc;
}

static int cmd_save(int argc, char **argv)
{
	struct remus_err err = { 0 };
	struct pvm_ctl_msg r;
	char path[256];
	int fd;

	if (argc != 3)
		usage();
	if (pvm_ctl_path(argv[1], path, sizeof(path), &err) < 0)
		fatalx("%s", err.msg);
	if ((fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0)
		fatal("create %s", argv[2]);
	if (ctl_call(path, PVM_CTL_SAVE, fd, &r, &err) < 0)
		fatalx("save %s: %s", argv[1], err.msg);
	close(fd);
	if (r.reply.rc < 0)
		fatalx("save %s: %s", argv[1], r.reply.msg);
	return 0;
}

static int cmd_list(void)
{
	struct remus_err err = { 0 };
	char dir[256], path[512];
	struct dirent *de;
	DIR *d;

	if (pvm_ctl_dir(dir, sizeof(dir), &err) < 0)
		fatalx("%s", err.msg);
	printf("%-24s %-8s %10s\n", "NAME", "STATE", "MEM(MiB)");
	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		struct pvm_ctl_msg r;
		if (n < 6 || strcmp(de->d_name + n - 5, ".sock") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (ctl_call(path, PVM_CTL_INFO, -1, &r, &err) < 0)
			continue;           /* stale socket */
		printf("%-24.*s %-8s %10llu\n", (int)(n - 5), de->d_name, state_name(r.reply.state),
		       (unsigned long long)(r.reply.ram_bytes >> 20));
	}
	closedir(d);
	return 0;
}

int main(int argc, char **argv)
{
	struct log_cfg lc = { .progname = "pvm" };

	log_init(&lc);
	if (argc < 2)
		usage();
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		help_if_asked(2, argv);
	if (strcmp(argv[1], "save") == 0 || strcmp(argv[1], "list") == 0)
		help_if_asked(argc, argv);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "restore") == 0)
		return cmd_restore(argc - 1, argv + 1);
	if (strcmp(argv[1], "save") == 0)
		return cmd_save(argc - 1, argv + 1);
	if (strcmp(argv[1], "list") == 0)
		return cmd_list();
	usage();
}
