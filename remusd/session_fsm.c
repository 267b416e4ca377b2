/*
 * The session state machine's table: which event moves which state where,
 * per role.  Anything not listed is refused (remusd_session_move logs it
 * and leaves the state as it is).  docs/engine.md prints the same table.
 */
#include <stddef.h>

#include "remusd/session_fsm.h"

#define STATE_ROW(name, text, phase) [name] = { text, phase },
static const struct {
	const char *name;
	enum remusd_phase phase;
} states[RS_COUNT] = { REMUSD_STATES(STATE_ROW) };

#define EVENT_NAME(name, text) [name] = text,
static const char *const events[SE_COUNT] = { REMUSD_EVENTS(EVENT_NAME) };

#define P 1u    /* primary */
#define B 2u    /* backup */
#define S(st) (1u << (st))
/* the states a run is in: a primary's protection, a backup's reception */
#define RUN_P (S(RS_SYNCING) | S(RS_PROTECTED) | S(RS_EVACUATING))
#define RUN_B (S(RS_RECEIVING) | S(RS_REPLICA_READY))
/* a primary's guest here, no run */
#define REST_P (S(RS_IDLE) | S(RS_UNPROTECTED) | S(RS_STOPPED) | S(RS_FAILED))

/* role, any of these states, event -> state */
static const struct move {
	unsigned role, from;
	enum remusd_event ev;
	enum remusd_state to;
} moves[] = {
	{ P, REST_P, SE_START, RS_IDLE },
	{ P, REST_P, SE_PROTECT, RS_SYNCING },
	{ P, S(RS_SYNCING) | S(RS_PROTECTED), SE_SYNCED, RS_PROTECTED },
	{ P, S(RS_EVACUATING), SE_SYNCED, RS_EVACUATING },
	{ P, S(RS_PROTECTED), SE_EVACUATE, RS_EVACUATING },
	{ P, RUN_P, SE_UNPROTECT, RS_UNPROTECTED },
	{ P, RUN_P, SE_LOST, RS_UNPROTECTED },          /* evacuating: cancelled */
	{ P, RUN_P, SE_GUEST_GONE, RS_STOPPED },
	{ P, RUN_P, SE_UNRESTORABLE, RS_FAILED },
	{ P, S(RS_EVACUATING), SE_HANDED_OVER, RS_EVACUATED },
	{ P, S(RS_EVACUATING), SE_HANDOVER_DOUBT, RS_IN_DOUBT },
	{ P, S(RS_IN_DOUBT), SE_RESUME_HERE, RS_UNPROTECTED },
	{ P, S(RS_IN_DOUBT), SE_DESTROY_HERE, RS_EVACUATED },
	{ B, RUN_B | S(RS_UNPROTECTED) | S(RS_FAILED), SE_RECEIVE, RS_RECEIVING },
	{ B, RUN_B, SE_CHECKPOINT, RS_REPLICA_READY },
	{ B, RUN_B, SE_UNPROTECT, RS_UNPROTECTED },
	{ B, RUN_B, SE_UNRESTORABLE, RS_FAILED },
	{ B, RUN_B, SE_TAKEN_OVER, RS_ACTIVE },
	{ B, RUN_B, SE_TAKEOVER_FAILED, RS_FAILED },
	/* quorum = corosync (quorum.h): a lost peer is judged by the cluster */
	{ P, RUN_P | S(RS_FENCED), SE_NO_QUORUM, RS_FENCED },   /* fenced: the verdict */
	{ P, S(RS_FENCED), SE_LOST, RS_UNPROTECTED },   /* quorate: carries on */
	{ P, S(RS_FENCED), SE_RESUME_HERE, RS_UNPROTECTED },
	{ P, S(RS_FENCED), SE_DESTROY_HERE, RS_EVACUATED },
	{ P, S(RS_FENCED), SE_GUEST_GONE, RS_STOPPED },
	{ B, RUN_B, SE_NO_QUORUM, RS_WAITING_QUORUM },
	{ B, RUN_B | S(RS_WAITING_QUORUM), SE_PEER_ALIVE, RS_UNPROTECTED },
	{ B, S(RS_WAITING_QUORUM), SE_TAKEN_OVER, RS_ACTIVE },
	{ B, S(RS_WAITING_QUORUM), SE_TAKEOVER_FAILED, RS_FAILED },
	{ B, S(RS_WAITING_QUORUM), SE_UNPROTECT, RS_UNPROTECTED },
	/* ownership generations (generation.h): the older copy goes */
	{ P, S(RS_FENCED) | S(RS_IN_DOUBT) | S(RS_UNPROTECTED) | S(RS_IDLE), SE_YIELD, RS_EVACUATED },
	{ B, S(RS_ACTIVE), SE_YIELD, RS_UNPROTECTED },
	{ P, S(RS_IDLE) | S(RS_UNPROTECTED) | S(RS_FAILED), SE_STOP, RS_STOPPED },
};

const char *remusd_state_name(enum remusd_state s)
{
	return (unsigned)s < RS_COUNT ? states[s].name : "?";
}

const char *remusd_event_name(enum remusd_event e)
{
	return (unsigned)e < SE_COUNT ? events[e] : "?";
}

enum remusd_phase remusd_state_phase(enum remusd_state s)
{
	return (unsigned)s < RS_COUNT ? states[s].phase : PHASE_FAILED;
}

int remusd_fsm_next(bool primary, enum remusd_state from, enum remusd_event ev)
{
	if ((unsigned)from >= RS_COUNT)
		return -1;
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		if (moves[i].role == (primary ? P : B) && (moves[i].from & S(from)) &&
		    moves[i].ev == ev)
			return (int)moves[i].to;
	return -1;
}
