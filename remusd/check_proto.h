/*
 * The backup's answer on a check-only replication link (RNET_CAP_CHECK,
 * `remusctl check` on the primary): whether it could hold this guest.
 * Body of RNET_MSG_CHECK, big-endian:
 *   u32 problems (REMUSD_PEER_*) | u32 mem_mb | u64 disk_bytes |
 *   u16 text length | text (printable ASCII, at most 512 bytes)
 * mem_mb: the guest's `mem` in the backup's configuration (0: none);
 * disk_bytes: size of its disk there (0: no disk or not readable).
 * Hostile input: every length and bit is checked (tests/fuzz/check_answer.c).
 */
#ifndef REMUS_REMUSD_CHECK_PROTO_H
#define REMUS_REMUSD_CHECK_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "net/net.h"
#include "util/err.h"

#define REMUSD_PEER_NO_GUEST  0x01u   /* no [guest NAME] in its configuration */
#define REMUSD_PEER_BUSY      0x02u   /* the guest runs or is received there */
#define REMUSD_PEER_TYPE      0x04u   /* hypervisor type or diskrep differ */
#define REMUSD_PEER_MEMORY    0x08u   /* not enough memory available there */
#define REMUSD_PEER_DISK      0x10u   /* its disk image is missing or unreadable */
#define REMUSD_PEER_IMAGE     0x20u   /* pvm: its kernel image is missing */
/* refinements of BUSY, for a primary in doubt after a hand-over: */
#define REMUSD_PEER_RUNS      0x40u   /* a copy of the guest runs (or is paused) there */
#define REMUSD_PEER_TAKING    0x80u   /* a backup run there may still take the guest over */
#define REMUSD_PEER_ALL       0xffu
#define REMUSD_CHECK_TEXT_MAX (RNET_CHECK_MAX - RNET_CHECK_MIN)

struct remusd_check_answer {
	uint32_t problems;
	uint32_t mem_mb;
	uint64_t disk_bytes;
	char text[REMUSD_CHECK_TEXT_MAX + 1];   /* NUL-terminated */
};

/* Encode a into buf (at least RNET_CHECK_MAX bytes); the text is cut to
 * REMUSD_CHECK_TEXT_MAX, unprintable bytes become '?'.  Returns the length. */
size_t remusd_check_answer_encode(const struct remusd_check_answer *a, uint8_t *buf);
/* Decode a body of exactly len bytes; RNET_EPROTO naming what is wrong. */
int remusd_check_answer_parse(const uint8_t *body, size_t len, struct remusd_check_answer *a,
                              struct remus_err *err);

#endif
