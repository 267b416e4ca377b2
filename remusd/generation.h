/*
 * Ownership generations: which copy of a guest is the newest.  Every
 * promotion (a backup failing over) bumps the guest's generation past
 * any it has seen; each daemon keeps it in a small state file per guest
 * (written to a temporary file, fsync'd, renamed, the folder fsync'd) and
 * tells the other daemons over the cluster's group (quorum = corosync).
 * When two running copies meet, the one with the lower generation
 * destroys itself — its output was held (fenced), no client saw it — and
 * both sides log why.
 *
 * Both the state file and the group message are bytes from outside
 * (disk, another host): parsed strictly, bounded, nothing half-applied
 * (tests/fuzz/generation_parse.c).
 */
#ifndef REMUS_REMUSD_GENERATION_H
#define REMUS_REMUSD_GENERATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "remusd/config.h"
#include "util/err.h"

/* The state file: one line, "remus-generation v1 GUEST N\n" (N decimal,
 * no leading zeros, at most 2^63-1). */
#define REMUSD_GEN_FILE_MAX 128u
#define REMUSD_GEN_MAX      INT64_MAX

int remusd_gen_format(char *buf, size_t cap, const char *guest, uint64_t gen);
/* Parse a whole file's bytes; the guest it names must be `guest`. */
int remusd_gen_parse(const uint8_t *buf, size_t len, const char *guest, uint64_t *gen,
                     struct remus_err *err);
/* DIR/GUEST.generation: 0 when there is none yet; an unreadable or
 * malformed file is an error naming it (never taken as 0). */
int remusd_gen_load(const char *dir, const char *guest, uint64_t *gen, struct remus_err *err);
/* Replace it durably (tmp, fsync, rename, fsync of DIR). */
int remusd_gen_store(const char *dir, const char *guest, uint64_t gen, struct remus_err *err);

/* The group message (96 bytes, big-endian):
 *   magic[8] "RMSGEN01" | u64 generation | u32 flags | u32 zero
 *   | char guest[64] NUL-padded, printable
 *   | u32 zero[2] */
#define REMUSD_GEN_MSG_LEN 96u
#define REMUSD_GEN_RUNS    0x1u   /* a copy runs on the sender */
#define REMUSD_GEN_FENCED  0x2u   /* ... paused, its output held */
#define REMUSD_GEN_YIELDED 0x4u   /* the sender destroyed its older copy */
#define REMUSD_GEN_FLAGS   0x7u
struct remusd_gen_msg {
	uint64_t generation;
	uint32_t flags;
	char guest[REMUSD_NAME_MAX];
};
int remusd_gen_msg_encode(const struct remusd_gen_msg *m, uint8_t out[REMUSD_GEN_MSG_LEN]);
int remusd_gen_msg_parse(const uint8_t *b, size_t len, struct remusd_gen_msg *m,
                         struct remus_err *err);

/* Two copies met: what the local one does. */
enum remusd_gen_verdict {
	GEN_KEEP,          /* ours is newer, or the peer runs nothing */
	GEN_YIELD,         /* ours is older: destroy it */
	GEN_CONFLICT,      /* same generation, both run: the operator decides */
};
enum remusd_gen_verdict remusd_gen_judge(uint64_t ours, bool ours_runs,
                                         const struct remusd_gen_msg *peer);

#endif
