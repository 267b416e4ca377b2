/*
 * kvstore's write-ahead log on the block device: a sequence of batches,
 * each starting on a sector boundary with a 32-byte header
 *   magic "KVL1" | nrec u32 | payload bytes u32 | payload crc32 u32 |
 *   first seq u64 | header crc32 u32 | zero u32        (little endian)
 * followed by records  { klen u16 | vlen u16 | key | value }.
 * Record i of a batch has sequence number first_seq + i.  Replay stops at
 * the first batch that is not intact or whose first_seq does not continue
 * the log (a torn or stale tail); a batch is applied whole or not at all.
 */
#ifndef GUEST_KVLOG_H
#define GUEST_KVLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KVLOG_HDR        32u
#define KVLOG_SECTOR     512u
#define KVLOG_KEY_MAX    128u
#define KVLOG_VAL_MAX    1024u
#define KVLOG_BATCH_MAX  (256u * 1024u)      /* header + payload, bytes */

struct kvlog_hdr {
	uint32_t nrec, bytes, crc;
	uint64_t first_seq;
};

/* A batch being built in memory (buf holds KVLOG_BATCH_MAX bytes). */
struct kvlog_batch {
	uint8_t *buf;
	uint32_t len;         /* header + records so far */
	uint32_t nrec;
	uint64_t first_seq;
};

typedef void (*kvlog_apply_fn)(void *user, uint64_t seq, const uint8_t *key, size_t klen,
			       const uint8_t *val, size_t vlen);
/* Reads nsec sectors at sector into buf; 0 or negative error. */
typedef int (*kvlog_read_fn)(void *user, uint64_t sector, void *buf, uint64_t nsec);

void kvlog_batch_reset(struct kvlog_batch *b, uint64_t first_seq);
/* Append a record; false if it does not fit in this batch. */
bool kvlog_batch_add(struct kvlog_batch *b, const uint8_t *key, size_t klen,
		     const uint8_t *val, size_t vlen);
/* Finish the header and zero-pad; returns the batch size in sectors. */
uint32_t kvlog_batch_seal(struct kvlog_batch *b);

/* Check a batch header (32 bytes) expecting first_seq; NULL or what was wrong. */
const char *kvlog_parse_hdr(const uint8_t *p, uint64_t expect_seq, struct kvlog_hdr *out);
/* Validate every record of a payload, then apply them all; NULL or the error. */
const char *kvlog_apply(const uint8_t *payload, const struct kvlog_hdr *h,
			kvlog_apply_fn fn, void *user);

struct kvlog_replay {
	uint64_t next_sector;    /* where the next batch goes */
	uint64_t next_seq;       /* sequence number of the next record */
	uint64_t batches, records;
	const char *stop;        /* why replay stopped (NULL: end of disk) */
};
/* Replay the log from sector 0 of a disk of nsectors; buf holds KVLOG_BATCH_MAX. */
int kvlog_replay(kvlog_read_fn rd, void *rd_user, uint64_t nsectors, uint8_t *buf,
		 kvlog_apply_fn fn, void *user, struct kvlog_replay *out);

#endif
