/*
 * Long guest operations off remusd's main loop: the primary's hand-over
 * (evacuate, failover on the primary) and protect (connect + handshake)
 * run on a short-lived worker thread each, so the control socket keeps
 * answering.  The control reply is deferred (CTL_PENDING) and sent by the
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

struct guest_op {
	bool used;                     /* false: slot free */
	struct remusd_session *s;      /* NULL only for a check of a guest
	                                * without a session here */
	char name[REMUSD_NAME_MAX];    /* the guest's, for messages */
	struct remusd_check *check;    /* CTL_CHECK: inputs and results (owned) */
	struct ctl_conn *c;            /* the client waiting for the reply */
	uint32_t seq, type;            /* its request */
	struct remusd_env env;         /* protect: the loop defers reloads */
	char peer[CTL_PEER_MAX];
	uint32_t unsafe;               /* protect: CTL_UNSAFE_* asked for */
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
/* Start `type` (CTL_PROTECT, CTL_EVACUATE, CTL_FAILOVER) of m on s; the
 * reply to c is deferred.  peer: protect's target (may be empty). */
int guest_ops_start(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                    const struct ctl_msg *m, const struct remusd_env *env,
                    struct remus_err *err);
/* Start `remusctl check` of a guest (s may be NULL: not running here);
 * takes chk (also on failure).  The reply to c is deferred. */
int guest_ops_start_check(struct guest_ops *g, struct remusd_session *s, struct ctl_conn *c,
                          const struct ctl_msg *m, struct remusd_check *chk,
                          struct remus_err *err);
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
