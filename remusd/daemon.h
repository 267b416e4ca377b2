/*
 * remusd's daemon state, shared by the loop (main.c) and its control
 * requests (control.c).  Only the loop's thread touches it.
 */
#ifndef REMUS_REMUSD_DAEMON_H
#define REMUS_REMUSD_DAEMON_H

#include <stdbool.h>
#include <stddef.h>

#include "net/net.h"
#include "remusd/ctl_proto.h"
#include "remusd/fault.h"
#include "remusd/guest_op.h"
#include "remusd/hold.h"
#include "remusd/metrics.h"
#include "remusd/quorum.h"
#include "remusd/session.h"
#include "util/ratelim.h"

/* A guest disk served to this host's kernel (disk_export.c). */
struct daemon_disk {
	char name[REMUSD_NAME_MAX];
	struct nbd_device *dev;         /* NULL: not served (why says why) */
	char why[256];
};

struct daemon {
	const char *conf_path;
	struct remusd_conf *conf;
	struct rnet_key key;
	struct remusd_env env;
	struct ctl_server *ctl;
	int listen_fd;
	struct remusd_session *sessions[REMUSD_MAX_GUESTS];
	size_t nsessions;
	struct rnet_hs_pool pending;    /* unauthenticated replication peers */
	/* their warnings, rate-limited: silent peers (dropped, timed out) and
	 * peers that said something wrong, each class on its own budget */
	struct ratelim warn_idle, warn_bad;
	struct ratelim warn_ctl;        /* refused control clients */
	struct remusd_hold hold;        /* test hold points (REMUSD_HOLD) */
	bool has_hold;
	struct remusd_fault fault;      /* REMUSD_FAULT (fault trials only) */
	struct guest_ops ops;           /* evacuate / protect off the loop */
	struct remusd_metrics *metrics; /* metrics_listen (NULL: off) */
	/* quorum (quorum.h): the backend the loop polls, what it said last
	 * (the loop's copy) and the view the sessions read */
	const struct quorum_ops *qops;
	struct quorum_backend *qb;
	struct remusd_quorum_state qstate;
	struct remusd_quorum_view qview;
	bool peer_was_present;          /* a peer daemon joining: announce */
	char self_path[4096];           /* this binary, as installed (upgrade's default) */
	struct daemon_disk disks[REMUSD_MAX_GUESTS];
	size_t ndisks;
};

/* The session of a guest, or NULL. */
struct remusd_session *daemon_find_session(struct daemon *d, const char *name);
/* The session of a configured guest, created in the given role if new. */
struct remusd_session *daemon_get_session(struct daemon *d, const char *name, bool primary,
                                          struct remus_err *err);
/* Control-socket dispatch (the ctl_server's handler; arg: the daemon). */
int daemon_handle_ctl(void *arg, struct ctl_conn *c, const struct ctl_msg *m);
/* The loop's own re-protections (reprotect.c): start the tries that are
 * due; a try that could not start (or whose protect failed) backs off. */
void daemon_reprotect_tick(struct daemon *d);
void daemon_reprotect_failed(struct daemon *d, struct remusd_session *s, const char *why);
/* Evacuations in doubt (in_doubt.c): ask each one's backup, bounded and
 * backing off, whether it runs the guest; the answer resolves it. */
void daemon_in_doubt_tick(struct daemon *d);
void daemon_in_doubt_answered(struct daemon *d, const struct remusd_check *chk);
/* A worker finished its operation: the deferred reply goes out now. */
void daemon_guest_op_done(void *arg, struct guest_op *op);

/* Ownership generations on the loop (ownership.c, generation.h). */
void daemon_disks_open(struct daemon *d);
struct nbd_device *daemon_disk_of(struct daemon *d, const struct remusd_guest_conf *gc,
                                  struct remus_err *err);
const char *daemon_disk_problem(struct daemon *d, const char *guest);
void daemon_disks_close(struct daemon *d);

void ownership_announce_all(struct daemon *d);   /* at the next tick */
void ownership_receive(struct daemon *d);        /* the group's messages */
void ownership_tick(struct daemon *d);           /* send what is due */

#endif
