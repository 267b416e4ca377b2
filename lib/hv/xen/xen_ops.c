/* The Xen driver's ops table: attach to a domain, info, start, destroy. */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Open the libxc and xenstore handles every driver operation needs. */
int xen_guest_open(struct hv_guest **out, struct remus_err *err)
{
	struct hv_guest *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return remus_err_sys(err, ENOMEM, "xen: allocating the guest");
	g->fd = -1;
	g->xch = xc_interface_open(NULL, NULL, 0);
	if (g->xch == NULL) {
		remus_err_sys(err, errno, "xen: xc_interface_open failed (is this a Xen dom0 with privcmd loaded?)");
		goto err;
	}
	g->xsh = xs_open(0);
	if (g->xsh == NULL) {
		remus_err_sys(err, errno, "xen: xs_open failed (is xenstored running?)");
		goto err;
	}
	*out = g;
	return 0;
err:
	xen_guest_close(g);
	return err->code;
}

/* Release the handles (not the domain). */
void xen_guest_close(struct hv_guest *g)
{
	if (g == NULL)
		return;
	xen_emu_close(g);
	if (g->xsh != NULL)
		xs_close(g->xsh);
	if (g->xch != NULL)
		xc_interface_close(g->xch);
	free(g);
}

/* The hypervisor's view of our domain; -ESRCH if it no longer exists. */
int xen_domain_state(struct hv_guest *g, xc_dominfo_t *info, struct remus_err *err)
{
	if (xc_domain_getinfo(g->xch, g->domid, 1, info) != 1)
		return remus_err_sys(err, errno ? errno : ESRCH,
		    "xen: xc_domain_getinfo of domain %u failed", g->domid);
	if (info->domid != g->domid)
		return remus_err_set(err, -ESRCH, "xen: domain %u no longer exists", g->domid);
	return 0;
}

/* Attach to the running domain named cfg->name (the driver never builds a
 * primary: xl/libxl created it from its domain config). */
static int xen_create(const struct hv_guest_config *cfg, struct hv_guest **out,
    struct remus_err *err)
{
	struct hv_guest *g = NULL;
	xc_dominfo_t info;
	int rc;

	if (cfg == NULL || cfg->name == NULL || cfg->name[0] == '\0')
		return remus_err_set(err, -EINVAL, "xen: the guest needs a name (the Xen domain name)");
	if ((rc = xen_guest_open(&g, err)) < 0)
		return rc;
	if ((rc = xen_xs_domid_by_name(g, cfg->name, &g->domid, err)) < 0)
		goto err;
	if ((rc = xen_domain_state(g, &info, err)) < 0)
		goto err;
	snprintf(g->name, sizeof(g->name), "%s", cfg->name);
	g->hvm = info.hvm;
	g->has_dm = xen_xs_has_device_model(g);
	g->mem_bytes = (uint64_t)info.max_memkb * 1024u;
	*out = g;
	return 0;
err:
	xen_guest_close(g);
	return rc;
}

/* Run a paused (restored) domain. */
static int xen_start(struct hv_guest *g, struct remus_err *err)
{
	if (g->libxl_built)     /* QEMU continues with the domain */
		return xen_libxl_unpause(g, err);
	if (xc_domain_unpause(g->xch, g->domid) != 0)
		return remus_err_sys(err, errno, "xen: unpausing domain %u failed", g->domid);
	xen_phase_mark(g, "unpause");
	return 0;
}

uint64_t xen_now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Record the end of one failover step (the last slot takes any overflow). */
void xen_phase_mark(struct hv_guest *g, const char *fmt, ...)
{
	struct xen_phase *p;
	va_list ap;

	if (g->phases.n < XEN_PHASES_MAX)
		g->phases.n++;
	p = &g->phases.p[g->phases.n - 1];
	va_start(ap, fmt);
	vsnprintf(p->step, sizeof(p->step), fmt, ap);
	va_end(ap);
	p->end_us = xen_now_us();
}

void xen_guest_failover_phases(const struct hv_guest *g, struct xen_failover_phases *out)
{
	*out = g->phases;
}

const char *xen_guest_name(const struct hv_guest *g)
{
	return g->name;
}

/* Forget the guest; a domain this driver built (a backup replica that never
 * took over) is destroyed, an attached one is left running. */
void xen_guest_destroy(struct hv_guest *g)
{
	if (g == NULL)
		return;
	if (g->owned && g->libxl_built) {
		struct remus_err e = { 0 };

		if (xen_guest_destroy_domain(g, 4 /* XTL_ERROR */, &e) < 0)
			xc_domain_destroy(g->xch, g->domid);   /* at least the domain */
	} else if (g->owned) {
		xc_domain_destroy(g->xch, g->domid);
	}
	xen_guest_close(g);
}

void xen_guest_release(struct hv_guest *g)
{
	xen_guest_close(g);
}

/* Fill hv_info from the hypervisor's domain info. */
static int xen_info(struct hv_guest *g, struct hv_info *out)
{
	struct remus_err err = { 0 };
	xc_dominfo_t di;
	int rc;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", g->name);
	out->page_size = XC_PAGE_SIZE;
	if ((rc = xen_domain_state(g, &di, &err)) < 0) {
		out->state = HV_CRASHED;
		snprintf(out->reason, sizeof(out->reason), "%.127s", err.msg);
		return rc;
	}
	out->ram_bytes = (uint64_t)di.nr_pages * XC_PAGE_SIZE;
	out->nr_pfns = di.nr_pages;
	out->nr_vcpus = di.max_vcpu_id + 1;
	out->domain_type = di.hvm ? STREAM_DOM_X86_HVM : STREAM_DOM_X86_PV;
	out->has_emulator = g->has_dm;
	out->dirty_mode = HV_DIRTY_EXACT;
	if (di.crashed) {
		out->state = HV_CRASHED;
		snprintf(out->reason, sizeof(out->reason), "domain %u crashed", g->domid);
	} else if (di.shutdown && di.shutdown_reason != SHUTDOWN_suspend) {
		out->state = HV_EXITED;
		out->exit_code = (int)di.shutdown_reason;
	} else if (di.paused || di.shutdown) {
		out->state = HV_PAUSED;
	} else {
		out->state = HV_RUNNING;
	}
	return 0;
}

/* Pause at any instruction (no guest help). */
static int xen_pause(struct hv_guest *g, struct remus_err *err)
{
	if (xc_domain_pause(g->xch, g->domid) != 0)
		return remus_err_sys(err, errno, "xen: pausing domain %u failed", g->domid);
	return 0;
}

void xen_guest_set_xenstore_records(struct hv_guest *g, bool on)
{
	g->xs_records = on;
}

void xen_guest_set_suspend_mode(struct hv_guest *g, enum xen_suspend_mode mode)
{
	g->suspend_mode = mode;
}

int xen_guest_set_qmp_dir(struct hv_guest *g, const char *dir, struct remus_err *err)
{
	if (strlen(dir) >= sizeof(g->qmp_dir))
		return remus_err_set(err, -ENAMETOOLONG, "xen: QMP directory %s is too long", dir);
	snprintf(g->qmp_dir, sizeof(g->qmp_dir), "%s", dir);
	return 0;
}

/* libxc owns the save loop: the step-by-step ops it cannot offer are NULL. */
const struct hv_ops xen_hv_ops = {
	.name = "xen",
	.create = xen_create,
	.start = xen_start,
	.destroy = xen_guest_destroy,
	.info = xen_info,
	.suspend = xen_pause,
	.resume = xen_resume,
	.dirty_log = NULL,
	.copy_pages = NULL,
	.save_cpu = NULL,
	.save_devices = NULL,
	.restore = NULL,
	.announce = NULL,
	.save_stream = xen_save_stream,
	.restore_stream = xen_restore_stream,
	.restore_whole_checkpoints = xen_restore_whole_checkpoints,
	.preamble = xen_daemon_preamble,
	.output_ifname = xen_daemon_output_ifname,
	.describe_config = xen_daemon_describe_config,
	.finish_replica = xen_daemon_finish_replica,
	.failover_steps = xen_daemon_failover_steps,
	.guest_name = xen_guest_name,
	.rename = xen_guest_rename,
	.release = xen_guest_release,
	.destroy_copy = xen_daemon_destroy_copy,
	.check = xen_daemon_check,
};
