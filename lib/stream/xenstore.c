/*
 * Xenstore node/watch records (remus extension STREAM_XL_REMUS_XENSTORE)
 * and the HVM save blob iterator.  Every string has an explicit length.
 */
#include "stream/stream.h"

#include <errno.h>
#include <string.h>

#include "stream/internal.h"
#include "util/checked.h"

/* Check a path against its kind; returns a reason or NULL if fine. */
static const char *path_problem(uint32_t kind, const char *p, uint32_t len, uint32_t entry)
{
	if (len == 0)
		return "empty path";
	if (memchr(p, '\0', len) != NULL)
		return "NUL byte in path";
	switch (kind) {
	case STREAM_XS_ABSOLUTE:
		return p[0] == '/' ? NULL : "absolute path not starting with '/'";
	case STREAM_XS_RELATIVE:
		return (p[0] == '/' || p[0] == '@') ? "relative path starting with '/' or '@'" : NULL;
	case STREAM_XS_SPECIAL:
		if (entry != STREAM_XS_WATCH && entry != STREAM_XS_EVENT)
			return "special '@' path outside a watch or event";
		return p[0] == '@' ? NULL : "special path not starting with '@'";
	default:
		return "unknown path kind";
	}
}

/* Payload length of one entry (0 and -E2BIG on overflow). */
static int entry_len(const struct stream_xs_entry *e, uint64_t *out)
{
	switch (e->kind) {
	case STREAM_XS_NODE:
		*out = 16 + (uint64_t)e->path_len + e->value_len + 8 * (uint64_t)e->nperms;
		return 0;
	case STREAM_XS_WATCH:
	case STREAM_XS_EVENT:
		*out = 16 + (uint64_t)e->path_len + e->value_len;
		return 0;
	case STREAM_XS_RM:
		*out = 8 + (uint64_t)e->path_len;
		return 0;
	default:
		return -EINVAL;
	}
}

int stream_put_xenstore(struct stream_buf *b, uint32_t flags,
    const struct stream_xs_entry *e, size_t n)
{
	struct st_mark m;
	uint8_t h[16];
	size_t i, j;
	int rc;

	if (n > UINT32_MAX || (flags & ~STREAM_XS_FULL))
		return -EINVAL;
	for (i = 0; i < n; i++) {
		uint64_t l;
		if (entry_len(&e[i], &l) < 0 || l > UINT32_MAX ||
		    path_problem(e[i].path_kind, e[i].path, e[i].path_len, e[i].kind))
			return -EINVAL;
		if (e[i].kind == STREAM_XS_NODE) {
			for (j = 0; j < e[i].nperms; j++)
				if (e[i].perms[j].perm > STREAM_XS_PERM_BOTH)
					return -EINVAL;
		}
	}
	m = st_mark(b);
	if ((rc = stream_begin_record(b, STREAM_XL_REMUS_XENSTORE)) < 0)
		return rc;
	put_le32(h, flags);
	put_le32(h + 4, (uint32_t)n);
	if ((rc = stream_buf_append(b, h, 8)) < 0)
		goto fail;
	for (i = 0; i < n; i++) {
		uint64_t l;
		entry_len(&e[i], &l);
		put_le32(h, e[i].kind);
		put_le32(h + 4, (uint32_t)l);
		if ((rc = stream_buf_append(b, h, 8)) < 0)
			goto fail;
		switch (e[i].kind) {
		case STREAM_XS_NODE:
			put_le32(h, e[i].path_len);
			put_le32(h + 4, e[i].value_len);
			put_le32(h + 8, e[i].nperms);
			put_le32(h + 12, e[i].path_kind);
			rc = stream_buf_append(b, h, 16);
			break;
		case STREAM_XS_WATCH:
		case STREAM_XS_EVENT:
			put_le32(h, e[i].path_len);
			put_le32(h + 4, e[i].value_len);
			put_le32(h + 8, e[i].path_kind);
			put_le32(h + 12, 0);
			rc = stream_buf_append(b, h, 16);
			break;
		default:
			put_le32(h, e[i].path_len);
			put_le32(h + 4, e[i].path_kind);
			rc = stream_buf_append(b, h, 8);
			break;
		}
		if (rc < 0 || (rc = stream_buf_append(b, e[i].path, e[i].path_len)) < 0)
			goto fail;
		if (e[i].kind != STREAM_XS_RM &&
		    (rc = stream_buf_append(b, e[i].value, e[i].value_len)) < 0)
			goto fail;
		for (j = 0; e[i].kind == STREAM_XS_NODE && j < e[i].nperms; j++) {
			put_le32(h, e[i].perms[j].domid);
			put_le32(h + 4, e[i].perms[j].perm);
			if ((rc = stream_buf_append(b, h, 8)) < 0)
				goto fail;
		}
	}
	return stream_end_record(b);
fail:
	b->rec_open = false;
	return st_rollback(b, m, rc);
}

struct stream_xs_perm stream_xs_perm_at(const struct stream_xs_entry *e, uint32_t i)
{
	struct stream_xs_perm p = { 0, 0 };

	if (e->perms != NULL)
		return e->perms[i];
	if (e->perms_raw != NULL) {
		p.domid = get_le32(e->perms_raw + 8 * (size_t)i);
		p.perm = get_le32(e->perms_raw + 8 * (size_t)i + 4);
	}
	return p;
}

int stream_xs_iter_init(struct stream_xs_iter *it, const void *body, size_t len,
    struct remus_err *err)
{
	memset(it, 0, sizeof(*it));
	it->p = body;
	it->len = len;
	if (len < 8)
		return remus_err_set(err, STREAM_E_XENSTORE,
		    "xenstore record: body of %zu bytes, need at least 8", len);
	it->flags = get_le32(it->p);
	it->count = get_le32(it->p + 4);
	it->off = 8;
	if (it->flags & ~STREAM_XS_FULL)
		return remus_err_set(err, STREAM_E_XENSTORE,
		    "xenstore record: unknown flags 0x%x", it->flags);
	return 0;
}

#define XS_BAD(...) remus_err_set(err, STREAM_E_XENSTORE, __VA_ARGS__)

int stream_xs_next(struct stream_xs_iter *it, struct stream_xs_entry *e, struct remus_err *err)
{
	const uint8_t *q;
	uint32_t kind, elen, i;
	size_t end, need;
	const char *why;

	if (it->index == it->count) {
		if (it->off != it->len)
			return XS_BAD("xenstore record: %zu bytes after the %u entries",
			    it->len - it->off, it->count);
		return 0;
	}
	if (it->len - it->off < 8)
		return XS_BAD("xenstore entry %u at body offset %zu: truncated header",
		    it->index, it->off);
	kind = get_le32(it->p + it->off);
	elen = get_le32(it->p + it->off + 4);
	if (elen > it->len - it->off - 8)
		return XS_BAD("xenstore entry %u at body offset %zu: length %u past the body end",
		    it->index, it->off, elen);
	q = it->p + it->off + 8;
	end = elen;
	memset(e, 0, sizeof(*e));
	e->kind = kind;
	switch (kind) {
	case STREAM_XS_NODE:
	case STREAM_XS_WATCH:
	case STREAM_XS_EVENT:
		if (end < 16)
			return XS_BAD("xenstore entry %u: length %u too short", it->index, elen);
		e->path_len = get_le32(q);
		e->value_len = get_le32(q + 4);
		if (kind == STREAM_XS_NODE) {
			e->nperms = get_le32(q + 8);
			e->path_kind = get_le32(q + 12);
		} else {
			e->path_kind = get_le32(q + 8);
			if (get_le32(q + 12) != 0)
				return remus_err_set(err, STREAM_E_XENSTORE,
				    "xenstore entry %u: reserved field not zero", it->index);
		}
		/* 16 + path + value + 8 * nperms, overflow-checked */
		need = 16;
		if (!ck_add_size(need, e->path_len, &need) ||
		    !ck_add_size(need, e->value_len, &need) ||
		    !ck_add_size(need, 8 * (size_t)e->nperms, &need) || need != end)
			return XS_BAD("xenstore entry %u: length %u does not match its "
			    "path/value/permission sizes", it->index, elen);
		e->path = (const char *)q + 16;
		e->value = q + 16 + e->path_len;
		e->perms_raw = e->nperms ? e->value + e->value_len : NULL;
		break;
	case STREAM_XS_RM:
		if (end < 8)
			return XS_BAD("xenstore entry %u: length %u too short", it->index, elen);
		e->path_len = get_le32(q);
		e->path_kind = get_le32(q + 4);
		if ((size_t)e->path_len != end - 8)
			return XS_BAD("xenstore entry %u: length %u does not match its path size",
			    it->index, elen);
		e->path = (const char *)q + 8;
		break;
	default:
		return XS_BAD("xenstore entry %u at body offset %zu: unknown kind %u",
		    it->index, it->off, kind);
	}
	why = path_problem(e->path_kind, e->path, e->path_len, kind);
	if (why != NULL)
		return XS_BAD("xenstore entry %u: %s", it->index, why);
	for (i = 0; i < e->nperms; i++)
		if (stream_xs_perm_at(e, i).perm > STREAM_XS_PERM_BOTH)
			return XS_BAD("xenstore entry %u: permission %u has unknown bits",
			    it->index, i);
	it->off += 8 + (size_t)elen;
	it->index++;
	return 1;
}

/* ---- HVM save blob ------------------------------------------------------ */

void stream_hvm_iter_init(struct stream_hvm_iter *it, const void *blob, size_t len)
{
	it->p = blob;
	it->len = len;
	it->off = 0;
	it->ended = false;
}

int stream_hvm_next(struct stream_hvm_iter *it, struct stream_hvm_entry *e, struct remus_err *err)
{
	const uint8_t *d;

	if (it->ended)
		return 0;
	if (it->len - it->off < STREAM_HVM_DESC_SIZE)
		return remus_err_set(err, STREAM_E_HVM_BLOB,
		    "HVM blob: %s at blob offset %zu (no END descriptor)",
		    it->off == it->len ? "ends" : "truncated descriptor", it->off);
	d = it->p + it->off;
	e->typecode = (uint16_t)(d[0] | d[1] << 8);
	e->instance = (uint16_t)(d[2] | d[3] << 8);
	e->length = get_le32(d + 4);
	e->offset = it->off;
	e->data = d + STREAM_HVM_DESC_SIZE;
	if (e->length > it->len - it->off - STREAM_HVM_DESC_SIZE)
		return remus_err_set(err, STREAM_E_HVM_BLOB,
		    "HVM blob: entry type %u at blob offset %zu: length %u past the blob end",
		    e->typecode, it->off, e->length);
	it->off += STREAM_HVM_DESC_SIZE + e->length;
	if (e->typecode == 0) {
		if (e->length != 0 || it->off != it->len)
			return remus_err_set(err, STREAM_E_HVM_BLOB,
			    "HVM blob: END descriptor at blob offset %zu with %s",
			    e->offset, e->length ? "a non-zero length" : "data after it");
		it->ended = true;
		return 0;
	}
	return 1;
}
