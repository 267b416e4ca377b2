/*
 * Admission of unauthenticated replication peers (net.h, rnet_hs_pool):
 * bounded per source address and in total, the oldest evicted rather than
 * the newcomer refused.  Before authentication all a peer can spend is one
 * slot of its own source; the policy below makes sure a flood spends its
 * own slots and nobody else's.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "net/net_impl.h"

/* Source key: IPv4 as a mapped address, IPv6 cut to its /64 (one site
 * holds a whole /64, so counting its addresses apart would be no bound). */
void rnet_peer_src_of(int fd, struct rnet_peer_src *src, char *name, size_t cap)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	memset(src, 0, sizeof(*src));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
		ss.ss_family = AF_UNSPEC;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		src->b[10] = src->b[11] = 0xff;
		memcpy(src->b + 12, &in->sin_addr, 4);
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		memcpy(src->b, &in6->sin6_addr, 16);
		if (!IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr))
			memset(src->b + 8, 0, 8);
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
	}
	snprintf(name, cap, "%s:%u", host, port);
}

/* How many pending entries come from `src`. */
static size_t pool_count(const struct rnet_hs_pool *pool, const struct rnet_peer_src *src)
{
	size_t k = 0;

	for (size_t i = 0; i < pool->n; i++)
		k += memcmp(&pool->e[i].src, src, sizeof(*src)) == 0;
	return k;
}

/* Eviction order inside a group: silent (no HELLO yet) first, then oldest. */
static bool pool_before(const struct rnet_hs_entry *a, const struct rnet_hs_entry *b)
{
	bool ha = a->hs != NULL && rnet_hs_got_hello(a->hs);
	bool hb = b->hs != NULL && rnet_hs_got_hello(b->hs);

	if (ha != hb)
		return !ha;
	return a->started_ms < b->started_ms;
}

/* The first entry to go among those from `src`. */
static long pool_first_of(const struct rnet_hs_pool *pool, const struct rnet_peer_src *src)
{
	long best = -1;

	for (size_t i = 0; i < pool->n; i++)
		if (memcmp(&pool->e[i].src, src, sizeof(*src)) == 0 &&
		    (best < 0 || pool_before(&pool->e[i], &pool->e[best])))
			best = (long)i;
	return best;
}

long rnet_hs_pool_victim(const struct rnet_hs_pool *pool, const struct rnet_peer_src *src)
{
	size_t total = pool->total < RNET_HS_POOL_MAX ? pool->total : RNET_HS_POOL_MAX;
	size_t most = 0, k;
	long best = -1;

	if (pool->n == 0)
		return -1;
	if (pool_count(pool, src) >= pool->per_source)
		return pool_first_of(pool, src);
	if (pool->n < total)
		return -1;
	/* full: the source holding the most pays, ties broken by age/silence */
	for (size_t i = 0; i < pool->n; i++) {
		k = pool_count(pool, &pool->e[i].src);
		if (k > most || (k == most && pool_before(&pool->e[i], &pool->e[best]))) {
			most = k;
			best = (long)i;
		}
	}
	return pool_first_of(pool, &pool->e[best].src);
}

void rnet_hs_pool_drop(struct rnet_hs_pool *pool, size_t i)
{
	if (i >= pool->n)
		return;
	rnet_hs_free(pool->e[i].hs);
	pool->e[i] = pool->e[--pool->n];
}
