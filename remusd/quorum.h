/*
 * Quorum: who may run a guest when the replication link is gone.  A lost
 * link alone cannot tell a dead peer from a cut cable; a cluster engine
 * (corosync votequorum, with a witness for two hosts) can.  remusd asks a
 * quorum backend behind a small ops table (quorum = none | corosync in
 * remus.conf; tests plug in a fake), keeps what it said in a view the
 * sessions read, and judges a lost peer with two pure verdicts:
 *
 *  - a backup fails over only while quorate and the primary's daemon is
 *    absent from its partition; without quorum it waits;
 *  - a primary carries on unprotected only while quorate once the cluster
 *    had time to notice a partition (settle); else it stays paused with its
 *    output held (fenced).
 *
 * Only one partition can be quorate, so the two never both run the guest.
 */
#ifndef REMUS_REMUSD_QUORUM_H
#define REMUS_REMUSD_QUORUM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remusd/config.h"
#include "util/err.h"

struct pollfd;

/* What the cluster says now. */
struct remusd_quorum_state {
	bool known;             /* the backend answered at least once */
	bool quorate;
	bool peer_present;      /* another node's remusd is in our partition */
	uint32_t nodeid;        /* this node's (0: unknown) */
	uint32_t votes, expected_votes, total_votes, quorum;
	uint32_t members;       /* nodes in our partition */
	bool qdevice;           /* a quorum device (witness) is configured */
	bool qdevice_alive;     /* ... and votes for us */
	uint64_t changes;       /* bumped at each change the backend reported */
	uint64_t stable_since_ms; /* the view: when quorate, votes, members, the
	                           * peer or the witness last changed (rnet_now_ms) */
};

/* A quorum backend: opened once by the loop, polled there, never blocking. */
struct quorum_backend;
struct quorum_ops {
	const char *name;
	int  (*open)(struct quorum_backend **out, struct remus_err *err);
	/* The fds to poll (POLLIN) into pfd, at most max; their count. */
	unsigned (*pollfds)(struct quorum_backend *q, struct pollfd *pfd, unsigned max);
	/* After poll: take what the fds report (pfd as filled) and update *st;
	 * <0 when the backend is gone (st then says not quorate). */
	int  (*dispatch)(struct quorum_backend *q, const struct pollfd *pfd,
	                 struct remusd_quorum_state *st, struct remus_err *err);
	void (*close)(struct quorum_backend *q);
	/* The daemons' group messages (generation.h); NULL: no group.  send:
	 * to every daemon of the partition (-EAGAIN: try again later); recv:
	 * the next one another node's daemon sent, copied into buf (its
	 * length; 0: none waiting; messages longer than cap were dropped). */
	int  (*send)(struct quorum_backend *q, const void *msg, size_t len, struct remus_err *err);
	size_t (*recv)(struct quorum_backend *q, uint8_t *buf, size_t cap, uint32_t *nodeid);
};

extern const struct quorum_ops quorum_none_ops;
extern const struct quorum_ops quorum_corosync_ops;   /* votequorum + a CPG group */
const struct quorum_ops *remusd_quorum_ops(uint32_t kind);
const char *remusd_quorum_name(uint32_t kind);

/* What the sessions read: the backend's last word, shared between the
 * loop (writer) and the engine threads (readers). */
struct remusd_quorum_view {
	pthread_mutex_t lock;
	struct remusd_quorum_state st;
	const char *backend;           /* its name */
	uint32_t settle_ms;            /* quorum_settle_ms */
};

void remusd_quorum_view_init(struct remusd_quorum_view *v, const char *backend,
                             uint32_t settle_ms);
void remusd_quorum_view_destroy(struct remusd_quorum_view *v);
/* The loop: the backend's new word; true when quorum or the peer's
 * presence changed (worth a log line). */
bool remusd_quorum_view_set(struct remusd_quorum_view *v, const struct remusd_quorum_state *st);
void remusd_quorum_view_get(struct remusd_quorum_view *v, struct remusd_quorum_state *out);
/* "quorate, 2/3 votes, peer present" for logs and status text. */
void remusd_quorum_describe(const struct remusd_quorum_state *st, char *buf, size_t cap);

/* ---- verdicts (pure) ----------------------------------------------- */

enum remusd_backup_verdict {
	QV_B_FAIL_OVER,         /* quorate and the primary's daemon is gone */
	QV_B_WAIT_QUORUM,       /* no quorum: wait (state waiting-for-quorum) */
	QV_B_WAIT_SETTLE,       /* quorate, the primary still seen: the cluster may
	                         * not have noticed a partition yet */
	QV_B_PEER_ALIVE,        /* quorate, settled, the primary still there: it
	                         * carries on, no failover from here */
};
/* A backup that lost the primary; settled: quorum_settle_ms passed since. */
enum remusd_backup_verdict remusd_quorum_backup_verdict(const struct remusd_quorum_state *st,
                                                        bool settled);

enum remusd_primary_verdict {
	QV_P_CARRY_ON,          /* settled and quorate: release output, run on */
	QV_P_WAIT,              /* not settled yet: stay paused, output held */
	QV_P_FENCE,             /* settled without quorum: stay fenced */
};
enum remusd_primary_verdict remusd_quorum_primary_verdict(const struct remusd_quorum_state *st,
                                                          bool settled);

/* remusctl failover on a backup: 0 if allowed, else err says why (the
 * primary answers heartbeats, or no quorum) unless force. */
int remusd_quorum_failover_refusal(const struct remusd_quorum_state *st, bool receiving,
                                   bool force, struct remus_err *err);

#endif
