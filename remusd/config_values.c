/*
 * Value parsers for remus.conf: one small function per kind of value.
 * Each writes its field only when the whole value is valid.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/config_impl.h"

/* Unsigned decimal with no sign, no spaces, no overflow. */
static bool parse_u64(const char *s, uint64_t *out, const char **end)
{
	uint64_t v = 0;

	if (*s < '0' || *s > '9')
		return false;
	for (; *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	*end = s;
	return true;
}

/* Free text: a path or host; printable, no control bytes, must fit. */
int conf_set_str(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0)
		return conf_err(ps, k->name, "empty value");
	if (n >= k->size)
		return conf_err(ps, k->name, "value is %zu bytes, at most %zu allowed", n, k->size - 1);
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return conf_err(ps, k->name, "control character in value");
	memcpy((char *)base + k->off, v, n + 1);
	return 0;
}

/* An interface-style identifier: [A-Za-z0-9_.-]. */
int conf_set_ident(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n >= k->size)
		return conf_err(ps, k->name, "'%s' must be 1..%zu characters", v, k->size - 1);
	for (i = 0; i < n; i++)
		if (!conf_ident_char(v[i]))
			return conf_err(ps, k->name, "'%s' has invalid character '%c'", v, v[i]);
	memcpy((char *)base + k->off, v, n + 1);
	return 0;
}

/* A number in [min, max]; `mem` also takes an M or G suffix (MiB base). */
int conf_set_u32(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	const char *end = v;
	uint64_t x;

	if (!parse_u64(v, &x, &end))
		return conf_err(ps, k->name, "'%s' is not a number", v);
	if (k->kind == CONF_MEM && (*end == 'M' || *end == 'm')) {
		end++;
	} else if (k->kind == CONF_MEM && (*end == 'G' || *end == 'g')) {
		end++;
		x = x > UINT64_MAX / 1024 ? UINT64_MAX : x * 1024;
	}
	if (*end != '\0')
		return conf_err(ps, k->name, "'%s' has trailing characters", v);
	if (x < k->min || x > k->max)
		return conf_err(ps, k->name, "%s out of range %u..%u%s", v, k->min, k->max,
				k->unit ? k->unit : "");
	if (k->size == sizeof(uint16_t))
		*(uint16_t *)(void *)((char *)base + k->off) = (uint16_t)x;
	else
		*(uint32_t *)(void *)((char *)base + k->off) = (uint32_t)x;
	return 0;
}

/* One of a fixed list of words. */
int conf_set_enum(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	char list[128];
	size_t off = 0;
	const struct conf_word *w;

	for (w = k->words; w->word != NULL; w++)
		if (strcmp(w->word, v) == 0) {
			*(uint32_t *)(void *)((char *)base + k->off) = w->value;
			return 0;
		}
	list[0] = '\0';
	for (w = k->words; w->word != NULL && off < sizeof(list); w++)
		off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s", off ? "|" : "", w->word);
	return conf_err(ps, k->name, "'%s' is not one of %s", v, list);
}

/* on/off and the usual synonyms. */
int conf_set_bool(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	static const char *const yes[] = { "on", "yes", "true", "1" };
	static const char *const no[] = { "off", "no", "false", "0" };
	size_t i;

	for (i = 0; i < 4; i++) {
		if (strcmp(v, yes[i]) == 0 || strcmp(v, no[i]) == 0) {
			*(bool *)((char *)base + k->off) = strcmp(v, yes[i]) == 0;
			return 0;
		}
	}
	return conf_err(ps, k->name, "'%s' is not on|off", v);
}

/* A unicast MAC address in xx:xx:xx:xx:xx:xx form. */
int conf_set_mac(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	struct remusd_guest_conf *g = base;
	unsigned b[6];
	char tail;
	int i;

	if (strlen(v) != 17 ||
	    sscanf(v, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5],
		   &tail) != 6)
		return conf_err(ps, k->name, "'%s' is not a MAC address (xx:xx:xx:xx:xx:xx)", v);
	if (b[0] & 1)
		return conf_err(ps, k->name, "'%s' is a multicast address", v);
	for (i = 0; i < 6; i++)
		g->mac[i] = (uint8_t)b[i];
	g->has_mac = true;
	return 0;
}

/* An IPv4 or IPv6 address with an optional /prefix. */
int conf_set_ip(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	char addr[48];
	const char *slash = strchr(v, '/'), *end;
	uint8_t buf[16];
	uint64_t prefix;
	size_t n = slash ? (size_t)(slash - v) : strlen(v);
	bool v6;

	if (n == 0 || n >= sizeof(addr) || strlen(v) >= k->size)
		return conf_err(ps, k->name, "'%s' is not an IP address", v);
	memcpy(addr, v, n);
	addr[n] = '\0';
	v6 = strchr(addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, buf) != 1)
		return conf_err(ps, k->name, "'%s' is not an IP address", v);
	if (slash && (!parse_u64(slash + 1, &prefix, &end) || *end != '\0' ||
		      prefix > (v6 ? 128u : 32u)))
		return conf_err(ps, k->name, "'%s' has a bad prefix length", v);
	memcpy((char *)base + k->off, v, strlen(v) + 1);
	return 0;
}

const char *remusd_split_hostport(const char *v, bool port_optional, char *hostbuf, size_t cap,
                                  uint16_t *portp)
{
	const char *colon, *host = v, *end;
	size_t hlen;
	uint64_t port;

	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb[1] != ':')
			return " is not [address]:port";
		host = v + 1;
		hlen = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL && !port_optional)
			return " lacks :port";
		hlen = colon ? (size_t)(colon - v) : strlen(v);
	}
	if (hlen == 0 || hlen >= cap)
		return " has an empty or overlong host";
	if (colon && (!parse_u64(colon + 1, &port, &end) || *end != '\0' || port < 1 ||
	              port > 65535))
		return ": port out of range 1..65535";
	memcpy(hostbuf, host, hlen);
	hostbuf[hlen] = '\0';
	if (colon)
		*portp = (uint16_t)port;
	return NULL;
}

/* A key's host:port (or [v6addr]:port), the port required. */
static int split_hostport(struct conf_parse *ps, const struct conf_key *k, const char *v,
			  char *hostbuf, size_t cap, uint16_t *portp)
{
	const char *why = remusd_split_hostport(v, false, hostbuf, cap, portp);

	return why ? conf_err(ps, k->name, "'%s'%s", v, why) : 0;
}

int conf_set_hostport(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	struct remusd_guest_conf *g = base;

	return split_hostport(ps, k, v, g->peer_host, sizeof(g->peer_host), &g->peer_port);
}

/* metrics_listen: ADDR:PORT or [V6ADDR]:PORT with a numeric address (the
 * HTTP server binds to it; no name lookup at start). */
int conf_set_metrics(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	struct remusd_conf *c = base;
	char host[REMUSD_HOST_MAX];
	uint8_t buf[16];
	uint16_t port;
	int rc;

	if ((rc = split_hostport(ps, k, v, host, sizeof(host), &port)) < 0)
		return rc;
	if (inet_pton(v[0] == '[' ? AF_INET6 : AF_INET, host, buf) != 1)
		return conf_err(ps, k->name, "'%s': '%s' is not a numeric IP%s address", v, host,
				v[0] == '[' ? "v6" : "v4");
	memcpy(c->metrics_host, host, strlen(host) + 1);
	c->metrics_port = port;
	return 0;
}

/* Comma-separated unsafe flags, or "none". */
int conf_set_unsafe(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	static const struct conf_word flags[] = {
		{ "no-netbuf", REMUSD_UNSAFE_NO_NETBUF },
		{ "no-diskrep", REMUSD_UNSAFE_NO_DISKREP },
		{ "blackhole", REMUSD_UNSAFE_BLACKHOLE },
		{ "drbd-disk-ahead", REMUSD_UNSAFE_DRBD_DISK_AHEAD },
		{ "none", 0 },
		{ NULL, 0 },
	};
	const struct conf_word *w;
	const char *p = v, *comma;
	uint32_t mask = 0;
	size_t n;

	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		comma = strchr(p, ',');
		n = comma ? (size_t)(comma - p) : strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			n--;
		for (w = flags; w->word != NULL; w++)
			if (strlen(w->word) == n && strncmp(w->word, p, n) == 0)
				break;
		if (w->word == NULL)
			return conf_err(ps, k->name,
					"'%.*s' is not one of no-netbuf|no-diskrep|blackhole|"
					"drbd-disk-ahead|none",
					(int)n, p);
		mask |= w->value;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	*(uint32_t *)(void *)((char *)base + k->off) = mask;
	return 0;
}

/* A DRBD resource name: 1..64 of [A-Za-z0-9_-] (what drbd.conf and the
 * drbd backend accept; it is passed to drbdsetup as one argument). */
/* nbd_device: /dev/nbd followed by 1..4 digits. */
int conf_set_nbd_dev(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	size_t n = strlen(v), digits = n > 8 ? n - 8 : 0;

	if (strncmp(v, "/dev/nbd", 8) != 0 || digits == 0 || digits > 4 ||
	    strspn(v + 8, "0123456789") != digits)
		return conf_err(ps, k->name, "'%s' is not an NBD device (/dev/nbdN)", v);
	memcpy((char *)base + k->off, v, n + 1);
	return 0;
}

int conf_set_drbd_res(struct conf_parse *ps, const struct conf_key *k, void *base, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= k->size)
		return conf_err(ps, k->name, "'%s' must be 1..%zu characters", v, k->size - 1);
	for (const char *p = v; *p; p++)
		if (!(*p == '-' || *p == '_' || (*p >= '0' && *p <= '9') ||
		      (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
			return conf_err(ps, k->name, "'%s' has invalid character '%c' "
					"(a DRBD resource name is [A-Za-z0-9_-])", v, *p);
	memcpy((char *)base + k->off, v, n + 1);
	return 0;
}
