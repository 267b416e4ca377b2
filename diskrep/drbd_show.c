/*
 * The drbd backend's reader of `drbdsetup show RESOURCE` (DRBD 8.4): the
 * connection's two endpoints, which 8.4's `drbdsetup net-options` needs to
 * name the connection, and whether allow-two-primaries is set.  Tool output
 * is read like peer input: bounded words, known address families, address
 * characters only.
 */
#include "diskrep/diskrep.h"

#include <stdio.h>
#include <string.h>

/* One whitespace-separated token of text[*pos..len) into tok (cap bytes
 * with its NUL); 0 at the end, -1 if a token is longer than cap - 1. */
static int next_token(const char *text, size_t len, size_t *pos, char *tok, size_t cap)
{
	size_t i = *pos, n = 0;

	while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r'))
		i++;
	while (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r') {
		if (n + 1 >= cap)
			return -1;
		tok[n++] = text[i++];
	}
	tok[n] = '\0';
	*pos = i;
	return n > 0;
}

/* "ipv4" + "127.0.0.1:7791;" -> "ipv4:127.0.0.1:7791" (drbdsetup 8.4's
 * connection argument); anything else is refused. */
static int take_address(const char *af, char *addr, char *out, struct remus_err *err)
{
	size_t n = strlen(addr);

	if (n > 0 && addr[n - 1] == ';')
		addr[--n] = '\0';
	if (strcmp(af, "ipv4") != 0 && strcmp(af, "ipv6") != 0)
		return remus_err_set(err, DISKREP_EPROTO, "drbdsetup show: address family '%.16s' "
		                     "(ipv4 or ipv6 expected)", af);
	if (n == 0 || strspn(addr, "0123456789abcdefABCDEF.:[]") != n || strchr(addr, ':') == NULL)
		return remus_err_set(err, DISKREP_EPROTO, "drbdsetup show: '%.40s' is not addr:port",
		                     addr);
	snprintf(out, DISKREP_DRBD_ADDR_MAX, "%s:%s", af, addr);
	return 0;
}

int diskrep_drbd_parse_show(const char *text, size_t len, struct diskrep_drbd_conn *out,
                            struct remus_err *err)
{
	char tok[64], af[16], addr[64];
	char *where = NULL;     /* the host section the next address belongs to */
	size_t pos = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	while ((rc = next_token(text, len, &pos, tok, sizeof(tok))) > 0) {
		if (strcmp(tok, "_this_host") == 0) {
			where = out->local;
		} else if (strcmp(tok, "_remote_host") == 0) {
			where = out->peer;
		} else if (strcmp(tok, "allow-two-primaries") == 0) {
			if (next_token(text, len, &pos, tok, sizeof(tok)) <= 0)
				break;
			out->allow_two = strcmp(tok, "yes;") == 0;
		} else if (strcmp(tok, "address") == 0 && where != NULL) {
			if (where[0] != '\0')
				return remus_err_set(err, DISKREP_EPROTO, "drbdsetup show: two addresses "
				                     "for one host");
			if (next_token(text, len, &pos, af, sizeof(af)) <= 0 ||
			    next_token(text, len, &pos, addr, sizeof(addr)) <= 0)
				return remus_err_set(err, DISKREP_EPROTO, "drbdsetup show: an address "
				                     "without 'af addr:port'");
			if ((rc = take_address(af, addr, where, err)) < 0)
				return rc;
			where = NULL;
		}
	}
	if (rc < 0)
		return remus_err_set(err, DISKREP_EPROTO, "drbdsetup show: a word longer than %zu "
		                     "characters", sizeof(tok) - 1);
	if (out->local[0] == '\0' || out->peer[0] == '\0')
		return remus_err_set(err, DISKREP_EPROTO, "drbdsetup show: no %s address (is the "
		                     "resource connected to its peer?)",
		                     out->local[0] == '\0' ? "_this_host" : "_remote_host");
	return 0;
}
