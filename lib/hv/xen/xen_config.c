/* The guest's libxl domain configuration as JSON: what `xl` sends in its
 * migration header, and what a backup needs to give a replica its devices. */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <string.h>

#include <libxl.h>
#include <xentoollog.h>

int xen_guest_config_json(struct hv_guest *g, char **json, size_t *len, struct remus_err *err)
{
	xentoollog_logger_stdiostream *log;
	libxl_domain_config dc;
	libxl_ctx *ctx = NULL;
	int rc = 0;

	*json = NULL;
	*len = 0;
	log = xtl_createlogger_stdiostream(stderr, XTL_ERROR, 0);
	if (log == NULL || libxl_ctx_alloc(&ctx, LIBXL_VERSION, 0, (xentoollog_logger *)log) != 0) {
		rc = remus_err_set(err, -EIO, "libxl: cannot open a context");
		goto out;
	}
	libxl_domain_config_init(&dc);
	if (libxl_retrieve_domain_configuration(ctx, g->domid, &dc, NULL) != 0)
		rc = remus_err_set(err, -EIO, "libxl: cannot retrieve the configuration of domain %u",
		    g->domid);
	else if ((*json = libxl_domain_config_to_json(ctx, &dc)) == NULL)
		rc = remus_err_set(err, -EIO, "libxl: cannot encode the configuration of domain %u",
		    g->domid);
	else
		*len = strlen(*json) + 1;   /* xl sends the NUL too */
	libxl_domain_config_dispose(&dc);
out:
	if (ctx != NULL)
		libxl_ctx_free(ctx);
	if (log != NULL)
		xtl_logger_destroy((xentoollog_logger *)log);
	return rc;
}
