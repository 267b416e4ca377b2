/*
 * The hand-over stream's decoder (format: upgrade_stream.h).  Hostile
 * input in principle (a new binary must not trust a stream it cannot
 * understand, and the fuzz target feeds it anything): every record's type,
 * exact length, padding, strings, indices and order are checked, one
 * handler per record type, and a stream is taken whole or not at all.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "remusd/session_fsm.h"
#include "remusd/upgrade_stream.h"
#include "util/bytes.h"

struct lu_parse {
	const uint8_t *buf;
	size_t off;                 /* of the record being handled */
	struct lu_state *st;
	bool seen_header, seen_end;
	uint32_t sess_cap, held_cap;
	uint8_t *fd_used;           /* per descriptor index: named already */
	struct remus_err *err;
};

/* Fail naming the record and where it starts. */
#define BAD(p, code, fmt, ...) \
	remus_err_set((p)->err, (code), "hand-over stream at byte %zu: " fmt, (p)->off, ##__VA_ARGS__)

static int need_len(struct lu_parse *p, const char *what, size_t len, size_t want)
{
	if (len != want)
		return BAD(p, LU_E_LENGTH, "%s record of %zu bytes, must be %zu", what, len, want);
	return 0;
}

/* A descriptor index: LU_NO_FD, or below nfds and named for the first time. */
static int take_fd(struct lu_parse *p, const char *what, int32_t idx)
{
	if (idx == LU_NO_FD)
		return 0;
	if (idx < 0 || (uint32_t)idx >= p->st->hdr.nfds)
		return BAD(p, LU_E_FD, "%s descriptor index %d, %u were passed", what, idx,
		           p->st->hdr.nfds);
	if (p->fd_used[idx])
		return BAD(p, LU_E_FD, "%s descriptor index %d named twice", what, idx);
	p->fd_used[idx] = 1;
	return 0;
}

/* A name: no NUL, printable ASCII without spaces (1..max bytes, or 0 if allowed). */
static int take_str(struct lu_parse *p, const char *what, const uint8_t *s, size_t n,
                    size_t max, bool empty_ok, char *out)
{
	if (n > max || (n == 0 && !empty_ok))
		return BAD(p, LU_E_VALUE, "%s of %zu bytes (1..%zu)", what, n, max);
	for (size_t i = 0; i < n; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return BAD(p, LU_E_VALUE, "%s with byte %#x at %zu", what, s[i], i);
	memcpy(out, s, n);
	out[n] = 0;
	return 0;
}

/* The session a record names (by id), which must come before it. */
static int find_sess(struct lu_parse *p, const char *what, uint32_t id, uint32_t *idx)
{
	for (uint32_t i = 0; i < p->st->nsessions; i++)
		if (p->st->sessions[i].id == id) {
			*idx = i;
			return 0;
		}
	return BAD(p, LU_E_ORDER, "%s for session %u, which no earlier SESSION record names", what, id);
}

static int rec_header(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_header *h = &p->st->hdr;
	int rc;

	if (len >= 8 && get_le64(b) != LU_MAGIC)
		return BAD(p, LU_E_MAGIC, "HEADER magic %#llx", (unsigned long long)get_le64(b));
	if (len >= 12 && get_le32(b + 8) != LU_VERSION)
		return BAD(p, LU_E_VERSION, "version %u, this daemon reads %u", get_le32(b + 8), LU_VERSION);
	if ((rc = need_len(p, "HEADER", len, 32)))
		return rc;
	if (get_le32(b + 12) != 0)
		return BAD(p, LU_E_VALUE, "HEADER flags %#x: none defined", get_le32(b + 12));
	h->version = LU_VERSION;
	h->nfds = get_le32(b + 16);
	h->old_pid = get_le32(b + 20);
	h->config_gen = get_le64(b + 24);
	if (h->nfds > LU_MAX_FDS)
		return BAD(p, LU_E_LIMIT, "%u descriptors, at most %u", h->nfds, LU_MAX_FDS);
	if (h->old_pid == 0 || h->old_pid > INT32_MAX)
		return BAD(p, LU_E_VALUE, "HEADER pid %u", h->old_pid);
	if (h->nfds && (p->fd_used = calloc(h->nfds, 1)) == NULL)
		return remus_err_sys(p->err, ENOMEM, "hand-over stream: descriptor table");
	p->seen_header = true;
	return 0;
}

static int rec_daemon(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_daemon *d = &p->st->daemon;
	int rc;

	if (p->st->has_daemon)
		return BAD(p, LU_E_ORDER, "a second DAEMON record");
	if ((rc = need_len(p, "DAEMON", len, 8)))
		return rc;
	d->listen_fd = (int32_t)get_le32(b);
	d->control_fd = (int32_t)get_le32(b + 4);
	if ((rc = take_fd(p, "listen socket", d->listen_fd)) ||
	    (rc = take_fd(p, "control socket", d->control_fd)))
		return rc;
	p->st->has_daemon = true;
	return 0;
}

static int rec_session(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_session s;
	size_t nl, pl;
	int rc;

	if (len < 40)
		return need_len(p, "SESSION", len, 40);
	memset(&s, 0, sizeof(s));
	s.id = get_le32(b);
	s.role = get_le32(b + 4);
	s.state = get_le32(b + 8);
	s.link_fd = (int32_t)get_le32(b + 12);
	s.epoch = get_le64(b + 16);
	s.acked_epoch = get_le64(b + 24);
	nl = get_le16(b + 32);
	pl = get_le16(b + 34);
	if ((rc = need_len(p, "SESSION", len, 40 + nl + pl)))
		return rc;
	s.flags = get_le32(b + 36);
	if (s.flags & ~LU_SF_KNOWN)
		return BAD(p, LU_E_VALUE, "SESSION flags %#x unknown", s.flags);
	if (s.role > LU_ROLE_BACKUP)
		return BAD(p, LU_E_VALUE, "SESSION role %u", s.role);
	if (s.state >= RS_COUNT)
		return BAD(p, LU_E_VALUE, "SESSION state %u (%u known)", s.state, (unsigned)RS_COUNT);
	if (s.acked_epoch > s.epoch)
		return BAD(p, LU_E_VALUE, "SESSION acked epoch %llu beyond epoch %llu",
		           (unsigned long long)s.acked_epoch, (unsigned long long)s.epoch);
	if (lu_find_session(p->st, s.id) != NULL)
		return BAD(p, LU_E_VALUE, "a second SESSION %u", s.id);
	if (p->st->nsessions == LU_MAX_SESSIONS)
		return BAD(p, LU_E_LIMIT, "more than %u sessions", LU_MAX_SESSIONS);
	if ((rc = take_str(p, "SESSION name", b + 40, nl, LU_NAME_MAX, false, s.name)) ||
	    (rc = take_str(p, "SESSION peer", b + 40 + nl, pl, LU_PEER_MAX, true, s.peer)) ||
	    (rc = take_fd(p, "replication link", s.link_fd)))
		return rc;
	if (p->st->nsessions == p->sess_cap) {
		uint32_t cap = p->sess_cap ? 2 * p->sess_cap : 4;
		struct lu_session *n = realloc(p->st->sessions, cap * sizeof(*n));
		if (n == NULL)
			return remus_err_sys(p->err, ENOMEM, "hand-over stream: sessions");
		p->st->sessions = n;
		p->sess_cap = cap;
	}
	p->st->sessions[p->st->nsessions++] = s;
	return 0;
}

static int rec_guest(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_session *s;
	uint32_t si = 0, dl, bl;
	int rc;

	if (len < 32)
		return need_len(p, "GUEST", len, 32);
	if ((rc = find_sess(p, "GUEST", get_le32(b), &si)))
		return rc;
	s = &p->st->sessions[si];
	if (s->has_guest)
		return BAD(p, LU_E_ORDER, "a second GUEST for session %u", s->id);
	if (s->has_replica)
		return BAD(p, LU_E_VALUE, "GUEST for session %u, which holds a REPLICA", s->id);
	dl = get_le16(b + 20);
	bl = get_le32(b + 24);
	if (get_le16(b + 22) != 0 || get_le32(b + 28) != 0)
		return BAD(p, LU_E_VALUE, "GUEST reserved fields set");
	if (bl > LU_BLOB_MAX)
		return BAD(p, LU_E_LIMIT, "GUEST blob of %u bytes, at most %u", bl, LU_BLOB_MAX);
	if ((rc = need_len(p, "GUEST", len, 32 + (size_t)dl + bl)) ||
	    (rc = take_str(p, "GUEST driver", b + 32, dl, LU_DRIVER_MAX, false, s->guest.driver)))
		return rc;
	for (unsigned i = 0; i < LU_GFD_COUNT; i++) {
		s->guest.fd[i] = (int32_t)get_le32(b + 4 + 4 * i);
		if ((rc = take_fd(p, "guest", s->guest.fd[i])))
			return rc;
	}
	s->guest.blob = bl ? b + 32 + dl : NULL;
	s->guest.blob_len = bl;
	s->has_guest = true;
	return 0;
}

/* A backup's replica: its RAM memfd and its state, for a session that
 * runs no guest here. */
static int rec_replica(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_session *s;
	uint32_t si = 0, sl;
	int32_t fd;
	int rc;

	if (len < 16)
		return need_len(p, "REPLICA", len, 16);
	if ((rc = find_sess(p, "REPLICA", get_le32(b), &si)))
		return rc;
	s = &p->st->sessions[si];
	if (s->has_replica)
		return BAD(p, LU_E_ORDER, "a second REPLICA for session %u", s->id);
	if (s->role != LU_ROLE_BACKUP || s->has_guest)
		return BAD(p, LU_E_VALUE, "REPLICA for session %u, which %s", s->id,
		           s->has_guest ? "runs its guest" : "is a primary");
	if (get_le32(b + 12) != 0)
		return BAD(p, LU_E_VALUE, "REPLICA reserved field set");
	fd = (int32_t)get_le32(b + 4);
	sl = get_le32(b + 8);
	if (fd == LU_NO_FD)
		return BAD(p, LU_E_FD, "REPLICA without its RAM descriptor");
	if (sl == 0 || sl > LU_REPLICA_MAX)
		return BAD(p, LU_E_LIMIT, "REPLICA state of %u bytes (1..%u)", sl, LU_REPLICA_MAX);
	if ((rc = need_len(p, "REPLICA", len, 16 + (size_t)sl)) ||
	    (rc = take_fd(p, "replica RAM", fd)))
		return rc;
	s->replica = (struct lu_replica){ .ram_fd = fd, .state = b + 16, .state_len = sl };
	s->has_replica = true;
	return 0;
}

static int rec_held(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_held h = { 0 };
	int rc;

	if (len < 16)
		return need_len(p, "HELD", len, 16);
	if ((rc = find_sess(p, "HELD", get_le32(b), &h.session)))
		return rc;
	h.len = get_le32(b + 4);
	h.epoch = get_le64(b + 8);
	if (h.len == 0 || h.len > LU_FRAME_MAX)
		return BAD(p, LU_E_VALUE, "HELD frame of %u bytes (1..%u)", h.len, LU_FRAME_MAX);
	if ((rc = need_len(p, "HELD", len, 16 + (size_t)h.len)))
		return rc;
	if (h.epoch <= p->st->sessions[h.session].acked_epoch)
		return BAD(p, LU_E_VALUE, "HELD frame of epoch %llu, already acknowledged",
		           (unsigned long long)h.epoch);
	if (p->st->nheld == LU_MAX_HELD)
		return BAD(p, LU_E_LIMIT, "more than %u held frames", LU_MAX_HELD);
	if (p->st->nheld == p->held_cap) {
		uint32_t cap = p->held_cap ? 2 * p->held_cap : 16;
		struct lu_held *n = realloc(p->st->held, cap * sizeof(*n));
		if (n == NULL)
			return remus_err_sys(p->err, ENOMEM, "hand-over stream: held frames");
		p->st->held = n;
		p->held_cap = cap;
	}
	h.frame = b + 16;
	p->st->held[p->st->nheld++] = h;
	return 0;
}

static int rec_disk(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_session *s;
	uint32_t si = 0;
	int rc;

	if ((rc = need_len(p, "DISK", len, 32)) || (rc = find_sess(p, "DISK", get_le32(b), &si)))
		return rc;
	s = &p->st->sessions[si];
	if (s->has_disk)
		return BAD(p, LU_E_ORDER, "a second DISK for session %u", s->id);
	if (get_le32(b + 4) != 0)
		return BAD(p, LU_E_VALUE, "DISK reserved field set");
	s->disk.journal_seq = get_le64(b + 8);
	s->disk.journal_off = get_le64(b + 16);
	s->disk.bitmap_bits = get_le64(b + 24);
	s->has_disk = true;
	return 0;
}

static int rec_stats(struct lu_parse *p, const uint8_t *b, size_t len)
{
	struct lu_session *s;
	uint32_t si = 0, n;
	int rc;

	if (len < 8)
		return need_len(p, "STATS", len, 8);
	if ((rc = find_sess(p, "STATS", get_le32(b), &si)))
		return rc;
	s = &p->st->sessions[si];
	n = get_le32(b + 4);
	if (s->has_stats)
		return BAD(p, LU_E_ORDER, "a second STATS for session %u", s->id);
	if (n > LU_STATS_MAX)
		return BAD(p, LU_E_LIMIT, "STATS with %u counters, at most %u", n, LU_STATS_MAX);
	if ((rc = need_len(p, "STATS", len, 8 + 8 * (size_t)n)))
		return rc;
	for (uint32_t i = 0; i < n; i++)
		s->stats[i] = get_le64(b + 8 + 8 * i);
	s->nstats = n;
	s->has_stats = true;
	return 0;
}

typedef int (*lu_handler)(struct lu_parse *p, const uint8_t *b, size_t len);
static const lu_handler handlers[LU_REC_COUNT] = {
	[LU_REC_HEADER] = rec_header, [LU_REC_DAEMON] = rec_daemon,
	[LU_REC_SESSION] = rec_session, [LU_REC_GUEST] = rec_guest,
	[LU_REC_HELD] = rec_held, [LU_REC_DISK] = rec_disk, [LU_REC_STATS] = rec_stats,
	[LU_REC_REPLICA] = rec_replica,
};

/* Frame one record at p->off: type, body and its padded length. */
static int next_record(struct lu_parse *p, size_t len, uint32_t *type, const uint8_t **body,
                       size_t *blen, size_t *total)
{
	size_t left = len - p->off, padded;

	if (left < 8)
		return BAD(p, LU_E_TRUNCATED, "%zu bytes left, a record header is 8", left);
	*type = get_le32(p->buf + p->off);
	*blen = get_le32(p->buf + p->off + 4);
	padded = (*blen + 7) & ~(size_t)7;
	if (padded > left - 8)
		return BAD(p, LU_E_TRUNCATED, "record type %u of %zu bytes, %zu left", *type, *blen, left - 8);
	*body = p->buf + p->off + 8;
	for (size_t i = *blen; i < padded; i++)
		if ((*body)[i] != 0)
			return BAD(p, LU_E_VALUE, "non-zero padding in record type %u", *type);
	*total = 8 + padded;
	return 0;
}

static int parse(struct lu_parse *p, size_t len)
{
	uint32_t type = 0;
	const uint8_t *body = NULL;
	size_t blen = 0, total = 0;
	int rc;

	if (len > LU_STREAM_MAX)
		return BAD(p, LU_E_LIMIT, "stream of %zu bytes, at most %u", len, LU_STREAM_MAX);
	while (p->off < len) {
		if (p->seen_end)
			return BAD(p, LU_E_ORDER, "bytes after END");
		if ((rc = next_record(p, len, &type, &body, &blen, &total)))
			return rc;
		if (!p->seen_header && type != LU_REC_HEADER)
			return BAD(p, LU_E_MAGIC, "first record type %u, not HEADER", type);
		if (p->seen_header && type == LU_REC_HEADER)
			return BAD(p, LU_E_ORDER, "a second HEADER");
		if (type == LU_REC_END) {
			if (blen != 0)
				return need_len(p, "END", blen, 0);
			p->seen_end = true;
		} else if (type >= LU_REC_COUNT) {
			return BAD(p, LU_E_TYPE, "record type %u", type);
		} else if ((rc = handlers[type](p, body, blen))) {
			return rc;
		}
		p->off += total;
	}
	if (!p->seen_end)
		return BAD(p, LU_E_TRUNCATED, "no END record");
	for (uint32_t i = 0; i < p->st->hdr.nfds; i++)
		if (!p->fd_used[i])
			return BAD(p, LU_E_FD, "descriptor %u passed but named by no record", i);
	return 0;
}

int lu_decode(const uint8_t *buf, size_t len, struct lu_state *out, struct remus_err *err)
{
	struct lu_parse p = { .buf = buf, .st = out, .err = err };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = parse(&p, len);
	free(p.fd_used);
	if (rc < 0)
		lu_state_free(out);
	return rc;
}

void lu_state_free(struct lu_state *s)
{
	free(s->sessions);
	free(s->held);
	memset(s, 0, sizeof(*s));
}

const struct lu_session *lu_find_session(const struct lu_state *s, uint32_t id)
{
	for (uint32_t i = 0; i < s->nsessions; i++)
		if (s->sessions[i].id == id)
			return &s->sessions[i];
	return NULL;
}
