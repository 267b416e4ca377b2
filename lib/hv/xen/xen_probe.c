/* The facts `xen_check` judges, collected from a live host: the guest's
 * kind, Xen's paging modes, the guest's disk backends, kernel modules. */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XEN_PROBE_MAX_DISKS 32

/* Append the `params` of every backend of one kind (vbd, qdisk) serving
 * the guest; a missing backend directory means no such disks. */
static int probe_disks(struct hv_guest *g, const char *kind, char **disks, size_t *n,
    struct remus_err *err)
{
	char dir[96], path[160];
	unsigned nd = 0, i, len;
	char **devs;

	snprintf(dir, sizeof(dir), "/local/domain/0/backend/%s/%u", kind, g->domid);
	devs = xs_directory(g->xsh, XBT_NULL, dir, &nd);
	if (devs == NULL)
		return errno == ENOENT ? 0 : remus_err_sys(err, errno, "check: listing %s", dir);
	for (i = 0; i < nd && *n < XEN_PROBE_MAX_DISKS; i++) {
		char *v;

		snprintf(path, sizeof(path), "%s/%s/params", dir, devs[i]);
		v = xs_read(g->xsh, XBT_NULL, path, &len);
		if (v == NULL) {
			if (errno == ENOENT)
				continue;
			free(devs);
			return remus_err_sys(err, errno, "check: reading %s", path);
		}
		disks[(*n)++] = v;
	}
	free(devs);
	return 0;
}

int xen_check_probe(struct hv_guest *g, const char *sysroot, struct xen_check_input *in,
    struct remus_err *err)
{
	char **disks = calloc(XEN_PROBE_MAX_DISKS, sizeof(char *));
	xc_physinfo_t pi;
	size_t n = 0;
	int rc;

	memset(in, 0, sizeof(*in));
	if (disks == NULL)
		return remus_err_sys(err, ENOMEM, "check: allocating the disk list");
	in->disks = (const char *const *)disks;
	memset(&pi, 0, sizeof(pi));
	if (xc_physinfo(g->xch, &pi) != 0) {
		rc = remus_err_sys(err, errno, "check: xc_physinfo failed");
		goto err;
	}
	in->shadow_paging = (pi.capabilities & XEN_SYSCTL_PHYSCAP_shadow) != 0;
	in->has_device_model = g->has_dm;
	in->kind = !g->hvm ? XEN_GUEST_PV : g->has_dm ? XEN_GUEST_HVM : XEN_GUEST_PVH;
	if ((rc = probe_disks(g, "vbd", disks, &n, err)) < 0 ||
	    (rc = probe_disks(g, "qdisk", disks, &n, err)) < 0)
		goto err;
	in->ndisks = n;
	in->mod_sch_plug = xen_check_module(sysroot, "sch_plug");
	in->mod_ifb = xen_check_module(sysroot, "ifb");
	in->mod_drbd = xen_check_module(sysroot, "drbd");
	in->mod_nbd = xen_check_module(sysroot, "nbd");
	return 0;
err:
	in->ndisks = n;
	xen_check_input_free(in);
	return rc;
}

void xen_check_input_free(struct xen_check_input *in)
{
	char **disks = (char **)in->disks;
	size_t i;

	for (i = 0; disks != NULL && i < in->ndisks; i++)
		free(disks[i]);
	free(disks);
	in->disks = NULL;
	in->ndisks = 0;
}
