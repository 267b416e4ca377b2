/*
 * remusctl — control remusd over its unix socket: list, status [--json],
 * stats, start, protect (with a progress bar while syncing), unprotect,
 * failover, evacuate (planned hand-over from the primary), check, and
 * resume --force / destroy to resolve an evacuation left in doubt.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <json-c/json.h>

#include "remusd/config.h"
#include "remusd/ctl_proto.h"
#include "remusd/remusctl.h"
#include "util/version.h"

/* evacuate / failover on the primary: three bounded phases on the daemon */
#define HANDOVER_TIMEOUT_MS 60000u
/* evacuate --to: prepare, a whole initial synchronisation to the
 * destination, then the hand-over */
#define EVACUATE_TO_TIMEOUT_MS 300000u


/* Options a subcommand takes (beyond the global -s/--socket). */
enum {
	OPT_JSON = 1u << 0, OPT_PEER = 1u << 1, OPT_UNSAFE = 1u << 2, OPT_WAIT = 1u << 3,
	OPT_FORCE = 1u << 4, OPT_NO_REPROTECT = 1u << 5, OPT_EXEC = 1u << 6,
	OPT_TO = 1u << 7,
};

struct opt_help {
	unsigned bit;
	const char *synopsis, *what;
};

static const struct opt_help opt_helps[] = {
	{ OPT_JSON, "--json", "print the daemon's JSON as is" },
	{ OPT_PEER, "--peer HOST[:PORT]", "the backup's remusd (default: the guest's peer)" },
	{ OPT_UNSAFE, "--unsafe LIST", "consent to weaker protection: no-netbuf,no-diskrep,blackhole" },
	{ OPT_WAIT, "--wait SECONDS", "give up waiting for `protected' after SECONDS (120)" },
	{ OPT_FORCE, "--force", "resume: run an in-doubt or fenced guest here, the backup does "
	  "not run it; failover: even while the primary answers or without quorum" },
	{ OPT_NO_REPROTECT, "--no-reprotect", "leave this host free: the backup does not protect "
	  "the guest back to it" },
	{ OPT_TO, "--to HOST[:PORT]", "evacuate to that host's remusd instead of the backup "
	  "(prepare there, pre-copy, hand-over); it protects the guest back to this host" },
	{ OPT_EXEC, "--exec PATH", "upgrade: the new remusd binary (default: the installed one)" },
};

/* The subcommands: what usage lists and what main dispatches on. */
struct subcmd {
	const char *name, *args;
	unsigned opts;
	const char *what;
	uint32_t type;      /* the request it sends (CTL_*) */
};

static const struct subcmd subcmds[] = {
	{ "list", "", 0, "list the configured guests", CTL_LIST },
	{ "status", "[GUEST]", OPT_JSON, "state and counters of one or all guests", CTL_STATUS },
	{ "stats", "[GUEST]", OPT_JSON, "statistics of one or all guests", CTL_STATS },
	{ "start", "GUEST", 0, "run a configured guest under this daemon", CTL_START },
	{ "protect", "GUEST", OPT_PEER | OPT_UNSAFE | OPT_WAIT,
	  "replicate to the backup; returns once protected", CTL_PROTECT },
	{ "unprotect", "GUEST", 0, "stop replicating; the guest keeps running", CTL_UNPROTECT },
	{ "failover", "GUEST", OPT_FORCE, "backup: run the replica now (refused while the primary "
	  "answers or without quorum); primary: as evacuate", CTL_FAILOVER },
	{ "evacuate", "GUEST", OPT_NO_REPROTECT | OPT_TO, "planned hand-over of a protected guest to the "
	  "backup, which protects it back to this host", CTL_EVACUATE },
	{ "check", "GUEST", 0, "list why the guest cannot be protected (exit 1 if any)", CTL_CHECK },
	{ "resume", "GUEST", OPT_FORCE, "run an in-doubt guest here again, unprotected", CTL_RESUME },
	{ "destroy", "GUEST", 0, "destroy the paused copy of an in-doubt or fenced guest here",
	  CTL_DESTROY },
	{ "halt", "GUEST", 0, "end an unprotected guest running here (its state is lost)", CTL_STOP },
	{ "set", "GUEST KEY=VALUE...", 0,
	  "change interval=MS or compression=none|zlib|delta, from the next epoch", CTL_SET },
	{ "store", "GUEST read|write|ls|rm PATH [VALUE]", 0,
	  "the guest's store (pvm): read, write, list or remove a node", CTL_STORE },
	{ "upgrade", "", OPT_EXEC,
	  "hand every guest over to a new remusd binary (exit 1: the old one carries on)",
	  CTL_UPGRADE },
};
#define NSUBCMDS (sizeof(subcmds) / sizeof(subcmds[0]))

static const struct subcmd *find_subcmd(const char *name)
{
	for (size_t i = 0; i < NSUBCMDS; i++)
		if (strcmp(subcmds[i].name, name) == 0)
			return &subcmds[i];
	return NULL;
}

static void print_synopsis(FILE *f, const struct subcmd *sc)
{
	fprintf(f, "  remusctl [-s SOCKET] %s%s%s", sc->name, sc->args[0] ? " " : "", sc->args);
	for (size_t i = 0; i < sizeof(opt_helps) / sizeof(opt_helps[0]); i++)
		if (sc->opts & opt_helps[i].bit)
			fprintf(f, " [%s]", opt_helps[i].synopsis);
	fprintf(f, "\n");
}

/* Options of one subcommand (or all of them, sc NULL), one per line. */
static void print_options(FILE *f, const struct subcmd *sc)
{
	fprintf(f, "options:\n"
	        "  -s, --socket PATH     remusd's control socket (%s)\n", REMUSD_DEFAULT_CTL);
	for (size_t i = 0; i < sizeof(opt_helps) / sizeof(opt_helps[0]); i++)
		if (sc == NULL || (sc->opts & opt_helps[i].bit))
			fprintf(f, "  %-21s %s\n", opt_helps[i].synopsis, opt_helps[i].what);
	fprintf(f, "  -h, --help            this help (after a command: that command's)\n"
	        "  -V, --version         print the version\n");
}

/* Help: to stdout with status 0 when asked for, to stderr with 2 on a
 * usage error.  sc: one subcommand's help, NULL: all. */
static void usage_to(FILE *f, int status, const struct subcmd *sc)
{
	if (sc) {
		fprintf(f, "usage:\n");
		print_synopsis(f, sc);
		fprintf(f, "%s\n", sc->what);
	} else {
		fprintf(f, "usage: remusctl [-s SOCKET] COMMAND [GUEST] [OPTIONS]\ncommands:\n");
		for (size_t i = 0; i < NSUBCMDS; i++)
			fprintf(f, "  %-10s %-8s %s\n", subcmds[i].name, subcmds[i].args, subcmds[i].what);
	}
	print_options(f, sc);
	exit(status);
}

static void usage(void)
{
	usage_to(stderr, 2, NULL);
}

/* --unsafe value: comma-separated list. */
static uint32_t parse_unsafe(const char *v)
{
	uint32_t f = 0;
	char *dup = strdup(v), *save = NULL;

	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "no-netbuf") == 0)
			f |= CTL_UNSAFE_NO_NETBUF;
		else if (strcmp(t, "no-diskrep") == 0)
			f |= CTL_UNSAFE_NO_DISKREP;
		else if (strcmp(t, "blackhole") == 0)
			f |= CTL_UNSAFE_BLACKHOLE;
		else {
			fprintf(stderr, "remusctl: unknown unsafe option '%s'\n", t);
			free(dup);
			usage_to(stderr, 2, find_subcmd("protect"));
		}
	}
	free(dup);
	return f;
}

/* --wait value: whole seconds, 1..86400. */
static unsigned parse_wait(const char *v)
{
	char *end;
	unsigned long s;

	errno = 0;
	s = strtoul(v, &end, 10);
	if (errno || end == v || *end || s < 1 || s > 86400) {
		fprintf(stderr, "remusctl: --wait wants 1..86400 seconds, not '%s'\n", v);
		usage_to(stderr, 2, find_subcmd("protect"));
	}
	return (unsigned)s;
}

/* One request/reply round trip on a fresh connection; returns the reply
 * code, prints errors. */
int remusctl_call(const struct opts *o, const uint8_t *req, int len, struct ctl_msg *rep,
                  struct ctl_conn **keep)
{
	struct remus_err err = { 0 };
	struct ctl_conn *c = NULL;
	int rc;

	if (len < 0) {
		fprintf(stderr, "remusctl: request too long\n");
		return -EINVAL;
	}
	if ((rc = ctl_connect(o->sock, &c, &err)) < 0) {
		fprintf(stderr, "remusctl: %s\n", err.msg);
		return rc;
	}
	if ((rc = ctl_call(c, req, (size_t)len,
	                   o->timeout_ms ? o->timeout_ms : CALL_TIMEOUT_MS, NULL, NULL, rep, &err)) < 0) {
		fprintf(stderr, "remusctl: %s\n", err.msg);
		ctl_conn_free(c);
		return rc;
	}
	*keep = c;   /* rep->payload points into c's buffer */
	return 0;
}

/* Commands with a plain text reply. */
static int cmd_simple(const struct opts *o, uint16_t type, const char *guest)
{
	uint8_t req[CTL_HDR_LEN + CTL_GUEST_MAX + CTL_PEER_MAX + 16];
	struct ctl_msg rep;
	struct ctl_conn *c = NULL;
	int len;

	if (type == CTL_LIST)
		len = ctl_encode_list(req, sizeof(req), 1);
	else if (type == CTL_PROTECT)
		len = ctl_encode_protect(req, sizeof(req), 1, guest, o->peer ? o->peer : "", o->unsafe);
	else if (type == CTL_EVACUATE)
		len = ctl_encode_evacuate_to(req, sizeof(req), 1, guest, o->evac_flags, o->to);
	else if (type == CTL_UPGRADE)
		len = ctl_encode_upgrade(req, sizeof(req), 1, o->exec ? o->exec : "");
	else
		len = ctl_encode_guest_req(req, sizeof(req), type, 1, guest);
	if (remusctl_call(o, req, len, &rep, &c) < 0)
		return 1;
	if (rep.type == CTL_CHECK_REPLY) {
		if (rep.reasons == 0)
			printf("%s: can be protected\n", guest);
		for (uint32_t bit = 1; bit & CTL_CHECK_ALL; bit <<= 1)
			if (rep.reasons & bit)
				printf("%s: %s\n", guest, ctl_check_reason(bit));
		/* the particulars (peer's answer, driver's texts), one a line */
		for (size_t i = 0, start = 0; i <= rep.payload_len; i++)
			if (i == rep.payload_len || rep.payload[i] == '\n') {
				if (i > start)
					printf("  %.*s\n", (int)(i - start), rep.payload + start);
				start = i + 1;
			}
		ctl_conn_free(c);
		return rep.reasons ? 1 : 0;
	}
	if (rep.code < 0)
		fprintf(stderr, "remusctl: %.*s\n", (int)rep.payload_len, rep.payload);
	else if (type == CTL_LIST)
		printf("%.*s", (int)rep.payload_len, rep.payload);
	else if (type == CTL_UPGRADE)
		printf("%.*s\n", (int)rep.payload_len, rep.payload);
	ctl_conn_free(c);
	if (rep.code < 0)
		return 1;
	return type == CTL_PROTECT ? remusctl_wait_protected(o, guest) : 0;
}

/* set GUEST KEY=VALUE...: each setting is one SET request, in order;
 * the first refusal stops (what came before stays set). */
/* Parse one KEY=VALUE of `set`; 0, or -1 with the reason printed. */
static int parse_setting(const char *kv, uint32_t *setting, uint32_t *value)
{
	static const char *const kinds[] = { "none", "zlib", "delta" };
	char *end;

	if (strncmp(kv, "interval=", 9) == 0) {
		unsigned long v = strtoul(kv + 9, &end, 10);
		if (end == kv + 9 || (*end && strcmp(end, "ms") != 0) || v < 1 || v > 10000) {
			fprintf(stderr, "remusctl: %s: interval is 1..10000 (ms)\n", kv);
			return -1;
		}
		*setting = CTL_SET_INTERVAL;
		*value = (uint32_t)v;
		return 0;
	}
	if (strncmp(kv, "compression=", 12) == 0) {
		for (*value = 0; *value < 3 && strcmp(kv + 12, kinds[*value]) != 0; (*value)++)
			;
		if (*value == 3) {
			fprintf(stderr, "remusctl: %s: compression is none, zlib or delta\n", kv);
			return -1;
		}
		*setting = CTL_SET_COMPRESSION;
		return 0;
	}
	fprintf(stderr, "remusctl: %s: settable are interval=MS and compression=KIND\n", kv);
	return -1;
}

/* set GUEST KEY=VALUE...: every pair is checked before any is sent, so a
 * typo changes nothing. */
static int cmd_set(const struct opts *o, const char *guest, char **kv, int n)
{
	uint8_t req[CTL_HDR_LEN + CTL_GUEST_MAX + 16];
	struct ctl_conn *c = NULL;
	struct ctl_msg rep;
	uint32_t setting, value;
	int rc = 0;

	if (n == 0)
		usage_to(stderr, 2, find_subcmd("set"));
	for (int i = 0; i < n; i++)
		if (parse_setting(kv[i], &setting, &value) < 0)
			usage_to(stderr, 2, find_subcmd("set"));
	for (int i = 0; i < n && rc == 0; i++) {
		(void)parse_setting(kv[i], &setting, &value);
		if (remusctl_call(o, req, ctl_encode_set(req, sizeof(req), 1, guest, setting, value), &rep,
		         &c) < 0)
			return 1;
		if (rep.type != CTL_REPLY || rep.code < 0) {
			fprintf(stderr, "remusctl: %.*s\n", (int)rep.payload_len, rep.payload);
			rc = 1;
		} else {
			printf("%.*s\n", (int)rep.payload_len, rep.payload);
		}
		ctl_conn_free(c);
	}
	return rc;
}

/* store GUEST OP PATH [VALUE]: one STORE request; a read prints the value
 * (non-printable bytes as \xHH), ls one child a line. */
static int cmd_store(const struct opts *o, const char *guest, char **a, int n)
{
	static const char *const ops[] = { "read", "write", "ls", "rm" };
	static uint8_t req[CTL_HDR_LEN + CTL_GUEST_MAX + 16 + CTL_STORE_PATH_MAX +
	                   CTL_STORE_VALUE_MAX];
	struct ctl_conn *c = NULL;
	struct ctl_msg rep;
	uint32_t op = 0;
	int rc;

	for (uint32_t i = 0; i < 4; i++)
		if (n >= 2 && strcmp(a[0], ops[i]) == 0)
			op = i + 1;
	if (op == 0 || n != (op == CTL_STORE_WRITE ? 3 : 2))
		usage_to(stderr, 2, find_subcmd("store"));
	if (remusctl_call(o, req, ctl_encode_store(req, sizeof(req), 1, guest, op, a[1], strlen(a[1]),
	                                  n == 3 ? a[2] : NULL, n == 3 ? strlen(a[2]) : 0),
	         &rep, &c) < 0)
		return 1;
	rc = rep.type == CTL_REPLY && rep.code == 0 ? 0 : 1;
	if (rc)
		fprintf(stderr, "remusctl: %.*s\n", (int)rep.payload_len, rep.payload);
	else if (op == CTL_STORE_READ || op == CTL_STORE_LS)
		printf("%.*s%s", (int)rep.payload_len, rep.payload, op == CTL_STORE_READ ? "\n" : "");
	ctl_conn_free(c);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' }, { "peer", required_argument, NULL, 'p' },
		{ "unsafe", required_argument, NULL, 'u' }, { "socket", required_argument, NULL, 's' },
		{ "wait", required_argument, NULL, 'w' }, { "force", no_argument, NULL, 'f' },
		{ "no-reprotect", no_argument, NULL, 'n' },
		{ "exec", required_argument, NULL, 'x' }, { "to", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct opts o = { .sock = REMUSD_DEFAULT_CTL, .wait_s = 120 };
	const struct subcmd *sc;
	const char *cmd, *guest;
	bool help = false;
	int ch;

	/* GNU getopt permutes: options may follow the command and guest */
	while ((ch = getopt_long(argc, argv, "s:hV", lo, NULL)) != -1) {
		if (ch == 'j')
			o.json = true;
		else if (ch == 'p')
			o.peer = optarg;
		else if (ch == 'u')
			o.unsafe = parse_unsafe(optarg);
		else if (ch == 's')
			o.sock = optarg;
		else if (ch == 'w')
			o.wait_s = parse_wait(optarg);
		else if (ch == 'f')
			o.force = true;
		else if (ch == 'n')
			o.evac_flags |= CTL_EVAC_NO_REPROTECT;
		else if (ch == 'x')
			o.exec = optarg;
		else if (ch == 't')
			o.to = optarg;
		else if (ch == 'h')
			help = true;
		else if (ch == 'V') {
			remus_print_version("remusctl");
			return 0;
		} else
			usage();
	}
	if (optind >= argc) {
		if (help)
			usage_to(stdout, 0, NULL);
		usage();
	}
	cmd = argv[optind++];
	if ((sc = find_subcmd(cmd)) == NULL) {
		fprintf(stderr, "remusctl: unknown command '%s'\n", cmd);
		usage();
	}
	if (help)
		usage_to(stdout, 0, sc);
	guest = optind < argc ? argv[optind++] : NULL;
	if (sc->type == CTL_SET && guest != NULL)
		return cmd_set(&o, guest, argv + optind, argc - optind);
	if (sc->type == CTL_STORE && guest != NULL)
		return cmd_store(&o, guest, argv + optind, argc - optind);
	if (optind != argc)
		usage_to(stderr, 2, sc);
	if (sc->type == CTL_LIST)
		return cmd_simple(&o, CTL_LIST, NULL);
	if (sc->type == CTL_UPGRADE) {
		if (guest != NULL)
			usage_to(stderr, 2, sc);
		o.timeout_ms = HANDOVER_TIMEOUT_MS;
		return cmd_simple(&o, CTL_UPGRADE, NULL);
	}
	if (sc->type == CTL_STATUS || sc->type == CTL_STATS)
		return remusctl_status(&o, sc->type, guest);
	if (guest == NULL)
		usage_to(stderr, 2, sc);
	/* two copies would run if the backup runs the guest too */
	if (sc->type == CTL_RESUME && !o.force) {
		fprintf(stderr, "remusctl: resume %s needs --force: first make sure the "
		        "backup does not run it (remusctl status %s on the backup)\n",
		        guest, guest);
		return 1;
	}
	if (sc->type == CTL_FAILOVER || sc->type == CTL_EVACUATE || sc->type == CTL_CHECK)
		o.timeout_ms = HANDOVER_TIMEOUT_MS;
	if (o.to != NULL && sc->type != CTL_EVACUATE)
		usage_to(stderr, 2, sc);
	if (sc->type == CTL_EVACUATE && o.to != NULL)
		o.timeout_ms = EVACUATE_TO_TIMEOUT_MS;
	if (sc->type == CTL_FAILOVER && o.force)
		return cmd_simple(&o, CTL_FAILOVER_FORCE, guest);
	return cmd_simple(&o, sc->type, guest);
}
