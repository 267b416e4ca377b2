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
/* a primary with no copy running here: it may become the backup of the
 * host that runs the guest (re-protection, role reversal) */
#define GONE_P (S(RS_STOPPED) | S(RS_FAILED) | S(RS_EVACUATED))
#define FLIP 1u /* the move changes the role (P <-> B) */

/* role, any of these states, event -> state */
static const struct move {
	unsigned role, from;
	enum remusd_event ev;
	enum remusd_state to;
	unsigned flags;
} moves[] = {
	{ P, REST_P, SE_START, RS_IDLE, 0 },
	{ P, REST_P | S(RS_ACTIVE), SE_PROTECT, RS_SYNCING, 0 },
	{ P, GONE_P, SE_RECEIVE, RS_RECEIVING, FLIP },  /* becomes the backup */
	{ P, S(RS_SYNCING) | S(RS_PROTECTED), SE_SYNCED, RS_PROTECTED, 0 },
	{ P, S(RS_EVACUATING), SE_SYNCED, RS_EVACUATING, 0 },
	{ P, S(RS_PROTECTED), SE_EVACUATE, RS_EVACUATING, 0 },
	{ P, RUN_P, SE_UNPROTECT, RS_UNPROTECTED, 0 },
	{ P, RUN_P, SE_LOST, RS_UNPROTECTED, 0 },          /* evacuating: cancelled */
	{ P, RUN_P, SE_GUEST_GONE, RS_STOPPED, 0 },
	{ P, RUN_P, SE_UNRESTORABLE, RS_FAILED, 0 },
	{ P, S(RS_EVACUATING), SE_HANDED_OVER, RS_EVACUATED, 0 },
	{ P, S(RS_EVACUATING), SE_HANDOVER_DOUBT, RS_IN_DOUBT, 0 },
	{ P, S(RS_IN_DOUBT), SE_RESUME_HERE, RS_UNPROTECTED, 0 },
	{ P, S(RS_IN_DOUBT), SE_DESTROY_HERE, RS_EVACUATED, 0 },
	{ B, RUN_B | S(RS_UNPROTECTED) | S(RS_FAILED), SE_RECEIVE, RS_RECEIVING, 0 },
	{ B, RUN_B, SE_CHECKPOINT, RS_REPLICA_READY, 0 },
	{ B, RUN_B, SE_UNPROTECT, RS_UNPROTECTED, 0 },
	{ B, RUN_B, SE_UNRESTORABLE, RS_FAILED, 0 },
	{ B, RUN_B, SE_TAKEN_OVER, RS_ACTIVE, FLIP },   /* promoted: the primary */
	{ B, RUN_B, SE_TAKEOVER_FAILED, RS_FAILED, 0 },
	/* quorum = corosync (quorum.h): a lost peer is judged by the cluster */
	{ P, RUN_P | S(RS_FENCED), SE_NO_QUORUM, RS_FENCED, 0 },   /* fenced: the verdict */
	{ P, S(RS_FENCED), SE_LOST, RS_UNPROTECTED, 0 },   /* quorate: carries on */
	{ P, S(RS_FENCED), SE_RESUME_HERE, RS_UNPROTECTED, 0 },
	{ P, S(RS_FENCED), SE_DESTROY_HERE, RS_EVACUATED, 0 },
	{ P, S(RS_FENCED), SE_GUEST_GONE, RS_STOPPED, 0 },
	{ B, RUN_B, SE_NO_QUORUM, RS_WAITING_QUORUM, 0 },
	{ B, RUN_B | S(RS_WAITING_QUORUM), SE_PEER_ALIVE, RS_UNPROTECTED, 0 },
	{ B, S(RS_WAITING_QUORUM), SE_TAKEN_OVER, RS_ACTIVE, FLIP },
	{ B, S(RS_WAITING_QUORUM), SE_TAKEOVER_FAILED, RS_FAILED, 0 },
	{ B, S(RS_WAITING_QUORUM), SE_UNPROTECT, RS_UNPROTECTED, 0 },
	/* ownership generations (generation.h): the older copy goes (and may
	 * then become the newer one's backup: GONE_P) */
	{ P, S(RS_FENCED) | S(RS_IN_DOUBT) | S(RS_UNPROTECTED) | S(RS_IDLE) | S(RS_ACTIVE),
	  SE_YIELD, RS_EVACUATED, 0 },
	/* remusctl halt: a copy outside any run ends */
	{ P, S(RS_IDLE) | S(RS_UNPROTECTED) | S(RS_FAILED) | S(RS_ACTIVE), SE_STOP, RS_STOPPED, 0 },
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

/* The table's row for this move, or NULL: refused. */
static const struct move *find_move(bool primary, enum remusd_state from, enum remusd_event ev)
{
	if ((unsigned)from >= RS_COUNT)
		return NULL;
	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		if (moves[i].role == (primary ? P : B) && (moves[i].from & S(from)) &&
		    moves[i].ev == ev)
			return &moves[i];
	return NULL;
}

int remusd_fsm_next(bool primary, enum remusd_state from, enum remusd_event ev)
{
	const struct move *m = find_move(primary, from, ev);

	return m != NULL ? (int)m->to : -1;
}

bool remusd_fsm_flips_role(bool primary, enum remusd_state from, enum remusd_event ev)
{
	const struct move *m = find_move(primary, from, ev);

	return m != NULL && (m->flags & FLIP);
}
