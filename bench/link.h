/*
 * An authenticated rnet link for the engine benches: both handshakes of a
 * connected socket pair run at once (one thread each), pvm caps, guest
 * "bench", every compression kind offered and `compress` asked for.
 */
#ifndef REMUS_BENCH_LINK_H
#define REMUS_BENCH_LINK_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/net.h"

struct bench_hs {
	int fd;
	bool primary;
	struct rnet_params p;
	struct rnet_conn *c;
	int rc;
	struct remus_err err;
};

static inline void *bench_hs_main(void *arg)
{
	struct bench_hs *h = arg;

	h->rc = rnet_handshake_fd(h->fd, h->primary, &h->p, &h->c, &h->err);
	return NULL;
}

/* Handshake sv[0] (primary) with sv[1] (backup); exits on failure. */
static inline void bench_link_up(const int sv[2], const struct rnet_key *key, uint32_t compress,
                                 uint32_t hb_timeout_ms, struct rnet_conn **pri,
                                 struct rnet_conn **bak)
{
	struct bench_hs h[2] = { { .fd = sv[0], .primary = true }, { .fd = sv[1] } };
	pthread_t th[2];

	for (int i = 0; i < 2; i++) {
		h[i].p.key = key;
		h[i].p.hb_timeout_ms = hb_timeout_ms;
		h[i].p.caps.compress_mask = (1u << RNET_COMPRESS_COUNT) - 1;
		strcpy(h[i].p.caps.hv, "pvm");
		strcpy(h[i].p.caps.guest, "bench");
	}
	h[0].p.caps.compress = compress;
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, bench_hs_main, &h[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		if (h[i].rc < 0) {
			fprintf(stderr, "bench: handshake: %s\n", h[i].err.msg);
			exit(1);
		}
	*pri = h[0].c;
	*bak = h[1].c;
}

#endif
