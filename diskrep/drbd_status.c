/*
 * The drbd backend's reports without a handle, for `remusctl status` and
 * `remusctl check`: the adopted resource's state as drbdsetup sees it.
 * Each is a tool run; callers must not hold a lock status waits on.
 */
#include "diskrep/internal.h"

#include <stdio.h>
#include <string.h>

/* The resource and device a configuration names (generic or drbd's own). */
static const char *cfg_resource(const struct diskrep_config *cfg)
{
	return cfg->resource != NULL ? cfg->resource : cfg->drbd.resource;
}

static const char *cfg_device(const struct diskrep_config *cfg)
{
	return cfg->image != NULL ? cfg->image : cfg->drbd.device;
}

/* One text field (dropped when the table is full: DISKREP_STATUS_FIELDS
 * holds everything this backend reports). */
static void put_text(struct diskrep_status *o, const char *key, const char *v)
{
	if (o->n >= DISKREP_STATUS_FIELDS)
		return;
	o->f[o->n].key = key;
	o->f[o->n].is_bool = false;
	snprintf(o->f[o->n].text, sizeof(o->f[o->n].text), "%s", v != NULL ? v : "");
	o->n++;
}

static void put_bool(struct diskrep_status *o, const char *key, bool v)
{
	if (o->n >= DISKREP_STATUS_FIELDS)
		return;
	o->f[o->n].key = key;
	o->f[o->n].is_bool = true;
	o->f[o->n].b = v;
	o->n++;
}

/* resource, device, then role/connection/disk/peer_disk from events2; around
 * a hand-over also allow_two_primaries (its dual-primary window), one more
 * tool run, so not while merely protecting. */
int drbd_status(const struct diskrep_config *cfg, bool handover, struct diskrep_status *out,
                struct remus_err *err)
{
	const char *res = cfg_resource(cfg);
	struct diskrep_drbd_state ds;
	struct diskrep_drbd_conn dc;
	int rc;

	memset(out, 0, sizeof(*out));
	put_text(out, "resource", res);
	put_text(out, "device", cfg_device(cfg));
	if ((rc = diskrep_drbd_probe(res, &ds, err)) < 0)
		return rc;
	put_text(out, "role", ds.role);
	put_text(out, "connection", ds.connection);
	put_text(out, "disk", ds.disk);
	put_text(out, "peer_disk", ds.peer_disk);
	if (handover && diskrep_drbd_show(res, &dc, &(struct remus_err){ 0 }) == 0)
		put_bool(out, "allow_two_primaries", dc.allow_two);
	return 0;
}

/* A primary can protect on this resource when it is Primary here,
 * connected, and both disks are up to date (what adopt demands). */
int drbd_check(const struct diskrep_config *cfg, struct remus_err *report)
{
	const char *res = cfg_resource(cfg);
	struct diskrep_drbd_state st;
	int rc;

	memset(report, 0, sizeof(*report));
	if ((rc = diskrep_drbd_probe(res, &st, report)) < 0)
		return remus_err_wrap(report, "drbd resource %s", res);
	remus_err_set(report, 0, "drbd resource %s: role %s, connection %s, disk %s, peer disk %s",
	              res, st.role, st.connection, st.disk, st.peer_disk);
	if (strcmp(st.role, "Primary") != 0 || strcmp(st.connection, "Connected") != 0 ||
	    strcmp(st.disk, "UpToDate") != 0 || strcmp(st.peer_disk, "UpToDate") != 0)
		return remus_err_set(report, DISKREP_ESTATE, "drbd resource %s: role %s, connection "
		                     "%s, disk %s, peer disk %s (needs Primary, Connected, UpToDate, "
		                     "UpToDate)", res, st.role, st.connection, st.disk, st.peer_disk);
	return 0;
}
