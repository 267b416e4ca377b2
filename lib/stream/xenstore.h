/*
 * lib/stream — the remus extension's xenstore records (the body of
 * STREAM_XL_REMUS_XENSTORE): writer, iterator and their types.  Part of
 * the stream codec's API (stream/stream.h includes it).
 */
#ifndef REMUS_STREAM_XENSTORE_H
#define REMUS_STREAM_XENSTORE_H

#include "stream/stream.h"
#include "util/api.h"

REMUS_API_BEGIN

/* ---- xenstore records (remus extension, STREAM_XL_REMUS_XENSTORE) -------- */

/*
 * Body: u32 flags, u32 count, then count entries, packed, no padding:
 *   u32 kind, u32 length (of the payload that follows), payload:
 *   NODE:  u32 path_len, u32 value_len, u32 nperms, u32 path_kind,
 *          path, value, nperms x {u32 domid, u32 perm}
 *   WATCH: u32 path_len, u32 token_len, u32 path_kind, u32 0, path, token
 *   RM:    u32 path_len, u32 path_kind, path
 *   EVENT: as WATCH: a watch event fired and not yet read by the guest
 *          (the path it reports, the watch's token), in firing order
 * Every string has an explicit length; values and tokens are binary; paths
 * contain no NUL.  See docs/stream-format.md.
 */
#define STREAM_XS_FULL   (1u << 0)   /* flags: entries replace all earlier state */
enum stream_xs_kind {
	STREAM_XS_NODE  = 1,
	STREAM_XS_WATCH = 2,
	STREAM_XS_RM    = 3,    /* node (and subtree) removed */
	STREAM_XS_EVENT = 4,    /* pending watch event: path fired, token */
};
enum stream_xs_path_kind {
	STREAM_XS_ABSOLUTE = 0, /* "/local/domain/7/data" */
	STREAM_XS_RELATIVE = 1, /* relative to the domain's home: "data/x" */
	STREAM_XS_SPECIAL  = 2, /* "@introduceDomain", "@releaseDomain" (watches) */
};
enum stream_xs_perm_bits {
	STREAM_XS_PERM_NONE  = 0,
	STREAM_XS_PERM_READ  = 1,
	STREAM_XS_PERM_WRITE = 2,
	STREAM_XS_PERM_BOTH  = 3,
};
struct stream_xs_perm {
	uint32_t domid;   /* first entry: owner, and the perm for everyone else */
	uint32_t perm;    /* enum stream_xs_perm_bits */
};
/* One entry; on read the pointers point into the record body. */
struct stream_xs_entry {
	uint32_t kind;          /* enum stream_xs_kind */
	uint32_t path_kind;     /* enum stream_xs_path_kind */
	const char *path;       /* not NUL-terminated */
	uint32_t path_len;
	const uint8_t *value;   /* NODE: value; WATCH, EVENT: token */
	uint32_t value_len;
	const struct stream_xs_perm *perms;  /* write side */
	const uint8_t *perms_raw;            /* read side: nperms x 8 bytes LE */
	uint32_t nperms;
};
int stream_put_xenstore(struct stream_buf *b, uint32_t flags,
    const struct stream_xs_entry *e, size_t n);
/* Permission i of an entry read from a stream. */
struct stream_xs_perm stream_xs_perm_at(const struct stream_xs_entry *e, uint32_t i);

struct stream_xs_iter {
	const uint8_t *p;
	size_t len, off;
	uint32_t flags, count, index;
};
/* Check the body header; then stream_xs_next until it returns 0. */
int stream_xs_iter_init(struct stream_xs_iter *it, const void *body, size_t len,
    struct remus_err *err);
/* 1: *e filled; 0: no more entries; <0 STREAM_E_XENSTORE. */
int stream_xs_next(struct stream_xs_iter *it, struct stream_xs_entry *e, struct remus_err *err);

REMUS_API_END

#endif
