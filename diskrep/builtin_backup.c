/*
 * builtin backend, backup side: stage each epoch's writes as they arrive,
 * commit whole epochs when the engine says the memory checkpoint is in,
 * discard what is uncommitted at failover.  A rejected message discards
 * the epoch being received: nothing is ever half-applied.
 */
#include "diskrep/builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Open the journal, run crash recovery, open the staging store. */
int br_backup_open(struct diskrep *d, const struct diskrep_config *cfg,
                   struct remus_err *err)
{
	char path[4096];
	struct dr_commit_ctx c;
	int rc;

	d->journal_fd[0] = d->journal_fd[1] = -1;
	rc = dr_state_load(cfg->state_dir, &d->st, err);
	if (rc == -ENOENT) {                /* never synced: not consistent */
		d->st = (struct dr_state){ .epoch = 0, .image_bytes = d->image_bytes };
	} else if (rc < 0) {
		return rc;
	} else if (d->st.image_bytes != d->image_bytes) {
		return remus_err_set(err, DISKREP_ECORRUPT,
		    "state is for a %llu-byte image, the image has %llu bytes",
		    (unsigned long long)d->st.image_bytes, (unsigned long long)d->image_bytes);
	}
	for (int i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/journal.%d", cfg->state_dir, i);
		if ((d->journal_fd[i] = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
			return remus_err_sys(err, errno, "open journal %s", path);
	}
	c = br_commit_ctx(d);
	if ((rc = dr_journal_recover(&c, &d->st, err)) < 0) {
		remus_err_wrap(err, "recover %s", cfg->state_dir);
		return rc;
	}
	d->last_ready = d->st.epoch;
	snprintf(path, sizeof(path), "%s/spill", cfg->state_dir);
	return dr_stage_init(&d->stage, path,
	    cfg->stage_mem_cap ? cfg->stage_mem_cap : DISKREP_DEFAULT_STAGE, err);
}

/* Staged data is dropped: only committed epochs survive a close. */
void br_backup_close(struct diskrep *d)
{
	dr_stage_free(&d->stage);
	for (int i = 0; i < 2; i++) {
		if (d->journal_fd[i] >= 0)
			close(d->journal_fd[i]);
		d->journal_fd[i] = -1;
	}
}

/* Everything the commit path needs from the handle. */
struct dr_commit_ctx br_commit_ctx(struct diskrep *d)
{
	return (struct dr_commit_ctx){ d->image_fd, { d->journal_fd[0], d->journal_fd[1] },
	                               d->state_dir, d->image_bytes, &d->fault };
}

/* Refuse a bad message: drop the epoch being received, stay refused until
 * discard_uncommitted().  `rc`/`err` already describe the fault. */
static int reject(struct diskrep *d, int rc, struct remus_err *err)
{
	uint64_t receiving = d->last_ready + 1;
	dr_stage_drop_from(&d->stage, receiving);
	d->recv_records = 0;
	d->broken = true;
	d->cnt.rejects++;
	remus_err_wrap(err, "rejected; staged epoch %llu discarded",
	    (unsigned long long)receiving);
	return rc;
}

/* A guest write of the epoch being received. */
static int handle_write(struct diskrep *d, const struct drw_msg *m,
                        struct diskrep_event *ev, struct remus_err *err)
{
	uint64_t want = d->last_ready + 1;
	int rc;

	if (m->epoch != want)
		return remus_err_set(err, DISKREP_EEPOCH, "WRITE tagged epoch %llu %s; receiving %llu",
		    (unsigned long long)m->epoch, m->epoch < want ? "goes backwards" : "skips ahead",
		    (unsigned long long)want);
	if ((rc = diskrep_check_range(d->image_bytes, m->offset, m->len, err)) < 0)
		return rc;
	if (d->recv_records >= DR_JMAX_RECS)   /* its journal could not be replayed */
		return remus_err_set(err, DISKREP_EPROTO, "epoch %llu exceeds %u writes",
		    (unsigned long long)m->epoch, DR_JMAX_RECS);
	if ((rc = dr_stage_add(&d->stage, m->epoch, m->offset, m->data, (uint32_t)m->len, err)) < 0)
		return rc;
	d->recv_records++;
	d->sync_staged |= d->syncing;   /* the image is fuzzy until this epoch commits */
	d->cnt.staged_writes++;
	d->cnt.staged_bytes += m->len;
	*ev = (struct diskrep_event){ DISKREP_EV_STAGED, m->epoch };
	return 0;
}

/* All writes of the epoch being received are staged. */
static int handle_epoch_end(struct diskrep *d, const struct drw_msg *m,
                            struct diskrep_event *ev, struct remus_err *err)
{
	if (d->syncing)
		return remus_err_set(err, DISKREP_EPROTO, "EPOCH_END during a resync");
	if (m->epoch != d->last_ready + 1)
		return remus_err_set(err, DISKREP_EEPOCH, "EPOCH_END for %llu, receiving %llu",
		    (unsigned long long)m->epoch, (unsigned long long)d->last_ready + 1);
	d->last_ready = m->epoch;
	d->recv_records = 0;
	*ev = (struct diskrep_event){ DISKREP_EV_EPOCH_READY, m->epoch };
	return 0;
}

/* Dispatch a parsed message to its handler. */
static int handle(struct diskrep *d, const struct drw_msg *m, struct diskrep_event *ev,
                  struct remus_err *err)
{
	int rc;
	*ev = (struct diskrep_event){ DISKREP_EV_SYNC_STEP, d->last_ready };
	switch (m->type) {
	case DRW_WRITE:
		return handle_write(d, m, ev, err);
	case DRW_EPOCH_END:
		return handle_epoch_end(d, m, ev, err);
	case DRW_SYNC_BEGIN:
		return br_sync_begin(d, m, err);
	case DRW_HASH_REQ:
		return br_sync_hash_req(d, m, err);
	case DRW_BLOCK:
		return br_sync_block(d, m, err);
	case DRW_SYNC_DONE:
		if ((rc = br_sync_done(d, m, err)) == 0)
			*ev = (struct diskrep_event){ DISKREP_EV_SYNC_DONE, m->epoch };
		return rc;
	default:
		return remus_err_set(err, DISKREP_EPROTO, "message type %d not valid on a backup",
		    m->type);
	}
}

/* Backup ops are refused after a reject (until discard) or a failed commit. */
static int backup_usable(const struct diskrep *d, const char *op, struct remus_err *err)
{
	if (d->role != DISKREP_BACKUP)
		return remus_err_set(err, DISKREP_EUNSUPP, "%s is a backup-side operation", op);
	if (d->failed)
		return remus_err_set(err, DISKREP_ESTATE, "%s: a commit failed; reopen to recover", op);
	if (d->broken)
		return remus_err_set(err, DISKREP_ESTATE,
		    "%s: a message was rejected; discard_uncommitted() first", op);
	return 0;
}

/* Handle one frame the engine read from its transport. */
int br_deliver(struct diskrep *d, const void *frame, size_t len,
               struct diskrep_event *ev, struct remus_err *err)
{
	struct drw_msg m;
	int rc;

	if ((rc = backup_usable(d, "deliver", err)) < 0)
		return rc;
	if ((rc = drw_parse(frame, len, &m, err)) < 0 || (rc = handle(d, &m, ev, err)) < 0)
		return reject(d, rc, err);
	return 0;
}

/* Read one frame from the peer fd and handle it. */
int br_receive(struct diskrep *d, struct diskrep_event *ev, struct remus_err *err)
{
	size_t len;
	int rc;

	if ((rc = backup_usable(d, "receive", err)) < 0)
		return rc;
	if ((rc = drw_read_frame(d->peer_fd, d->frame, DRW_MAX_FRAME, &len, err)) < 0)
		return rc == DISKREP_EPEER ? rc : reject(d, rc, err);
	return br_deliver(d, d->frame, len, ev, err);
}

/* Apply staged epochs up to `epoch`, one crash-safe transaction each. */
int br_commit(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	struct dr_commit_ctx c = br_commit_ctx(d);
	int rc;

	if (d->role != DISKREP_BACKUP || d->failed || d->syncing)
		return remus_err_set(err, DISKREP_ESTATE, "commit: not a backup ready to commit");
	if (epoch <= d->st.epoch || epoch > d->last_ready)
		return remus_err_set(err, DISKREP_EEPOCH,
		    "commit(%llu): committed %llu, complete up to %llu",
		    (unsigned long long)epoch, (unsigned long long)d->st.epoch,
		    (unsigned long long)d->last_ready);
	while (d->st.epoch < epoch) {
		if ((rc = dr_journal_commit(&c, &d->stage, d->st.epoch + 1, err)) < 0) {
			d->failed = true;
			remus_err_wrap(err, "commit epoch %llu", (unsigned long long)d->st.epoch + 1);
			return rc;
		}
		d->st.epoch++;
		d->cnt.epochs_committed++;
	}
	if (d->consistent_at_commit) {  /* the first epoch after a resync with writes */
		struct dr_state st = d->st;
		st.flags |= DR_STATE_CONSISTENT;
		if ((rc = dr_state_store(d->state_dir, &st, NULL, err)) < 0) {
			d->failed = true;
			return rc;
		}
		d->st = st;
		d->consistent_at_commit = false;
	}
	return 0;
}

/* Failover: forget every staged epoch; the image stays at the last commit. */
int br_discard_uncommitted(struct diskrep *d, struct remus_err *err)
{
	if (d->role != DISKREP_BACKUP)
		return remus_err_set(err, DISKREP_EUNSUPP, "discard is a backup-side operation");
	if (d->failed)
		return remus_err_set(err, DISKREP_ESTATE, "discard: a commit failed; reopen to recover");
	d->cnt.epochs_discarded += d->last_ready - d->st.epoch +
	    (d->stage.count > d->stage.head ? 1 : 0);
	dr_stage_drop_from(&d->stage, d->st.epoch + 1);
	d->last_ready = d->st.epoch;
	d->recv_records = 0;
	d->broken = false;
	return 0;
}
