/*
 * The backup's commit path, top to bottom in one place, and the recovery
 * that runs when a backup opens its image after a crash.  Each step has a
 * named fault point so tests can stop the process between any two steps.
 *
 * Two journal slots alternate (epoch & 1).  Commit N overwrites the slot of
 * N-2, whose epoch is fully applied and synced (commit N-1 finished).  At
 * open, the newest valid slot above the state file's epoch is replayed
 * (writes are absolute, so replay is idempotent); a torn slot is ignored,
 * and then the other slot, epoch N-1, is the newest.
 */
#include "diskrep/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* Append bytes to the journal being written and to its running checksum. */
static int jappend(int fd, uint64_t *pos, XXH64_state_t *h, const void *p,
                   size_t len, struct remus_err *err)
{
	int rc = io_pwrite_all(fd, p, len, *pos);
	if (rc < 0)
		return remus_err_sys(err, rc, "write journal at %llu", (unsigned long long)*pos);
	XXH64_update(h, p, len);
	*pos += len;
	return 0;
}

/* Write epoch N's records as a complete, checksummed journal; fsync it. */
static int journal_write(const struct dr_commit_ctx *c, struct dr_stage *s,
                         uint64_t epoch, size_t end, uint8_t *buf, struct remus_err *err)
{
	int fd = c->journal_fd[epoch & 1];
	uint8_t hdr[DR_JHDR_LEN] = "RMSDJRNL", rh[DR_JREC_LEN] = { 0 }, trl[DR_JTRL_LEN] = "RMSDJEND";
	uint64_t payload = 0, pos = 0;
	XXH64_state_t h;
	int rc;

	if (ftruncate(fd, 0) < 0)
		return remus_err_sys(err, errno, "truncate journal");
	for (size_t i = s->head; i < end; i++)
		payload += s->recs[i].len;
	put_le32(hdr + 8, 1);
	put_le32(hdr + 12, 0);
	put_le64(hdr + 16, epoch);
	put_le64(hdr + 24, end - s->head);
	put_le64(hdr + 32, payload);
	put_le64(hdr + 40, c->image_bytes);
	XXH64_reset(&h, 0);
	if ((rc = jappend(fd, &pos, &h, hdr, sizeof(hdr), err)) < 0)
		return rc;
	for (size_t i = s->head; i < end; i++) {
		const struct dr_stage_rec *r = &s->recs[i];
		put_le64(rh, r->offset);
		put_le32(rh + 8, r->len);
		if ((rc = dr_stage_read(s, r, buf, err)) < 0 ||
		    (rc = jappend(fd, &pos, &h, rh, sizeof(rh), err)) < 0 ||
		    (rc = jappend(fd, &pos, &h, buf, r->len, err)) < 0 ||
		    (rc = dr_fault(c->fault, "commit:journal-record", err)) < 0)
			return rc;
	}
	put_le64(trl + 8, XXH64_digest(&h));
	if ((rc = io_pwrite_all(fd, trl, sizeof(trl), pos)) < 0)
		return remus_err_sys(err, rc, "write journal trailer");
	if ((rc = dr_fault(c->fault, "commit:journal-written", err)) < 0)
		return rc;
	if (fdatasync(fd) < 0)
		return remus_err_sys(err, errno, "fsync journal");
	return dr_fault(c->fault, "commit:journal-synced", err);
}

/* Apply the epoch's records to the image in arrival order; fsync. */
static int image_apply(const struct dr_commit_ctx *c, struct dr_stage *s,
                       size_t end, uint8_t *buf, struct remus_err *err)
{
	int rc;
	for (size_t i = s->head; i < end; i++) {
		const struct dr_stage_rec *r = &s->recs[i];
		if ((rc = dr_stage_read(s, r, buf, err)) < 0)
			return rc;
		if ((rc = io_pwrite_all(c->image_fd, buf, r->len, r->offset)) < 0)
			return remus_err_sys(err, rc, "apply write at %llu", (unsigned long long)r->offset);
		if ((rc = dr_fault(c->fault, "commit:apply-record", err)) < 0)
			return rc;
	}
	if (fdatasync(c->image_fd) < 0)
		return remus_err_sys(err, errno, "fsync image");
	return dr_fault(c->fault, "commit:image-synced", err);
}

/* Truncate both slots durably: nothing may be replayed any more. */
int dr_journal_reset(const struct dr_commit_ctx *c, struct remus_err *err)
{
	for (int i = 0; i < 2; i++)
		if (ftruncate(c->journal_fd[i], 0) < 0 || fdatasync(c->journal_fd[i]) < 0)
			return remus_err_sys(err, errno, "reset journal slot %d", i);
	return 0;
}

/* Commit staged epoch `epoch` (the front of the stage): journal, apply.
 * The records leave the stage only when all steps passed. */
int dr_journal_commit(const struct dr_commit_ctx *c, struct dr_stage *s,
                      uint64_t epoch, struct remus_err *err)
{
	size_t end = s->head;
	uint8_t *buf;
	int rc;

	while (end < s->count && s->recs[end].epoch == epoch)
		end++;
	if ((buf = malloc(DISKREP_MAX_WRITE)) == NULL)
		return remus_err_set(err, -ENOMEM, "commit buffer");
	if ((rc = dr_fault(c->fault, "commit:begin", err)) < 0 ||
	    (rc = journal_write(c, s, epoch, end, buf, err)) < 0 ||
	    (rc = image_apply(c, s, end, buf, err)) < 0)
		goto out;
	dr_stage_pop_through(s, epoch);
out:
	free(buf);
	return rc;
}

/* Replay callback: one validated journal record onto the image. */
static int replay_record(void *arg, uint64_t off, const void *data, uint32_t len,
                         struct remus_err *err)
{
	const struct dr_commit_ctx *c = arg;
	int rc = io_pwrite_all(c->image_fd, data, len, off);
	if (rc < 0)
		return remus_err_sys(err, rc, "replay write at %llu", (unsigned long long)off);
	return dr_fault(c->fault, "recover:record", err);
}

/* At open: replay the newest valid slot above the state's epoch, which
 * finishes an interrupted commit.  `st->epoch` becomes the committed one. */
int dr_journal_recover(const struct dr_commit_ctx *c, struct dr_state *st,
                       struct remus_err *err)
{
	struct dr_journal_info info[2];
	int newest = -1, rc;

	for (int i = 0; i < 2; i++) {
		struct remus_err scan_err = { 0 };
		rc = dr_journal_scan(c->journal_fd[i], c->image_bytes, &info[i], NULL, NULL, &scan_err);
		if (rc < 0 && rc != DISKREP_ECORRUPT)   /* torn slots are ignored */
			return remus_err_set(err, rc, "journal slot %d: %s", i, scan_err.msg);
		if (rc == 0 && info[i].epoch > st->epoch && (info[i].epoch & 1) == (uint64_t)i &&
		    (newest < 0 || info[i].epoch > info[newest].epoch))
			newest = i;
	}
	if (newest < 0)
		return 0;
	if ((rc = dr_journal_scan(c->journal_fd[newest], c->image_bytes, &info[newest],
	                          replay_record, (void *)c, err)) < 0)
		return rc;
	if (fdatasync(c->image_fd) < 0)
		return remus_err_sys(err, errno, "fsync image after replay");
	st->epoch = info[newest].epoch;
	return 0;
}
