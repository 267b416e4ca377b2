/* remusctl's two files: remusctl.c (options, subcommands, requests) and
 * remusctl_status.c (status rendering, protect's progress). */
#ifndef REMUS_REMUSCTL_H
#define REMUS_REMUSCTL_H

#include <stdbool.h>
#include <stdint.h>

#include "remusd/ctl_proto.h"

#define CALL_TIMEOUT_MS 10000u

struct opts {
	const char *sock;
	bool json;
	uint32_t unsafe;
	uint32_t timeout_ms;            /* 0: CALL_TIMEOUT_MS */
	const char *peer;
	unsigned wait_s;
	bool force;
	uint32_t evac_flags;            /* evacuate: CTL_EVAC_* */
	const char *exec;               /* upgrade --exec */
	const char *to;                 /* evacuate --to */
};

/* One request/reply round trip on a fresh connection; returns the reply
 * code, prints errors; rep->payload points into *keep's buffer. */
int remusctl_call(const struct opts *o, const uint8_t *req, int len, struct ctl_msg *rep,
                  struct ctl_conn **keep);
/* status/stats: JSON as is, or a short text rendering. */
int remusctl_status(const struct opts *o, uint16_t type, const char *guest);
/* After protect was accepted: draw progress until protected or failed. */
int remusctl_wait_protected(const struct opts *o, const char *guest);

#endif
