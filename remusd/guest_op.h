/*
 * Guest operations off remusd's main loop: everything that waits on an
 * engine thread, a peer, a restore or a tool — protect (the driver's
 * probes, connect + handshake), unprotect, the hand-over (evacuate,
 * failover on the primary), the backup's failover (restore), resolving an
 * evacuation in doubt, check, and taking a new replication run (which may
 * wait for the last run's end) — runs on a short-lived worker thread each,
 * so the loop never blocks.  The control reply is deferred (CTL_PENDING) and sent by the
 * loop when the worker is done; the loop learns of that through a pipe it
 * polls.  One operation per guest at a time; any other request acting on
 * that guest is refused while it runs (guest_ops_busy).
 */
#ifndef REMUS_REMUSD_GUEST_OP_H
#define REMUS_REMUSD_GUEST_OP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "remusd/check_peer.h"
#include "remusd/ctl_proto.h"
#include "remusd/session.h"

/* An operation no control client asked for: a backup session takes the
 * authenticated link of a new run (remusd_session_receive). */
#define GUEST_OP_RECEIVE 0x10000u
/* Another: ask the backup of a guest in doubt whether it runs it
 * (in_doubt.c); owns no session, so the operator's resume/destroy are
 * never refused because of it. */
#define GUEST_OP_PROBE 0x10001u
/* ... a copy here met a newer generation of itself elsewhere
 * (generation.h): it is destroyed (remusd_session_yield). */
#define GUEST_OP_YIELD 0x10002u

struct guest_op {
	bool used;                     /* false: slot free */
	struct remusd_session *s;      /* NULL only for a check of a guest
	                                * without a session here */
	char name[REMUSD_NAME_MAX];    /* the guest's, for messages */
	struct remusd_check *check;    /* CTL_CHECK: inputs and results (owned) */
	struct ctl_conn *c;            /* the client waiting for the reply; NULL: none */
	struct rnet_conn *conn;        /* GUEST_OP_RECEIVE: the new run's link */
	uint32_t seq, type;            /* its request */
	struct remusd_env env;         /* protect: the loop defers reloads */
	char peer[CTL_PEER_MAX];
	uint32_t unsafe;               /* protect: CTL_UNSAFE_* asked for */
	uint32_t evac_flags;           /* evacuate: CTL_EVAC_* */
	char why[160];                 /* resume/destroy asked by the daemon: its reason */
	uint64_t generation;           /* GUEST_OP_YIELD: the newer copy's */
	pthread_t th;
	bool done;                     /* atomic: set by the worker last */
	int rc;                        /* result, err when < 0 */
	struct remus_err err;
	int notify_fd;                 /* write end of guest_ops' pipe */
};

struct guest_ops {
	struct guest_op op[REMUSD_MAX_GUESTS];
	size_t running;
	int pipe[2];                   /* worker -> loop: "one is done" */
};

int guest_ops_init(struct guest_ops *g, struct remus_err *err);
/* The operation running on this guest, or NULL. */
const struct guest_op *guest_ops_busy(const struct guest_ops *g, const struct remusd_session *s);
/* Start `type` (CTL_PROTECT, CTL_UNPROTECT, CTL_EVACUATE, CTL_FAILOVER,
 * CTL_RESUME, CTL_DESTROY) of m on s; the reply to c is deferred.  peer:
 * protect's target (may be empty).  A protect first runs the driver's and
 * the disk's probes (refused with the reasons they find). */
int guest_ops_start(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                    const struct ctl_msg *m, const struct remusd_env *env,
                    struct remus_err *err);
/* Start GUEST_OP_RECEIVE on backup session s with the new run's link from
 * addr (kept in op->peer; the operation owns conn: freed if the session
 * cannot take it). */
int guest_ops_start_receive(struct guest_ops *g, struct remusd_session *s,
                            struct rnet_conn *conn, const char *addr, struct remus_err *err);
/* Start GUEST_OP_YIELD on s: the newer copy (generation, on node) wins;
 * why names it for the logs (kept in op->peer). */
int guest_ops_start_yield(struct guest_ops *g, struct remusd_session *s, uint64_t generation,
                          const char *why, struct remus_err *err);
/* Start `remusctl check` of a guest (s may be NULL: not running here);
 * takes chk (also on failure).  The reply to c is deferred. */
int guest_ops_start_check(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                          const struct ctl_msg *m, struct remusd_check *chk,
                          struct remus_err *err);
/* Start resume (resume_here) or destroy of s in doubt, decided by the
 * daemon for the reason why; no client. */
int guest_ops_start_resolve(struct guest_ops *g, struct remusd_session *s, bool resume_here,
                            const char *why, struct remus_err *err);
/* Start GUEST_OP_PROBE of the guest chk->gc names, at chk->probe_peer;
 * takes chk (also on failure). */
int guest_ops_start_probe(struct guest_ops *g, struct remusd_check *chk, struct remus_err *err);
/* The fd the loop polls for POLLIN. */
int guest_ops_fd(const struct guest_ops *g);
/* Join every finished worker and pass its operation to done() (which
 * replies); the slot is free again once done() returns. */
void guest_ops_reap(struct guest_ops *g, void (*done)(void *arg, struct guest_op *op),
                    void *arg);
/* Shutdown: wait for every worker (each is bounded), nobody is answered. */
void guest_ops_free(struct guest_ops *g);
/* Name of an operation for messages ("evacuate", "protect"). */
const char *guest_op_name(uint32_t type);

#endif
