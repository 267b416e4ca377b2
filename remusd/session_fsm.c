/*
 * The session state machine's table: which event moves which state where,
 * per role.  Anything not listed is refused (remusd_session_move logs it
 * and leaves the state as it is).  docs/engine.md prints the same table.
 */
#include <stddef.h>

#include "remusd/session_fsm.h"

static const struct {
	const char *name;
	enum remusd_phase phase;
} states[RS_COUNT] = {
	[RS_IDLE] = { "idle", PHASE_IDLE },
	[RS_UNPROTECTED] = { "unprotected", PHASE_IDLE },
	[RS_STOPPED] = { "stopped", PHASE_IDLE },
	[RS_EVACUATED] = { "evacuated", PHASE_IDLE },
	[RS_SYNCING] = { "syncing", PHASE_SYNCING },
	[RS_RECEIVING] = { "receiving", PHASE_SYNCING },
	[RS_PROTECTED] = { "protected", PHASE_PROTECTED },
	[RS_REPLICA_READY] = { "replica-ready", PHASE_PROTECTED },
	[RS_EVACUATING] = { "evacuating", PHASE_EVACUATING },
	[RS_IN_DOUBT] = { "in-doubt", PHASE_IN_DOUBT },
	[RS_ACTIVE] = { "active", PHASE_ACTIVE },
	[RS_FAILED] = { "failed", PHASE_FAILED },
};

static const char *const phases[PHASE_COUNT] = {
	"idle", "syncing", "protected", "evacuating", "in-doubt", "active", "failed",
};

static const char *const events[SE_COUNT] = {
	[SE_START] = "start", [SE_PROTECT] = "protect", [SE_SYNCED] = "synced",
	[SE_EVACUATE] = "evacuate", [SE_HANDED_OVER] = "handed-over",
	[SE_HANDOVER_DOUBT] = "handover-unconfirmed", [SE_UNPROTECT] = "unprotect",
	[SE_LOST] = "lost", [SE_GUEST_GONE] = "guest-gone", [SE_UNRESTORABLE] = "unrestorable",
	[SE_RESUME_HERE] = "resume-here", [SE_DESTROY_HERE] = "destroy-here",
	[SE_RECEIVE] = "receive", [SE_CHECKPOINT] = "checkpoint", [SE_TAKEN_OVER] = "taken-over",
	[SE_TAKEOVER_FAILED] = "takeover-failed",
};

#define P 1u    /* primary */
#define B 2u    /* backup */

/* role(s), from, event -> to */
static const struct move {
	unsigned roles;
	enum remusd_state from;
	enum remusd_event ev;
	enum remusd_state to;
} moves[] = {
	/* primary: a guest here, unprotected */
	{ P, RS_IDLE, SE_START, RS_IDLE },
	{ P, RS_UNPROTECTED, SE_START, RS_IDLE },
	{ P, RS_STOPPED, SE_START, RS_IDLE },
	{ P, RS_FAILED, SE_START, RS_IDLE },
	{ P, RS_IDLE, SE_PROTECT, RS_SYNCING },
	{ P, RS_UNPROTECTED, SE_PROTECT, RS_SYNCING },
	{ P, RS_STOPPED, SE_PROTECT, RS_SYNCING },
	{ P, RS_FAILED, SE_PROTECT, RS_SYNCING },
	/* primary: a protection run (syncing, protected, evacuating) ends */
	{ P, RS_SYNCING, SE_SYNCED, RS_PROTECTED },
	{ P, RS_PROTECTED, SE_SYNCED, RS_PROTECTED },
	{ P, RS_EVACUATING, SE_SYNCED, RS_EVACUATING },
	{ P, RS_PROTECTED, SE_EVACUATE, RS_EVACUATING },
	{ P, RS_SYNCING, SE_UNPROTECT, RS_UNPROTECTED },
	{ P, RS_PROTECTED, SE_UNPROTECT, RS_UNPROTECTED },
	{ P, RS_EVACUATING, SE_UNPROTECT, RS_UNPROTECTED },
	{ P, RS_SYNCING, SE_LOST, RS_UNPROTECTED },
	{ P, RS_PROTECTED, SE_LOST, RS_UNPROTECTED },
	{ P, RS_EVACUATING, SE_LOST, RS_UNPROTECTED },   /* hand-over cancelled */
	{ P, RS_SYNCING, SE_GUEST_GONE, RS_STOPPED },
	{ P, RS_PROTECTED, SE_GUEST_GONE, RS_STOPPED },
	{ P, RS_EVACUATING, SE_GUEST_GONE, RS_STOPPED },
	{ P, RS_SYNCING, SE_UNRESTORABLE, RS_FAILED },
	{ P, RS_PROTECTED, SE_UNRESTORABLE, RS_FAILED },
	{ P, RS_EVACUATING, SE_UNRESTORABLE, RS_FAILED },
	/* primary: the hand-over's outcome, and the operator's word on a doubt */
	{ P, RS_EVACUATING, SE_HANDED_OVER, RS_EVACUATED },
	{ P, RS_EVACUATING, SE_HANDOVER_DOUBT, RS_IN_DOUBT },
	{ P, RS_IN_DOUBT, SE_RESUME_HERE, RS_UNPROTECTED },
	{ P, RS_IN_DOUBT, SE_DESTROY_HERE, RS_EVACUATED },
	/* backup: a run starts where none is going on */
	{ B, RS_RECEIVING, SE_RECEIVE, RS_RECEIVING },
	{ B, RS_REPLICA_READY, SE_RECEIVE, RS_RECEIVING },
	{ B, RS_UNPROTECTED, SE_RECEIVE, RS_RECEIVING },
	{ B, RS_FAILED, SE_RECEIVE, RS_RECEIVING },
	{ B, RS_RECEIVING, SE_CHECKPOINT, RS_REPLICA_READY },
	{ B, RS_REPLICA_READY, SE_CHECKPOINT, RS_REPLICA_READY },
	/* backup: the run ends */
	{ B, RS_RECEIVING, SE_UNPROTECT, RS_UNPROTECTED },
	{ B, RS_REPLICA_READY, SE_UNPROTECT, RS_UNPROTECTED },
	{ B, RS_RECEIVING, SE_UNRESTORABLE, RS_FAILED },
	{ B, RS_REPLICA_READY, SE_UNRESTORABLE, RS_FAILED },
	{ B, RS_RECEIVING, SE_TAKEN_OVER, RS_ACTIVE },
	{ B, RS_REPLICA_READY, SE_TAKEN_OVER, RS_ACTIVE },
	{ B, RS_RECEIVING, SE_TAKEOVER_FAILED, RS_FAILED },
	{ B, RS_REPLICA_READY, SE_TAKEOVER_FAILED, RS_FAILED },
};

const char *remusd_state_name(enum remusd_state s)
{
	return (unsigned)s < RS_COUNT ? states[s].name : "?";
}

const char *remusd_phase_name(enum remusd_phase p)
{
	return (unsigned)p < PHASE_COUNT ? phases[p] : "?";
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
	unsigned role = primary ? P : B;

	for (size_t i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
		if ((moves[i].roles & role) && moves[i].from == from && moves[i].ev == ev)
			return (int)moves[i].to;
	return -1;
}
