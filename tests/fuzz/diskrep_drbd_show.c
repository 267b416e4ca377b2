/*
 * libFuzzer target: `drbdsetup show` output, from which the drbd backend
 * takes the connection's endpoints for the hand-over's dual-primary window
 * (tool output is read like peer input).  An accepted text yields two
 * "af:addr:port" strings of address characters only; a refused one says why.
 */
#include <stdlib.h>
#include <string.h>

#include "diskrep/diskrep.h"

static void check_addr(const char *a)
{
	size_t n = strnlen(a, DISKREP_DRBD_ADDR_MAX);

	if (n == 0 || n >= DISKREP_DRBD_ADDR_MAX)
		abort();
	if (strncmp(a, "ipv4:", 5) != 0 && strncmp(a, "ipv6:", 5) != 0)
		abort();
	if (strspn(a + 5, "0123456789abcdefABCDEF.:[]") != n - 5)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diskrep_drbd_conn c;
	struct remus_err err = { 0 };
	int rc = diskrep_drbd_parse_show((const char *)data, size, &c, &err);

	if (rc < 0) {
		if (rc != DISKREP_EPROTO || err.msg[0] == '\0')
			abort();
		return 0;
	}
	check_addr(c.local);
	check_addr(c.peer);
	return 0;
}
