/*
 * The exported state of a backup's replica (ckpt_receiver_export/import):
 * what a backup daemon's live update hands to the new daemon next to the
 * replica RAM memfd, so that the new daemon's receiver resumes the run at
 * the checkpoint the old one applied.  Little-endian, one fixed header,
 * then the last applied checkpoint's contexts:
 *
 *   u32 magic "RRPL" | u32 version | u64 ram_bytes | u64 applied |
 *   u64 checkpoints | u64 pages | u32 hvm_len | u32 emu_len |
 *   u32 store_len | u32 0 | hvm | emu | store
 *
 * It crosses a process boundary, so the decoder takes it as hostile:
 * every length bounded, the sum exact, nothing used of a bad buffer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/ckpt.h"
#include "stream/stream.h"
#include "util/bytes.h"

#define HDR_LEN 56u

int ckpt_replica_encode(const struct ckpt_replica_state *s, uint8_t **out, size_t *len,
                        struct remus_err *err)
{
	uint64_t n = (uint64_t)HDR_LEN + s->hvm_len + s->emu_len + s->store_len;
	uint8_t *b;

	*out = NULL;
	*len = 0;
	if (s->hvm_len > CKPT_REPLICA_BLOB_MAX || s->emu_len > CKPT_REPLICA_BLOB_MAX ||
	    s->store_len > CKPT_REPLICA_BLOB_MAX)
		return remus_err_set(err, CKPT_ECONFIG, "replica export: a context over %u bytes",
		                     CKPT_REPLICA_BLOB_MAX);
	if ((b = malloc((size_t)n)) == NULL)
		return remus_err_sys(err, ENOMEM, "replica export of %" PRIu64 " bytes", n);
	put_le32(b, CKPT_REPLICA_MAGIC);
	put_le32(b + 4, CKPT_REPLICA_VERSION);
	put_le64(b + 8, s->ram_bytes);
	put_le64(b + 16, s->applied);
	put_le64(b + 24, s->checkpoints);
	put_le64(b + 32, s->pages);
	put_le32(b + 40, s->hvm_len);
	put_le32(b + 44, s->emu_len);
	put_le32(b + 48, s->store_len);
	put_le32(b + 52, 0);
	if (s->hvm_len)
		memcpy(b + HDR_LEN, s->hvm, s->hvm_len);
	if (s->emu_len)
		memcpy(b + HDR_LEN + s->hvm_len, s->emu, s->emu_len);
	if (s->store_len)
		memcpy(b + HDR_LEN + s->hvm_len + s->emu_len, s->store, s->store_len);
	*out = b;
	*len = (size_t)n;
	return 0;
}

int ckpt_replica_decode(const uint8_t *buf, size_t len, struct ckpt_replica_state *out,
                        struct remus_err *err)
{
	struct ckpt_replica_state s = { 0 };
	uint64_t want;

	memset(out, 0, sizeof(*out));
	if (len < HDR_LEN)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: %zu bytes, the header alone "
		                     "is %u", len, HDR_LEN);
	if (get_le32(buf) != CKPT_REPLICA_MAGIC)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: bad magic %#" PRIx32,
		                     get_le32(buf));
	if (get_le32(buf + 4) != CKPT_REPLICA_VERSION)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: version %" PRIu32 " not "
		                     "understood (this one reads %u)", get_le32(buf + 4),
		                     CKPT_REPLICA_VERSION);
	s.ram_bytes = get_le64(buf + 8);
	s.applied = get_le64(buf + 16);
	s.checkpoints = get_le64(buf + 24);
	s.pages = get_le64(buf + 32);
	s.hvm_len = get_le32(buf + 40);
	s.emu_len = get_le32(buf + 44);
	s.store_len = get_le32(buf + 48);
	if (get_le32(buf + 52) != 0)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: reserved word not zero");
	if (s.applied == 0 || s.ram_bytes == 0 || s.ram_bytes % STREAM_PAGE_SIZE)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: checkpoint %" PRIu64 " of a "
		                     "%" PRIu64 "-byte RAM is no replica", s.applied, s.ram_bytes);
	if (s.hvm_len == 0 || s.emu_len == 0 || s.hvm_len > CKPT_REPLICA_BLOB_MAX ||
	    s.emu_len > CKPT_REPLICA_BLOB_MAX || s.store_len > CKPT_REPLICA_BLOB_MAX)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: context lengths %" PRIu32
		                     "/%" PRIu32 "/%" PRIu32 " (vCPU and devices 1..%u, store 0..%u)",
		                     s.hvm_len, s.emu_len, s.store_len, CKPT_REPLICA_BLOB_MAX,
		                     CKPT_REPLICA_BLOB_MAX);
	want = (uint64_t)HDR_LEN + s.hvm_len + s.emu_len + s.store_len;
	if (want != len)
		return remus_err_set(err, CKPT_ESTREAM, "replica state: %zu bytes, its lengths say "
		                     "%" PRIu64, len, want);
	s.hvm = buf + HDR_LEN;
	s.emu = s.hvm + s.hvm_len;
	s.store = s.store_len ? s.emu + s.emu_len : NULL;
	*out = s;
	return 0;
}
