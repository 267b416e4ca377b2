/*
 * diskrep internals shared by the builtin backend's files: the wire codec
 * (wire.c), the commit journal and state file (journal.c), the staging
 * store (stage.c) and the primary's dirty bitmap (bitmap.c).
 */
#ifndef REMUS_DISKREP_INTERNAL_H
#define REMUS_DISKREP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diskrep/diskrep.h"
#include "util/bytes.h"
#include "util/checked.h"
#include "util/io.h"
#include "util/err.h"

/* ---- wire: frames on the replication fd --------------------------------
 * Frame = header { u16 type, u16 zero, u32 body_len } + body, little endian.
 *   WRITE       u64 epoch, u64 offset, data (sector multiple, 1..MAX_WRITE)
 *   EPOCH_END   u64 epoch
 *   SYNC_BEGIN  u64 image_bytes, u32 block_size, u32 zero, u64 base_epoch
 *   HASH_REQ    u64 first_block, u32 count, u32 zero
 *   HASH_REPLY  u64 first_block, u32 count, u32 zero, u64 hash[count]
 *   BLOCK       u64 offset, data (resync block, sector multiple)
 *   SYNC_DONE   u64 epoch, u64 blocks_sent
 */
enum drw_type {
	DRW_WRITE = 1, DRW_EPOCH_END, DRW_SYNC_BEGIN, DRW_HASH_REQ,
	DRW_HASH_REPLY, DRW_BLOCK, DRW_SYNC_DONE, DRW_TYPE_MAX
};
#define DRW_HDR_LEN     8u
#define DRW_MAX_HASHES  4096u
#define DRW_MAX_BODY    (16u + DISKREP_MAX_WRITE)
#define DRW_MAX_FRAME   (DRW_HDR_LEN + DRW_MAX_BODY)

struct drw_msg {
	enum drw_type type;
	uint64_t epoch, offset, first_block, image_bytes, blocks_sent;
	uint32_t count, block_size;
	const uint8_t *data;        /* WRITE/BLOCK payload, HASH_REPLY hashes */
	size_t len;                 /* payload bytes */
};

int drw_parse(const uint8_t *frame, size_t len, struct drw_msg *m,
              struct remus_err *err);
uint64_t drw_hash_at(const struct drw_msg *m, uint32_t i);
/* Read one whole frame (header validated before the body is read). */
int drw_read_frame(int fd, uint8_t *buf, size_t cap, size_t *len,
                   struct remus_err *err);
int drw_send_write(int fd, uint64_t epoch, uint64_t off, const void *data,
                   size_t len, struct remus_err *err);
int drw_send_epoch_end(int fd, uint64_t epoch, struct remus_err *err);
int drw_send_sync_begin(int fd, uint64_t image_bytes, uint32_t block_size, uint64_t base,
                        struct remus_err *err);
int drw_send_hash_req(int fd, uint64_t first, uint32_t count, struct remus_err *err);
int drw_send_hash_reply(int fd, uint64_t first, const uint64_t *hashes,
                        uint32_t count, struct remus_err *err);
int drw_send_block(int fd, uint64_t off, const void *data, size_t len,
                   struct remus_err *err);
int drw_send_sync_done(int fd, uint64_t epoch, uint64_t blocks_sent,
                       struct remus_err *err);

/* ---- shared helpers (byte order: util/bytes.h, I/O: util/io.h) -------- */
int dr_fault(const struct diskrep_fault *f, const char *point,
             struct remus_err *err);
uint64_t dr_block_hash(const void *data, size_t len);

/* ---- staging store (backup) ---------------------------------------------
 * Ordered writes of staged epochs; data in memory up to `mem_cap`, then
 * appended to a spill file. */
struct dr_stage_rec {
	uint64_t epoch, offset, spill_off;
	uint32_t len;
	uint8_t *data;              /* NULL: in the spill file at spill_off */
};
struct dr_stage {
	struct dr_stage_rec *recs;
	size_t head, count, cap;    /* live records are recs[head..count) */
	size_t mem_used, mem_cap;
	int spill_fd;
	uint64_t spill_len;
	uint64_t spilled_bytes;     /* counter */
};
int dr_stage_init(struct dr_stage *s, const char *spill_path, size_t mem_cap,
                  struct remus_err *err);
void dr_stage_free(struct dr_stage *s);
int dr_stage_add(struct dr_stage *s, uint64_t epoch, uint64_t off,
                 const void *data, uint32_t len, struct remus_err *err);
int dr_stage_read(struct dr_stage *s, const struct dr_stage_rec *r, void *buf,
                  struct remus_err *err);
/* Drop every record of epochs <= `upto` from the front / epochs >= `from`. */
void dr_stage_pop_through(struct dr_stage *s, uint64_t upto);
void dr_stage_drop_from(struct dr_stage *s, uint64_t from);

/* ---- journal and committed-state file (backup) --------------------------
 * Journal file: header { "RMSDJRNL", u32 version, u32 zero, u64 epoch,
 * u64 nr_records, u64 payload_bytes, u64 image_bytes } (48 bytes), records
 * { u64 offset, u32 len, u32 zero, data[len] }, trailer { "RMSDJEND",
 * u64 xxh64 of all bytes before the trailer }.  Valid only when complete. */
#define DR_JHDR_LEN   48u
#define DR_JREC_LEN   16u
#define DR_JTRL_LEN   16u
#define DR_JMAX_RECS  (1u << 24)

struct dr_journal_info {
	uint64_t epoch, nr_records, payload_bytes, image_bytes;
};
/* Called per validated record during replay. */
typedef int (*dr_journal_rec_fn)(void *arg, uint64_t off, const void *data,
                                 uint32_t len, struct remus_err *err);
/* Validate the whole journal in `fd` (size, bounds, checksum); then, if
 * `fn` is non-NULL, hand every record to it in order.  Returns 0 and fills
 * `info`, 1 for an empty journal, or DISKREP_ECORRUPT. */
int dr_journal_scan(int fd, uint64_t image_bytes, struct dr_journal_info *info,
                    dr_journal_rec_fn fn, void *arg, struct remus_err *err);

/* State file: { "RMSDSTAT", u32 version, u32 flags, u64 epoch,
 * u64 image_bytes, u64 xxh64 of the 32 bytes before }. */
#define DR_STATE_LEN         40u
#define DR_STATE_CONSISTENT  1u
struct dr_state {
	uint64_t epoch, image_bytes;
	uint32_t flags;
};
int dr_state_parse(const uint8_t *buf, size_t len, struct dr_state *st,
                   struct remus_err *err);
int dr_state_load(const char *dir, struct dr_state *st, struct remus_err *err);
int dr_state_store(const char *dir, const struct dr_state *st,
                   const struct diskrep_fault *f, struct remus_err *err);

/* Commit one epoch: journal slot (epoch & 1), fsync, apply, fsync.  And
 * the recovery run at open: replay the newest valid slot. */
struct dr_commit_ctx {
	int image_fd, journal_fd[2];
	const char *state_dir;
	uint64_t image_bytes;
	const struct diskrep_fault *fault;
};
int dr_journal_commit(const struct dr_commit_ctx *c, struct dr_stage *s,
                      uint64_t epoch, struct remus_err *err);
int dr_journal_recover(const struct dr_commit_ctx *c, struct dr_state *st,
                       struct remus_err *err);
/* Forget both slots (resync, promote): the state file is the truth. */
int dr_journal_reset(const struct dr_commit_ctx *c, struct remus_err *err);

/* ---- dirty bitmap (primary), a mmapped file ---------------------------- */
struct dr_bitmap {
	uint8_t *map;               /* header + bits */
	size_t map_len;
	uint64_t nr_blocks;
	uint32_t block_size;
	int fd;
	bool was_reset;             /* file absent/invalid: everything dirty */
};
int dr_bitmap_open(struct dr_bitmap *b, const char *path, uint64_t image_bytes,
                   uint32_t block_size, struct remus_err *err);
void dr_bitmap_close(struct dr_bitmap *b);
void dr_bitmap_set_range(struct dr_bitmap *b, uint64_t off, uint64_t len);
bool dr_bitmap_test(const struct dr_bitmap *b, uint64_t block);
void dr_bitmap_clear(struct dr_bitmap *b, uint64_t block);
void dr_bitmap_clear_all(struct dr_bitmap *b);
uint64_t dr_bitmap_count(const struct dr_bitmap *b);
int dr_bitmap_sync(struct dr_bitmap *b, struct remus_err *err);

/* ---- drbd backend: status and check without a handle (drbd_status.c) -- */
int drbd_status(const struct diskrep_config *cfg, bool handover, struct diskrep_status *out,
                struct remus_err *err);
int drbd_check(const struct diskrep_config *cfg, struct remus_err *report);

/* Run a tool (drbdsetup, nbd-client) and wait for it; stdout into out. */
int dr_run_tool(char *const argv[], char *out, size_t cap, struct remus_err *err);

#endif
