/*
 * Backup side: xc_domain_restore(XC_STREAM_REMUS) reads the libxc records
 * from the replication fd into a domain we build; at each CHECKPOINT it calls
 * back and we read the libxl records up to CHECKPOINT_END with the stream
 * assembler (libxc_external: never a byte past the record).  Only a complete
 * checkpoint's records replace the committed ones; libxc itself keeps memory
 * and vCPU state at the last complete checkpoint and fails over on EOF.
 *
 * libxc returns 0 both when the stream was cut (failover) and when it read
 * END (a hand-over: the primary ends the stream right after its final
 * checkpoint, xen_save.c).  The libxl END behind libxc's tells them apart.
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct xen_restore {
	struct hv_guest *g;
	struct stream_asm as;
	struct stream_ckpt committed;   /* libxl records of the last complete checkpoint */
	uint64_t checkpoints;
	struct remus_err *err;
	bool internal_error;            /* not the stream's fault: 0, not failover */
};

/* Read exactly what the reader needs next until it hands over a checkpoint
 * (1), or the stream ends or is bad (<0, partial checkpoint discarded). */
static int restore_read_libxl(struct xen_restore *rs, bool until_libxc)
{
	uint8_t buf[4096];
	struct stream_ckpt *ck;
	size_t want, used;
	ssize_t n;
	int rc;

	for (;;) {
		if (until_libxc && rs->as.rd.pos == STREAM_POS_LIBXL_EXT)
			return 1;
		want = stream_reader_want(&rs->as.rd);
		if (want == 0)
			return remus_err_set(rs->err, -EPROTO, "restore: the libxl stream already ended");
		if (want > sizeof(buf))
			want = sizeof(buf);
		n = read(rs->g->fd, buf, want);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			stream_asm_abort(&rs->as, "read error");
			return remus_err_sys(rs->err, errno, "restore: reading the libxl records");
		}
		if (n == 0) {
			/* even at a checkpoint boundary: libxc promised more */
			rc = stream_asm_eof(&rs->as);
			return remus_err_set(rs->err, rc < 0 ? rc : -EPIPE,
			    "restore: libxl records: %s", rs->as.err.msg[0] ? rs->as.err.msg : "end of stream");
		}
		rc = stream_asm_feed(&rs->as, buf, (size_t)n, &used, &ck);
		if (rc < 0)
			return remus_err_set(rs->err, rc, "restore: libxl records: %s", rs->as.err.msg);
		if (rc == 1)
			return 1;
	}
}

/* libxc found CHECKPOINT: stage the libxl records; commit them only when
 * CHECKPOINT_END arrived, then let the engine acknowledge.
 * 1 continue, 2 failover (stream error/EOF/timeout), 0 internal error. */
static int restore_checkpoint_cb(void *data)
{
	struct xen_restore *rs = data;
	const struct hv_stream_hooks *h = rs->g->hooks;
	int rc;

	if (restore_read_libxl(rs, false) < 0)
		return XGR_CHECKPOINT_FAILOVER;
	stream_ckpt_free(&rs->committed);
	stream_asm_take(&rs->as, &rs->committed);
	rs->checkpoints++;
	if (xen_emu_refuse_restore(&rs->committed, rs->err) < 0) {
		rs->internal_error = true;
		return XGR_CHECKPOINT_ERROR;
	}
	if (h == NULL || h->checkpoint == NULL)
		return XGR_CHECKPOINT_SUCCESS;
	rc = h->checkpoint(h->arg, -1);
	if (rc == XGR_CHECKPOINT_ERROR) {
		remus_err_set(rs->err, -EIO, "restore: engine checkpoint hook failed after checkpoint %llu",
		    (unsigned long long)rs->checkpoints);
		rs->internal_error = true;
	}
	return rc;
}

/* After libxc returned: whether the stream ended with END (libxc's, which
 * libxc consumed, then libxl's) rather than being cut.  Reads at most the
 * 8 bytes of libxl's END, waiting XEN_END_WAIT_MS for them at most (they
 * follow libxc's in the same write); anything else is a cut stream. */
static bool restore_stream_ended(struct xen_restore *rs)
{
	uint8_t buf[8];
	size_t have = 0, used;
	struct stream_ckpt *ck = NULL;
	ssize_t n;

	while (have < sizeof(buf)) {
		struct pollfd p = { .fd = rs->g->fd, .events = POLLIN };

		n = poll(&p, 1, XEN_END_WAIT_MS);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		n = read(rs->g->fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		have += (size_t)n;
	}
	return stream_asm_feed(&rs->as, buf, sizeof(buf), &used, &ck) == 1 && ck != NULL &&
	    ck->final && rs->as.rd.pos == STREAM_POS_DONE;
}

/* libxc wants the restored domain suspended between checkpoints: it is
 * never unpaused before failover, so there is nothing to do. */
static int restore_noop_cb(void *data)
{
	(void)data;
	return 1;
}

/* The paging (HAP p2m) pool libxl gives a domain of this size: 4 KiB x
 * (256 per vCPU + 2 per MiB of RAM) (libxl_get_required_shadow_memory). */
static uint64_t restore_paging_pool_bytes(uint64_t mem_bytes, unsigned vcpus)
{
	return 4096u * (256u * (uint64_t)vcpus + 2u * (mem_bytes >> 20));
}

/* Build the empty PVH container libxc restores into; the stream carries
 * memory, vCPU state, HVM params and the CPU policy. */
static int restore_make_domain(struct hv_guest *g, const struct hv_guest_config *cfg,
    struct xen_home *home, struct remus_err *err)
{
	struct xen_domctl_createdomain dc = {
		.flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
		.max_vcpus = XEN_RESTORE_MAX_VCPUS,
		.max_evtchn_port = 1023,
		.max_grant_frames = 64,
		.max_maptrack_frames = 1024,
		.grant_opts = XEN_DOMCTL_GRANT_version(1),
		.arch = { .emulation_flags = XEN_X86_EMU_LAPIC },
	};
	uint32_t domid = 0;
	int port;

	if (xc_domain_create(g->xch, &domid, &dc) != 0)
		return remus_err_sys(err, errno, "restore: creating the replica domain failed");
	g->domid = domid;
	g->owned = true;
	/* Xen 4.17 still allocates the vCPUs themselves here (domctl.h). */
	if (xc_domain_max_vcpus(g->xch, domid, XEN_RESTORE_MAX_VCPUS) != 0)
		return remus_err_sys(err, errno, "restore: allocating the vCPUs of domain %u", domid);
	if (xc_domain_setmaxmem(g->xch, domid, cfg->mem_bytes / 1024 + 1024) != 0)
		return remus_err_sys(err, errno, "restore: setting max memory of domain %u", domid);
	/* Xen's default HAP pool is too small for the p2m of a whole guest. */
	if (xc_set_paging_mempool_size(g->xch, domid,
	    restore_paging_pool_bytes(cfg->mem_bytes, XEN_RESTORE_MAX_VCPUS)) != 0)
		return remus_err_sys(err, errno, "restore: sizing the paging pool of domain %u", domid);
	if ((port = xc_evtchn_alloc_unbound(g->xch, domid, 0)) < 0)
		return remus_err_sys(err, errno, "restore: xenstore event channel of domain %u", domid);
	home->store_port = (uint32_t)port;
	if ((port = xc_evtchn_alloc_unbound(g->xch, domid, 0)) < 0)
		return remus_err_sys(err, errno, "restore: console event channel of domain %u", domid);
	home->console_port = (uint32_t)port;
	return 0;
}

/* After failover: give the domain the xenstore home a toolstack would,
 * hand it to xenstored (xenconsoled attaches on the introduction), write
 * the staged nodes; the domain stays paused until start(). */
static int restore_finish(struct xen_restore *rs, const struct xen_home *home,
    struct remus_err *err)
{
	struct hv_guest *g = rs->g;
	int rc;

	if ((rc = xen_xs_make_home(g, home, err)) < 0)
		return rc;
	if (!xs_introduce_domain(g->xsh, g->domid, home->store_mfn, home->store_port))
		return remus_err_sys(err, errno, "restore: introducing domain %u to xenstored", g->domid);
	return xen_xs_apply_nodes(g, &rs->committed, err);
}

/* Receive a Remus stream into a new paused domain: on failover libxc keeps
 * the last complete checkpoint; nothing is left behind on error. */
int xen_restore_stream(const struct hv_guest_config *cfg, int fd,
    const struct hv_stream_hooks *hooks, struct hv_guest **out, struct remus_err *err)
{
	struct restore_callbacks cb = {
		.suspend = restore_noop_cb,
		.postcopy = restore_noop_cb,
		.checkpoint = restore_checkpoint_cb,
	};
	struct stream_asm_cfg acfg = {
		.reader = { .start = STREAM_START_LIBXL, .libxc_external = true, .remus_xenstore = true },
	};
	struct xen_restore rs = { .err = err };
	struct xen_home home = { 0 };
	struct hv_guest *g = NULL;
	int rc;

	if (cfg == NULL || cfg->name == NULL || cfg->mem_bytes == 0)
		return remus_err_set(err, -EINVAL, "restore: the guest needs a name and a memory size");
	if (xen_restore_whole_checkpoints(cfg))     /* QEMU: only libxl can start it */
		return xen_restore_libxl(cfg, fd, out, err);
	if ((rc = xen_guest_open(&g, err)) < 0)
		return rc;
	snprintf(g->name, sizeof(g->name), "%s", cfg->name);
	g->fd = fd;
	g->hooks = hooks;
	g->hvm = true;
	g->mem_bytes = cfg->mem_bytes;
	rs.g = g;
	cb.data = &rs;
	stream_asm_init(&rs.as, &acfg);
	if ((rc = restore_read_libxl(&rs, true)) < 0)
		goto err;
	if ((rc = restore_make_domain(g, cfg, &home, err)) < 0)
		goto err;
	rc = xc_domain_restore(g->xch, fd, g->domid, home.store_port, &home.store_mfn, 0,
	    home.console_port, &home.console_mfn, 0, XC_STREAM_REMUS, &cb, -1);
	xen_phase_mark(g, "libxc");
	if (rs.internal_error) {
		rc = err->code < 0 ? err->code : -EIO;
		goto err;
	}
	if (rc != 0) {
		rc = remus_err_sys(err, errno ? errno : EIO,
		    "restore: xc_domain_restore(XC_STREAM_REMUS) into domain %u failed after %llu complete checkpoints",
		    g->domid, (unsigned long long)rs.checkpoints);
		goto err;
	}
	if (restore_stream_ended(&rs) && hooks != NULL && hooks->stream_end != NULL)
		hooks->stream_end(hooks->arg);
	if ((rc = restore_finish(&rs, &home, err)) < 0)
		goto err;
	xen_phase_mark(g, "home");
	g->fd = -1;
	g->hooks = NULL;
	*out = g;
	rc = 0;
	goto out;
err:
	xen_guest_destroy(g);
out:
	stream_ckpt_free(&rs.committed);
	stream_asm_free(&rs.as);
	return rc;
}
