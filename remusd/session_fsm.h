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

/* The states status, remusctl and metrics print (names in session_fsm.c). */
enum remusd_state {
	RS_IDLE,            /* primary: guest running, not protected */
	RS_SYNCING,         /* initial synchronisation */
	RS_PROTECTED,       /* checkpointing */
	RS_UNPROTECTED,     /* backup lost or unprotect: running alone; backup: no run */
	RS_STOPPED,         /* guest exited or crashed */
	RS_RECEIVING,       /* backup: before the first complete checkpoint */
	RS_REPLICA_READY,   /* backup: replica holds checkpoint N */
	RS_ACTIVE,          /* backup: failed over, guest running here */
	RS_FAILED,          /* a checkpoint would not restore, or failover impossible */
	RS_EVACUATED,       /* primary: handed over to the backup, copy destroyed */
	RS_IN_DOUBT,        /* primary: hand-over unconfirmed, guest paused here */
	RS_EVACUATING,      /* primary: a hand-over to the backup is under way */
	RS_COUNT
};

/* The phase of each state, the same for both roles. */
enum remusd_phase {
	PHASE_IDLE, PHASE_SYNCING, PHASE_PROTECTED, PHASE_EVACUATING, PHASE_IN_DOUBT,
	PHASE_ACTIVE, PHASE_FAILED
};

/* What moves a session (P: primary, B: backup; docs/engine.md). */
enum remusd_event {
	SE_START,           /* P: the guest was started here */
	SE_PROTECT,         /* P: a protection run begins (engine built) */
	SE_SYNCED,          /* P: checkpoint 1 acknowledged */
	SE_EVACUATE,        /* P: a hand-over was asked for */
	SE_HANDED_OVER,     /* P: the backup confirmed it runs the guest */
	SE_HANDOVER_DOUBT,  /* P: final checkpoint acknowledged, no answer */
	SE_UNPROTECT,       /* protection ended on request (B: the primary's BYE) */
	SE_LOST,            /* P: ended by an error or a lost backup; guest runs on */
	SE_GUEST_GONE,      /* P: the guest exited or crashed */
	SE_UNRESTORABLE,    /* a checkpoint would not restore: protection ends */
	SE_RESUME_HERE,     /* P, in doubt: the operator resumes the copy here */
	SE_DESTROY_HERE,    /* P, in doubt: the operator destroys the copy here */
	SE_RECEIVE,         /* B: a primary's run was accepted */
	SE_CHECKPOINT,      /* B: the replica holds a complete checkpoint */
	SE_TAKEN_OVER,      /* B: failed over, the guest runs here */
	SE_TAKEOVER_FAILED, /* B: failover impossible (reason in error) */
	SE_COUNT
};

const char *remusd_state_name(enum remusd_state s);
const char *remusd_event_name(enum remusd_event e);
/* The phase a state belongs to. */
enum remusd_phase remusd_state_phase(enum remusd_state s);
/* The state `ev` moves a session of this role in state `from` to, or -1:
 * the move is not allowed. */
int remusd_fsm_next(bool primary, enum remusd_state from, enum remusd_event ev);

#endif
