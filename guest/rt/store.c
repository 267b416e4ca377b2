/*
 * The guest's store client: the few calls an application needs, over
 * PVM_HC_STORE.  Requests are built in one static buffer (the guest kit
 * is single-threaded).
 */
#include "guest/rt/rt.h"

static char req[PVM_STORE_PATH_MAX + 1 + PVM_STORE_VALUE_MAX];

/* "path NUL rest" into req; its length, or -PVM_E2BIG. */
static int64_t pair(const char *path, const void *rest, uint64_t rlen)
{
	uint64_t plen = strlen(path);

	if (plen > PVM_STORE_PATH_MAX || rlen > PVM_STORE_VALUE_MAX)
		return -PVM_E2BIG;
	memcpy(req, path, plen);
	req[plen] = '\0';
	memcpy(req + plen + 1, rest, rlen);
	return (int64_t)(plen + 1 + rlen);
}

int64_t store_read(const char *path, void *buf, uint64_t cap)
{
	return hc_store(PVM_STORE_READ, 0, path, strlen(path), buf, cap);
}

int64_t store_write(const char *path, const void *val, uint64_t len)
{
	int64_t n = pair(path, val, len);

	return n < 0 ? n : hc_store(PVM_STORE_WRITE, 0, req, (uint64_t)n, NULL, 0);
}

int64_t store_rm(const char *path)
{
	return hc_store(PVM_STORE_RM, 0, path, strlen(path), NULL, 0);
}

int64_t store_watch(const char *path, const char *token)
{
	int64_t n = pair(path, token, strlen(token));

	return n < 0 ? n : hc_store(PVM_STORE_WATCH, 0, req, (uint64_t)n, NULL, 0);
}

int64_t store_event(char *path, uint64_t pcap, char *token, uint64_t tcap)
{
	static char ev[PVM_STORE_PATH_MAX + 1 + PVM_STORE_TOKEN_MAX];
	int64_t n = hc_store(PVM_STORE_EVENT, 0, NULL, 0, ev, sizeof(ev));
	uint64_t plen, tlen;

	if (n < 0)
		return n;
	plen = strlen(ev);
	tlen = (uint64_t)n - plen - 1;
	if (pcap == 0 || tcap == 0)
		return 0;
	plen = plen < pcap - 1 ? plen : pcap - 1;
	memcpy(path, ev, plen);
	path[plen] = '\0';
	tlen = tlen < tcap - 1 ? tlen : tcap - 1;
	memcpy(token, ev + strlen(ev) + 1, tlen);
	token[tlen] = '\0';
	return 0;
}
