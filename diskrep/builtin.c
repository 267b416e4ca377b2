/*
 * builtin backend: epoch-buffered replication over a connected fd.
 * This file: the ops table, open/close and the primary's data path (local
 * write + replicate tagged with the current epoch, flush, epoch marks,
 * acknowledgements clearing the dirty bitmap).
 */
#include "diskrep/builtin.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

/* Size of an image file or block device. */
static int image_size(int fd, uint64_t *out, struct remus_err *err)
{
	struct stat sb;
	if (fstat(fd, &sb) < 0)
		return remus_err_sys(err, errno, "stat image");
	if (S_ISBLK(sb.st_mode))
		return ioctl(fd, BLKGETSIZE64, out) < 0 ?
		    remus_err_sys(err, errno, "image size") : 0;
	*out = (uint64_t)sb.st_size;
	return 0;
}

/* Validate the configuration shared by both roles and open the image. */
static int open_common(struct diskrep *d, const struct diskrep_config *cfg,
                       struct remus_err *err)
{
	int rc;
	if (cfg->image == NULL || cfg->state_dir == NULL)
		return remus_err_set(err, -EINVAL, "builtin diskrep needs an image and a state_dir");
	d->block_size = cfg->block_size ? cfg->block_size : DISKREP_DEFAULT_BLOCK;
	if (d->block_size % DISKREP_SECTOR || d->block_size > DISKREP_MAX_WRITE)
		return remus_err_set(err, -EINVAL, "block size %u: want a sector multiple <= %u",
		    d->block_size, DISKREP_MAX_WRITE);
	if ((d->state_dir = strdup(cfg->state_dir)) == NULL ||
	    (d->frame = malloc(DRW_MAX_FRAME)) == NULL)
		return remus_err_set(err, -ENOMEM, "diskrep handle");
	d->image_fd = open(cfg->image, O_RDWR | O_CLOEXEC);
	if (d->image_fd < 0)
		return remus_err_sys(err, errno, "open image %s", cfg->image);
	if ((rc = image_size(d->image_fd, &d->image_bytes, err)) < 0)
		return rc;
	if (d->image_bytes == 0 || d->image_bytes % DISKREP_SECTOR)
		return remus_err_set(err, DISKREP_ERANGE, "image %s: size %llu is not a sector multiple",
		    cfg->image, (unsigned long long)d->image_bytes);
	d->nr_blocks = (d->image_bytes + d->block_size - 1) / d->block_size;
	return 0;
}

/* Primary: dirty bitmap and per-block epoch table. */
static int primary_open(struct diskrep *d, const struct diskrep_config *cfg,
                        struct remus_err *err)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/bitmap", cfg->state_dir);
	d->last_marked = cfg->start_epoch;
	d->block_epoch = calloc(d->nr_blocks, sizeof(*d->block_epoch));
	if (d->block_epoch == NULL)
		return remus_err_set(err, -ENOMEM, "epoch table of %llu blocks",
		    (unsigned long long)d->nr_blocks);
	return dr_bitmap_open(&d->bm, path, d->image_bytes, d->block_size, err);
}

/* Release everything; the bitmap is synced first so a restart sees it. */
static void builtin_close(struct diskrep *d)
{
	if (d == NULL)
		return;
	if (d->role == DISKREP_PRIMARY && d->bm.map) {
		dr_bitmap_sync(&d->bm, NULL);
		dr_bitmap_close(&d->bm);
	}
	if (d->role == DISKREP_BACKUP)
		br_backup_close(d);
	if (d->image_fd >= 0)
		close(d->image_fd);
	free(d->block_epoch);
	free(d->pending.v);
	pthread_mutex_destroy(&d->lock);
	pthread_mutex_destroy(&d->send_lock);
	free(d->state_dir);
	free(d->frame);
	free(d);
}

/* Open a primary or backup handle (the backup runs crash recovery). */
static int builtin_open(const struct diskrep_config *cfg, struct diskrep **out,
                        struct remus_err *err)
{
	struct diskrep *d = calloc(1, sizeof(*d));
	int rc;

	if (d == NULL)
		return remus_err_set(err, -ENOMEM, "diskrep handle");
	d->role = cfg->role;
	d->image_fd = d->journal_fd[0] = d->journal_fd[1] = -1;
	d->bm.fd = -1;
	d->stage.spill_fd = -1;
	d->peer_fd = cfg->peer_fd;
	d->fault = cfg->fault;
	pthread_mutex_init(&d->lock, NULL);
	pthread_mutex_init(&d->send_lock, NULL);
	if ((rc = open_common(d, cfg, err)) < 0)
		goto err;
	rc = d->role == DISKREP_PRIMARY ? primary_open(d, cfg, err) : br_backup_open(d, cfg, err);
	if (rc < 0)
		goto err;
	*out = d;
	return 0;
err:
	builtin_close(d);
	return rc;
}

/* Attach the fd of a new connection (after a reconnect); -1 detaches: a
 * primary's writes then only mark the bitmap (never block on a dead fd). */
static int builtin_set_peer(struct diskrep *d, int fd, struct remus_err *err)
{
	(void)err;
	pthread_mutex_lock(&d->send_lock);
	pthread_mutex_lock(&d->lock);
	d->peer_fd = fd;
	if (fd < 0 && d->role == DISKREP_PRIMARY)
		d->peer_lost = true;
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&d->send_lock);
	return 0;
}

/* Refuse ops of the other role with a clear message. */
static int need_role(const struct diskrep *d, enum diskrep_role r, const char *op,
                     struct remus_err *err)
{
	if (d->role == r)
		return 0;
	return remus_err_set(err, DISKREP_EUNSUPP, "%s is a %s-side operation", op,
	    r == DISKREP_PRIMARY ? "primary" : "backup");
}

/* Guest read: straight from the local image. */
static int builtin_read(struct diskrep *d, uint64_t off, void *buf, size_t len,
                        struct remus_err *err)
{
	int rc = diskrep_check_range(d->image_bytes, off, len, err);
	if (rc < 0)
		return rc;
	if ((rc = io_pread_all(d->image_fd, buf, len, off)) < 0)
		return remus_err_sys(err, rc, "read image at %llu", (unsigned long long)off);
	return 0;
}

/* Remember which blocks epoch `epoch` touched, for acks to clear them. */
static int track_blocks(struct diskrep *d, uint64_t epoch, uint64_t off, size_t len,
                        struct remus_err *err)
{
	struct br_pending *p = &d->pending;
	uint64_t last = (off + len - 1) / d->block_size;

	dr_bitmap_set_range(&d->bm, off, len);
	for (uint64_t b = off / d->block_size; b <= last; b++) {
		if (d->block_epoch[b] == epoch)
			continue;
		d->block_epoch[b] = epoch;
		if (p->head > 0 && p->count == p->cap) {
			memmove(p->v, p->v + p->head, (p->count - p->head) * sizeof(*p->v));
			p->count -= p->head;
			p->head = 0;
		}
		if (p->count == p->cap) {
			size_t ncap = p->cap ? p->cap * 2 : 256;
			void *v = realloc(p->v, ncap * sizeof(*p->v));
			if (v == NULL)
				return remus_err_set(err, -ENOMEM, "pending block list");
			p->v = v;
			p->cap = ncap;
		}
		p->v[p->count].epoch = epoch;
		p->v[p->count++].block = b;
	}
	return 0;
}

/* Guest write: local image first, then replicate tagged with the epoch.
 * A lost link does not fail the guest's write: the bitmap remembers it. */
static int builtin_write(struct diskrep *d, uint64_t off, const void *buf, size_t len,
                         struct remus_err *err)
{
	uint64_t epoch;
	bool lost;
	int rc;

	if ((rc = need_role(d, DISKREP_PRIMARY, "write", err)) < 0 ||
	    (rc = diskrep_check_range(d->image_bytes, off, len, err)) < 0)
		return rc;
	if ((rc = io_pwrite_all(d->image_fd, buf, len, off)) < 0)
		return remus_err_sys(err, rc, "write image at %llu", (unsigned long long)off);
	/* the epoch tag and the frame's place on the fd are decided together,
	 * so an EPOCH_END never overtakes a write of its epoch */
	pthread_mutex_lock(&d->send_lock);
	pthread_mutex_lock(&d->lock);
	epoch = d->last_marked + 1;
	rc = track_blocks(d, epoch, off, len, err);
	lost = d->peer_lost;
	d->cnt.writes++;
	d->cnt.write_bytes += len;
	pthread_mutex_unlock(&d->lock);
	for (size_t done = 0; rc == 0 && !lost && done < len; ) {
		size_t n = len - done < DISKREP_MAX_WRITE ? len - done : DISKREP_MAX_WRITE;
		lost = drw_send_write(d->peer_fd, epoch, off + done, (const uint8_t *)buf + done, n,
		                      NULL) < 0;
		done += n;
	}
	if (lost) {
		pthread_mutex_lock(&d->lock);
		d->peer_lost = true;
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&d->send_lock);
	return rc;
}

/* Guest flush: the local image (and the bitmap naming what the backup
 * lacks) is durable when this returns. */
static int builtin_flush(struct diskrep *d, struct remus_err *err)
{
	int rc = need_role(d, DISKREP_PRIMARY, "flush", err);
	if (rc < 0)
		return rc;
	if (fdatasync(d->image_fd) < 0)
		return remus_err_sys(err, errno, "flush image");
	pthread_mutex_lock(&d->lock);
	d->cnt.flushes++;
	rc = dr_bitmap_sync(&d->bm, err);
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* Close epoch N (guest paused): later writes belong to N+1. */
static int builtin_epoch_mark(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	int rc = need_role(d, DISKREP_PRIMARY, "epoch_mark", err);
	bool lost;
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->send_lock);
	pthread_mutex_lock(&d->lock);
	if (epoch != d->last_marked + 1) {
		rc = remus_err_set(err, DISKREP_EEPOCH, "epoch_mark(%llu): the open epoch is %llu",
		    (unsigned long long)epoch, (unsigned long long)d->last_marked + 1);
		pthread_mutex_unlock(&d->lock);
		pthread_mutex_unlock(&d->send_lock);
		return rc;
	}
	d->last_marked = epoch;
	d->cnt.epochs_marked++;
	lost = d->peer_lost;
	pthread_mutex_unlock(&d->lock);
	if (!lost && drw_send_epoch_end(d->peer_fd, epoch, NULL) < 0) {
		lost = true;
		pthread_mutex_lock(&d->lock);
		d->peer_lost = true;
		pthread_mutex_unlock(&d->lock);
	}
	pthread_mutex_unlock(&d->send_lock);
	if (lost)
		return remus_err_set(err, DISKREP_EPEER,
		    "epoch %llu: replication link lost; writes kept in the dirty bitmap, resync needed",
		    (unsigned long long)epoch);
	return 0;
}

/* A new replication run (the engine's numbering restarts): the next
 * epoch_mark is base + 1; acks of the earlier run are never coming, so
 * their bookkeeping goes (the bitmap keeps naming what the backup may
 * lack); the resync that must follow tells the backup the base. */
static int builtin_restart(struct diskrep *d, uint64_t base, struct remus_err *err)
{
	int rc = need_role(d, DISKREP_PRIMARY, "restart", err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->send_lock);
	pthread_mutex_lock(&d->lock);
	d->last_marked = base;
	d->pending.head = d->pending.count = 0;
	memset(d->block_epoch, 0, d->nr_blocks * sizeof(*d->block_epoch));
	pthread_mutex_unlock(&d->lock);
	pthread_mutex_unlock(&d->send_lock);
	return 0;
}

/* The backup committed `epoch`: its blocks are no longer dirty unless a
 * later epoch wrote them again. */
static int builtin_epoch_acked(struct diskrep *d, uint64_t epoch, struct remus_err *err)
{
	struct br_pending *p = &d->pending;
	int rc = need_role(d, DISKREP_PRIMARY, "epoch_acked", err);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	if (epoch > d->last_marked) {
		rc = remus_err_set(err, DISKREP_EEPOCH, "ack for epoch %llu, last marked is %llu",
		    (unsigned long long)epoch, (unsigned long long)d->last_marked);
		pthread_mutex_unlock(&d->lock);
		return rc;
	}
	while (p->head < p->count && p->v[p->head].epoch <= epoch) {
		uint64_t b = p->v[p->head++].block;
		if (d->block_epoch[b] <= epoch && !d->peer_lost)
			dr_bitmap_clear(&d->bm, b);
	}
	if (p->head == p->count)
		p->head = p->count = 0;
	d->cnt.epochs_acked++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Primary only: see resync.c. */
static int builtin_resync(struct diskrep *d, enum diskrep_resync_mode mode,
                          diskrep_progress_fn progress, void *arg, struct remus_err *err)
{
	int rc = need_role(d, DISKREP_PRIMARY, "resync", err);
	return rc < 0 ? rc : br_resync(d, mode, progress, arg, err);
}

/* Builtin failover needs no role change: the image is the disk. */
static int builtin_promote(struct diskrep *d, struct remus_err *err)
{
	int rc = need_role(d, DISKREP_BACKUP, "promote", err);
	if (rc < 0)
		return rc;
	if (!(d->st.flags & DR_STATE_CONSISTENT) || d->syncing || d->failed ||
	    d->stage.count > d->stage.head)
		return remus_err_set(err, DISKREP_ESTATE,
		    "promote: image not consistent or uncommitted writes staged (discard first)");
	/* The image will change under the guest: record the epoch, forget the
	 * journal slots so a later open never replays one over new writes. */
	struct dr_commit_ctx c = br_commit_ctx(d);
	int rc2 = dr_state_store(d->state_dir, &d->st, NULL, err);
	return rc2 < 0 ? rc2 : dr_journal_reset(&c, err);
}

/* Counters plus the state each role derives. */
static void builtin_counters(struct diskrep *d, struct diskrep_counters *out)
{
	if (d->role == DISKREP_PRIMARY) {
		pthread_mutex_lock(&d->lock);
		*out = d->cnt;
		out->dirty_blocks = dr_bitmap_count(&d->bm);
		out->peer_lost = d->peer_lost;
		pthread_mutex_unlock(&d->lock);
	} else {
		*out = d->cnt;
		out->committed_epoch = d->st.epoch;
		out->consistent = (d->st.flags & DR_STATE_CONSISTENT) && !d->syncing;
		out->spilled_bytes = d->stage.spilled_bytes;
	}
}

const struct diskrep_ops diskrep_builtin_ops = {
	.name = "builtin",
	.kind = DISKREP_KIND_BUILTIN,
	.open = builtin_open,
	.close = builtin_close,
	.set_peer = builtin_set_peer,
	.read = builtin_read,
	.write = builtin_write,
	.flush = builtin_flush,
	.epoch_mark = builtin_epoch_mark,
	.epoch_acked = builtin_epoch_acked,
	.restart = builtin_restart,
	.resync = builtin_resync,
	.receive = br_receive,
	.deliver = br_deliver,
	.commit = br_commit,
	.discard_uncommitted = br_discard_uncommitted,
	.promote = builtin_promote,
	.counters = builtin_counters,
};
