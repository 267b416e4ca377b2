/*
 * Backup of an HVM guest with a device model (QEMU): the replica is built
 * by libxl's public restore, libxl_domain_create_restore() with a Remus
 * (checkpointed) stream, as `xl migrate-receive -r` does.  Only libxl can
 * start QEMU with the saved EMULATOR_CONTEXT (docs/xen.md), and it reads
 * the stream itself, so the engine gives it only complete checkpoints
 * (hv_ops.restore_whole_checkpoints; lib/stream/gate.c) and acknowledges
 * them itself.  When the engine ends the fd — primary lost, failover
 * requested — libxl's libxc is at a checkpoint boundary and fails over to
 * the last complete checkpoint; after a hand-over the stream's END reaches
 * libxl and it completes normally.  Either way libxl builds the domain,
 * its devices and QEMU with its state, and leaves it paused.
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>
#include <xentoollog.h>

/* The stream's configuration names an HVM guest served by QEMU. */
bool xen_restore_whole_checkpoints(const struct hv_guest_config *cfg)
{
	struct xen_json_guest jg;
	struct remus_err e = { 0 };

	if (cfg == NULL || cfg->stream_config == NULL)
		return false;
	if (xen_json_guest(cfg->stream_config, cfg->stream_config_len, &jg, &e) < 0)
		return false;   /* restore_stream refuses it with libxl's reason */
	return jg.device_model;
}

struct xen_dm_libxl {
	xentoollog_logger_stdiostream *log;
	libxl_ctx *ctx;
};

static int dm_open(struct xen_dm_libxl *x, struct remus_err *err)
{
	x->ctx = NULL;
	x->log = xtl_createlogger_stdiostream(stderr, XTL_WARN,
	    XTL_STDIOSTREAM_SHOW_DATE | XTL_STDIOSTREAM_HIDE_PROGRESS);
	if (x->log == NULL)
		return remus_err_sys(err, ENOMEM, "libxl: creating its logger");
	if (libxl_ctx_alloc(&x->ctx, LIBXL_VERSION, 0, (xentoollog_logger *)x->log) != 0) {
		x->ctx = NULL;
		xtl_logger_destroy((xentoollog_logger *)x->log);
		x->log = NULL;
		return remus_err_set(err, -EIO, "libxl: libxl_ctx_alloc failed (is this a Xen dom0?)");
	}
	return 0;
}

static void dm_close(struct xen_dm_libxl *x)
{
	if (x->ctx != NULL)
		libxl_ctx_free(x->ctx);
	if (x->log != NULL)
		xtl_logger_destroy((xentoollog_logger *)x->log);
}

int xen_libxl_unpause(struct hv_guest *g, struct remus_err *err)
{
	struct xen_dm_libxl x;
	int rc;

	if ((rc = dm_open(&x, err)) < 0)
		return rc;
	if ((rc = libxl_domain_unpause(x.ctx, g->domid, NULL)) != 0)
		rc = remus_err_set(err, -EIO, "libxl: unpausing domain %u (%s) and its device model "
		    "failed (libxl error %d)", g->domid, g->name, rc);
	dm_close(&x);
	return rc;
}

int xen_restore_libxl(const struct hv_guest_config *cfg, int fd, struct hv_guest **out,
    struct remus_err *err)
{
	libxl_domain_restore_params params;
	libxl_domain_config dc;
	struct xen_dm_libxl x;
	struct hv_guest *g = NULL;
	uint32_t domid = 0;
	char *name;
	int rc;

	if ((rc = dm_open(&x, err)) < 0)
		return rc;
	libxl_domain_config_init(&dc);
	libxl_domain_restore_params_init(&params);
	if ((rc = libxl_domain_config_from_json(x.ctx, &dc, cfg->stream_config)) != 0) {
		rc = remus_err_set(err, -EINVAL, "restore: the guest's configuration is not valid "
		    "libxl JSON (libxl error %d)", rc);
		goto out;
	}
	if ((name = strdup(cfg->name)) == NULL) {
		rc = remus_err_sys(err, ENOMEM, "restore: the replica's name");
		goto out;
	}
	free(dc.c_info.name);
	dc.c_info.name = name;          /* the replica's name (<guest>--backup) */
	params.checkpointed_stream = LIBXL_CHECKPOINTED_STREAM_REMUS;
	params.stream_version = 2;
	if ((rc = xen_guest_open(&g, err)) < 0)
		goto out;
	/* synchronous (ao_how NULL): returns once libxl read the stream to
	 * its end or failover point and built the domain, paused */
	rc = libxl_domain_create_restore(x.ctx, &dc, &domid, fd, -1, &params, NULL, NULL);
	if (rc != 0) {
		rc = remus_err_set(err, -EIO, "restore: libxl_domain_create_restore (Remus stream, "
		    "with the device model) failed (libxl error %d); libxl destroyed what it built",
		    rc);
		goto out;
	}
	snprintf(g->name, sizeof(g->name), "%s", cfg->name);
	g->domid = domid;
	g->hvm = g->has_dm = true;
	g->owned = g->libxl_built = true;
	g->mem_bytes = cfg->mem_bytes;
	g->fd = -1;
	*out = g;
	g = NULL;
	rc = 0;
out:
	xen_guest_close(g);
	libxl_domain_restore_params_dispose(&params);
	libxl_domain_config_dispose(&dc);
	dm_close(&x);
	return rc;
}
