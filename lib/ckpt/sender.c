/*
 * The sender: the primary's checkpoint.  The epoch (take_checkpoint) reads
 * top to bottom in the order of docs/architecture.md; the initial sync and
 * a resumed run are sender_sync.c, the wire side is sender_io.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ckpt/fault_impl.h"
#include "ckpt/sender_impl.h"
#include "diskrep/diskrep.h"
#include "netbuf/netbuf.h"
#include "util/checked.h"

/* Call the named fault point; non-zero from the hook stops the engine. */
int sender_fault(struct ckpt_sender *s, const char *point, uint64_t epoch,
              struct remus_err *err)
{
	return ckpt_fault(&s->cfg.fault, point, epoch, err);
}

/* Make room for n copied pages in the checkpoint buffer (grows, never shrinks). */
static int reserve_pages(struct ckpt_sender *s, size_t n, struct remus_err *err)
{
	size_t bytes;
	uint8_t *p;

	if (n <= s->pages_cap)
		return 0;
	if (!ck_mul_size(n, STREAM_PAGE_SIZE, &bytes))
		return remus_err_set(err, -EOVERFLOW, "checkpoint buffer: %zu pages", n);
	if ((p = realloc(s->pages, bytes)) == NULL)
		return remus_err_sys(err, ENOMEM, "checkpoint buffer of %zu pages", n);
	s->pages = p;
	s->pages_cap = n;
	return 0;
}

/* Append PAGE_DATA records (at most 1024 pfns each) for pages copied into
 * s->pages, or (live) for the pages themselves in the driver's view of the
 * guest's RAM; referenced, copied by the transport when queued. */
int sender_put_pages_from(struct ckpt_sender *s, const uint64_t *pfns, size_t n, bool live,
                          struct remus_err *err)
{
	const void *ptr[STREAM_DEFAULT_MAX_PAGES];
	int rc;

	s->cur_pfns = pfns;     /* page k of s->pages is pfns[k] (delta) */
	for (size_t i = 0; i < n; i += STREAM_DEFAULT_MAX_PAGES) {
		uint32_t cnt = (uint32_t)(n - i < STREAM_DEFAULT_MAX_PAGES ? n - i : STREAM_DEFAULT_MAX_PAGES);
		for (uint32_t k = 0; k < cnt; k++)
			ptr[k] = live ? s->live + pfns[i + k] * STREAM_PAGE_SIZE
			              : s->pages + (i + k) * STREAM_PAGE_SIZE;
		if ((rc = stream_put_page_data(&s->out, pfns + i, ptr, cnt, STREAM_REF)) < 0)
			return remus_err_set(err, rc, "PAGE_DATA: %s", stream_strerror(rc));
	}
	return 0;
}

int sender_put_pages(struct ckpt_sender *s, const uint64_t *pfns, size_t n,
                     struct remus_err *err)
{
	return sender_put_pages_from(s, pfns, n, false, err);
}

/* Copy pfns[0..n) out of the paused guest into s->pages. */
int sender_copy_paused(struct ckpt_sender *s, const uint64_t *pfns, size_t n,
                       struct remus_err *err)
{
	int rc;

	if ((rc = reserve_pages(s, n, err)))
		return rc;
	if (n && (rc = s->cfg.hv->copy_pages(s->cfg.guest, pfns, n, s->pages, err)) < 0)
		return remus_err_wrap(err, "copy %zu pages", n);
	return 0;
}

/* The guest-paused part of epoch N (steps 2-6); returns with the guest
 * running again, also on error when it can.  With copy-on-write capture
 * the pause only lists and protects the dirty pages; they are copied out
 * after the resume (capture_wait), outside the pause. */
static int capture(struct ckpt_sender *s, uint64_t n, struct remus_err *err)
{
	const struct hv_ops *hv = s->cfg.hv;
	bool cow = s->cfg.cow_capture && hv->capture_begin && hv->capture_wait, begun = false;
	uint64_t t0 = ckpt_now_us(), dt;
	const uint8_t *cow_pages;
	int rc;

	if (s->cfg.nb && (rc = netbuf_epoch_close(s->cfg.nb, n)) < 0)
		return remus_err_set(err, rc, "netbuf close epoch %" PRIu64 ": %s", n, s->cfg.nb->err.msg);
	if ((rc = hv->suspend(s->cfg.guest, err)) < 0)
		return remus_err_wrap(err, "suspend for checkpoint %" PRIu64 "", n);
	if ((rc = sender_fault(s, CKPT_FAULT_PAUSED, n, err)))
		goto out;
	if (cow)
		begun = (rc = hv->capture_begin(s->cfg.guest, &s->dirty, err)) == 0;
	if ((cow && rc < 0) ||
	    (!cow && ((rc = hv->dirty_log(s->cfg.guest, &s->dirty, err)) < 0 ||
	              (rc = sender_copy_paused(s, s->dirty.pfns, s->dirty.count, err)))) ||
	    (rc = hv->save_cpu(s->cfg.guest, &s->hvm, err)) < 0 ||
	    (rc = hv->save_devices(s->cfg.guest, &s->emu, err)) < 0 ||
	    (s->cfg.xenstore && ((rc = hv->store_save(s->cfg.guest, &s->store, err)) < 0 ||
	                         (rc = sender_fault(s, CKPT_FAULT_STORE_SAVED, n, err)))) ||
	    (s->cfg.dr && (rc = s->cfg.dr->epoch_mark(s->cfg.disk, n, err)) < 0))
		goto out;
out:
	if (rc != CKPT_ESTOPPED && !(rc == 0 && s->final)) {
		struct remus_err e2 = { 0 };
		int rc2 = hv->resume(s->cfg.guest, rc ? &e2 : err);
		if (rc == 0 && rc2 < 0)
			rc = remus_err_wrap(err, "resume after checkpoint %" PRIu64 "", n);
	}
	dt = ckpt_now_us() - t0;
	sender_lock(s);
	ckpt_stats_add_pause(&s->st, dt);
	sender_unlock(s);
	if (begun) {                    /* always ended, so the next begin works */
		struct remus_err e2 = { 0 };
		int rc2;
		/* test builds: the guest runs while its pages are being copied */
		if (rc == 0)
			rc = sender_fault(s, CKPT_FAULT_COPY_OUT, n, err);
		rc2 = hv->capture_wait(s->cfg.guest, &cow_pages, rc ? &e2 : err);
		if (rc == 0 && rc2 < 0)
			rc = remus_err_wrap(err, "copy-out of checkpoint %" PRIu64, n);
		if (rc == 0 && (rc = reserve_pages(s, s->dirty.count, err)) == 0 && s->dirty.count)
			memcpy(s->pages, cow_pages, s->dirty.count * STREAM_PAGE_SIZE);
	}
	return rc;
}

/* Epoch N: capture while paused, then queue the checkpoint's records:
 * libxc PAGE_DATA..., TSC_INFO, HVM_CONTEXT, HVM_PARAMS, CHECKPOINT,
 * then libxl EMULATOR_CONTEXT, [REMUS_XENSTORE], CHECKPOINT_END. */
int sender_take_checkpoint(struct ckpt_sender *s, struct remus_err *err)
{
	uint64_t n = s->epoch + 1;
	struct stream_tsc_info tsc = { .mode = 0, .khz = 0, .nsec = ckpt_now_us() * 1000,
	                               .incarnation = (uint32_t)n };
	int rc;

	if ((rc = capture(s, n, err)) || (rc = sender_forward_disk(s, err)))
		return rc;
	s->epoch = n;
	if ((rc = sender_put_pages(s, s->dirty.pfns, s->dirty.count, err)) ||
	    (rc = stream_put_tsc_info(&s->out, &tsc)) < 0 ||
	    (rc = stream_put_hvm_context(&s->out, s->hvm.data, s->hvm.len, STREAM_REF)) < 0 ||
	    (rc = stream_put_hvm_params(&s->out, NULL, 0)) < 0 ||
	    (rc = stream_put_checkpoint(&s->out)) < 0)
		return rc < 0 && !err->code ? remus_err_set(err, rc, "checkpoint %" PRIu64 ": %s", n,
		                                            stream_strerror(rc)) : rc;
	if ((rc = sender_send_out(s, err)))
		return rc;
	/* test builds: the fault point sees CHECKPOINT on the wire, not queued */
	if (s->cfg.fault.hit && ((rc = sender_drain(s, err)) ||
	                         (rc = sender_fault(s, CKPT_FAULT_SENT_CHECKPOINT, n, err))))
		return rc;
	if ((rc = stream_put_emulator_context(&s->out, STREAM_EMU_UNKNOWN, 0, s->emu.data,
	                                      s->emu.len, STREAM_REF)) < 0 ||
	    (s->cfg.xenstore && (rc = stream_put_record(&s->out, STREAM_XL_REMUS_XENSTORE,
	                                                s->store.data, s->store.len)) < 0) ||
	    (rc = stream_put_checkpoint_end(&s->out)) < 0)
		return remus_err_set(err, rc, "checkpoint %" PRIu64 " libxl records: %s", n,
		                     stream_strerror(rc));
	if ((rc = sender_send_out(s, err)))
		return rc;
	sender_lock(s);
	s->st.epoch = n;
	s->st.checkpoints++;
	s->st.pages += s->dirty.count;
	s->st.last_dirty = s->dirty.count;
	s->st.last_ckpt_ms = rnet_now_ms();
	sender_note_memory(s);
	sender_unlock(s);
	/* test builds: "sent" means the whole checkpoint is on the wire, not
	 * queued (as on the Xen path), so a stop there leaves the backup it */
	if (s->cfg.fault.hit && ((rc = sender_drain(s, err)) ||
	                         (rc = sender_fault(s, CKPT_FAULT_SENT, n, err))))
		return rc;
	/* blackhole: nobody to wait for, the checkpoint counts as held */
	return s->cfg.blackhole ? sender_handle_ack(s, n, err) : 0;
}
