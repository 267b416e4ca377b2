/*
 * builtin backend, both sides of a resync.  The primary asks for the
 * backup's per-block hashes (xxh3) and sends only the blocks that differ
 * (FULL), or sends the blocks of its dirty bitmap (DIRTY, after a short
 * link cut).  The backup marks itself inconsistent from SYNC_BEGIN until
 * SYNC_DONE, so an interrupted resync is never mistaken for a replica.
 */
#include "diskrep/builtin.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- backup side -------------------------------------------------------- */

/* Geometry must match; staged epochs are superseded by the resync, which
 * starts a run at base epoch `m->epoch`: the primary's writes made from now
 * on (also during the resync) are epoch base + 1 and are staged. */
int br_sync_begin(struct diskrep *d, const struct drw_msg *m, struct remus_err *err)
{
	struct dr_state st = { .epoch = m->epoch, .image_bytes = d->image_bytes };
	int rc;

	if (m->image_bytes != d->image_bytes || m->block_size != d->block_size)
		return remus_err_set(err, DISKREP_EPROTO,
		    "SYNC_BEGIN for %llu bytes in %u-byte blocks; this image: %llu bytes, %u-byte blocks",
		    (unsigned long long)m->image_bytes, m->block_size,
		    (unsigned long long)d->image_bytes, d->block_size);
	dr_stage_drop_from(&d->stage, 0);
	d->recv_records = 0;
	struct dr_commit_ctx c = br_commit_ctx(d);
	if ((rc = dr_state_store(d->state_dir, &st, NULL, err)) < 0 ||
	    (rc = dr_journal_reset(&c, err)) < 0)      /* no replay over the resync */
		return rc;
	d->st = st;
	d->last_ready = m->epoch;
	d->syncing = true;
	d->sync_base = m->epoch;
	d->sync_staged = false;
	d->consistent_at_commit = false;
	d->sync_blocks = 0;
	return 0;
}

/* Length of block b (the last one may be short). */
static size_t block_len(const struct diskrep *d, uint64_t b)
{
	uint64_t off = b * d->block_size;
	return d->image_bytes - off < d->block_size ? (size_t)(d->image_bytes - off) : d->block_size;
}

/* Hash `count` local blocks from `first` into out[]. */
static int hash_blocks(struct diskrep *d, uint64_t first, uint32_t count, uint8_t *buf,
                       uint64_t *out, struct remus_err *err)
{
	for (uint32_t i = 0; i < count; i++) {
		size_t len = block_len(d, first + i);
		int rc = io_pread_all(d->image_fd, buf, len, (first + i) * d->block_size);
		if (rc < 0)
			return remus_err_sys(err, rc, "read block %llu", (unsigned long long)first + i);
		out[i] = dr_block_hash(buf, len);
	}
	return 0;
}

/* Answer a HASH_REQ with the hashes of our blocks. */
int br_sync_hash_req(struct diskrep *d, const struct drw_msg *m, struct remus_err *err)
{
	uint64_t *hashes = NULL;
	uint8_t *buf = NULL;
	int rc;

	if (!d->syncing)
		return remus_err_set(err, DISKREP_EPROTO, "HASH_REQ outside a resync");
	if (m->first_block >= d->nr_blocks || m->count > d->nr_blocks - m->first_block)
		return remus_err_set(err, DISKREP_EPROTO, "HASH_REQ blocks %llu+%u beyond %llu blocks",
		    (unsigned long long)m->first_block, m->count, (unsigned long long)d->nr_blocks);
	hashes = malloc(sizeof(*hashes) * m->count);
	buf = malloc(d->block_size);
	if (hashes == NULL || buf == NULL) {
		rc = remus_err_set(err, -ENOMEM, "hash reply");
		goto out;
	}
	if ((rc = hash_blocks(d, m->first_block, m->count, buf, hashes, err)) == 0)
		rc = drw_send_hash_reply(d->peer_fd, m->first_block, hashes, m->count, err);
out:
	free(hashes);
	free(buf);
	return rc;
}

/* A differing block: written straight to the (inconsistent) image. */
int br_sync_block(struct diskrep *d, const struct drw_msg *m, struct remus_err *err)
{
	int rc;
	if (!d->syncing)
		return remus_err_set(err, DISKREP_EPROTO, "BLOCK outside a resync");
	if ((rc = diskrep_check_range(d->image_bytes, m->offset, m->len, err)) < 0)
		return rc;
	if ((rc = io_pwrite_all(d->image_fd, m->data, m->len, m->offset)) < 0)
		return remus_err_sys(err, rc, "resync write at %llu", (unsigned long long)m->offset);
	d->cnt.resync_blocks_applied++;
	d->sync_blocks++;
	return 0;
}

/* Every block is now the primary's as of some moment of the resync.  With
 * no write staged meanwhile, the image is the primary's at the base epoch:
 * consistent now.  Otherwise it is consistent once the first epoch after
 * the base (which holds every write made since SYNC_BEGIN) is committed. */
int br_sync_done(struct diskrep *d, const struct drw_msg *m, struct remus_err *err)
{
	struct dr_state st = { .epoch = m->epoch, .image_bytes = d->image_bytes,
	                       .flags = d->sync_staged ? 0 : DR_STATE_CONSISTENT };
	int rc;

	if (!d->syncing)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_DONE outside a resync");
	if (m->epoch != d->sync_base)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_DONE at epoch %llu, the resync began "
		    "at base %llu", (unsigned long long)m->epoch, (unsigned long long)d->sync_base);
	if (m->blocks_sent != d->sync_blocks)
		return remus_err_set(err, DISKREP_EPROTO, "SYNC_DONE says %llu blocks, %llu arrived",
		    (unsigned long long)m->blocks_sent, (unsigned long long)d->sync_blocks);
	if (fdatasync(d->image_fd) < 0)
		return remus_err_sys(err, errno, "fsync image after resync");
	if ((rc = dr_state_store(d->state_dir, &st, NULL, err)) < 0)
		return rc;
	d->st = st;
	d->consistent_at_commit = d->sync_staged;
	d->syncing = false;
	return 0;
}

/* ---- primary side ------------------------------------------------------- */

#define RESYNC_HASH_BYTES (4u << 20)

/* Monotonic seconds, for progress rates. */
static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

struct sync_run {
	struct diskrep *d;
	diskrep_progress_fn fn;
	void *arg;
	struct diskrep_progress p;
	double start;
	uint8_t *buf;
	uint64_t base;          /* the run's base epoch */
};

/* Tell the caller how far the resync is (bytes, rate, blocks sent). */
static void report(struct sync_run *r)
{
	double dt = now_s() - r->start;
	r->p.rate_bps = dt > 0 ? (double)r->p.done_bytes / dt : 0;
	if (r->fn)
		r->fn(r->arg, &r->p);
}

/* Send local block b to the backup. */
static int send_block(struct sync_run *r, uint64_t b, struct remus_err *err)
{
	struct diskrep *d = r->d;
	size_t len = block_len(d, b);
	int rc = io_pread_all(d->image_fd, r->buf, len, b * d->block_size);
	if (rc < 0)
		return remus_err_sys(err, rc, "read block %llu", (unsigned long long)b);
	pthread_mutex_lock(&d->send_lock);
	rc = drw_send_block(d->peer_fd, b * d->block_size, r->buf, len, err);
	pthread_mutex_unlock(&d->send_lock);
	if (rc < 0)
		return rc;
	r->p.blocks_sent++;
	pthread_mutex_lock(&d->lock);
	d->cnt.resync_blocks_sent++;
	d->cnt.resync_bytes_sent += len;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* Compare one chunk of block hashes with the backup's; send differences. */
static int full_chunk(struct sync_run *r, uint64_t first, uint32_t count,
                      uint64_t *mine, struct remus_err *err)
{
	struct diskrep *d = r->d;
	struct drw_msg m;
	size_t len;
	int rc;

	pthread_mutex_lock(&d->send_lock);
	rc = drw_send_hash_req(d->peer_fd, first, count, err);
	pthread_mutex_unlock(&d->send_lock);
	if (rc < 0 || (rc = hash_blocks(d, first, count, r->buf, mine, err)) < 0 ||
	    (rc = drw_read_frame(d->peer_fd, d->frame, DRW_MAX_FRAME, &len, err)) < 0 ||
	    (rc = drw_parse(d->frame, len, &m, err)) < 0)
		return rc;
	if (m.type != DRW_HASH_REPLY || m.first_block != first || m.count != count)
		return remus_err_set(err, DISKREP_EPROTO,
		    "resync: expected hashes of blocks %llu+%u, got message type %d",
		    (unsigned long long)first, count, m.type);
	for (uint32_t i = 0; i < count; i++) {
		if (drw_hash_at(&m, i) != mine[i] && (rc = send_block(r, first + i, err)) < 0)
			return rc;
		r->p.done_bytes += block_len(d, first + i);
	}
	return 0;
}

/* FULL: walk the image in hash chunks of DRW_MAX_HASHES blocks. */
static int resync_full(struct sync_run *r, struct remus_err *err)
{
	struct diskrep *d = r->d;
	uint64_t *mine = malloc(sizeof(*mine) * DRW_MAX_HASHES);
	int rc = 0;

	if (mine == NULL)
		return remus_err_set(err, -ENOMEM, "resync hashes");
	/* the backup hashes a request in one go, on the thread that also keeps
	 * its link alive: at most RESYNC_HASH_BYTES of image per request.  It
	 * also bounds what the resync has in flight: the next reply comes only
	 * after the blocks sent before its request, so the channel holds at
	 * most one request's blocks and the guest's writes keep their room. */
	uint32_t step = RESYNC_HASH_BYTES / d->block_size;
	if (step == 0)
		step = 1;
	if (step > DRW_MAX_HASHES)
		step = DRW_MAX_HASHES;
	r->p.total_bytes = d->image_bytes;
	for (uint64_t first = 0; first < d->nr_blocks && rc == 0; first += step) {
		uint64_t left = d->nr_blocks - first;
		uint32_t count = left < step ? (uint32_t)left : step;
		if ((rc = full_chunk(r, first, count, mine, err)) == 0)
			report(r);
	}
	free(mine);
	return rc;
}

/* DIRTY: send every block set in the bitmap. */
static int resync_dirty(struct sync_run *r, struct remus_err *err)
{
	struct diskrep *d = r->d;
	int rc;

	bool dirty;

	pthread_mutex_lock(&d->lock);
	r->p.total_bytes = dr_bitmap_count(&d->bm) * d->block_size;
	pthread_mutex_unlock(&d->lock);
	for (uint64_t b = 0; b < d->nr_blocks; b++) {
		pthread_mutex_lock(&d->lock);
		dirty = dr_bitmap_test(&d->bm, b) && d->block_epoch[b] <= r->base;
		pthread_mutex_unlock(&d->lock);
		if (!dirty)     /* written since the base: streamed as epoch base + 1 */
			continue;
		if ((rc = send_block(r, b, err)) < 0)
			return rc;
		r->p.done_bytes += d->block_size;
		if (r->p.blocks_sent % 256 == 0)
			report(r);
	}
	report(r);
	return 0;
}

/* Open the resync at the current epoch (the run's base): from here on the
 * guest's writes are streamed again, tagged base + 1. */
static int sync_begin(struct sync_run *r, struct remus_err *err)
{
	struct diskrep *d = r->d;
	int rc;

	pthread_mutex_lock(&d->send_lock);
	pthread_mutex_lock(&d->lock);
	r->base = d->last_marked;
	d->peer_lost = d->peer_fd < 0;
	pthread_mutex_unlock(&d->lock);
	rc = drw_send_sync_begin(d->peer_fd, d->image_bytes, d->block_size, r->base, err);
	pthread_mutex_unlock(&d->send_lock);
	return rc;
}

/* Close the resync; blocks last written at or before the base are on the
 * backup now (later ones travel as epoch base + 1 and clear on its ack). */
static int sync_end(struct sync_run *r, struct remus_err *err)
{
	struct diskrep *d = r->d;
	struct br_pending *p = &d->pending;
	int rc;

	pthread_mutex_lock(&d->send_lock);
	rc = drw_send_sync_done(d->peer_fd, r->base, r->p.blocks_sent, err);
	pthread_mutex_unlock(&d->send_lock);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&d->lock);
	if (d->last_marked != r->base) {
		rc = remus_err_set(err, DISKREP_EEPOCH, "epoch %llu marked during the resync",
		    (unsigned long long)d->last_marked);
	} else {
		for (uint64_t b = 0; b < d->nr_blocks; b++)
			if (d->block_epoch[b] <= r->base)
				dr_bitmap_clear(&d->bm, b);
		while (p->head < p->count && p->v[p->head].epoch <= r->base)
			p->head++;
		rc = dr_bitmap_sync(&d->bm, err);
	}
	pthread_mutex_unlock(&d->lock);
	return rc;
}

/* Bring the backup's image to the primary's; the guest may write
 * meanwhile (its writes are streamed as epoch base + 1).  Afterwards the
 * backup holds the image as of the base plus the staged writes. */
int br_resync(struct diskrep *d, enum diskrep_resync_mode mode,
              diskrep_progress_fn progress, void *arg, struct remus_err *err)
{
	struct sync_run r = { .d = d, .fn = progress, .arg = arg, .start = now_s() };
	int rc;

	if ((r.buf = malloc(d->block_size)) == NULL)
		return remus_err_set(err, -ENOMEM, "resync buffer");
	if ((rc = sync_begin(&r, err)) < 0)
		goto out;
	rc = mode == DISKREP_RESYNC_FULL ? resync_full(&r, err) : resync_dirty(&r, err);
	if (rc == 0)
		rc = sync_end(&r, err);
out:
	free(r.buf);
	if (rc < 0) {
		pthread_mutex_lock(&d->lock);
		d->peer_lost = true;
		pthread_mutex_unlock(&d->lock);
		remus_err_wrap(err, "resync");
	}
	return rc;
}
