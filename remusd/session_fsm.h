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
	RS_FAILED,          /* backup: failover impossible; either side: a checkpoint
	                     * would not restore, protection ended (reason in error) */
	RS_EVACUATED,       /* primary: handed over to the backup, copy destroyed */
	RS_IN_DOUBT,        /* primary: hand-over unconfirmed after the final
	                     * checkpoint; guest paused until the operator
	                     * resolves (resume --force here, or destroy) */
	RS_EVACUATING,      /* primary: a hand-over to the backup is under way */
	RS_COUNT
};

enum remusd_phase {
	PHASE_IDLE, PHASE_SYNCING, PHASE_PROTECTED, PHASE_EVACUATING, PHASE_IN_DOUBT,
	PHASE_ACTIVE, PHASE_FAILED, PHASE_COUNT
};

/* What moves a session. */
enum remusd_event {
	SE_START,           /* primary: the guest was started here */
	SE_PROTECT,         /* primary: a protection run begins (engine built) */
	SE_SYNCED,          /* primary: checkpoint 1 acknowledged */
	SE_EVACUATE,        /* primary: a hand-over was asked for */
	SE_HANDED_OVER,     /* primary: the backup confirmed it runs the guest */
	SE_HANDOVER_DOUBT,  /* primary: final checkpoint acknowledged, no answer */
	SE_UNPROTECT,       /* protection ended on request (primary: unprotect;
	                     * backup: the primary's BYE) */
	SE_LOST,            /* primary: protection ended by an error or a lost
	                     * backup; the guest runs on, unprotected */
	SE_GUEST_GONE,      /* primary: the guest exited or crashed */
	SE_UNRESTORABLE,    /* a checkpoint would not restore: protection ends */
	SE_RESUME_HERE,     /* primary, in doubt: the operator resumes the copy here */
	SE_DESTROY_HERE,    /* primary, in doubt: the operator destroys the copy here */
	SE_RECEIVE,         /* backup: a primary's run was accepted */
	SE_CHECKPOINT,      /* backup: the replica holds a complete checkpoint */
	SE_TAKEN_OVER,      /* backup: failed over, the guest runs here */
	SE_TAKEOVER_FAILED, /* backup: failover impossible (reason in error) */
	SE_COUNT
};

const char *remusd_state_name(enum remusd_state s);
const char *remusd_phase_name(enum remusd_phase p);
const char *remusd_event_name(enum remusd_event e);
/* The phase a state belongs to. */
enum remusd_phase remusd_state_phase(enum remusd_state s);
/* The state `ev` moves a session of this role in state `from` to, or -1:
 * the move is not allowed. */
int remusd_fsm_next(bool primary, enum remusd_state from, enum remusd_event ev);

#endif
