/*
 * The hand-over stream's writer: one function per record (the decoder is
 * upgrade_parse.c).  Record framing is lib/stream's (stream_put_record,
 * stream_begin_record/stream_end_record): the same header and padding as
 * the migration stream, so the same checks apply to both.
 */
#include <errno.h>
#include <string.h>

#include "remusd/upgrade_stream.h"
#include "util/bytes.h"

/* Write one fixed-size body. */
static int put_fixed(struct stream_buf *b, uint32_t type, const uint8_t *body, size_t len)
{
	return stream_put_record(b, type, body, len);
}

/* A string of at most max bytes, no NUL inside; its length or -EINVAL. */
static int str_len(const char *s, size_t max)
{
	size_t n = strnlen(s, max + 1);

	return n > max ? -EINVAL : (int)n;
}

int lu_put_header(struct stream_buf *b, const struct lu_header *h)
{
	uint8_t p[32];

	if (h->nfds > LU_MAX_FDS)
		return -EINVAL;
	put_le64(p, LU_MAGIC);
	put_le32(p + 8, h->version);
	put_le32(p + 12, 0);                    /* flags: none defined */
	put_le32(p + 16, h->nfds);
	put_le32(p + 20, h->old_pid);
	put_le64(p + 24, h->config_gen);
	return put_fixed(b, LU_REC_HEADER, p, sizeof(p));
}

int lu_put_daemon(struct stream_buf *b, const struct lu_daemon *d)
{
	uint8_t p[8];

	put_le32(p, (uint32_t)d->listen_fd);
	put_le32(p + 4, (uint32_t)d->control_fd);
	return put_fixed(b, LU_REC_DAEMON, p, sizeof(p));
}

int lu_put_session(struct stream_buf *b, const struct lu_session *s)
{
	uint8_t p[40];
	int nl = str_len(s->name, LU_NAME_MAX), pl = str_len(s->peer, LU_PEER_MAX), rc;

	if (nl <= 0 || pl < 0 || (s->flags & ~LU_SF_KNOWN))
		return -EINVAL;
	put_le32(p, s->id);
	put_le32(p + 4, s->role);
	put_le32(p + 8, s->state);
	put_le32(p + 12, (uint32_t)s->link_fd);
	put_le64(p + 16, s->epoch);
	put_le64(p + 24, s->acked_epoch);
	put_le16(p + 32, (uint16_t)nl);
	put_le16(p + 34, (uint16_t)pl);
	put_le32(p + 36, s->flags);
	if ((rc = stream_begin_record(b, LU_REC_SESSION)) < 0 ||
	    (rc = stream_buf_append(b, p, sizeof(p))) < 0 ||
	    (rc = stream_buf_append(b, s->name, (size_t)nl)) < 0 ||
	    (rc = stream_buf_append(b, s->peer, (size_t)pl)) < 0)
		return rc;
	return stream_end_record(b);
}

int lu_put_guest(struct stream_buf *b, uint32_t session_id, const struct lu_guest *g)
{
	uint8_t p[32];
	int dl = str_len(g->driver, LU_DRIVER_MAX), rc;

	if (dl <= 0 || g->blob_len > LU_BLOB_MAX)
		return -EINVAL;
	put_le32(p, session_id);
	for (unsigned i = 0; i < LU_GFD_COUNT; i++)
		put_le32(p + 4 + 4 * i, (uint32_t)g->fd[i]);
	put_le16(p + 20, (uint16_t)dl);
	put_le16(p + 22, 0);
	put_le32(p + 24, g->blob_len);
	put_le32(p + 28, 0);
	if ((rc = stream_begin_record(b, LU_REC_GUEST)) < 0 ||
	    (rc = stream_buf_append(b, p, sizeof(p))) < 0 ||
	    (rc = stream_buf_append(b, g->driver, (size_t)dl)) < 0 ||
	    (g->blob_len && (rc = stream_buf_append(b, g->blob, g->blob_len)) < 0))
		return rc;
	return stream_end_record(b);
}

int lu_put_held(struct stream_buf *b, uint32_t session_id, uint64_t epoch,
                const void *frame, uint32_t len)
{
	uint8_t p[16];
	int rc;

	if (len == 0 || len > LU_FRAME_MAX)
		return -EINVAL;
	put_le32(p, session_id);
	put_le32(p + 4, len);
	put_le64(p + 8, epoch);
	if ((rc = stream_begin_record(b, LU_REC_HELD)) < 0 ||
	    (rc = stream_buf_append(b, p, sizeof(p))) < 0 ||
	    (rc = stream_buf_append(b, frame, len)) < 0)
		return rc;
	return stream_end_record(b);
}

int lu_put_disk(struct stream_buf *b, uint32_t session_id, const struct lu_disk *d)
{
	uint8_t p[32];

	put_le32(p, session_id);
	put_le32(p + 4, 0);
	put_le64(p + 8, d->journal_seq);
	put_le64(p + 16, d->journal_off);
	put_le64(p + 24, d->bitmap_bits);
	return put_fixed(b, LU_REC_DISK, p, sizeof(p));
}

int lu_put_stats(struct stream_buf *b, uint32_t session_id, const uint64_t *v, uint32_t n)
{
	uint8_t p[8 + 8 * LU_STATS_MAX];

	if (n > LU_STATS_MAX)
		return -EINVAL;
	put_le32(p, session_id);
	put_le32(p + 4, n);
	for (uint32_t i = 0; i < n; i++)
		put_le64(p + 8 + 8 * i, v[i]);
	return put_fixed(b, LU_REC_STATS, p, 8 + 8 * (size_t)n);
}

int lu_put_replica(struct stream_buf *b, uint32_t session_id, const struct lu_replica *r)
{
	uint8_t p[16];
	int rc;

	if (r->ram_fd < 0 || r->state_len == 0 || r->state_len > LU_REPLICA_MAX)
		return -EINVAL;
	put_le32(p, session_id);
	put_le32(p + 4, (uint32_t)r->ram_fd);
	put_le32(p + 8, r->state_len);
	put_le32(p + 12, 0);
	if ((rc = stream_begin_record(b, LU_REC_REPLICA)) < 0 ||
	    (rc = stream_buf_append(b, p, sizeof(p))) < 0 ||
	    (rc = stream_buf_append(b, r->state, r->state_len)) < 0)
		return rc;
	return stream_end_record(b);
}

int lu_put_end(struct stream_buf *b)
{
	return put_fixed(b, LU_REC_END, NULL, 0);
}

int lu_encode(struct stream_buf *b, const struct lu_state *st)
{
	int rc;

	if ((rc = lu_put_header(b, &st->hdr)) < 0 ||
	    (st->has_daemon && (rc = lu_put_daemon(b, &st->daemon)) < 0))
		return rc;
	for (uint32_t i = 0; i < st->nsessions; i++) {
		const struct lu_session *s = &st->sessions[i];
		if ((rc = lu_put_session(b, s)) < 0 ||
		    (s->has_guest && (rc = lu_put_guest(b, s->id, &s->guest)) < 0) ||
		    (s->has_replica && (rc = lu_put_replica(b, s->id, &s->replica)) < 0) ||
		    (s->has_disk && (rc = lu_put_disk(b, s->id, &s->disk)) < 0) ||
		    (s->has_stats && (rc = lu_put_stats(b, s->id, s->stats, s->nstats)) < 0))
			return rc;
	}
	for (uint32_t i = 0; i < st->nheld; i++) {
		const struct lu_held *h = &st->held[i];
		if (h->session >= st->nsessions)
			return -EINVAL;
		if ((rc = lu_put_held(b, st->sessions[h->session].id, h->epoch, h->frame, h->len)) < 0)
			return rc;
	}
	return lu_put_end(b);
}
