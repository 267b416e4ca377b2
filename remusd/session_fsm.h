/*
 * The session state machine of remusd, one for every driver: a session is
 * a primary or a backup, each state belongs to one phase (idle, syncing,
 * protected, evacuating, in-doubt, active, failed), and every move is an
 * event looked up in one table (docs/engine.md prints it).  Pure: no
 * session, no lock, so a unit test can walk it whole.
 */
#ifndef REMUS_REMUSD_SESSION_FSM_H
#define REMUS_REMUSD_SESSION_FSM_H

#include <stdbool.h>

/* The phase of each state, the same for both roles. */
enum remusd_phase {
	PHASE_IDLE, PHASE_SYNCING, PHASE_PROTECTED, PHASE_EVACUATING, PHASE_IN_DOUBT,
	PHASE_ACTIVE, PHASE_FAILED
};

/* The states status, remusctl and metrics print: name, printed name, phase. */
#define REMUSD_STATES(X) \
	X(RS_IDLE, "idle", PHASE_IDLE)                  /* P: guest running, not protected */ \
	X(RS_SYNCING, "syncing", PHASE_SYNCING)         /* P: initial synchronisation */ \
	X(RS_PROTECTED, "protected", PHASE_PROTECTED)   /* P: checkpointing */ \
	X(RS_UNPROTECTED, "unprotected", PHASE_IDLE)    /* P: running alone; B: no run */ \
	X(RS_STOPPED, "stopped", PHASE_IDLE)            /* P: guest exited or crashed */ \
	X(RS_RECEIVING, "receiving", PHASE_SYNCING)     /* B: no complete checkpoint yet */ \
	X(RS_REPLICA_READY, "replica-ready", PHASE_PROTECTED) /* B: replica holds one */ \
	X(RS_ACTIVE, "active", PHASE_ACTIVE)            /* P: failed over here, not protected since */ \
	X(RS_FAILED, "failed", PHASE_FAILED)    /* unrestorable checkpoint, failover impossible */ \
	X(RS_EVACUATED, "evacuated", PHASE_IDLE)        /* P: handed over, copy destroyed */ \
	X(RS_IN_DOUBT, "in-doubt", PHASE_IN_DOUBT)      /* P: hand-over unconfirmed, paused */ \
	X(RS_EVACUATING, "evacuating", PHASE_EVACUATING) /* P: a hand-over under way */ \
	X(RS_FENCED, "fenced", PHASE_IN_DOUBT)          /* P: backup lost, no proof of being \
	                                                 * the only copy: paused, output held */ \
	X(RS_WAITING_QUORUM, "waiting-for-quorum", PHASE_IN_DOUBT) /* B: primary lost, \
	                                                 * no quorum to fail over with */
#define REMUSD_STATE_ENUM(name, text, phase) name,
enum remusd_state { REMUSD_STATES(REMUSD_STATE_ENUM) RS_COUNT };

/* What moves a session (P: primary, B: backup; docs/engine.md): name, printed name. */
#define REMUSD_EVENTS(X) \
	X(SE_START, "start")                  /* P: the guest was started here */ \
	X(SE_PROTECT, "protect")              /* P: a protection run begins (engine built) */ \
	X(SE_SYNCED, "synced")                /* P: checkpoint 1 acknowledged */ \
	X(SE_EVACUATE, "evacuate")            /* P: a hand-over was asked for */ \
	X(SE_HANDED_OVER, "handed-over")      /* P: the backup confirmed it runs the guest */ \
	X(SE_HANDOVER_DOUBT, "handover-unconfirmed") /* P: final checkpoint acked, no answer */ \
	X(SE_UNPROTECT, "unprotect")          /* ended on request (B: the primary's BYE) */ \
	X(SE_LOST, "lost")                    /* P: an error or a lost backup; guest runs on */ \
	X(SE_GUEST_GONE, "guest-gone")        /* P: the guest exited or crashed */ \
	X(SE_UNRESTORABLE, "unrestorable")    /* a checkpoint would not restore */ \
	X(SE_RESUME_HERE, "resume-here")      /* P, in doubt: the operator resumes it here */ \
	X(SE_DESTROY_HERE, "destroy-here")    /* P, in doubt: the operator destroys it here */ \
	X(SE_RECEIVE, "receive")              /* B: a primary's run was accepted (P, no
	                                       * copy here: becomes its backup) */ \
	X(SE_CHECKPOINT, "checkpoint")        /* B: the replica holds a complete checkpoint */ \
	X(SE_TAKEN_OVER, "taken-over")        /* B: failed over, the guest runs here (-> P) */ \
	X(SE_TAKEOVER_FAILED, "takeover-failed") /* B: failover impossible */ \
	X(SE_NO_QUORUM, "no-quorum")          /* lost the peer, quorum must decide (quorum.h) \
	                                       * P: paused, output held; B: waits */ \
	X(SE_PEER_ALIVE, "peer-alive")        /* B: the primary's daemon is in our quorate \
	                                       * partition: it carries on, no failover */ \
	X(SE_YIELD, "yield")                  /* a newer generation of the guest runs \
	                                       * elsewhere: the copy here is destroyed */ \
	X(SE_STOP, "stop")                    /* P: an unprotected guest ended on request */
#define REMUSD_EVENT_ENUM(name, text) name,
enum remusd_event { REMUSD_EVENTS(REMUSD_EVENT_ENUM) SE_COUNT };

const char *remusd_state_name(enum remusd_state s);
const char *remusd_event_name(enum remusd_event e);
/* The phase a state belongs to. */
enum remusd_phase remusd_state_phase(enum remusd_state s);
/* The state `ev` moves a session of this role in state `from` to, or -1:
 * the move is not allowed. */
int remusd_fsm_next(bool primary, enum remusd_state from, enum remusd_event ev);
/* Whether that move also changes the session's role: a backup that took
 * the guest over becomes its primary (taken-over), a primary whose copy
 * here is gone becomes the backup of the host that runs it (receive). */
bool remusd_fsm_flips_role(bool primary, enum remusd_state from, enum remusd_event ev);

#endif
