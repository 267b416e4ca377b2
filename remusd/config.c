/*
 * remus.conf parser on top of inih.  We feed inih line by line from memory
 * (so we know the line of every callback and can refuse overlong lines),
 * track sections ourselves, and check each guest when its section ends.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "diskrep/kind.h"
#include "net/net.h"
#include "remusd/config_impl.h"

#define G(f) offsetof(struct remusd_guest_conf, f), sizeof(((struct remusd_guest_conf *)0)->f)
#define C(f) offsetof(struct remusd_conf, f), sizeof(((struct remusd_conf *)0)->f)

static const struct conf_word log_words[] = {
	{ "warn", REMUSD_LOG_WARN }, { "info", REMUSD_LOG_INFO },
	{ "debug", REMUSD_LOG_DEBUG }, { NULL, 0 } };
static const struct conf_word type_words[] = {
	{ "pvm", REMUSD_GUEST_PVM }, { "xen", REMUSD_GUEST_XEN }, { NULL, 0 } };
static const struct conf_word netbuf_words[] = {
	{ "inline", REMUSD_NETBUF_INLINE }, { "nfqueue", REMUSD_NETBUF_NFQUEUE },
	{ "plug", REMUSD_NETBUF_PLUG }, { "none", REMUSD_NETBUF_NONE }, { NULL, 0 } };
static const struct conf_word diskrep_words[] = {
	{ "builtin", DISKREP_KIND_BUILTIN }, { "drbd", DISKREP_KIND_DRBD },
	{ "none", DISKREP_KIND_NONE }, { NULL, 0 } };
static const struct conf_word capture_words[] = {
	{ "copy", REMUSD_CAPTURE_COPY }, { "cow", REMUSD_CAPTURE_COW }, { NULL, 0 } };
static const struct conf_word reprotect_words[] = {
	{ "off", REMUSD_REPROTECT_OFF }, { "auto", REMUSD_REPROTECT_AUTO }, { NULL, 0 } };
static const struct conf_word compress_words[] = {
	{ "none", RNET_COMPRESS_NONE }, { "zlib", RNET_COMPRESS_ZLIB },
	{ "delta", RNET_COMPRESS_DELTA }, { "zstd", RNET_COMPRESS_ZSTD },
	{ "delta+zstd", RNET_COMPRESS_DELTA_ZSTD }, { NULL, 0 } };

static const struct conf_word quorum_words[] = {
	{ "none", REMUSD_QUORUM_NONE }, { "corosync", REMUSD_QUORUM_COROSYNC }, { NULL, 0 } };
static const struct conf_word failover_words[] = {
	{ "auto", REMUSD_FAILOVER_AUTO }, { "cluster", REMUSD_FAILOVER_CLUSTER }, { NULL, 0 } };

static const struct conf_word global_unsafe_words[] = {
	{ "file-permissions", 1 }, { "none", 0 }, { NULL, 0 } };

static const struct conf_key global_keys[] = {
	{ "listen_address", CONF_STR, conf_set_str, C(listen_addr), 0, 0, NULL, NULL },
	{ "listen_port", CONF_U32, conf_set_u32, C(listen_port), 1, 65535, NULL, NULL },
	{ "key_file", CONF_STR, conf_set_str, C(key_file), 0, 0, NULL, NULL },
	{ "control_socket", CONF_STR, conf_set_str, C(control_socket), 0, 0, NULL, NULL },
	{ "log_level", CONF_ENUM, conf_set_enum, C(log_level), 0, 0, NULL, log_words },
	{ "tls", CONF_BOOL, conf_set_bool, C(tls), 0, 0, NULL, NULL },
	{ "heartbeat_interval_ms", CONF_U32, conf_set_u32, C(hb_interval_ms), 1, 10000, " ms", NULL },
	{ "heartbeat_timeout_ms", CONF_U32, conf_set_u32, C(hb_timeout_ms), 2, 60000, " ms", NULL },
	{ "metrics_listen", CONF_HOSTPORT, conf_set_metrics, C(metrics_host), 0, 0, NULL, NULL },
	{ "unsafe", CONF_ENUM, conf_set_enum, C(unsafe_files), 0, 0, NULL, global_unsafe_words },
	{ "quorum", CONF_ENUM, conf_set_enum, C(quorum), 0, 0, NULL, quorum_words },
	{ "quorum_settle_ms", CONF_U32, conf_set_u32, C(quorum_settle_ms), 0, 600000, " ms", NULL },
	{ "failover", CONF_ENUM, conf_set_enum, C(failover), 0, 0, NULL, failover_words },
	{ "state_dir", CONF_STR, conf_set_str, C(state_dir), 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL },
};

enum { GK_TYPE, GK_IMAGE, GK_MEM, GK_TAP, GK_MAC, GK_IP, GK_DISK, GK_PEER,
       GK_INTERVAL, GK_NETBUF, GK_DISKREP, GK_COMPRESS, GK_UNSAFE, GK_DRBD_RES, GK_CAPTURE,
       GK_REPROTECT, GK_NBD_DEV };
static const struct conf_key guest_keys[] = {
	[GK_TYPE] = { "type", CONF_ENUM, conf_set_enum, G(type), 0, 0, NULL, type_words },
	[GK_IMAGE] = { "image", CONF_STR, conf_set_str, G(image), 0, 0, NULL, NULL },
	[GK_MEM] = { "mem", CONF_MEM, conf_set_u32, G(mem_mb), 1, 65536, " MiB", NULL },
	[GK_TAP] = { "tap", CONF_IDENT, conf_set_ident, G(tap), 0, 0, NULL, NULL },
	[GK_MAC] = { "mac", CONF_MAC, conf_set_mac, G(mac), 0, 0, NULL, NULL },
	[GK_IP] = { "ip", CONF_IP, conf_set_ip, G(ip), 0, 0, NULL, NULL },
	[GK_DISK] = { "disk", CONF_STR, conf_set_str, G(disk), 0, 0, NULL, NULL },
	[GK_PEER] = { "peer", CONF_HOSTPORT, conf_set_hostport, G(peer_host), 0, 0, NULL, NULL },
	[GK_INTERVAL] = { "interval", CONF_U32, conf_set_u32, G(interval_ms), 1, 10000, " ms", NULL },
	[GK_NETBUF] = { "netbuf", CONF_ENUM, conf_set_enum, G(netbuf), 0, 0, NULL, netbuf_words },
	[GK_DISKREP] = { "diskrep", CONF_ENUM, conf_set_enum, G(diskrep), 0, 0, NULL, diskrep_words },
	[GK_COMPRESS] = { "compression", CONF_ENUM, conf_set_enum, G(compress), 0, 0, NULL, compress_words },
	[GK_UNSAFE] = { "unsafe", CONF_UNSAFE, conf_set_unsafe, G(unsafe), 0, 0, NULL, NULL },
	[GK_DRBD_RES] = { "drbd_resource", CONF_STR, conf_set_drbd_res, G(drbd_resource), 0, 0, NULL, NULL },
	[GK_CAPTURE] = { "capture", CONF_ENUM, conf_set_enum, G(capture), 0, 0, NULL, capture_words },
	[GK_REPROTECT] = { "reprotect", CONF_ENUM, conf_set_enum, G(reprotect), 0, 0, NULL, reprotect_words },
	[GK_NBD_DEV] = { "nbd_device", CONF_STR, conf_set_nbd_dev, G(nbd_device), 0, 0, NULL, NULL },
	{ NULL, 0, NULL, 0, 0, 0, 0, NULL, NULL },
};
/* every key's line is kept in key_line[] while its section is read */
_Static_assert(sizeof(guest_keys) / sizeof(guest_keys[0]) <= CONF_MAX_KEYS,
               "CONF_MAX_KEYS is smaller than the guest section's keys");
_Static_assert(sizeof(global_keys) / sizeof(global_keys[0]) <= CONF_MAX_KEYS,
               "CONF_MAX_KEYS is smaller than the global section's keys");

/* Record the first error as "file:line: [section] key: message". */
int conf_err(struct conf_parse *ps, const char *key, const char *fmt, ...)
{
	char msg[REMUS_ERR_MSG_MAX];
	va_list ap;

	if (ps->err_line != 0)
		return REMUSD_ECONF;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ps->err_line = ps->line ? ps->line : 1;
	if (key != NULL)
		remus_err_set(ps->err, REMUSD_ECONF, "%s:%u: [%s] %s: %s", ps->name,
			      ps->err_line, ps->section, key, msg);
	else
		remus_err_set(ps->err, REMUSD_ECONF, "%s:%u: %s", ps->name, ps->err_line, msg);
	return REMUSD_ECONF;
}

/* Characters allowed in guest and interface names. */
bool conf_ident_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.';
}

/* diskrep = drbd (Xen): remusd adopts a DRBD resource the operator runs
 * under the guest's disk; `disk` is this host's device of it. */
static int conf_close_drbd(struct conf_parse *ps, const struct remusd_guest_conf *g)
{
	if (g->diskrep != DISKREP_KIND_DRBD)
		return g->drbd_resource[0] ? conf_err(ps, NULL, "[guest %s]: drbd_resource "
			"needs diskrep = drbd", g->name) : 0;
	if (g->type != REMUSD_GUEST_XEN)
		return conf_err(ps, NULL, "[guest %s]: diskrep = drbd needs type = xen (a pvm "
				"guest's disk is replicated by diskrep = builtin)", g->name);
	if (!g->drbd_resource[0])
		return conf_err(ps, NULL, "[guest %s]: diskrep = drbd needs drbd_resource (the "
				"DRBD resource under the guest's disk)", g->name);
	if (strncmp(g->disk, "/dev/", 5) != 0)
		return conf_err(ps, NULL, "[guest %s]: diskrep = drbd: disk '%s' must be this "
				"host's DRBD device (/dev/drbdN or /dev/drbd/by-res/...)", g->name, g->disk);
	if (!(g->unsafe & REMUSD_UNSAFE_DRBD_DISK_AHEAD))
		return conf_err(ps, NULL, "[guest %s]: diskrep = drbd: stock DRBD writes the "
				"backup's disk at once, so after a failover the disk may be one epoch "
				"ahead of the restored memory; add 'unsafe = drbd-disk-ahead' to "
				"accept that", g->name);
	return 0;
}

/* diskrep = builtin (Xen): remusd serves the disk to dom0's kernel as
 * nbd_device, the device the guest's xl configuration names (phy:). */
static int conf_close_nbd(struct conf_parse *ps, const struct remusd_guest_conf *g)
{
	bool xen_builtin = g->type == REMUSD_GUEST_XEN && g->diskrep == DISKREP_KIND_BUILTIN;

	if (g->nbd_device[0] && !xen_builtin)
		return conf_err(ps, NULL, "[guest %s]: nbd_device needs type = xen and diskrep = "
				"builtin", g->name);
	if (xen_builtin && !g->nbd_device[0])
		return conf_err(ps, NULL, "[guest %s]: diskrep = builtin for a xen guest needs "
				"nbd_device (the /dev/nbdN remusd serves the disk on; the guest's "
				"xl disk is phy:/dev/nbdN)", g->name);
	if (xen_builtin && strncmp(g->disk, "/dev/nbd", 8) == 0)
		return conf_err(ps, NULL, "[guest %s]: disk '%s' is an NBD device: disk is the "
				"image remusd serves as nbd_device", g->name, g->disk);
	return 0;
}

/* Cross-key rules of one guest, judged when its section ends, so that the
 * message can point at the section header. */
static int conf_close_guest(struct conf_parse *ps, struct remusd_guest_conf *g)
{
	const unsigned *seen = ps->key_line;
	unsigned save = ps->line;
	int rc = 0;

	ps->line = g->line;
	if (!seen[GK_NETBUF])
		g->netbuf = g->type == REMUSD_GUEST_PVM ? REMUSD_NETBUF_INLINE : REMUSD_NETBUF_PLUG;
	if (!seen[GK_DISKREP])
		g->diskrep = g->disk[0] ? DISKREP_KIND_BUILTIN : DISKREP_KIND_NONE;
	if (g->type == REMUSD_GUEST_PVM && (!seen[GK_IMAGE] || !seen[GK_MEM]))
		rc = conf_err(ps, NULL, "[guest %s]: a pvm guest needs image and mem", g->name);
	else if (g->type != REMUSD_GUEST_PVM && g->netbuf == REMUSD_NETBUF_INLINE)
		rc = conf_err(ps, NULL, "[guest %s]: netbuf = inline needs type = pvm", g->name);
	else if (g->type != REMUSD_GUEST_PVM && g->netbuf == REMUSD_NETBUF_NFQUEUE)
		rc = conf_err(ps, NULL, "[guest %s]: netbuf = nfqueue is wired for pvm guests "
			      "only (a xen guest's vif is held by netbuf = plug)", g->name);
	else if (g->netbuf == REMUSD_NETBUF_NFQUEUE && !g->tap[0])
		rc = conf_err(ps, NULL, "[guest %s]: netbuf = nfqueue needs tap (the queue holds "
			      "the TAP's traffic)", g->name);
	else if (g->type != REMUSD_GUEST_PVM && g->capture == REMUSD_CAPTURE_COW)
		rc = conf_err(ps, NULL, "[guest %s]: capture = cow needs type = pvm", g->name);
	else if (g->netbuf == REMUSD_NETBUF_NONE && !(g->unsafe & REMUSD_UNSAFE_NO_NETBUF))
		rc = conf_err(ps, NULL, "[guest %s]: netbuf = none weakens the guarantee; "
			      "add 'unsafe = no-netbuf' to accept that", g->name);
	else if (g->disk[0] && g->diskrep == DISKREP_KIND_NONE &&
		 !(g->unsafe & REMUSD_UNSAFE_NO_DISKREP))
		rc = conf_err(ps, NULL, "[guest %s]: disk without replication weakens the "
			      "guarantee; add 'unsafe = no-diskrep' to accept that", g->name);
	else if (!g->disk[0] && g->diskrep != DISKREP_KIND_NONE)
		rc = conf_err(ps, NULL, "[guest %s]: diskrep = %s but no disk", g->name,
			      diskrep_kind_name(g->diskrep));
	else if ((rc = conf_close_drbd(ps, g)) == 0)
		rc = conf_close_nbd(ps, g);
	ps->line = save;
	return rc;
}

/* End the current section (if a guest, check it) before the next starts. */
static int conf_close_section(struct conf_parse *ps)
{
	int rc = 0;

	if (ps->keys == guest_keys)
		rc = conf_close_guest(ps, ps->base);
	ps->keys = NULL;
	ps->base = NULL;
	memset(ps->key_line, 0, sizeof(ps->key_line));
	return rc;
}

/* Start a [guest NAME] section with its defaults. */
static int conf_open_guest(struct conf_parse *ps, const char *name, size_t n)
{
	struct remusd_conf *c = ps->conf;
	struct remusd_guest_conf *g;
	size_t i;

	if (n == 0 || n >= REMUSD_NAME_MAX)
		return conf_err(ps, NULL, "guest name must be 1..%u characters", REMUSD_NAME_MAX - 1);
	for (i = 0; i < n; i++)
		if (!conf_ident_char(name[i]))
			return conf_err(ps, NULL, "guest name '%.*s' has invalid character '%c'",
					(int)n, name, name[i]);
	for (i = 0; i < c->nguests; i++)
		if (strlen(c->guests[i].name) == n && memcmp(c->guests[i].name, name, n) == 0)
			return conf_err(ps, NULL, "[guest %.*s] repeated (first at line %u)",
					(int)n, name, c->guests[i].line);
	if (c->nguests == REMUSD_MAX_GUESTS)
		return conf_err(ps, NULL, "more than %u guests", REMUSD_MAX_GUESTS);
	g = &c->guests[c->nguests++];
	memcpy(g->name, name, n);
	g->line = ps->line;
	g->type = REMUSD_GUEST_PVM;
	g->interval_ms = 25;
	g->compress = RNET_COMPRESS_NONE;
	ps->keys = guest_keys;
	ps->base = g;
	snprintf(ps->section, sizeof(ps->section), "guest %s", g->name);
	return 0;
}

/* A "[...]" line: close the previous section, open [global] or [guest N]. */
static int conf_section_line(struct conf_parse *ps, const char *s, size_t n)
{
	const char *name;
	int rc = conf_close_section(ps);

	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	snprintf(ps->section, sizeof(ps->section), "%.*s", (int)n, s);
	if (rc < 0)
		return rc;
	if (n == 6 && memcmp(s, "global", 6) == 0) {
		if (ps->global_line)
			return conf_err(ps, NULL, "[global] repeated (first at line %u)",
					ps->global_line);
		ps->global_line = ps->line;
		ps->keys = global_keys;
		ps->base = ps->conf;
		return 0;
	}
	if (n > 6 && memcmp(s, "guest", 5) == 0 && (s[5] == ' ' || s[5] == '\t')) {
		name = s + 6;
		while (*name == ' ' || *name == '\t')
			name++;
		return conf_open_guest(ps, name, n - (size_t)(name - s));
	}
	return conf_err(ps, NULL, "unknown section [%s] (expected [global] or [guest NAME])",
			ps->section);
}

/* inih's line source: one line per call, counted; overlong lines and
 * section headers are handled here. */
static char *conf_reader(char *str, int num, void *stream)
{
	struct conf_parse *ps = stream;
	const char *nl, *s;
	size_t n, body;

	if (ps->pos >= ps->end || ps->err_line != 0)
		return NULL;
	nl = memchr(ps->pos, '\n', (size_t)(ps->end - ps->pos));
	n = nl ? (size_t)(nl - ps->pos) + 1 : (size_t)(ps->end - ps->pos);
	ps->line++;
	body = nl ? n - 1 : n;
	if (body + 2 > (size_t)num) {
		conf_err(ps, NULL, "line longer than %d characters", num - 2);
		return NULL;
	}
	memcpy(str, ps->pos, n);
	str[n] = '\0';
	ps->pos += n;
	for (s = str; *s == ' ' || *s == '\t'; s++)
		;
	if (*s == '[') {
		const char *rb = strchr(s, ']');

		if (rb != NULL && conf_section_line(ps, s + 1, (size_t)(rb - s - 1)) < 0)
			return NULL;
	}
	return str;
}

/* inih's callback for one key = value line. */
static int conf_handler(void *user, const char *section, const char *key, const char *value)
{
	struct conf_parse *ps = user;
	const struct conf_key *k;
	unsigned i;

	(void)section;
	if (ps->err_line != 0)
		return 0;
	if (ps->keys == NULL)
		return conf_err(ps, NULL, "'%s' outside any section", key), 0;
	for (i = 0, k = ps->keys; k->name != NULL; i++, k++)
		if (strcmp(k->name, key) == 0)
			break;
	if (k->name == NULL)
		return conf_err(ps, key, "unknown key"), 0;
	if (ps->key_line[i] != 0)
		return conf_err(ps, key, "repeated (first set at line %u)", ps->key_line[i]), 0;
	if (k->set(ps, k, ps->base, value) < 0)
		return 0;
	ps->key_line[i] = ps->line;
	return 1;
}

/* Rules over the whole file, checked after the last line. */
static int conf_close_file(struct conf_parse *ps)
{
	struct remusd_conf *c = ps->conf;
	int rc = conf_close_section(ps);

	if (rc < 0)
		return rc;
	snprintf(ps->section, sizeof(ps->section), "global");
	ps->line = ps->global_line;
	if (c->key_file[0] == '\0')
		return conf_err(ps, "key_file", "missing: authentication is mandatory");
	if (c->hb_timeout_ms <= c->hb_interval_ms)
		return conf_err(ps, "heartbeat_timeout_ms", "%u ms must exceed the interval (%u ms)",
				c->hb_timeout_ms, c->hb_interval_ms);
	return 0;
}

/* The documented defaults of [global] (docs/config.md). */
static void conf_defaults(struct remusd_conf *c)
{
	snprintf(c->listen_addr, sizeof(c->listen_addr), "*");
	c->listen_port = REMUSD_DEFAULT_PORT;
	snprintf(c->control_socket, sizeof(c->control_socket), "%s", REMUSD_DEFAULT_CTL);
	c->log_level = REMUSD_LOG_INFO;
	c->hb_interval_ms = RNET_HB_INTERVAL_DEFAULT;
	c->hb_timeout_ms = RNET_HB_TIMEOUT_DEFAULT;
	c->quorum = REMUSD_QUORUM_NONE;
	c->quorum_settle_ms = REMUSD_QUORUM_SETTLE_DEFAULT;
	c->failover = REMUSD_FAILOVER_AUTO;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", REMUSD_DEFAULT_STATE_DIR);
}

/* Parse a whole text into a new conf, or nothing at all. */
int remusd_conf_parse(const char *name, const char *text, size_t len,
		      struct remusd_conf **out, struct remus_err *err)
{
	struct conf_parse ps = { .name = name, .text = text, .pos = text, .end = text + len, .err = err };
	const char *nul = memchr(text, '\0', len);
	int irc, rc = REMUSD_ECONF;

	*out = NULL;
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		ps.pos += 3;
	if (nul != NULL) {
		for (const char *p = text; p < nul; p++)
			ps.line += *p == '\n';
		ps.line++;
		return conf_err(&ps, NULL, "NUL byte in the file");
	}
	ps.conf = calloc(1, sizeof(*ps.conf));
	if (ps.conf == NULL)
		return remus_err_sys(err, ENOMEM, "%s", name);
	conf_defaults(ps.conf);
	irc = ini_parse_stream(conf_reader, &ps, conf_handler, &ps);
	if (irc > 0 && (ps.err_line == 0 || (unsigned)irc < ps.err_line)) {
		ps.err_line = 0;
		ps.line = (unsigned)irc;
		conf_err(&ps, NULL, "syntax error (expected [section], key = value or a comment)");
	} else if (ps.err_line == 0 && irc < 0) {
		conf_err(&ps, NULL, "parser failure %d", irc);
	}
	if (ps.err_line == 0 && conf_close_file(&ps) == 0) {
		*out = ps.conf;
		return 0;
	}
	free(ps.conf);
	return rc;
}

/* Read a whole (bounded) file into memory, refusing anything unusual. */
static int conf_read_file(const char *path, char **text, size_t *len, struct remus_err *err)
{
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return remus_err_sys(err, errno, "config %s", path);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > REMUSD_CONF_MAX_BYTES) {
		rc = remus_err_set(err, REMUSD_ECONF, "config %s: not a regular file of at most %u bytes",
				   path, REMUSD_CONF_MAX_BYTES);
		goto out;
	}
	*text = malloc((size_t)st.st_size + 1);
	if (*text == NULL) {
		rc = remus_err_sys(err, ENOMEM, "config %s", path);
		goto out;
	}
	while (got < (size_t)st.st_size && (n = read(fd, *text + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	if (got != (size_t)st.st_size) {
		free(*text);
		*text = NULL;
		rc = remus_err_set(err, REMUSD_ECONF, "config %s: short read", path);
		goto out;
	}
	*len = got;
out:
	close(fd);
	return rc;
}

/* Read and parse remus.conf at start. */
int remusd_conf_load(const char *path, struct remusd_conf **out, struct remus_err *err)
{
	char *text = NULL;
	size_t len = 0;
	int rc;

	*out = NULL;
	rc = conf_read_file(path, &text, &len, err);
	if (rc < 0)
		return rc;
	rc = remusd_conf_parse(path, text, len, out, err);
	free(text);
	if (rc == 0 && (rc = remusd_conf_check_files(path, *out, err)) < 0) {
		remusd_conf_free(*out);
		*out = NULL;
	}
	return rc;
}

/* SIGHUP: swap only on complete success, keep the old conf otherwise. */
int remusd_conf_reload(const char *path, struct remusd_conf **cur, struct remus_err *err)
{
	struct remusd_conf *fresh = NULL;
	int rc = remusd_conf_load(path, &fresh, err);

	if (rc < 0)
		return rc;
	remusd_conf_free(*cur);
	*cur = fresh;
	return 0;
}

/* A conf is one allocation. */
void remusd_conf_free(struct remusd_conf *c)
{
	free(c);
}

/* Find a guest section by name. */
const struct remusd_guest_conf *remusd_conf_guest(const struct remusd_conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->nguests; i++)
		if (strcmp(c->guests[i].name, name) == 0)
			return &c->guests[i];
	return NULL;
}

/* Config word of a netbuf backend, for status output. */
const char *remusd_netbuf_name(uint32_t v)
{
	return v <= REMUSD_NETBUF_NONE ? netbuf_words[v].word : "unknown";
}

/* Config word of a guest type, for status output. */
const char *remusd_guest_type_name(uint32_t v)
{
	return v <= REMUSD_GUEST_XEN ? type_words[v].word : "unknown";
}
