/* What remusd's session files share beyond the public session.h: the
 * engine ops table and the helpers of both roles. */
#ifndef REMUS_REMUSD_SESSION_IMPL_H
#define REMUS_REMUSD_SESSION_IMPL_H

#include "remusd/session.h"

/* Who drives the checkpoint loop: the only thing that differs between
 * drivers.  The session machine (session_primary.c, session_backup.c)
 * calls these hooks and makes every state move itself.  Each runs on the
 * operation's worker or the engine thread, never on the loop. */
struct session_engine {
	bool blackhole;     /* can checkpoint with no backup (unsafe = blackhole) */
	bool hold_on_loss;  /* a lost backup leaves netbuf holding (quorum decides) */
	/* Primary: build the run's engine on s->conn (NULL: blackhole) with
	 * its netbuf and disk. */
	int  (*protect)(struct remusd_session *s, const struct remusd_env *env, bool blackhole,
	                struct remus_err *err);
	/* Primary, engine thread: checkpoint until stop, loss or error (a
	 * CKPT_* / HV_* code); moves SE_SYNCED when checkpoint 1 is acked. */
	int  (*run)(struct remusd_session *s, struct remus_err *err);
	/* Primary, engine thread, an evacuation asked for: the hand-over after
	 * run returned rc; 0 confirmed, CKPT_EINDOUBT, other: cancelled (NULL:
	 * run does the hand-over itself). */
	int  (*hand_over)(struct remusd_session *s, int rc, struct remus_err *err);
	/* Primary, before the stop request: the next stop is a hand-over (NULL: none needed). */
	void (*request_handover)(struct remusd_session *s);
	/* Primary: the run ended (state moved already).  Backup: it ended
	 * with no guest running here. */
	void (*end_run)(struct remusd_session *s);
	/* Primary: the hand-over confirmed, the paused copy still here and the
	 * backup asked to protect the guest back: keep what the reverse run
	 * can reuse (pvm: the RAM of the final checkpoint as the replica to
	 * offer).  NULL: nothing is kept, the reverse run copies everything. */
	void (*keep_final)(struct remusd_session *s);
	/* Primary: the hand-over confirmed and the copy here destroyed (NULL: nothing). */
	void (*after_evacuation)(struct remusd_session *s);
	/* Backup: build the run's receiver on s->conn. */
	int  (*receive)(struct remusd_session *s, struct remus_err *err);
	/* Backup, engine thread: receive until the stream stops; 0: the
	 * primary ended protection; CKPT_HANDOVER, CKPT_ESTOPPED, other <0. */
	int  (*receive_run)(struct remusd_session *s, struct remus_err *err);
	/* Backup, engine thread: the guest runs here from the last complete
	 * checkpoint (s->guest, s->fo set), or <0 with nothing running. */
	int  (*take_over)(struct remusd_session *s, int rc, struct remus_err *err);
	/* Backup: answer a hand-over (after the state moved). */
	void (*answer)(struct remusd_session *s, bool running);
	/* The engine's counters (under s->lock); false: no engine. */
	bool (*stats)(struct remusd_session *s, struct ckpt_stats *st);
	/* remusctl set on a running engine (set_compress NULL: fixed per run). */
	int  (*set_interval)(struct remusd_session *s, uint32_t ms, struct remus_err *err);
	int  (*set_compress)(struct remusd_session *s, uint32_t kind, struct remus_err *err);
	/* Free the engine objects of both roles (no thread runs). */
	void (*free)(struct remusd_session *s);
};

/* The engine's own step loop (pvm), session_step.c. */
extern const struct session_engine session_step_engine;
/* The driver's own loop (save_stream/restore_stream: Xen), session_driver.c. */
extern const struct session_engine session_driver_engine;

/* Ask the engine thread to stop and join it (no-op if none runs, or if
 * the loop joined it already). */
void session_join_engine(struct remusd_session *s);
/* Whether an engine thread runs (or ended and is not joined yet). */
bool session_engine_running(struct remusd_session *s);
/* Start the engine thread (th_running set, th_done cleared before). */
int  session_start_engine(struct remusd_session *s, void *(*main)(void *),
                          struct remus_err *err);
/* Backup engine thread, last thing when no guest runs here: a new run may
 * take the session; tell the loop. */
void session_ended(struct remusd_session *s);
/* The session's state (under s->lock). */
enum remusd_state session_state(struct remusd_session *s);
/* A test hold or fault point (remusd/hold.h, fault.h); its verdict. */
int  session_hit(struct remusd_session *s, const char *point);
/* The same at a given epoch (fault points armed from an epoch on). */
int  session_hit_at(struct remusd_session *s, const char *point, uint64_t epoch);
/* A frame onto the guest NIC's backend, where the guest's own frames
 * would go (netbuf's released frames; arg: the session). */
int  session_nic_tx(void *arg, const void *frame, size_t len);
/* A frame the guest sent (the hv's net hook, arg: the session): straight
 * out, or held by the run's netbuf while protected. */
int  session_guest_tx(void *arg, const void *frame, size_t len);
/* A BYE to the peer, flushed (best effort: a lost peer never reads it). */
void session_send_bye(struct remusd_session *s, uint32_t code);

/* Backup, before its copy runs (failover): the generation past any seen,
 * stored durably (quorum = none: nothing); <0: it must not run. */
int  session_promote_generation(struct remusd_session *s, struct remus_err *err);
/* Destroy the copy running here for good (after a hand-over, or yielding
 * to a newer generation); s->guest is NULL after. */
void session_destroy_copy(struct remusd_session *s);

/* Backup engine thread, the primary lost (lost: why): whether this copy
 * may fail over now (quorum.h's verdict, waited for in state
 * waiting-for-quorum; a forced failover says yes).  false: it must not,
 * the session moved (peer-alive or unprotected).  quorum = none: true. */
bool session_backup_gate(struct remusd_session *s, const char *lost);
/* Primary engine thread, the backup lost with the output held (s->qv set):
 * pause the guest (state fenced) until quorum says this copy may carry on
 * (output released, unprotected) or not (stays fenced for the operator). */
void session_primary_gate(struct remusd_session *s, const char *lost);

/* Open the guest's disk replication handle (builtin backend) with its
 * state next to the image ("IMAGE.remus/"), not attached to a peer. */
int  session_open_disk(struct remusd_session *s, enum diskrep_role role, struct remus_err *err);
void session_close_disk(struct remusd_session *s);
/* A fresh socketpair for the builtin backend's frames of a new run
 * (disk_sp: [0] diskrep, [1] the engine); detach ends a run's. */
int  session_disk_channel(struct remusd_session *s, struct remus_err *err);
void session_disk_detach(struct remusd_session *s);
/* The run's netbuf goes (its nfqueue pump first); nothing it holds leaves. */
void session_netbuf_close(struct remusd_session *s);
/* A fresh netbuf for a new protection run (the old one closed); `what`
 * names the backend and device in the error. */
int  session_netbuf_open(struct remusd_session *s, const struct netbuf_config *nc,
                         const char *what, struct remus_err *err);

#endif
