/*
 * Finishing a restored replica through libxl: its PV devices.
 *
 * libxc restores memory and vCPU state only; the guest's vif and disk
 * backends (netback/blkback nodes in xenstore, hotplug scripts putting the
 * vif on its bridge and the disk behind blkback) are toolstack work.  libxl
 * does it for a domain it did not build once the domain looks like one of
 * its own: /libxl/<domid>/type names the guest type and the stored domain
 * configuration ("libxl-json" userdata) exists.  Then libxl_device_*_add
 * attaches each device from the guest's own configuration, exactly as
 * libxl's receiver does after a Remus failover (devices come after the
 * stream, before unpause).  A guest that was suspended cooperatively (as
 * `xl remus` does) resumes "in a new domain" and reconnects its frontends.
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxl.h>
#include <libxl_utils.h>
#include <xentoollog.h>


struct xen_libxl {
	xentoollog_logger_stdiostream *log;
	libxl_ctx *ctx;
	libxl_domain_config dc;
	bool dc_init;
};

static void xl_close(struct xen_libxl *x)
{
	if (x->dc_init)
		libxl_domain_config_dispose(&x->dc);
	if (x->ctx != NULL)
		libxl_ctx_free(x->ctx);
	if (x->log != NULL)
		xtl_logger_destroy((xentoollog_logger *)x->log);
}

/* A libxl context (messages at `level` and above to stderr) and the
 * domain configuration parsed from json (none if json is NULL). */
static int xl_open(struct xen_libxl *x, const char *json, size_t len, int level,
    struct remus_err *err)
{
	int rc;

	memset(x, 0, sizeof(*x));
	if (json != NULL && (len == 0 || len > XEN_XL_JSON_MAX || memchr(json, '\0', len) != json + len - 1))
		return remus_err_set(err, -EINVAL,
		    "libxl: the domain configuration must be one NUL-terminated JSON text of at most %u bytes (got %zu bytes)",
		    XEN_XL_JSON_MAX, len);
	x->log = xtl_createlogger_stdiostream(stderr, (xentoollog_level)level,
	    XTL_STDIOSTREAM_SHOW_DATE | XTL_STDIOSTREAM_HIDE_PROGRESS);
	if (x->log == NULL)
		return remus_err_sys(err, ENOMEM, "libxl: creating its logger");
	if (libxl_ctx_alloc(&x->ctx, LIBXL_VERSION, 0, (xentoollog_logger *)x->log) != 0) {
		x->ctx = NULL;
		rc = remus_err_set(err, -EIO, "libxl: libxl_ctx_alloc failed (is this a Xen dom0?)");
		goto err;
	}
	if (json == NULL)
		return 0;
	libxl_domain_config_init(&x->dc);
	x->dc_init = true;
	if ((rc = libxl_domain_config_from_json(x->ctx, &x->dc, json)) != 0) {
		rc = remus_err_set(err, -EINVAL, "libxl: the domain configuration is not valid libxl JSON (libxl error %d)", rc);
		goto err;
	}
	return 0;
err:
	xl_close(x);
	return rc;
}

int xen_json_guest(const char *json, size_t len, struct xen_json_guest *out,
    struct remus_err *err)
{
	struct xen_libxl x;
	const char *name;
	int rc;

	if ((rc = xl_open(&x, json, len, XTL_ERROR, err)) < 0)
		return rc;
	memset(out, 0, sizeof(*out));
	name = x.dc.c_info.name;
	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(out->name)) {
		rc = remus_err_set(err, -EINVAL, "libxl: the domain configuration has no usable name");
		goto out;
	}
	snprintf(out->name, sizeof(out->name), "%s", name);
	out->type = x.dc.c_info.type == LIBXL_DOMAIN_TYPE_PV ? XEN_GUEST_PV :
	    x.dc.c_info.type == LIBXL_DOMAIN_TYPE_PVH ? XEN_GUEST_PVH : XEN_GUEST_HVM;
	out->max_mem_bytes = x.dc.b_info.max_memkb * 1024u;
	out->vcpus = (unsigned)x.dc.b_info.max_vcpus;
	out->nics = (unsigned)x.dc.num_nics;
	out->disks = (unsigned)x.dc.num_disks;
	/* libxl 4.17 starts a device model for every HVM guest (PVH: none) */
	out->device_model = x.dc.c_info.type == LIBXL_DOMAIN_TYPE_HVM;
	if (out->max_mem_bytes == 0 || out->max_mem_bytes / 1024u != x.dc.b_info.max_memkb) {
		rc = remus_err_set(err, -EINVAL, "libxl: the domain configuration has no usable max_memkb");
		goto out;
	}
	rc = 0;
out:
	xl_close(&x);
	return rc;
}

/* Put the guest's one disk on disk_path and re-render the stored JSON
 * (*owned, freed by the caller) from the changed configuration. */
static int xl_move_disk(struct xen_libxl *x, const char *disk_path, char **owned,
    struct remus_err *err)
{
	char *p;

	if (x->dc.num_disks != 1)
		return remus_err_set(err, -EINVAL, "libxl: the guest has %d disks; a replica's "
		    "disk can be moved to %s only when it has exactly one", x->dc.num_disks, disk_path);
	if ((p = strdup(disk_path)) == NULL)
		return remus_err_sys(err, ENOMEM, "libxl: the replica's disk path");
	free(x->dc.disks[0].pdev_path);
	x->dc.disks[0].pdev_path = p;
	if ((*owned = libxl_domain_config_to_json(x->ctx, &x->dc)) == NULL)
		return remus_err_set(err, -EIO, "libxl: rendering the replica's configuration");
	return 0;
}

int xen_guest_attach_devices(struct hv_guest *g, const char *json, size_t len, int log_level,
    struct remus_err *err)
{
	return xen_guest_attach_devices_on(g, json, len, NULL, log_level, err);
}

int xen_guest_attach_devices_on(struct hv_guest *g, const char *json, size_t len,
    const char *disk_path, int log_level, struct remus_err *err)
{
	struct xen_libxl x;
	char path[64], *moved = NULL;
	const char *type;
	int i, rc;

	if (g->libxl_built && disk_path != NULL)
		return remus_err_set(err, HV_EUNSUPP, "libxl: replica %s was restored by libxl with "
		    "the configuration's own disk; it cannot be moved to %s", g->name, disk_path);
	if (g->libxl_built)
		return 0;   /* libxl attached its devices (and QEMU) while restoring */
	if ((rc = xl_open(&x, json, len, log_level, err)) < 0)
		return rc;
	if (disk_path != NULL) {
		if ((rc = xl_move_disk(&x, disk_path, &moved, err)) < 0)
			goto out;
		json = moved;
		len = strlen(moved) + 1;
	}
	type = libxl_domain_type_to_string(x.dc.c_info.type);
	snprintf(path, sizeof(path), "/libxl/%u/type", g->domid);
	if (type == NULL || !xs_write(g->xsh, XBT_NULL, path, type, (unsigned)strlen(type))) {
		rc = remus_err_sys(err, errno ? errno : EINVAL, "libxl: writing %s", path);
		goto out;
	}
	/* libxl's device add updates the stored configuration under its lock. */
	if (libxl_userdata_store(x.ctx, g->domid, "libxl-json", (const uint8_t *)json, (int)len) != 0) {
		rc = remus_err_set(err, -EIO, "libxl: storing the domain configuration of domain %u", g->domid);
		goto out;
	}
	xen_phase_mark(g, "libxl");
	for (i = 0; i < x.dc.num_disks; i++) {
		if (libxl_device_disk_add(x.ctx, g->domid, &x.dc.disks[i], NULL) != 0) {
			rc = remus_err_set(err, -EIO, "libxl: attaching disk %s to domain %u failed",
			    x.dc.disks[i].vdev ? x.dc.disks[i].vdev : "?", g->domid);
			goto out;
		}
		xen_phase_mark(g, "disk:%.18s", x.dc.disks[i].vdev ? x.dc.disks[i].vdev : "?");
	}
	for (i = 0; i < x.dc.num_nics; i++) {
		if (libxl_device_nic_add(x.ctx, g->domid, &x.dc.nics[i], NULL) != 0) {
			rc = remus_err_set(err, -EIO, "libxl: attaching vif %d to domain %u failed", i,
			    g->domid);
			goto out;
		}
		xen_phase_mark(g, "vif:%d", i);
	}
	rc = 0;
out:
	free(moved);
	xl_close(&x);
	return rc;
}

int xen_guest_rename(struct hv_guest *g, const char *name, struct remus_err *err)
{
	struct remus_err e = { 0 };
	struct xen_libxl x;
	uint32_t holder;
	int rc;

	if (name == NULL || name[0] == '\0' || strlen(name) >= sizeof(g->name))
		return remus_err_set(err, -EINVAL, "rename: a domain name of 1 to %zu bytes is needed",
		    sizeof(g->name) - 1);
	if (strcmp(name, g->name) == 0)
		return 0;
	/* libxl refuses a taken name with the same code as any bad argument:
	 * look first, so the caller can tell "wait" from "failed". */
	if (xen_xs_domid_by_name(g, name, &holder, &e) == 0 && holder != g->domid)
		return remus_err_set(err, -EEXIST,
		    "rename: domain %u is still named '%s' (the old primary?); domain %u keeps the name '%s'",
		    holder, name, g->domid, g->name);
	if ((rc = xl_open(&x, NULL, 0, XTL_ERROR, err)) < 0)
		return rc;
	if (libxl_domain_rename(x.ctx, g->domid, g->name, name) != 0)
		rc = remus_err_set(err, -EIO, "rename: libxl could not rename domain %u from '%s' to '%s'",
		    g->domid, g->name, name);
	else
		snprintf(g->name, sizeof(g->name), "%s", name);
	xl_close(&x);
	return rc;
}

/* Wait until xenstored reports a released domain (or wait_ms passed):
 * 1 released, 0 timed out. */
static int wait_release(struct hv_guest *g, uint64_t deadline_us, struct remus_err *err)
{
	struct pollfd p = { .fd = xs_fileno(g->xsh), .events = POLLIN };
	uint64_t now = xen_now_us();
	char **ev;

	if (p.fd < 0)
		return remus_err_sys(err, errno, "rename: xenstore watch descriptor");
	if (now >= deadline_us)
		return 0;
	if (poll(&p, 1, (int)((deadline_us - now + 999) / 1000)) < 0 && errno != EINTR)
		return remus_err_sys(err, errno, "rename: waiting for a xenstore watch");
	if (!(p.revents & POLLIN))
		return 0;
	while ((ev = xs_check_watch(g->xsh)) != NULL)
		free(ev);
	return 1;
}

int xen_guest_rename_when_free(struct hv_guest *g, const char *name, unsigned wait_ms,
    struct remus_err *err)
{
	uint64_t deadline = xen_now_us() + (uint64_t)wait_ms * 1000u;
	bool watching = false;
	int rc;

	while ((rc = xen_guest_rename(g, name, err)) == -EEXIST && wait_ms > 0) {
		if (!watching) {
			if (!xs_watch(g->xsh, "@releaseDomain", "remus-rename"))
				return remus_err_sys(err, errno, "rename: watching @releaseDomain");
			watching = true;
			continue;       /* released before the watch was set? look again */
		}
		if ((rc = wait_release(g, deadline, err)) < 0)
			break;
		if (rc == 0) {
			rc = xen_guest_rename(g, name, err);
			break;
		}
	}
	if (watching)
		xs_unwatch(g->xsh, "@releaseDomain", "remus-rename");
	return rc;
}

uint32_t xen_guest_domid(const struct hv_guest *g)
{
	return g->domid;
}
