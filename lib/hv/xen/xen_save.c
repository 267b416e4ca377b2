/*
 * Primary side: libxc's xc_domain_save(XC_STREAM_REMUS) writes the libxc
 * records on the replication fd and calls back at each epoch boundary; we
 * suspend/resume the domain, write the checkpoint's libxl records and wait
 * for the engine.  The suspend is cooperative by default, as `xl remus`
 * does it (control/shutdown = "suspend", fast resume): only then does a
 * replica restored from a checkpoint reconnect its PV devices.  Order per epoch (xg_sr_save.c, 4.17): suspend, memory,
 * CHECKPOINT, postcopy (resume), checkpoint (libxl records, wait).
 *
 * Hand-over (evacuation): the final checkpoint leaves the domain suspended
 * (postcopy does not resume it); once the engine says it is acknowledged,
 * the checkpoint callback returns 0, which in 4.17's Remus loop makes
 * xc_domain_save() return 0 *without* writing libxc's END (save(): "rc <= 0
 * goto err" with rc 0, and END is only written after the loop, which a
 * checkpointed stream never leaves).  So the driver writes the two END
 * records itself — libxc's, then libxl's, as a plain save ends — and the
 * backup's libxc reaches END with the final checkpoint complete.
 *
 * An HVM guest's device model (QEMU) is stopped and saved after the guest
 * suspended and continued before it resumes, as libxl does (xen_emu.c).
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <time.h>

/* Record the first callback failure; libxc only sees a return code. */
static void save_fail(struct hv_guest *g)
{
	g->cb_failed = true;
}

/* Wait until Xen reports the domain shut down for suspend (all vCPUs off).
 * Polls with a growing step (50 us .. 2 ms): the guest needs the CPU to
 * reach its suspend point, a tight loop in dom0 would slow it down. */
static int save_wait_suspended(struct hv_guest *g, unsigned timeout_ms)
{
	uint64_t waited_us = 0, step_us = 50;
	xc_dominfo_t di;
	int rc;

	for (;;) {
		if ((rc = xen_domain_state(g, &di, g->err)) < 0)
			return rc;
		if (di.crashed)
			return remus_err_set(g->err, HV_ECRASHED,
			    "suspend: domain %u crashed while being suspended", g->domid);
		if (di.shutdown && di.shutdown_reason == SHUTDOWN_suspend)
			return 0;
		if (di.shutdown)
			return remus_err_set(g->err, HV_EBADSTATE,
			    "suspend: domain %u shut down (reason %u) instead of suspending",
			    g->domid, di.shutdown_reason);
		if (waited_us >= (uint64_t)timeout_ms * 1000u)
			return remus_err_set(g->err, -ETIMEDOUT,
			    "suspend: domain %u not suspended after %u ms%s", g->domid, timeout_ms,
			    g->suspend_mode == XEN_SUSPEND_COOPERATIVE ?
			    " (does the guest handle control/shutdown = \"suspend\"?)" : "");
		nanosleep(&(struct timespec){ 0, (long)step_us * 1000 }, NULL);
		waited_us += step_us;
		if (step_us < 2000)
			step_us *= 2;
	}
}

/* The guest's own suspend request node, as libxl writes it. */
static void save_control_path(struct hv_guest *g, char *path, size_t size)
{
	snprintf(path, size, "/local/domain/%u/control/shutdown", g->domid);
}

/* Ask the guest to suspend itself (it freezes, disconnects nothing and
 * makes SCHEDOP_shutdown(suspend)); withdraw the request if it never does,
 * so a late answer cannot leave it suspended behind our back. */
static int save_suspend_cooperative(struct hv_guest *g)
{
	char path[64];

	save_control_path(g, path, sizeof(path));
	if (!xs_write(g->xsh, XBT_NULL, path, "suspend", 7))
		return remus_err_sys(g->err, errno, "suspend: writing %s failed", path);
	if (save_wait_suspended(g, XEN_COOP_SUSPEND_TIMEOUT_MS) < 0) {
		struct remus_err again = { 0 };
		xc_dominfo_t di;

		/* Withdraw; if it suspended after all, save_stream resumes it. */
		xs_write(g->xsh, XBT_NULL, path, "", 0);
		if (xen_domain_state(g, &di, &again) == 0 && di.shutdown &&
		    di.shutdown_reason == SHUTDOWN_suspend)
			g->suspended = true;
		return g->err->code;
	}
	g->suspended = true;
	return 0;
}

/* Stop the domain from outside (SCHEDOP_remote_shutdown): the guest never
 * learns about it, which is fine for checkpoints and wrong for a failover
 * of a guest with PV devices (docs/xen.md). */
static int save_suspend_remote(struct hv_guest *g)
{
	if (xc_domain_shutdown(g->xch, g->domid, SHUTDOWN_suspend) != 0)
		return remus_err_sys(g->err, errno,
		    "suspend: xc_domain_shutdown(SHUTDOWN_suspend) of domain %u failed", g->domid);
	g->suspended = true;
	return save_wait_suspended(g, XEN_SUSPEND_TIMEOUT_MS);
}

/* libxc suspend: stop the domain, then let the engine close the epoch.
 * 1 ok, 0 failed. */
static int save_suspend_cb(void *data)
{
	struct hv_guest *g = data;
	int rc;

	rc = g->suspend_mode == XEN_SUSPEND_COOPERATIVE ? save_suspend_cooperative(g) :
	    save_suspend_remote(g);
	if (rc < 0)
		goto err;
	if (g->emu != NULL && xen_emu_suspend(g, g->err) < 0)
		goto err;
	if (g->hooks->suspended != NULL && (rc = g->hooks->suspended(g->hooks->arg)) < 0) {
		remus_err_wrap(g->err, "suspend: engine hook failed (%d)", rc);
		goto err;
	}
	return 1;
err:
	save_fail(g);
	return 0;
}

/* Resume the domain we suspended.  Cooperative: the fast resume makes the
 * guest's suspend hypercall return 1 ("cancelled": it carries on with its
 * devices connected) and tells xenstored the domain runs again; a replica
 * restored from the checkpoint instead sees 0 and reconnects its frontends.
 * Remote: the guest never made a hypercall, its registers stay as they are. */
int xen_save_resume(struct hv_guest *g, struct remus_err *err)
{
	bool coop = g->suspend_mode == XEN_SUSPEND_COOPERATIVE;
	struct remus_err qerr = { 0 };
	int qrc;

	/* QEMU continues first (libxl's order); if it cannot, the domain
	 * still resumes: leaving the guest suspended helps nobody. */
	qrc = xen_emu_resume(g, &qerr);
	if (xc_domain_resume(g->xch, g->domid, coop ? 1 : 0) != 0)
		return remus_err_sys(err, errno, "resuming domain %u failed", g->domid);
	g->suspended = false;
	if (coop && !xs_resume_domain(g->xsh, g->domid))
		return remus_err_sys(err, errno, "xenstored refused to resume domain %u", g->domid);
	if (g->hooks != NULL && g->hooks->resumed != NULL)
		g->hooks->resumed(g->hooks->arg);
	if (qrc < 0) {
		*err = qerr;
		return qrc;
	}
	return 0;
}

/* libxc postcopy: the dirty pages are buffered; resume the domain so it runs
 * on while the checkpoint is sent.  1 ok, -1 failed (0 would make
 * xc_domain_save return success). */
static int save_postcopy_cb(void *data)
{
	struct hv_guest *g = data;

	/* the final checkpoint of a hand-over: stay suspended */
	if (g->hooks->final != NULL && g->hooks->final(g->hooks->arg))
		return 1;
	if (xen_save_resume(g, g->err) < 0) {
		remus_err_wrap(g->err, "postcopy");
		save_fail(g);
		return -1;
	}
	return 1;
}

/* The driver's own libxl records of one checkpoint, in libxl's order: the
 * device model's (EMULATOR_XENSTORE_DATA, EMULATOR_CONTEXT) for an HVM
 * guest with QEMU, nothing invented for a PVH guest; then the guest's
 * xenstore nodes when the peer is remusd. */
static int save_put_device_records(struct hv_guest *g, int fd)
{
	struct stream_buf b;
	int rc = 0;

	if (!g->xs_records && g->emu == NULL)
		return 0;
	stream_buf_init(&b);
	if (g->emu != NULL && (rc = xen_emu_put_records(g, &b, g->err)) < 0)
		goto out;
	if (g->xs_records && (rc = xen_xs_put_nodes(g, &b, g->err)) < 0)
		goto out;
	if ((rc = stream_buf_flush(&b, fd)) < 0)
		remus_err_sys(g->err, -rc, "checkpoint: writing the device records");
out:
	stream_buf_free(&b);
	return rc;
}

/* The checkpoint's libxl records end with CHECKPOINT_END: the engine's hook
 * writes its records and the END; without a hook the driver writes the END. */
static int save_put_checkpoint_end(struct hv_guest *g, int fd)
{
	struct stream_buf b;
	int rc;

	if (g->hooks->postcopy != NULL) {
		/* the hook's code, not err's: the hook keeps its message itself */
		if ((rc = g->hooks->postcopy(g->hooks->arg, fd)) < 0) {
			remus_err_wrap(g->err, "checkpoint: engine postcopy hook failed (%d)", rc);
			return rc;
		}
		return 0;
	}
	stream_buf_init(&b);
	rc = stream_put_checkpoint_end(&b);
	if (rc == 0 && (rc = stream_buf_flush(&b, fd)) < 0)
		remus_err_sys(g->err, -rc, "checkpoint: writing CHECKPOINT_END");
	else if (rc < 0)
		remus_err_set(g->err, rc, "checkpoint: encoding CHECKPOINT_END");
	stream_buf_free(&b);
	return rc;
}

/* libxc checkpoint: CHECKPOINT is on the wire; send the libxl records, then
 * wait for the backup's ACK and the next tick.  1 go on, 0 stop, -1 error. */
static int save_checkpoint_cb(void *data)
{
	struct hv_guest *g = data;
	int rc;

	if (save_put_device_records(g, g->fd) < 0 || save_put_checkpoint_end(g, g->fd) < 0)
		goto err;
	rc = g->hooks->wait_checkpoint != NULL ? g->hooks->wait_checkpoint(g->hooks->arg) : 1;
	if (rc < 0) {
		remus_err_wrap(g->err, "checkpoint: engine wait hook failed (%d)", rc);
		goto err;
	}
	if (rc == HV_STREAM_HANDED_OVER) {
		g->handed = true;       /* xc_domain_save returns 0, no END (see top) */
		return 0;
	}
	if (rc == 0) {
		g->stopped = true;
		return 0;
	}
	return 1;
err:
	save_fail(g);
	return -1;
}

/* libxc asks QEMU to track its own writes to guest RAM (on at the start,
 * off at the end); a PVH guest has no device model.  0 = ok. */
static int save_qemu_logdirty_cb(uint32_t domid, unsigned enable, void *data)
{
	struct hv_guest *g = data;

	(void)domid;
	if (g->emu == NULL)
		return 0;
	/* Switching it off in libxc's cleanup after an earlier failure must
	 * not replace that failure's message. */
	if (g->cb_failed) {
		struct remus_err later = { 0 };

		return xen_emu_logdirty(g, enable != 0, &later) < 0 ? -1 : 0;
	}
	if (xen_emu_logdirty(g, enable != 0, g->err) < 0) {
		save_fail(g);
		return -1;
	}
	return 0;
}

/* The libxl stream header and LIBXC_CONTEXT, after which libxc writes. */
static int save_put_prologue(struct hv_guest *g, int fd)
{
	struct stream_buf b;
	int rc;

	stream_buf_init(&b);
	if ((rc = stream_put_libxl_header(&b)) < 0 || (rc = stream_put_libxc_context(&b)) < 0)
		remus_err_set(g->err, rc, "save: encoding the libxl header");
	else if ((rc = stream_buf_flush(&b, fd)) < 0)
		remus_err_sys(g->err, -rc, "save: writing the libxl header");
	stream_buf_free(&b);
	return rc;
}

/* After a hand-over's final checkpoint: libxc's END, then libxl's. */
static int save_put_end(struct hv_guest *g, int fd)
{
	struct stream_buf b;
	int rc;

	stream_buf_init(&b);
	if ((rc = stream_put_libxc_end(&b)) < 0 || (rc = stream_put_libxl_end(&b)) < 0)
		remus_err_set(g->err, rc, "hand-over: encoding the END records");
	else if ((rc = stream_buf_flush(&b, fd)) < 0)
		remus_err_sys(g->err, -rc, "hand-over: writing the END records");
	stream_buf_free(&b);
	return rc;
}

/* hv_ops.resume: a domain left suspended (a hand-over cancelled after its
 * final checkpoint, or resolved with `resume --force`) resumes as after a
 * cancelled checkpoint (cooperative: fast resume + xenstored told); a
 * paused one is unpaused. */
int xen_resume(struct hv_guest *g, struct remus_err *err)
{
	xc_dominfo_t di;
	int rc;

	if ((rc = xen_domain_state(g, &di, err)) < 0)
		return rc;
	if (di.shutdown && di.shutdown_reason == SHUTDOWN_suspend)
		return xen_save_resume(g, err);
	if (di.paused && xc_domain_unpause(g->xch, g->domid) != 0)
		return remus_err_sys(err, errno, "xen: unpausing domain %u failed", g->domid);
	return 0;
}

/* What kind of guest libxc's Remus loop can carry with our callbacks. */
static int save_supported(struct hv_guest *g, struct remus_err *err)
{
	if (!g->hvm)
		return remus_err_set(err, HV_EUNSUPP,
		    "save: domain %u is a classic PV guest: suspending it needs its cooperation and log-dirty needs shadow paging; protect PVH or HVM guests",
		    g->domid);
	return 0;
}

/* Run xc_domain_save(XC_STREAM_REMUS) until the engine stops it or it fails;
 * on any exit the domain is left running (unprotected if it failed). */
int xen_save_stream(struct hv_guest *g, int fd, const struct hv_stream_hooks *hooks,
    struct remus_err *err)
{
	struct save_callbacks cb = {
		.suspend = save_suspend_cb,
		.postcopy = save_postcopy_cb,
		.checkpoint = save_checkpoint_cb,
		.switch_qemu_logdirty = save_qemu_logdirty_cb,
		.data = g,
	};
	int rc, saved_errno;

	if ((rc = save_supported(g, err)) < 0)
		return rc;
	g->fd = fd;
	g->hooks = hooks;
	g->err = err;
	g->suspended = g->stopped = g->cb_failed = g->handed = false;
	if (g->has_dm && (rc = xen_emu_open(g, err)) < 0)
		goto out;
	if ((rc = save_put_prologue(g, fd)) < 0)
		goto out;
	rc = xc_domain_save(g->xch, fd, g->domid, XCFLAGS_LIVE, &cb, XC_STREAM_REMUS, -1);
	saved_errno = errno;
	if (g->cb_failed) {
		rc = err->code < 0 ? err->code : -EIO;
	} else if (rc != 0) {
		rc = remus_err_sys(err, saved_errno ? saved_errno : EIO,
		    "save: xc_domain_save(XC_STREAM_REMUS) of domain %u failed (details in the libxc log)",
		    g->domid);
	} else if (g->handed) {
		rc = save_put_end(g, fd);
	}
out:
	/* after a hand-over's acknowledged final checkpoint the backup may run
	 * the guest: never resume it here, whatever failed since */
	if (g->suspended && !g->handed) {
		struct remus_err rerr = { 0 };

		if (xen_save_resume(g, &rerr) < 0 && g->suspended)
			remus_err_wrap(err, "domain %u left suspended (resume failed too: %s)",
			    g->domid, rerr.msg);
	}
	xen_emu_close(g);
	g->hooks = NULL;
	g->err = NULL;
	g->fd = -1;
	return rc;
}
