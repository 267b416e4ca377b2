/*
 * The sender's wire side and epoch loop: queueing records on the rnet
 * connection with back-pressure, ACK handling (netbuf release), heartbeats,
 * the overrun policy (stretch the epoch) and backup loss.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/sender_impl.h"
#include "diskrep/diskrep.h"
#include "netbuf/netbuf.h"

uint64_t ckpt_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

void sender_lock(struct ckpt_sender *s) { pthread_mutex_lock(&s->lock); }
void sender_unlock(struct ckpt_sender *s) { pthread_mutex_unlock(&s->lock); }

int ckpt_sender_new(const struct ckpt_sender_cfg *cfg, struct ckpt_sender **out,
                    struct remus_err *err)
{
	struct ckpt_sender *s;
	const struct hv_ops *hv = cfg->hv;

	*out = NULL;
	if (hv == NULL || cfg->guest == NULL || (cfg->conn == NULL) != cfg->blackhole)
		return remus_err_set(err, CKPT_ECONFIG, "sender: hv, guest and conn (none with "
		                     "blackhole) are required");
	if (cfg->blackhole && cfg->dr != NULL)
		return remus_err_set(err, CKPT_ECONFIG, "sender: blackhole has no backup to "
		                     "replicate the disk to");
	if (!hv->suspend || !hv->resume || !hv->dirty_log || !hv->copy_pages || !hv->save_cpu ||
	    !hv->save_devices || !hv->info)
		return remus_err_set(err, CKPT_ECONFIG, "sender: driver %s has no step-by-step save ops",
		                     hv->name);
	if (cfg->xenstore && !hv->store_save)
		return remus_err_set(err, CKPT_ECONFIG, "sender: driver %s keeps no guest store",
		                     hv->name);
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return remus_err_sys(err, ENOMEM, "sender");
	s->cfg = *cfg;
	hv->info(cfg->guest, &s->info);
	if (s->info.page_size != STREAM_PAGE_SIZE || s->info.nr_pfns == 0) {
		uint64_t np = s->info.nr_pfns;
		uint32_t ps = s->info.page_size;
		free(s);
		return remus_err_set(err, CKPT_ECONFIG, "sender: guest has %" PRIu64 " pages of %u bytes",
		                     np, ps);
	}
	s->interval_ms = cfg->interval_ms ? cfg->interval_ms : 25;
	s->ack_timeout_ms = cfg->ack_timeout_ms ? cfg->ack_timeout_ms : 2000;
	s->max_rounds = cfg->max_precopy_rounds ? cfg->max_precopy_rounds : 5;
	if (s->max_rounds > CKPT_MAX_PRECOPY_ROUNDS)
		s->max_rounds = CKPT_MAX_PRECOPY_ROUNDS;
	s->stop_pages = cfg->precopy_stop_pages ? cfg->precopy_stop_pages : 256;
	stream_buf_init(&s->out);
	disk_channel_init(&s->dl, cfg->dr ? cfg->disk_fd : -1);
	s->delta = cfg->conn && rnet_compress_delta(rnet_conn_compress(cfg->conn));
	if (s->delta && cfg->delta_cache_pages && cfg->delta_cache_pages != delta_slots(s->info.nr_pfns)) {
		size_t want = delta_slots(s->info.nr_pfns);
		stream_buf_free(&s->out);
		free(s);
		return remus_err_set(err, CKPT_ECONFIG, "sender: delta_cache_pages must be 0 (the backup "
		                     "mirrors a cache of %zu pages for this guest)", want);
	}
	if (s->delta && delta_init(&s->dx, delta_slots(s->info.nr_pfns), err) < 0) {
		stream_buf_free(&s->out);
		free(s);
		return err->code;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->prog_lock, NULL);
	s->offer.nr_pfns = s->info.nr_pfns;
	s->live = hv->ram_view ? hv->ram_view(cfg->guest) : NULL;
	s->offer.done = cfg->blackhole;      /* no replica offers anything */
	s->st.started_ms = rnet_now_ms();
	*out = s;
	return 0;
}

void ckpt_sender_free(struct ckpt_sender *s)
{
	if (s == NULL)
		return;
	stream_buf_free(&s->out);
	hv_pfn_list_free(&s->dirty);
	hv_blob_free(&s->hvm);
	hv_blob_free(&s->emu);
	hv_blob_free(&s->store);
	free(s->pages);
	disk_channel_free(&s->dl);
	delta_free(&s->dx);
	pagehash_free(&s->offer);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->prog_lock);
	free(s);
}

int ckpt_sender_set_interval(struct ckpt_sender *s, uint32_t ms, struct remus_err *err)
{
	if (ms < 1 || ms > 10000)
		return remus_err_set(err, -EINVAL, "interval %" PRIu32 " ms out of range 1..10000", ms);
	__atomic_store_n(&s->interval_ms, ms, __ATOMIC_RELAXED);
	return 0;
}

int ckpt_sender_set_compress(struct ckpt_sender *s, uint32_t kind, struct remus_err *err)
{
	uint32_t neg;

	if (s->cfg.conn == NULL)
		return remus_err_set(err, -EINVAL, "compression: a blackhole run has no link");
	neg = rnet_conn_compress(s->cfg.conn);   /* fixed since the handshake */
	if (kind >= RNET_COMPRESS_COUNT)
		return remus_err_set(err, -EINVAL, "compression %" PRIu32 " unknown", kind);
	if ((kind != RNET_COMPRESS_NONE && kind != neg) ||
	    (rnet_compress_delta(neg) && kind != neg))
		return remus_err_set(err, RNET_ECAPS, "compression %s: the link to the backup "
		                     "negotiated %s; a running protection can only use %s",
		                     rnet_compress_name(kind), rnet_compress_name(neg),
		                     neg == RNET_COMPRESS_ZLIB ? "zlib or none" :
		                     neg == RNET_COMPRESS_ZSTD ? "zstd or none" : rnet_compress_name(neg));
	__atomic_store_n(&s->want_compress, kind + 1, __ATOMIC_RELEASE);
	return 0;
}

/* At the start of an epoch (sender thread): a compression asked for
 * (validated when asked, so the link takes it). */
static void sender_apply_settings(struct ckpt_sender *s)
{
	uint32_t want = __atomic_exchange_n(&s->want_compress, 0, __ATOMIC_ACQ_REL);

	if (want != 0 && s->cfg.conn != NULL)
		(void)rnet_conn_set_tx_compress(s->cfg.conn, want - 1, &(struct remus_err){ 0 });
}

void ckpt_sender_stats(struct ckpt_sender *s, struct ckpt_stats *out)
{
	sender_lock(s);
	*out = s->st;
	sender_unlock(s);
}

/* Under the lock, from the engine thread: the buffers the engine holds
 * for this guest (copied pages, records, delta cache, link queues). */
void sender_note_memory(struct ckpt_sender *s)
{
	struct rnet_stats ns;
	uint64_t b = (uint64_t)s->pages_cap * STREAM_PAGE_SIZE +
	             (s->delta ? (uint64_t)s->dx.slots * (STREAM_PAGE_SIZE + 8) + CKDX_OUT_MAX : 0);

	if (s->cfg.conn != NULL) {
		rnet_conn_stats(s->cfg.conn, &ns);
		b += ns.queue_cap_bytes;
		s->st.keepalive_heartbeats = ns.heartbeats_ka;
	}
	if (b > s->st.mem_buffers_bytes)
		s->st.mem_buffers_bytes = b;
}

/* The backup acknowledged checkpoint n: its epoch's output may leave. */
int sender_handle_ack(struct ckpt_sender *s, uint64_t n, struct remus_err *err)
{
	int rc;

	if (n > s->epoch)
		return remus_err_set(err, CKPT_ESTREAM, "backup acknowledged checkpoint %" PRIu64
		                     " but only %" PRIu64 " were sent", n, s->epoch);
	if (n > s->peer_acked)
		s->peer_acked = n;
	if (n <= s->acked)
		return 0;
	if (s->cfg.nb && (rc = netbuf_release(s->cfg.nb, n)) < 0)
		return remus_err_set(err, rc, "netbuf release %" PRIu64 ": %s", n, s->cfg.nb->err.msg);
	if (s->cfg.dr && (rc = s->cfg.dr->epoch_acked(s->cfg.disk, n, err)) < 0)
		return remus_err_wrap(err, "disk epoch %" PRIu64 " acked", n);
	s->acked = n;
	sender_lock(s);
	s->st.acked = n;
	sender_unlock(s);
	return 0;
}

/* Take every complete message the backup sent. */
static int drain_msgs(struct ckpt_sender *s, struct remus_err *err)
{
	struct rnet_msg m;
	int rc;

	while ((rc = rnet_conn_next(s->cfg.conn, &m, err)) == 1) {
		if (m.type == RNET_MSG_ACK) {
			if ((rc = sender_handle_ack(s, m.u64, err)))
				return rc;
		} else if (m.type == RNET_MSG_STREAM) {
			if ((rc = pagehash_take(&s->offer, m.body, m.len, err)) < 0)
				return rc;
		} else if (m.type == RNET_MSG_DISK && s->dl.fd >= 0) {
			if ((rc = disk_channel_write_in(&s->dl, m.body, m.len, err)) < 0)
				return rc;
		} else if (m.type == RNET_MSG_BYE) {
			s->peer_bye = (uint32_t)m.u64 + 1;
			return remus_err_set(err, CKPT_EPEER, "backup said goodbye (reason %" PRIu32 ")",
			                     m.len == 4 ? (uint32_t)m.body[0] << 24 | (uint32_t)m.body[1] << 16 |
			                     (uint32_t)m.body[2] << 8 | m.body[3] : 0);
		} else {
			return remus_err_set(err, CKPT_ESTREAM, "backup sent unexpected message type %" PRIu32,
			                     m.type);
		}
	}
	return rc;
}

/* Wait up to timeout_ms for the connection (and stop_fd); handle what came.
 * Returns 1 when stop_fd is readable, 0 otherwise, <0 on error. */
int sender_pump(struct ckpt_sender *s, int stop_fd, int timeout_ms, struct remus_err *err)
{
	struct rnet_conn *c = s->cfg.conn;
	struct pollfd p[3] = {
		{ -1, 0, 0 },
		{ s->dl.fd, POLLIN, 0 },
		{ stop_fd, POLLIN, 0 },
	};
	uint64_t now;
	uint32_t hb;
	int rc;

	if (c == NULL) {   /* blackhole: only the stop request to wait for */
		if (poll(p, stop_fd >= 0 ? 3 : 2, timeout_ms) < 0 && errno != EINTR)
			return remus_err_sys(err, errno, "poll");
		return stop_fd >= 0 && (p[2].revents & POLLIN) ? 1 : 0;
	}
	p[0] = (struct pollfd){ rnet_conn_fd(c), (short)(POLLIN | (rnet_conn_want_write(c) ? POLLOUT : 0)), 0 };
	now = rnet_now_ms();
	hb = rnet_conn_next_tick_ms(c, now);
	if (timeout_ms < 0 || (uint32_t)timeout_ms > hb)
		timeout_ms = (int)hb;
	if (poll(p, stop_fd >= 0 ? 3 : 2, timeout_ms) < 0 && errno != EINTR)
		return remus_err_sys(err, errno, "poll");
	now = rnet_now_ms();
	if ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
	    ((rc = rnet_conn_feed(c, now, err)) < 0 || (rc = drain_msgs(s, err)) < 0))
		return rc;
	if ((rc = disk_channel_forward_out(&s->dl, c, err)) < 0)
		return rc;
	if (rnet_conn_want_write(c) && (rc = rnet_conn_flush(c, err)) < 0)
		return rc;
	if ((rc = rnet_conn_tick(c, now, err)) < 0)
		return rc;
	return stop_fd >= 0 && (p[2].revents & POLLIN) ? 1 : 0;
}

/* Everything diskrep wrote so far (epoch N's marker included) goes on the
 * link before checkpoint N's records. */
int sender_forward_disk(struct ckpt_sender *s, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + s->ack_timeout_ms;
	int rc;

	if (s->cfg.conn == NULL)
		return 0;
	while ((rc = disk_channel_forward_out(&s->dl, s->cfg.conn, err)) == 1) {
		if (rnet_now_ms() > deadline)
			return remus_err_set(err, CKPT_EPEER, "disk channel: link queue stays full");
		if ((rc = sender_pump(s, -1, 10, err)) < 0)
			return rc;
	}
	return rc;
}

/* Stream frames rnet queued so far, headers included, after compression. */
static uint64_t stream_wire(const struct ckpt_sender *s)
{
	struct rnet_stats st;

	if (s->cfg.conn == NULL)
		return 0;
	rnet_conn_stats(s->cfg.conn, &st);
	return st.stream_wire_tx;
}

/* Queue bytes as stream frames, a frame's worth at a time so that no
 * piece is ever larger than the transport's bound, waiting for room.
 * wire_bytes counts the frames rnet queued for them (after its
 * compression), not the bytes handed in; without a link (blackhole) the
 * bytes that would have gone. */
static int send_stream(struct ckpt_sender *s, const void *p, size_t len, struct remus_err *err)
{
	const uint8_t *b = p;
	uint64_t w0 = stream_wire(s);
	int rc = 0;

	for (size_t off = 0; s->cfg.conn && off < len && rc == 0; ) {
		size_t n = len - off < RNET_BODY_MAX ? len - off : RNET_BODY_MAX;
		while ((rc = rnet_conn_send_stream(s->cfg.conn, b + off, n, err)) == RNET_ENOBUFS)
			if ((rc = sender_pump(s, -1, 100, err)) < 0)
				return rc;
		off += n;
	}
	sender_lock(s);
	s->st.wire_bytes += s->cfg.conn ? stream_wire(s) - w0 : len;
	sender_unlock(s);
	return rc;
}

/* Send the delta container once it is nearly full (room for one more
 * raw item or page stays). */
static int delta_spill(struct ckpt_sender *s, struct remus_err *err)
{
	int rc;

	if (s->dx.len <= CKDX_OUT_MAX - 65536 - 2 * STREAM_PAGE_SIZE)
		return 0;
	if ((rc = send_stream(s, s->dx.out, s->dx.len, err)) < 0)
		return rc;
	s->dx.len = 0;
	return 0;
}

/* Delta: pages of s->pages or of the live view become PAGE/DELTA items,
 * the rest RAW items. */
static int send_delta(struct ckpt_sender *s, const struct iovec *v, struct remus_err *err)
{
	const uint8_t *b = v->iov_base, *end = s->pages + s->pages_cap * STREAM_PAGE_SIZE;
	bool whole = v->iov_len % STREAM_PAGE_SIZE == 0;
	bool live = whole && s->live && b >= s->live &&
	            b < s->live + s->info.nr_pfns * STREAM_PAGE_SIZE &&
	            (size_t)(b - s->live) % STREAM_PAGE_SIZE == 0;
	bool copied = whole && !live && b >= s->pages && b < end &&
	              (size_t)(b - s->pages) % STREAM_PAGE_SIZE == 0;
	uint8_t stable[STREAM_PAGE_SIZE];
	int rc;

	if (live || copied) {
		/* page k is pfn base + k of the live view, or cur_pfns[base + k] */
		size_t base = (size_t)(b - (live ? s->live : s->pages)) / STREAM_PAGE_SIZE;
		for (size_t k = 0; k < v->iov_len / STREAM_PAGE_SIZE; k++) {
			const uint8_t *pg = b + k * STREAM_PAGE_SIZE;
			if (live) {
				/* the guest runs: read the page once, so that what is
				 * sent and what the cache (mirrored by the backup)
				 * keeps agree */
				memcpy(stable, pg, STREAM_PAGE_SIZE);
				pg = stable;
			}
			delta_page(&s->dx, live ? base + k : s->cur_pfns[base + k], pg);
			if ((rc = delta_spill(s, err)) < 0)
				return rc;
		}
		return 0;
	}
	for (size_t off = 0; off < v->iov_len; off += 65536) {
		delta_raw(&s->dx, b + off, v->iov_len - off < 65536 ? v->iov_len - off : 65536);
		if ((rc = delta_spill(s, err)) < 0)
			return rc;
	}
	return 0;
}

/* Queue everything in s->out on the connection, waiting for room when the
 * transport's queue is at its bound; then forget it. */
int sender_send_out(struct ckpt_sender *s, struct remus_err *err)
{
	size_t nseg = s->out.nsegs, n;
	struct iovec *iov;
	int rc = 0;

	if (nseg == 0)
		return 0;
	if ((iov = malloc(nseg * sizeof(*iov))) == NULL)
		return remus_err_sys(err, ENOMEM, "send: %zu segments", nseg);
	n = (size_t)stream_buf_iov(&s->out, iov, (int)nseg);
	if (s->cfg.conn && !s->delta && stream_buf_size(&s->out) <= RNET_BODY_MAX) {
		/* one record (pre-copy) or a small group: exactly one frame */
		uint64_t w0 = stream_wire(s);
		while ((rc = rnet_conn_send_streamv(s->cfg.conn, iov, (int)n, err)) == RNET_ENOBUFS)
			if ((rc = sender_pump(s, -1, 100, err)) < 0)
				break;
		if (rc == 0) {
			sender_lock(s);
			s->st.wire_bytes += stream_wire(s) - w0;
			sender_unlock(s);
		}
		n = 0;
	}
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = s->delta ? send_delta(s, &iov[i], err)
		              : send_stream(s, iov[i].iov_base, iov[i].iov_len, err);
	if (rc == 0 && s->delta && s->dx.len) {
		rc = send_stream(s, s->dx.out, s->dx.len, err);
		s->dx.len = 0;
	}
	free(iov);
	sender_lock(s);
	s->st.bytes += stream_buf_size(&s->out);
	sender_unlock(s);
	stream_buf_reset(&s->out);
	if (rc == 0)    /* write what fits, take ACKs, keep heartbeats going */
		rc = sender_pump(s, -1, 0, err);
	return rc < 0 ? rc : 0;
}

/* Wait (bounded by the ack timeout) until everything queued is written. */
int sender_drain(struct ckpt_sender *s, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + s->ack_timeout_ms;
	int rc;

	while (s->cfg.conn && rnet_conn_want_write(s->cfg.conn)) {
		uint64_t now = rnet_now_ms();
		if (now >= deadline)
			return remus_err_set(err, CKPT_EPEER, "send queue not drained within %" PRIu32
			                     " ms", s->ack_timeout_ms);
		if ((rc = sender_pump(s, -1, (int)(deadline - now), err)) < 0)
			return rc;
	}
	return 0;
}

/* Wait (bounded by timeout_ms) until checkpoint n is acknowledged; the
 * heartbeats meanwhile tell a busy backup from a dead one. */
int sender_wait_ack(struct ckpt_sender *s, uint64_t n, uint32_t timeout_ms, struct remus_err *err)
{
	uint64_t deadline = rnet_now_ms() + timeout_ms;
	int rc;

	while (s->acked < n) {
		uint64_t now = rnet_now_ms();
		if (now >= deadline)
			return sender_lost(s, remus_err_set(err, CKPT_EPEER, "no ACK of checkpoint %" PRIu64
			                                 " within %" PRIu32 " ms", n, timeout_ms), err);
		if ((rc = sender_pump(s, -1, (int)(deadline - now), err)) < 0)
			return sender_lost(s, rc, err);
	}
	return 0;
}

/* Tell a backup that may still be listening that protection ended here,
 * so that it never starts a second copy of a guest that runs on (BYE END
 * makes it keep its replica and stay passive).  Queued checkpoint data not
 * yet begun is dropped first: it is worthless now and must not hold the
 * BYE back.  Bounded; a dead link simply does not carry it. */
static void tell_backup_unprotected(struct ckpt_sender *s)
{
	struct rnet_conn *c = s->cfg.conn;
	uint64_t deadline = rnet_now_ms() + 200;
	struct remus_err e = { 0 };

	if (rnet_conn_send_bye_now(c, CKPT_BYE_END, &e) < 0)
		return;
	while (rnet_conn_want_write(c) && rnet_now_ms() < deadline) {
		struct pollfd p = { rnet_conn_fd(c), POLLOUT, 0 };
		if (poll(&p, 1, 20) < 0 && errno != EINTR)
			return;
		if (rnet_conn_flush(c, &e) < 0)
			return;
	}
}

/* The engine cannot go on protecting: release what netbuf holds (the guest
 * runs on unprotected; with hold_on_loss the caller decides), tell the
 * backup, and say why.  A fault-point stop
 * leaves all as is. */
int sender_lost(struct ckpt_sender *s, int rc, struct remus_err *err)
{
	if (rc == CKPT_ESTOPPED || rc == CKPT_EGUEST)
		return rc;
	if (s->cfg.nb && !s->cfg.hold_on_loss)
		netbuf_release_all(s->cfg.nb);
	rnet_conn_keepalive(s->cfg.conn, false, NULL);
	if (s->peer_bye == 0 && s->cfg.conn != NULL)
		tell_backup_unprotected(s);
	if (rc == HV_EUNRESTORABLE)     /* a checkpoint restore would refuse */
		return rc;
	if (rc != CKPT_EPEER)
		remus_err_wrap(err, "backup lost");
	/* what this side was doing, for telling a dead backup from a stall */
	if (err != NULL) {
		char was[REMUS_ERR_MSG_MAX];
		int code = err->code;
		snprintf(was, sizeof(was), "%s", err->msg);
		remus_err_set(err, code, "%.400s (checkpoint %" PRIu64 " taken, %" PRIu64
		              " acknowledged)", was, s->epoch, s->acked);
	}
	return CKPT_EPEER;
}

/* Is the guest still alive? */
int sender_guest_alive(struct ckpt_sender *s, struct remus_err *err)
{
	struct hv_info in;

	s->cfg.hv->info(s->cfg.guest, &in);
	if (in.state == HV_CRASHED)
		return remus_err_set(err, CKPT_EGUEST, "guest crashed: %s", in.reason);
	if (in.state == HV_EXITED)
		return remus_err_set(err, CKPT_EGUEST, "guest exited with code %d", in.exit_code);
	return 0;
}

static int sender_run(struct ckpt_sender *s, int stop_fd, uint64_t max_epochs,
                      struct remus_err *err)
{
	uint64_t next_tick = rnet_now_ms() + __atomic_load_n(&s->interval_ms, __ATOMIC_RELAXED);
	bool stretched = false;
	int rc;

	for (;;) {
		uint64_t now = rnet_now_ms();
		if (max_epochs && s->acked >= max_epochs)
			return 0;
		if (s->acked < s->epoch && now - s->sent_ms > s->ack_timeout_ms)
			return sender_lost(s, remus_err_set(err, CKPT_EPEER, "no ACK of checkpoint %" PRIu64
			                                 " within %" PRIu32 " ms", s->acked + 1,
			                                 s->ack_timeout_ms), err);
		if (now >= next_tick && (!max_epochs || s->epoch < max_epochs)) {
			/* overrun policy: never queue N+1 behind unsent bytes of N */
			if (s->cfg.conn && rnet_conn_want_write(s->cfg.conn)) {
				if (!stretched) {
					sender_lock(s);
					s->st.stretched++;
					sender_unlock(s);
				}
				stretched = true;
			} else {
				if ((rc = sender_guest_alive(s, err)))
					return rc;
				if (s->acked == s->epoch)
					s->sent_ms = now;
				sender_apply_settings(s);
				if ((rc = sender_take_checkpoint(s, err)))
					return sender_lost(s, rc, err);
				stretched = false;
				next_tick = now + __atomic_load_n(&s->interval_ms, __ATOMIC_RELAXED);
			}
		}
		now = rnet_now_ms();
		rc = sender_pump(s, stop_fd, stretched ? 1 : (int)(next_tick > now ? next_tick - now : 0), err);
		if (rc < 0)
			return sender_lost(s, rc, err);
		if (rc == 1)
			return remus_err_set(err, CKPT_ESTOPPED, "stopped on request at epoch %" PRIu64,
			                     s->epoch);
	}
}

/* The epoch loop with the connection's keepalive on (see ckpt_sender_sync). */
int ckpt_sender_run(struct ckpt_sender *s, int stop_fd, uint64_t max_epochs,
                    struct remus_err *err)
{
	int rc = rnet_conn_keepalive(s->cfg.conn, true, err);

	if (rc < 0)
		return rc;
	rc = sender_run(s, stop_fd, max_epochs, err);
	rnet_conn_keepalive(s->cfg.conn, false, NULL);
	return rc;
}
