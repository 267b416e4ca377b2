/*
 * `remusctl check GUEST` beyond the local rules: the primary contacts the
 * guest's peer over a check-only replication link (RNET_CAP_CHECK: the
 * usual handshake and authentication, then one answer; nothing starts
 * there) and asks whether it could hold the guest (name free, memory,
 * disk image, type).  It runs on a guest-operation worker (guest_op.h):
 * connect, handshake and answer are bounded (3 s + 3 s), and the daemon's
 * loop keeps serving meanwhile.  The backup answers from its loop at the
 * end of the handshake (remusd_check_answer: a few stat() calls).
 */
#ifndef REMUS_REMUSD_CHECK_PEER_H
#define REMUS_REMUSD_CHECK_PEER_H

#include <stdbool.h>
#include <stdint.h>

#include "remusd/ctl_proto.h"
#include "remusd/session.h"

#define REMUSD_CHECK_CONNECT_MS 3000u   /* connect + handshake */
#define REMUSD_CHECK_ANSWER_MS  3000u   /* then the answer */

/* One check: what the loop found, then what the worker adds. */
struct remusd_check {
	struct remusd_guest_conf gc;     /* copy: a reload waits for the worker */
	struct remusd_env env;
	struct remusd_session *s;        /* NULL: the guest has no session here */
	uint32_t unsafe;                 /* of the configuration */
	uint32_t reasons;                /* CTL_CHECK_* */
	char detail[CTL_CHECK_DETAIL_MAX + 1];
	/* GUEST_OP_PROBE (in_doubt.c): the peer asked, and what it said */
	char probe_peer[CTL_PEER_MAX];
	int probe_rc;                    /* 0: answered; <0: not reached */
	uint32_t probe_problems;         /* REMUSD_PEER_* */
	char probe_text[160];
};

/* Worker: one check-only contact with the remusd at host:port about the
 * guest gc: its answer in a, or <0 (linked: the link was up, the answer
 * missing or bad; else the connect or handshake failed).  Bounded by
 * REMUSD_CHECK_CONNECT_MS + REMUSD_CHECK_ANSWER_MS. */
struct remusd_check_answer;
int remusd_check_contact(const struct remusd_env *env, const struct remusd_guest_conf *gc,
                         const char *host, uint16_t port, struct remusd_check_answer *a,
                         bool *linked, struct remus_err *err);
/* Worker: GUEST_OP_PROBE of a guest in doubt (in_doubt.c): contact
 * c->probe_peer, fill probe_rc, probe_problems, probe_text. */
void remusd_in_doubt_probe(struct remusd_check *c);
/* Worker: the driver's own reasons (Xen), the key file, the peer. */
void remusd_check_run(struct remusd_check *c);

/* Backup, in choose_caps: a check-only link is answered whatever guest it
 * names, so mirror the primary's capabilities (the verdict on them is in
 * the answer, after authentication). */
void remusd_check_caps(const struct rnet_caps *pri, struct rnet_caps *self);
/* Backup: answer an authenticated check-only link and close it.  s: the
 * guest's session here, if any. */
void remusd_check_answer(const struct remusd_env *env, struct remusd_session *s,
                         const char *name, const char *from, struct rnet_conn *conn);

/* The driver's own reasons a guest cannot be protected (CTL_CHECK_* bits);
 * their particulars are added to detail as lines (detail may be NULL). */
uint32_t remusd_session_driver_check(struct remusd_session *s, uint32_t unsafe, char *detail,
                                     size_t cap);

#endif
