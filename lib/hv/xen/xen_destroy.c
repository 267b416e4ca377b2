/*
 * Ending an attached domain for good: after a hand-over the primary's
 * copy (left suspended at the final checkpoint) must go, devices and all.
 * xc_domain_destroy alone would leave its vif/vbd backends, hotplug
 * state and xenstore home behind; libxl_domain_destroy tears all of it
 * down, as `xl destroy` does.
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <stdio.h>

#include <libxl.h>
#include <xentoollog.h>

int xen_guest_destroy_domain(struct hv_guest *g, int log_level, struct remus_err *err)
{
	xentoollog_logger_stdiostream *log;
	libxl_ctx *ctx = NULL;
	int rc;

	log = xtl_createlogger_stdiostream(stderr, (xentoollog_level)log_level,
	    XTL_STDIOSTREAM_SHOW_DATE | XTL_STDIOSTREAM_HIDE_PROGRESS);
	if (log == NULL)
		return remus_err_sys(err, ENOMEM, "libxl: creating its logger");
	if (libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, (xentoollog_logger *)log) != 0) {
		rc = remus_err_set(err, -EIO, "libxl: libxl_ctx_alloc failed (is this a Xen dom0?)");
		goto out;
	}
	if ((rc = libxl_domain_destroy(ctx, g->domid, NULL)) != 0) {
		rc = remus_err_set(err, -EIO, "libxl: destroying domain %u (%s) failed (libxl error %d)",
		    g->domid, g->name, rc);
		goto out;
	}
	g->suspended = false;
	rc = 0;
out:
	if (ctx != NULL)
		libxl_ctx_free(ctx);
	xtl_logger_destroy((xentoollog_logger *)log);
	return rc;
}
