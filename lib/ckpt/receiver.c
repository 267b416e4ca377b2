/*
 * The receiver: stages checkpoints from the primary, applies only complete
 * ones to the replica (RAM in a live memfd, the last vCPU and device
 * blobs), acknowledges them, and restores the guest at failover.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/ckpt.h"
#include "ckpt/delta_impl.h"
#include "ckpt/fault_impl.h"
#include "ckpt/disk_impl.h"
#include "ckpt/pagehash_impl.h"
#include "ckpt/receiver_impl.h"
#include "diskrep/diskrep.h"
#include "stream/stream.h"


/* Checkpoint 1's pages (the initial sync's pre-copy rounds and the first
 * pause) go straight into the replica: no failover is possible before
 * checkpoint 1 is whole (ckpt_receiver_failover needs an applied one), so
 * nothing torn can ever be restored, and a large guest needs neither a
 * staged second copy of its RAM nor one long apply at the end. */
/* Write a run of n whole pages at pfn into the replica through its memfd:
 * the kernel fills the new pages from our bytes, where a store through the
 * mapping would first fault each page in and clear it (a quarter of a
 * 1 GiB sync's time went to clearing pages about to be overwritten). */
static int replica_write(struct ckpt_receiver *r, uint64_t pfn, const uint8_t *src, uint64_t n)
{
	size_t len = (size_t)n * STREAM_PAGE_SIZE, done = 0;
	ssize_t w;

	while (done < len) {
		w = pwrite(r->ram_fd, src + done, len - done, (off_t)(pfn * STREAM_PAGE_SIZE + done));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

static int sync_pages(void *arg, const struct stream_page_data *pd)
{
	struct ckpt_receiver *r = arg;
	const uint8_t *src = pd->pages, *run_src = NULL;
	uint64_t n = 0, run_pfn = 0, run_len = 0;
	int rc;

	for (uint32_t i = 0; i < pd->count; i++) {
		uint64_t w = stream_pd_pfn(pd, i), pfn = w & STREAM_PFN_MASK;
		if (!stream_pfn_has_data(w))
			continue;
		if (pfn >= r->nr_pfns)
			return STREAM_E_PFN_RANGE;
		if (run_len && pfn == run_pfn + run_len && src == run_src + run_len * STREAM_PAGE_SIZE) {
			run_len++;
		} else {
			if (run_len && (rc = replica_write(r, run_pfn, run_src, run_len)) < 0)
				return rc;
			run_pfn = pfn;
			run_src = src;
			run_len = 1;
		}
		src += STREAM_PAGE_SIZE;
		n++;
	}
	if (run_len && (rc = replica_write(r, run_pfn, run_src, run_len)) < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	r->st.pages += n;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

/* The assembler of one run: checkpoint 1 in place, later ones staged (a
 * resumed run's numbering goes on from the checkpoint applied). */
void receiver_asm_start(struct ckpt_receiver *r)
{
	struct stream_asm_cfg acfg = { .reader = { .start = STREAM_START_LIBXL,
	                                           .remus_xenstore = r->cfg.xenstore },
	                               .max_ckpt_pages = r->nr_pfns,
	                               .first_pages = sync_pages, .first_pages_arg = r,
	                               .first_seq = r->applied };

	stream_asm_init(&r->as, &acfg);
}

int ckpt_receiver_new(const struct ckpt_receiver_cfg *cfg, struct ckpt_receiver **out,
                      struct remus_err *err)
{
	struct ckpt_receiver *r;

	*out = NULL;
	if (cfg->hv == NULL || cfg->ram_bytes == 0 ||
	    cfg->ram_bytes % STREAM_PAGE_SIZE)
		return remus_err_set(err, CKPT_ECONFIG, "receiver: hv and a page-aligned "
		                     "ram_bytes are required (ram_bytes %" PRIu64 ")", cfg->ram_bytes);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return remus_err_sys(err, ENOMEM, "receiver");
	r->cfg = *cfg;
	r->nr_pfns = cfg->ram_bytes / STREAM_PAGE_SIZE;
	r->ram = MAP_FAILED;
	disk_channel_init(&r->dl, cfg->dr ? cfg->disk_fd : -1);
	r->delta = cfg->conn && rnet_compress_delta(rnet_conn_compress(cfg->conn));
	receiver_asm_start(r);
	pthread_mutex_init(&r->lock, NULL);
	r->ram_fd = memfd_create("remus-replica", MFD_CLOEXEC);
	if (r->ram_fd < 0 || ftruncate(r->ram_fd, (off_t)cfg->ram_bytes) < 0 ||
	    (r->ram = mmap(NULL, cfg->ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
	                   r->ram_fd, 0)) == MAP_FAILED ||
	    (r->delta && delta_rx_init(&r->dx, cfg->ram_bytes, err) < 0)) {
		int e = errno;
		ckpt_receiver_free(r);
		return remus_err_sys(err, e, "replica RAM of %" PRIu64 " bytes", cfg->ram_bytes);
	}
	r->st.started_ms = rnet_now_ms();
	*out = r;
	return 0;
}

void ckpt_receiver_free(struct ckpt_receiver *r)
{
	if (r == NULL)
		return;
	if (r->ram != MAP_FAILED)
		munmap(r->ram, r->cfg.ram_bytes);
	if (r->ram_fd >= 0)
		close(r->ram_fd);
	hv_blob_free(&r->hvm);
	hv_blob_free(&r->emu);
	hv_blob_free(&r->store);
	stream_asm_free(&r->as);
	disk_channel_free(&r->dl);
	delta_rx_free(&r->dx);
	pthread_mutex_destroy(&r->lock);
	free(r);
}

/* Queue one frame of the offer, waiting (bounded) for room. */
static int offer_send(struct rnet_conn *c, const uint8_t *p, size_t len, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + 5000;
	int rc;

	while ((rc = rnet_conn_send_stream(c, p, len, err)) == RNET_ENOBUFS) {
		struct pollfd pf = { rnet_conn_fd(c), POLLOUT, 0 };
		if (rnet_now_ms() >= deadline)
			return remus_err_set(err, CKPT_EPEER, "page-hash offer: link stays full");
		if (poll(&pf, 1, 100) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
		if ((rc = rnet_conn_flush(c, err)) < 0)
			return rc;
	}
	return rc < 0 ? rc : 0;
}

/* First thing on a new link: the hashes of the replica's pages (or an
 * empty offer without a replica), so the primary skips what we hold. */
static int send_offer(struct ckpt_receiver *r, struct remus_err *err)
{
	uint64_t *h;
	uint8_t *buf;
	int rc = 0;

	if (!r->has_replica) {
		uint8_t empty[CKPH_HDR_LEN];
		return offer_send(r->cfg.conn, empty, pagehash_encode(empty, 0, NULL, 0, true), err);
	}
	h = malloc(CKPH_MAX_COUNT * sizeof(*h));
	buf = malloc(CKPH_HDR_LEN + 8 * (size_t)CKPH_MAX_COUNT);
	if (h == NULL || buf == NULL) {
		free(h);
		free(buf);
		return remus_err_sys(err, ENOMEM, "page-hash offer");
	}
	for (uint64_t first = 0; first < r->nr_pfns && rc == 0; first += CKPH_MAX_COUNT) {
		uint32_t n = r->nr_pfns - first < CKPH_MAX_COUNT ? (uint32_t)(r->nr_pfns - first)
		                                                 : CKPH_MAX_COUNT;
		for (uint32_t i = 0; i < n; i++)
			h[i] = pagehash_of_page(r->ram + (first + i) * STREAM_PAGE_SIZE);
		rc = offer_send(r->cfg.conn, buf, pagehash_encode(buf, first, h, n,
		                                              first + n == r->nr_pfns), err);
	}
	free(h);
	free(buf);
	return rc;
}

void ckpt_receiver_stats(struct ckpt_receiver *r, struct ckpt_stats *out)
{
	struct stat sb;

	pthread_mutex_lock(&r->lock);
	*out = r->st;
	out->discarded = r->as.discarded;
	pthread_mutex_unlock(&r->lock);
	/* the replica's memfd: what it really holds, not its size */
	if (r->ram_fd >= 0 && fstat(r->ram_fd, &sb) == 0)
		out->mem_replica_bytes = (uint64_t)sb.st_blocks * 512u;
}

const uint8_t *ckpt_receiver_ram(const struct ckpt_receiver *r)
{
	return r->ram;
}

/* Replace a kept blob with a copy of (p, len). */
int receiver_keep_blob(struct hv_blob *b, const uint8_t *p, size_t len, struct remus_err *err)
{
	if (len > b->cap) {
		uint8_t *n = realloc(b->data, len);
		if (n == NULL)
			return remus_err_sys(err, ENOMEM, "replica blob of %zu bytes", len);
		b->data = n;
		b->cap = len;
	}
	if (len)
		memcpy(b->data, p, len);
	b->len = len;
	return 0;
}

/* The guest's store, when the link carries it: exactly one record that
 * the driver's restore would load. */
static int check_store(struct ckpt_receiver *r, const struct stream_ckpt *c,
                       const struct stream_blob **xs, struct remus_err *err)
{
	*xs = NULL;
	if (!r->cfg.xenstore)
		return 0;
	if ((*xs = stream_ckpt_blob(c, STREAM_XL_REMUS_XENSTORE, UINT32_MAX)) == NULL)
		return remus_err_set(err, CKPT_ESTREAM, "checkpoint %" PRIu64 ": no REMUS_XENSTORE "
		                     "(the guest's store)", c->seq);
	/* most checkpoints carry the store unchanged: checked when it was kept */
	if (r->store.data != NULL && r->store.len == (*xs)->len &&
	    memcmp(r->store.data, (*xs)->data, r->store.len) == 0)
		return 0;
	if (r->cfg.hv->store_validate &&
	    r->cfg.hv->store_validate((*xs)->data, (*xs)->len, err) < 0) {
		remus_err_wrap(err, "checkpoint %" PRIu64 ": guest store", c->seq);
		return HV_EUNRESTORABLE;
	}
	return 0;
}

/* Everything in checkpoint c that could make applying it fail is checked
 * here, before the replica is touched. */
static int check_ckpt(struct ckpt_receiver *r, const struct stream_ckpt *c,
                      const struct stream_blob **emu, const struct stream_blob **xs,
                      struct remus_err *err)
{
	for (size_t i = 0; i < c->npages; i++)
		if (c->pfns[i] >= r->nr_pfns)
			return remus_err_set(err, CKPT_ESTREAM, "checkpoint %" PRIu64 ": pfn %#" PRIx64
			                     " beyond the guest's %" PRIu64 " pages", c->seq, c->pfns[i],
			                     r->nr_pfns);
	if (c->hvm_ctx == NULL || c->hvm_ctx_len == 0)
		return remus_err_set(err, CKPT_ESTREAM, "checkpoint %" PRIu64 ": no HVM_CONTEXT", c->seq);
	*emu = stream_ckpt_blob(c, STREAM_XL_EMULATOR_CONTEXT, UINT32_MAX);
	if (*emu == NULL)
		return remus_err_set(err, CKPT_ESTREAM, "checkpoint %" PRIu64 ": no EMULATOR_CONTEXT",
		                     c->seq);
	if (r->cfg.dr && r->disk_ready < c->seq)
		return remus_err_set(err, CKPT_ESTREAM, "checkpoint %" PRIu64 " complete, but the disk "
		                     "is staged only up to epoch %" PRIu64, c->seq, r->disk_ready);
	if (c->seq != r->applied + 1)
		return remus_err_set(err, CKPT_ESTREAM, "checkpoint %" PRIu64 " after %" PRIu64,
		                     c->seq, r->applied);
	/* the restore's own checks: a checkpoint it would refuse is never
	 * acknowledged (HV_EUNRESTORABLE) */
	if (r->cfg.hv->validate_checkpoint &&
	    r->cfg.hv->validate_checkpoint(c->hvm_ctx, c->hvm_ctx_len, (*emu)->data, (*emu)->len,
	                                   err) < 0) {
		remus_err_wrap(err, "checkpoint %" PRIu64, c->seq);
		return HV_EUNRESTORABLE;
	}
	return check_store(r, c, xs, err);
}

/* Under r->lock: what the engine's buffers hold now (the replica apart). */
static void note_memory(struct ckpt_receiver *r)
{
	struct rnet_stats ns = { 0 };
	uint64_t b = (uint64_t)r->as.staged.cap_pages * (STREAM_PAGE_SIZE + sizeof(uint64_t)) +
	             (uint64_t)r->as.map_cap * sizeof(*r->as.map) +
	             (r->delta ? (uint64_t)r->dx.slots * (STREAM_PAGE_SIZE + 8) + r->dx.in_cap +
	                         r->dx.plain_cap : 0);

	if (r->cfg.conn) {
		rnet_conn_stats(r->cfg.conn, &ns);
		b += ns.queue_cap_bytes;
		r->st.keepalive_heartbeats = ns.heartbeats_ka;
	}
	if (b > r->st.mem_buffers_bytes)
		r->st.mem_buffers_bytes = b;
}

/* Apply one complete checkpoint to the replica and acknowledge it. */
static int apply_ckpt(struct ckpt_receiver *r, const struct stream_ckpt *c, struct remus_err *err)
{
	const struct stream_blob *emu = NULL, *xs = NULL;
	int rc;

	if ((rc = check_ckpt(r, c, &emu, &xs, err)))
		return rc;
	if ((rc = receiver_keep_blob(&r->hvm, c->hvm_ctx, c->hvm_ctx_len, err)) ||
	    (rc = receiver_keep_blob(&r->emu, emu->data, emu->len, err)) ||
	    (xs && (rc = receiver_keep_blob(&r->store, xs->data, xs->len, err))))
		return rc;
	if ((rc = ckpt_fault(&r->cfg.fault, CKPT_FAULT_APPLYING, c->seq, err)) < 0)
		return rc;
	/* disk first (journaled, crash-safe), then memory: both are at N
	 * before N is acknowledged */
	if (r->cfg.dr && (rc = r->cfg.dr->commit(r->cfg.disk, c->seq, err)) < 0)
		return remus_err_wrap(err, "commit disk epoch %" PRIu64 "", c->seq);
	for (size_t i = 0; i < c->npages; i++)
		memcpy(r->ram + c->pfns[i] * STREAM_PAGE_SIZE, c->pages + i * STREAM_PAGE_SIZE,
		       STREAM_PAGE_SIZE);
	r->applied = c->seq;
	pthread_mutex_lock(&r->lock);
	r->st.epoch = r->st.acked = c->seq;
	r->st.checkpoints++;
	r->st.pages += c->npages;
	r->st.last_dirty = c->npages;
	r->st.last_ckpt_ms = rnet_now_ms();
	note_memory(r);
	pthread_mutex_unlock(&r->lock);
	return r->cfg.conn ? rnet_conn_send_ack(r->cfg.conn, c->seq, err) : 0;
}

/* Feed migration-stream bytes to the assembler; apply what completes. */
static int take_stream(struct ckpt_receiver *r, const uint8_t *p, size_t len,
                       struct remus_err *err)
{
	struct stream_ckpt *c;
	size_t used;
	int rc;

	pthread_mutex_lock(&r->lock);
	r->st.bytes += len;
	pthread_mutex_unlock(&r->lock);
	while (len > 0) {
		rc = stream_asm_feed(&r->as, p, len, &used, &c);
		p += used;
		len -= used;
		if (rc < 0)
			return remus_err_set(err, CKPT_ESTREAM, "primary's stream: %s", r->as.err.msg);
		if (rc == 1 && !c->final && (rc = apply_ckpt(r, c, err)))
			return rc;
	}
	return 0;
}

int ckpt_receiver_feed(struct ckpt_receiver *r, const void *p, size_t len,
                       struct remus_err *err)
{
	int rc = take_stream(r, p, len, err);

	if (rc < 0)
		stream_asm_abort(&r->as, "bad stream");
	return rc;
}

/* Handle every complete message from the primary.  1: clean end (BYE). */
static int drain_msgs(struct ckpt_receiver *r, struct remus_err *err)
{
	struct rnet_msg m;
	bool progress = false;
	int rc;

	/* an EOF noticed while refilling may sit behind complete frames */
	while ((rc = rnet_conn_next(r->cfg.conn, &m, err)) == 1 ||
	       (rc == RNET_ECLOSED && progress)) {
		progress = rc == 1;
		if (rc != 1)
			continue;
		if (m.type == RNET_MSG_STREAM) {
			if (r->delta && (rc = delta_rx_feed(&r->dx, m.body, m.len, err)) < 0)
				return rc;
			if ((rc = r->delta ? take_stream(r, r->dx.plain, r->dx.plain_len, err)
			                   : take_stream(r, m.body, m.len, err)))
				return rc;
			/* a long backlog must not starve our heartbeats and ACKs */
			if ((rc = rnet_conn_tick(r->cfg.conn, rnet_now_ms(), err)) < 0 ||
			    (rnet_conn_want_write(r->cfg.conn) &&
			     (rc = rnet_conn_flush(r->cfg.conn, err)) < 0))
				return rc;
		} else if (m.type == RNET_MSG_DISK && r->cfg.dr) {
			if ((rc = disk_channel_deliver_in(&r->dl, r->cfg.dr, r->cfg.disk, m.body, m.len,
			                         &r->disk_ready, err)) < 0)
				return rc == CKPT_ESTREAM ? rc : remus_err_set(err, CKPT_ESTREAM, "%.480s",
				                                                err->msg);
		} else if (m.type == RNET_MSG_BYE) {
			r->bye_reason = (uint32_t)m.u64;
			return 1;
		} else {
			return remus_err_set(err, CKPT_ESTREAM, "primary sent unexpected message type %"
			                     PRIu32, m.type);
		}
	}
	return rc;
}

/* The stream stopped abnormally: drop the partial checkpoint, classify. */
static int stream_lost(struct ckpt_receiver *r, int rc, struct remus_err *err)
{
	char why[REMUS_ERR_MSG_MAX];

	size_t staged = r->as.staged.npages;

	r->stop_us = ckpt_now_us();
	snprintf(why, sizeof(why), "%s", err->msg);
	stream_asm_abort(&r->as, why);
	if (rc == CKPT_ESTREAM || rc == CKPT_ESTOPPED || rc == HV_EUNRESTORABLE)
		return rc;
	/* what this side was doing, for telling a dead primary from a stall */
	return remus_err_set(err, CKPT_EPEER, "primary lost: %.400s (receiving checkpoint %" PRIu64
	                     "%s, %zu pages staged of it, %" PRIu64 " applied)", why, r->applied + 1,
	                     r->applied == 0 ? " (the initial sync, written in place)" : "",
	                     staged, r->applied);
}

/* The receive loop proper (ckpt_receiver_run wraps it in the keepalive). */
static int receive_loop(struct ckpt_receiver *r, int stop_fd, struct remus_err *err)
{
	struct rnet_conn *c = r->cfg.conn;
	int rc = 0;

	if ((rc = send_offer(r, err)) < 0)
		return stream_lost(r, rc, err);
	/* a resumed run: the primary carries on only from the checkpoint we hold */
	if (r->resume_ack) {
		r->resume_ack = false;
		if ((rc = rnet_conn_send_ack(c, r->applied, err)) < 0)
			return stream_lost(r, rc, err);
	}

	for (;;) {
		struct pollfd p[3] = {
			{ rnet_conn_fd(c), (short)(POLLIN | (rnet_conn_want_write(c) ? POLLOUT : 0)), 0 },
			{ r->dl.fd, POLLIN, 0 },
			{ stop_fd, POLLIN, 0 },
		};
		uint64_t now = rnet_now_ms();
		if (poll(p, stop_fd >= 0 ? 3 : 2, (int)rnet_conn_next_tick_ms(c, now)) < 0 &&
		    errno != EINTR)
			return remus_err_sys(err, errno, "poll");
		if (stop_fd >= 0 && (p[2].revents & POLLIN))
			return stream_lost(r, remus_err_set(err, CKPT_ESTOPPED, "stopped on request "
			                                    "after checkpoint %" PRIu64, r->applied), err);
		now = rnet_now_ms();
		rc = 0;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			/* complete messages read before an EOF still count */
			int frc = rnet_conn_feed(c, now, err);
			if ((rc = drain_msgs(r, err)) < 0)
				return stream_lost(r, rc, err);
			if (frc < 0 && rc != 1)
				return stream_lost(r, frc, err);
		}
		if (rc == 1) {
			r->stop_us = ckpt_now_us();
			stream_asm_abort(&r->as, "primary ended the stream");
			return r->bye_reason == CKPT_BYE_HANDOVER ||
			       r->bye_reason == CKPT_BYE_HANDOVER_REVERSE ? CKPT_HANDOVER : 0;
		}
		if ((rc = disk_channel_forward_out(&r->dl, c, err)) < 0 ||   /* resync replies */
		    (rnet_conn_want_write(c) && (rc = rnet_conn_flush(c, err)) < 0) ||
		    (rc = rnet_conn_tick(c, now, err)) < 0)
			return stream_lost(r, rc, err);
	}
}

/* While the loop is busy (hashing the offer, staging or applying a large
 * checkpoint) the connection's keepalive answers for it, so the primary
 * never takes a busy backup for a dead one; it ends with the loop, so a
 * backup that stopped receiving never looks alive. */
int ckpt_receiver_run(struct ckpt_receiver *r, int stop_fd, struct remus_err *err)
{
	int rc;

	if (r->cfg.conn == NULL)
		return remus_err_set(err, CKPT_ECONFIG, "receiver: run needs a link");
	if ((rc = rnet_conn_keepalive(r->cfg.conn, true, err)) < 0)
		return rc;
	rc = receive_loop(r, stop_fd, err);
	rnet_conn_keepalive(r->cfg.conn, false, NULL);
	pthread_mutex_lock(&r->lock);
	note_memory(r);
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* The primary waits for this answer before it destroys or resumes its
 * copy: queue it and push it out (bounded). */
int ckpt_receiver_confirm(struct ckpt_receiver *r, bool running, struct remus_err *err)
{
	struct rnet_conn *c = r->cfg.conn;
	uint64_t deadline = rnet_now_ms() + 1000;
	int rc;

	if (c == NULL)
		return remus_err_set(err, CKPT_ECONFIG, "receiver: confirm needs a link");
	if ((rc = rnet_conn_send_bye(c, running ? CKPT_BYE_RUNNING : CKPT_BYE_REFUSED, err)) < 0)
		return rc;
	while (rnet_conn_want_write(c)) {
		struct pollfd p = { rnet_conn_fd(c), POLLOUT, 0 };
		uint64_t now = rnet_now_ms();
		if (now >= deadline)
			return remus_err_set(err, CKPT_EPEER, "hand-over answer not sent within 1 s");
		if (poll(&p, 1, (int)(deadline - now)) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
		if ((rc = rnet_conn_flush(c, err)) < 0)
			return rc;
	}
	return 0;
}

bool ckpt_receiver_reverse_asked(const struct ckpt_receiver *r)
{
	return r->bye_reason == CKPT_BYE_HANDOVER_REVERSE;
}
