/*
 * Internal to lib/net: the established connection's state, shared by
 * conn.c (framing, queues, liveness judged by the owner's clock) and
 * keepalive.c (the thread that answers for a busy owner).
 *
 * Locking: `lk` guards everything below; every public rnet_conn_* call
 * takes it, so the keepalive thread and the owner never interleave inside
 * the queues or the TLS layer.  The keepalive thread never touches the
 * receive buffer: a message body handed to the owner stays valid.
 */
#ifndef REMUS_NET_CONN_IMPL_H
#define REMUS_NET_CONN_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net/net_impl.h"

struct rnet_keepalive;

struct rnet_conn {
	pthread_mutex_t lk;
	struct rnet_io *io;
	struct rnet_caps peer;
	uint32_t compress;          /* negotiated */
	uint32_t tx_compress;       /* what we send now: compress, or none */
	uint32_t hb_interval, hb_timeout, stall_max;
	size_t outq_max;
	/* receive side: [rx_head, rx_tail) holds unparsed bytes */
	uint8_t *rx;
	size_t rx_head, rx_tail;
	bool rx_stalled;            /* last fill stopped on a full buffer */
	bool rx_held;               /* the caller does not read: silence not judged */
	uint8_t *inflated;          /* RNET_BODY_MAX, allocated on first use */
	struct rnet_codec *codec;   /* send-side compressor (compress.c), made on first use */
	/* data lane: [tx_head, tx_tail) waits for the socket; tx_bound is the
	 * start of the first frame not yet begun (a frame boundary >= tx_head) */
	uint8_t *tx;
	size_t tx_head, tx_tail, tx_cap, tx_bound;
	/* priority lane (HEARTBEAT, ACK): whole small frames, written at the
	 * data lane's next frame boundary so liveness never waits behind bulk
	 * data; prio_mid while one of them is partly written */
	uint8_t *prio;
	size_t prio_head, prio_tail, prio_cap;
	bool prio_mid;
	/* clock of the owner (injected): set by the first feed/tick */
	bool clock_started;
	uint64_t now, last_rx, last_hb_tx, hb_seq;
	/* real clock (rnet_now_ms) of the owner's last call, for keepalive */
	uint64_t owner_real_ms;
	struct rnet_keepalive *ka;
	struct rnet_stats st;
};

/* Every public call runs under the lock and marks the owner alive for the
 * keepalive thread (which takes the lock itself, never through these). */
static inline void owner_enter(struct rnet_conn *c)
{
	pthread_mutex_lock(&c->lk);
	c->owner_real_ms = rnet_now_ms();
}

static inline int owner_leave(struct rnet_conn *c, int rc)
{
	pthread_mutex_unlock(&c->lk);
	return rc;
}

/* Under lk: queue a heartbeat on the priority lane. */
int  rnet_conn_queue_heartbeat(struct rnet_conn *c, struct remus_err *err);
/* Under lk: write what the socket takes (priority lane first at a frame
 * boundary); 0 all out, 1 some remain, <0 error. */
int  rnet_conn_flush_locked(struct rnet_conn *c, struct remus_err *err);
void rnet_keepalive_stop(struct rnet_conn *c);

#endif
