/*
 * The Xen driver's answers to what a daemon asks about guests it did not
 * build (hv_ops' optional daemon entries): the configuration preamble the
 * backup builds the replica from, the replica's devices, its name and
 * adoption, the end of a handed-over copy, the failover's steps and the
 * reasons a guest cannot be protected.  Thin: the work is in xen_*.c.
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xentoollog.h>

#include "stream/stream.h"

/* xl's migration header with the guest's libxl configuration, as `xl
 * remus` sends it before the libxc stream. */
int xen_daemon_preamble(struct hv_guest *g, struct hv_blob *out, struct remus_err *err)
{
	struct stream_buf b;
	char *json = NULL;
	size_t len = 0;
	int rc;

	if ((rc = xen_guest_config_json(g, &json, &len, err)) < 0)
		return rc;
	stream_buf_init(&b);
	if ((rc = stream_put_xl_header(&b, json, len)) < 0) {
		remus_err_set(err, rc, "encoding xl's migration header");
	} else if ((out->data = malloc(b.len ? b.len : 1)) == NULL) {
		rc = remus_err_sys(err, ENOMEM, "xl's migration header");
	} else {
		memcpy(out->data, b.data, b.len);
		out->len = out->cap = b.len;
	}
	stream_buf_free(&b);
	free(json);
	return rc < 0 ? rc : 0;
}

/* The guest's output leaves through its first vif's backend interface. */
int xen_daemon_output_ifname(struct hv_guest *g, char *buf, size_t cap, struct remus_err *err)
{
	if ((size_t)snprintf(buf, cap, "vif%" PRIu32 ".0", xen_guest_domid(g)) >= cap)
		return remus_err_set(err, -ENAMETOOLONG, "xen: interface name too long");
	return 0;
}

/* What libxl's configuration says the replica needs; classic PV guests
 * are refused (log-dirty needs PVH or HVM here). */
int xen_daemon_describe_config(const char *config, size_t len, struct hv_config_summary *out,
                               struct remus_err *err)
{
	struct xen_json_guest jg;
	int rc;

	if ((rc = xen_json_guest(config, len, &jg, err)) < 0)
		return rc;
	if (jg.type == XEN_GUEST_PV)
		return remus_err_set(err, HV_EUNSUPP, "classic PV: protect PVH or HVM guests");
	out->max_mem_bytes = jg.max_mem_bytes;
	out->nics = jg.nics;
	out->disks = jg.disks;
	return 0;
}

/* The replica's PV devices (hotplug scripts included), libxl's messages
 * from warnings up on stderr. */
int xen_daemon_finish_replica(struct hv_guest *g, const char *config, size_t len,
                              const char *disk, struct remus_err *err)
{
	return xen_guest_attach_devices_on(g, config, len, disk, XTL_WARN, err);
}

void xen_daemon_failover_steps(const struct hv_guest *g, struct hv_failover_steps *out)
{
	struct xen_failover_phases ph;

	xen_guest_failover_phases(g, &ph);
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < ph.n && i < HV_STEPS_MAX; i++) {
		snprintf(out->p[i].step, sizeof(out->p[i].step), "%s", ph.p[i].step);
		out->p[i].end_us = ph.p[i].end_us;
		out->n++;
	}
}

int xen_daemon_destroy_copy(struct hv_guest *g, struct remus_err *err)
{
	return xen_guest_destroy_domain(g, XTL_WARN, err);
}

/* xen_check's reasons in the engine's categories, each with its text. */
int xen_daemon_check(struct hv_guest *g, struct hv_check *out, struct remus_err *err)
{
	struct xen_check_input in;
	unsigned why;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = xen_check_probe(g, "/", &in, err)) < 0)
		return rc;
	why = xen_check(&in);
	xen_check_input_free(&in);
	for (unsigned bit = 1; bit < (1u << XEN_CHECK_NREASONS); bit <<= 1)
		if ((why & bit) && out->n < HV_CHECK_TEXTS_MAX)
			out->text[out->n++] = xen_check_reason_text(bit);
	if (why & (XEN_CHECK_PV_NO_SHADOW | XEN_CHECK_DEVICE_MODEL))
		out->blocks |= HV_CHECK_UNSUPPORTED;
	if (why & (XEN_CHECK_NO_SCH_PLUG | XEN_CHECK_NO_IFB))
		out->blocks |= HV_CHECK_NO_NETBUF;
	if (why & (XEN_CHECK_DISK_NOT_REPLICATED | XEN_CHECK_NO_DRBD | XEN_CHECK_NO_NBD))
		out->blocks |= HV_CHECK_NO_DISKREP;
	return 0;
}
