/*
 * remusd's per-guest sessions: the state machine of architecture.md
 * (primary: idle -> syncing -> protected -> {evacuated | unprotected};
 * backup: receiving -> replica-ready -> active), each session's engine
 * thread, and the JSON status of all of them.
 */
#ifndef REMUS_REMUSD_SESSION_H
#define REMUS_REMUSD_SESSION_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "ckpt/ckpt.h"
#include "net/net.h"
#include "diskrep/diskrep.h"
#include "netbuf/netbuf.h"
#include "remusd/config.h"

/* How long an evacuating primary waits for the backup to confirm that the
 * guest runs there (restore + start) before it resumes its own copy. */
#define REMUSD_EVAC_CONFIRM_MS 5000u
/* The same for a driver-owned loop (Xen): the backup builds the replica's
 * devices through libxl and its hotplug scripts first (7-34 s measured in
 * the emulated lab); below remusctl's 60 s for the whole evacuation. */
#define REMUSD_EVAC_CONFIRM_XEN_MS 45000u
/* netbuf = nfqueue: NFQUEUE number of a guest = this + its index in the
 * configuration (one queue per guest on the host). */
#define REMUSD_NFQUEUE_BASE 7500u

enum remusd_state {
	RS_IDLE,            /* primary: guest running, not protected */
	RS_SYNCING,         /* initial synchronisation */
	RS_PROTECTED,       /* checkpointing */
	RS_UNPROTECTED,     /* backup lost or unprotect: running alone */
	RS_STOPPED,         /* guest exited or crashed */
	RS_RECEIVING,       /* backup: before the first complete checkpoint */
	RS_REPLICA_READY,   /* backup: replica holds checkpoint N */
	RS_ACTIVE,          /* backup: failed over, guest running here */
	RS_FAILED,          /* backup: failover impossible (reason in error) */
	RS_EVACUATED,       /* primary: handed over to the backup, copy destroyed */
	RS_IN_DOUBT,        /* primary: hand-over unconfirmed after the final
	                     * checkpoint; guest paused until the operator
	                     * resolves (resume --force here, or destroy) */
};

struct remusd_session {
	char name[REMUSD_NAME_MAX];
	bool primary;
	struct remusd_guest_conf gc;           /* copy: reload never races */
	const struct hv_ops *hv;
	struct hv_guest *guest;
	struct rnet_conn *conn;
	struct ckpt_sender *snd;
	struct ckpt_receiver *rcv;
	/* engine of a driver-owned loop (session_stream.c) */
	struct ckpt_stream_sender *ssnd;
	struct ckpt_stream_receiver *srcv;
	pthread_t th;
	bool th_running;
	bool th_done;                          /* backup: receiver ended, no guest runs here (atomic) */
	bool evacuating;                       /* engine stop means: hand over */
	int stop_pipe[2];                      /* main -> engine thread */
	struct ckpt_fault fault;               /* test hooks: remusd/fault.h, hold.h */
	char peer[REMUSD_HOST_MAX + 8];
	/* guest NIC output (primary): straight to the TAP, or through netbuf
	 * while protected; net_lock guards the switch */
	pthread_mutex_t net_lock;
	bool nic_tx;                           /* frames go out by hv->net_transmit */
	struct netbuf nb;
	bool nb_open;
	/* netbuf = nfqueue: the thread giving the kernel's queued packets their
	 * verdicts (netbuf_dispatch) while nb is open, in any state */
	pthread_t nb_pump;
	bool nb_pump_running;
	int nb_pump_stop[2];
	/* disk replication (builtin): the handle, the guest's I/O adapter and
	 * the socketpair carrying its frames ([0] diskrep, [1] engine) */
	const struct diskrep_ops *dr;
	struct diskrep *disk;
	struct diskrep_hook dhook;
	int disk_sp[2];
	pthread_mutex_t lock;                  /* guards the fields below */
	enum remusd_state state;
	uint64_t state_since_ms;
	char error[REMUS_ERR_MSG_MAX];
	struct ckpt_progress progress;
	struct ckpt_failover_times fo;
	bool failover_done;
	/* Xen backup: the failover's steps, each with its end in ms after the
	 * stream stopped (status JSON "failover"."steps") */
	struct { char step[24]; uint32_t end_ms; } fo_steps[16];
	unsigned fo_nsteps;
};

/* What the sessions share: the daemon's config and key (read-only while
 * sessions run; a reload swaps only the daemon's copy). */
struct remusd_env {
	const struct remusd_conf *conf;
	const struct rnet_key *key;
};

const char *remusd_state_name(enum remusd_state s);
struct remusd_session *remusd_session_new(const struct remusd_guest_conf *gc, bool primary,
                                          struct remus_err *err);
void remusd_session_free(struct remusd_session *s);
void remusd_session_set_state(struct remusd_session *s, enum remusd_state st, const char *why);

/* Primary side. */
int remusd_session_start_guest(struct remusd_session *s, struct remus_err *err);
/* unsafe: the request's CTL_UNSAFE_* (blackhole: no backup, checkpoints
 * taken and dropped; also with the guest's `unsafe = blackhole`). */
int remusd_session_protect(struct remusd_session *s, const struct remusd_env *env,
                           const char *peer, uint32_t unsafe, struct remus_err *err);
int remusd_session_unprotect(struct remusd_session *s, struct remus_err *err);
/* Planned hand-over to the backup (remusctl evacuate, or failover on the
 * primary): 0 once the backup confirmed and our copy is destroyed; else
 * the guest runs here (unprotected) and err says why. */
int remusd_session_evacuate(struct remusd_session *s, struct remus_err *err);
/* An evacuation left in doubt (state in-doubt, guest paused): the operator
 * checked the backup.  resume_here: it does not run the guest, run it here
 * (unprotected); else destroy our copy (state evacuated). */
int remusd_session_resolve(struct remusd_session *s, bool resume_here, struct remus_err *err);
/* Backup side: take over an accepted, handshaken connection. */
int remusd_session_receive(struct remusd_session *s, struct rnet_conn *conn,
                           struct remus_err *err);
/* Failover now (backup) — stops receiving and restores. */
int remusd_session_failover(struct remusd_session *s, struct remus_err *err);

/* remusctl set (guest_set.c): interval or compression (CTL_SET_*) of a
 * primary; running engines take it at their next epoch.  done: what was
 * set, for the reply. */
int remusd_session_set(struct remusd_session *s, uint32_t setting, uint32_t value,
                       char *done, size_t cap, struct remus_err *err);

/* Guests whose driver owns the checkpoint loop (Xen), session_stream.c. */
bool remusd_session_driver_loop(const struct remusd_session *s);
int remusd_session_stream_protect(struct remusd_session *s, const struct remusd_env *env,
                                  struct remus_err *err);
int remusd_session_stream_receive(struct remusd_session *s, struct remus_err *err);
void remusd_session_stream_stats(struct remusd_session *s, struct ckpt_stats *st);
void remusd_session_stream_free(struct remusd_session *s);
/* The driver's own reasons a guest cannot be protected (CTL_CHECK_* bits);
 * their particulars are added to detail as lines (detail may be NULL). */
uint32_t remusd_session_driver_check(struct remusd_session *s, uint32_t unsafe, char *detail,
                                     size_t cap);

/* Build the hv guest config from the guest's conf section. */
void remusd_guest_hvcfg(const struct remusd_guest_conf *gc, struct hv_guest_config *out);
/* rnet parameters for this guest. */
void remusd_rnet_params(const struct remusd_env *env, const struct remusd_guest_conf *gc,
                        struct rnet_params *p);

/* JSON object of one session (caller frees with json_object_put). */
struct json_object *remusd_session_json(struct remusd_session *s);

#endif
