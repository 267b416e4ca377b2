/*
 * The disk replication backends' kinds: the value a guest's configuration
 * names (`diskrep = builtin | drbd | none`) and the one the rnet handshake
 * carries in HELLO (one byte; these values are on the wire, never renumber).
 * The transport only compares and prints it; diskrep owns it.
 * Header-only, so the transport needs nothing else of diskrep.
 */
#ifndef REMUS_DISKREP_KIND_H
#define REMUS_DISKREP_KIND_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum diskrep_kind {
	DISKREP_KIND_NONE    = 0,   /* the guest's disk is not replicated */
	DISKREP_KIND_BUILTIN = 1,   /* epoch-buffered, over the engine's link */
	DISKREP_KIND_DRBD    = 2,   /* the operator's DRBD resource, adopted */
	DISKREP_KIND_COUNT
};

/* Printable (and configuration) name of a kind; "unknown" out of range. */
static inline const char *diskrep_kind_name(uint32_t kind)
{
	static const char *const names[DISKREP_KIND_COUNT] = { "none", "builtin", "drbd" };

	return kind < DISKREP_KIND_COUNT ? names[kind] : "unknown";
}

/* Whether a value read from a peer names a kind. */
static inline bool diskrep_kind_valid(uint32_t kind)
{
	return kind < DISKREP_KIND_COUNT;
}

#endif
