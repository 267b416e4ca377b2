/*
 * remusd's per-guest sessions: one state machine for both roles and every
 * driver (session_fsm.h, the table in docs/engine.md), each session's
 * engine thread, and the JSON status of all of them.  What differs between
 * drivers is only who drives the checkpoint loop: a small engine ops table
 * (session_impl.h), like libxc's save_ops.
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
#include "remusd/quorum.h"
#include "remusd/session_fsm.h"

/* netbuf = nfqueue: NFQUEUE number of a guest = this + its index in the
 * configuration (one queue per guest on the host). */
#define REMUSD_NFQUEUE_BASE 7500u

struct session_engine;

/* The name a daemon answers in the handshake when a copy of the guest
 * the primary names runs there (choose_replica): the primary's protect
 * says so instead of a name mismatch. */
#define REMUSD_CAPS_COPY_HERE "(copy-runs-here)"

/* A protection the daemon retries by itself (under the session's lock). */
struct remusd_rp {
	bool armed;
	char peer[REMUSD_HOST_MAX + 8];        /* HOST:PORT */
	char why[64];                          /* what asked for it, for the log */
	uint64_t due_ms;                       /* next try (rnet_now_ms) */
	uint32_t backoff_ms;                   /* wait after the next failure */
	unsigned tries, max_tries;             /* max 0: until it works */
};
/* The first wait after a failed try, doubling up to the last. */
#define REMUSD_REPROTECT_MIN_MS 1000u
#define REMUSD_REPROTECT_MAX_MS 30000u

struct nbd_device;

struct remusd_session {
	char name[REMUSD_NAME_MAX];
	bool primary;
	struct remusd_guest_conf gc;           /* copy: reload never races */
	const struct hv_ops *hv;
	struct hv_guest *guest;
	struct rnet_conn *conn;
	struct ckpt_sender *snd;
	struct ckpt_receiver *rcv;
	/* who drives the checkpoint loop (session_step.c, session_driver.c) */
	const struct session_engine *eng;
	struct ckpt_stream_sender *ssnd;       /* the driver's loop's engine */
	struct ckpt_stream_receiver *srcv;
	struct hv_guest *replica;              /* its backup: built, not started yet */
	pthread_t th;
	bool th_running;
	bool th_done;                          /* backup: receiver ended, no guest runs here (atomic) */
	int stop_pipe[2];                      /* main -> engine thread */
	int ev_pipe[2];                        /* engine thread -> main: struct remusd_session_msg */
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
	struct hv_disk_hook dhook_io;   /* the primary handle as a disk hook (pvm, NBD) */
	/* Xen + builtin: the device its disk is served as (the daemon's,
	 * disk_export.c), routed by this session's handle; NULL: none */
	struct nbd_device *nbd;
	int disk_sp[2];
	/* quorum = corosync: the cluster's view that judges a lost peer
	 * (quorum.h; NULL: quorum = none, a lost peer is judged alone) */
	struct remusd_quorum_view *qv;
	bool failover_by_cluster;              /* failover = cluster: never on its own */
	bool failover_forced;                  /* remusctl failover --force (atomic) */
	/* ownership generations (generation.h; quorum = corosync): this
	 * copy's, the highest another daemon announced, and "announce ours"
	 * for the loop (all atomic: engine thread and loop) */
	uint64_t generation, peer_generation;
	bool announce;
	bool yielded;                          /* its copy went to a newer one */
	uint64_t yield_to;                     /* loop only: a newer copy's generation */
	uint32_t yield_node;                   /* ... and its cluster node */
	char state_dir[REMUSD_PATH_MAX];       /* where the generation is kept */
	bool upgrade_stop;                     /* the run stops for a live update (upgrade) */
	pthread_mutex_t lock;                  /* guards the fields below */
	/* a live update: the next run carries on from this checkpoint (the
	 * backup holds it, nothing after it left: ckpt_sender_resume); 0: the
	 * next run is a new one (pre-copy, numbered from 1) */
	uint64_t resume_from;
	uint64_t run_from;                     /* the run being started carries on from
	                                        * this (protect took resume_from) */
	enum remusd_state state;               /* moved by remusd_session_move only */
	uint64_t state_since_ms;
	char error[REMUS_ERR_MSG_MAX];
	struct ckpt_progress progress;
	struct ckpt_failover_times fo;
	bool failover_done;
	/* Xen backup: the failover's steps, each with its end in ms after the
	 * stream stopped (status JSON "failover"."steps") */
	struct { char step[24]; uint32_t end_ms; } fo_steps[16];   /* Xen backup */
	unsigned fo_nsteps;
	/* a re-protection the loop starts by itself (remusd/reprotect.c):
	 * asked for by a hand-over (role reversal) or reprotect = auto;
	 * armed until checkpoint 1 of a run is acknowledged */
	struct remusd_rp rp;
	bool evac_reverse;                     /* the next hand-over asks to be protected back */
	/* in doubt: when the loop asks the backup again (in_doubt.c; loop only) */
	uint64_t doubt_next_ms;
	uint32_t doubt_wait_ms;
	bool doubt_probing;
};

/* What a session's engine thread tells the loop (OpenBSD-style typed
 * messages on the session's event pipe; the loop checks type and length). */
enum remusd_session_msg_type {
	SESSION_MSG_ENDED = 1,      /* the engine thread returned, no guest runs here:
	                             * join it, a new run may take the session */
};
struct remusd_session_msg {
	uint32_t type;              /* enum remusd_session_msg_type */
	uint32_t state;             /* enum remusd_state when sent */
};

/* What the sessions share: the daemon's config and key (read-only while
 * sessions run; a reload swaps only the daemon's copy). */
struct remusd_env {
	const struct remusd_conf *conf;
	const struct rnet_key *key;
};

struct remusd_session *remusd_session_new(const struct remusd_guest_conf *gc, bool primary,
                                          struct remus_err *err);
void remusd_session_free(struct remusd_session *s);
/* Every state change: the table (session_fsm.c) says whether `ev` may move
 * the session from where it is; the move is logged (guest, old -> new,
 * why), a refused one too (a warning; why NULL: debug), and leaves the
 * state.  why: the state's message (NULL keeps the last one; a move to the
 * same state with why NULL is silent).  The new state, or -1 when refused. */
int remusd_session_move(struct remusd_session *s, enum remusd_event ev, const char *why);
/* The engine's counters and the state as they show it (status, metrics):
 * a backup holding a complete checkpoint is replica-ready, a primary whose
 * checkpoint 1 was acknowledged protected.  Under s->lock. */
enum remusd_state remusd_session_stats_locked(struct remusd_session *s, struct ckpt_stats *st);
/* The same, and the state moved accordingly (not under s->lock). */
void remusd_session_refresh(struct remusd_session *s);
/* The fd the loop polls (POLLIN) for the session's messages. */
int remusd_session_event_fd(const struct remusd_session *s);
/* Loop: take the session's messages; on SESSION_MSG_ENDED join the ended
 * engine thread unless may_join is false (an operation's worker owns the
 * session and joins it itself).  Never waits on a running thread. */
void remusd_session_events(struct remusd_session *s, bool may_join);

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
/* Whether a primary's new run may take this session as its backup now
 * (the loop's handshake hook): a backup session, or a primary one whose
 * copy here is gone (no guest, no engine, a state the table lets receive). */
bool remusd_session_may_receive(struct remusd_session *s);
/* Arm a protection the loop starts by itself to peer (HOST:PORT) as soon
 * as it can (the guest runs here, unprotected, no operation): max_tries 0
 * retries until a run is protected; first_wait_ms: the wait after the
 * first failed try (0: REMUSD_REPROTECT_MIN_MS), doubling.  why: the log's. */
void remusd_session_arm_reprotect(struct remusd_session *s, const char *peer,
                                  unsigned max_tries, uint32_t first_wait_ms, const char *why);
/* Stop retrying (an operator's protect or unprotect decides now). */
void remusd_session_disarm_reprotect(struct remusd_session *s, const char *why);
/* The same resolution decided by the daemon (in_doubt.c: the backup
 * answered whether it runs the guest); why goes in the state's message. */
int remusd_session_resolve_auto(struct remusd_session *s, bool resume_here, const char *why,
                                struct remus_err *err);
/* Backup side: take over an accepted, handshaken connection. */
int remusd_session_receive(struct remusd_session *s, struct rnet_conn *conn,
                           struct remus_err *err);
/* Failover now (backup) — stops receiving and restores.  Refused while the
 * primary answers heartbeats or (quorum = corosync) this node is not
 * quorate, unless force (logged as forced). */
int remusd_session_failover(struct remusd_session *s, bool force, struct remus_err *err);

/* End the guest running here as a primary outside any protection run
 * (remusctl halt; the cluster agent's demote of a lone copy): destroyed,
 * state stopped.  Refused while protected (unprotect or evacuate first),
 * fenced or in doubt (destroy), and on a backup. */
int remusd_session_stop(struct remusd_session *s, struct remus_err *err);
/* A newer copy of this guest runs elsewhere (generation.h): destroy the
 * copy here (its held output discarded), keep the newer generation; why
 * names the other copy for the log.  On a worker (guest_ops_start_yield). */
int remusd_session_yield(struct remusd_session *s, uint64_t newer, const char *why,
                         struct remus_err *err);

/* remusctl set (guest_set.c): interval or compression (CTL_SET_*) of a
 * primary; running engines take it at their next epoch.  done: what was
 * set, for the reply. */
int remusd_session_set(struct remusd_session *s, uint32_t setting, uint32_t value,
                       char *done, size_t cap, struct remus_err *err);

/* remusctl store (guest_store.c): a request (CTL_STORE) on the store of
 * the guest running here; out: the reply's text. */
struct ctl_msg;
int remusd_session_store(struct remusd_session *s, const struct ctl_msg *m, char *out,
                         size_t cap, struct remus_err *err);

/* Live update (session_upgrade.c).  Give the session's guest up, paused,
 * into *h (all fds -1 when it has none; s->guest NULL after).  A protected
 * primary's run is stopped first at an epoch boundary with the guest
 * paused (what netbuf held dropped, never released; the backup told BYE
 * END, keeping its replica): *reprotect is set, and the adopter protects
 * it again towards s->peer (the backup's page-hash offer: only what changed
 * goes).  Refused for other running engines and a disk replication
 * handle.  On error the guest runs as before (re-protected if it was). */
int remusd_session_hand_off(struct remusd_session *s, const struct remusd_env *env,
                            struct hv_handoff *h, bool *reprotect, struct remus_err *err);
/* Take a handed-off guest into the session (paused; then
 * remusd_session_resume_adopted runs it: protected again towards s->peer
 * when reprotect, else resumed), in state `state`. */
int remusd_session_adopt(struct remusd_session *s, const struct hv_handoff *h,
                         enum remusd_state state, struct remus_err *err);
int remusd_session_resume_adopted(struct remusd_session *s, const struct remusd_env *env,
                                  bool reprotect, struct remus_err *err);

/* Build the hv guest config from the guest's conf section. */
void remusd_guest_hvcfg(const struct remusd_guest_conf *gc, struct hv_guest_config *out);
/* rnet parameters for this guest. */
void remusd_rnet_params(const struct remusd_env *env, const struct remusd_guest_conf *gc,
                        struct rnet_params *p);

/* JSON object of one session (caller frees with json_object_put). */
struct json_object *remusd_session_json(struct remusd_session *s);

#endif
