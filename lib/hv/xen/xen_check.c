/* `remusctl check` for a Xen guest: a fixed list of reasons it cannot be
 * protected, judged from facts a caller collects (host probes below). */
#include "hv/xen/xen.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>

/* The reasons (bits) that apply to the described guest and host. */
unsigned xen_check(const struct xen_check_input *in)
{
	bool drbd = false, nbd = false;
	unsigned r = 0;
	size_t i;

	if (in->kind == XEN_GUEST_PV && !in->shadow_paging)
		r |= XEN_CHECK_PV_NO_SHADOW;
	for (i = 0; i < in->ndisks; i++) {
		const char *d = in->disks[i] != NULL ? in->disks[i] : "";

		if (strncmp(d, "/dev/nbd", 8) == 0) {   /* served by remusd: any guest kind */
			nbd = true;
		} else if (strncmp(d, "/dev/drbd", 9) == 0) {
			drbd = true;
			if (in->has_device_model)       /* libxl opens it before a promote */
				r |= XEN_CHECK_DEVICE_MODEL;
		} else {
			r |= XEN_CHECK_DISK_NOT_REPLICATED;
		}
	}
	if (!in->mod_sch_plug)
		r |= XEN_CHECK_NO_SCH_PLUG;
	if (!in->mod_ifb)
		r |= XEN_CHECK_NO_IFB;
	/* the modules the disks need (a disk on neither: DRBD is the advice) */
	if ((drbd || (r & XEN_CHECK_DISK_NOT_REPLICATED)) && !in->mod_drbd)
		r |= XEN_CHECK_NO_DRBD;
	if (nbd && !in->mod_nbd)
		r |= XEN_CHECK_NO_NBD;
	return r;
}

const char *xen_check_reason_text(unsigned reason)
{
	switch (reason) {
	case XEN_CHECK_PV_NO_SHADOW:
		return "classic PV guest and Xen without shadow paging: log-dirty is unavailable (use PVH)";
	case XEN_CHECK_DEVICE_MODEL:
		return "HVM guest with a device model (QEMU) on a DRBD disk: the backup restores it through libxl, which opens the disk before a failover could promote DRBD (PVH guests can use diskrep = drbd)";
	case XEN_CHECK_DISK_NOT_REPLICATED:
		return "a disk is neither on DRBD (/dev/drbdN, diskrep = drbd) nor served by remusd "
		       "(/dev/nbdN, diskrep = builtin with nbd_device): its writes would not reach "
		       "the backup";
	case XEN_CHECK_NO_SCH_PLUG:
		return "kernel module sch_plug missing: the vif's output cannot be buffered";
	case XEN_CHECK_NO_IFB:
		return "kernel module ifb missing: the vif's output cannot be redirected to a plug qdisc";
	case XEN_CHECK_NO_DRBD:
		return "kernel module drbd missing: disks cannot be replicated";
	case XEN_CHECK_NO_NBD:
		return "kernel module nbd missing: remusd cannot serve the guest's disk as /dev/nbdN "
		       "(modprobe nbd)";
	default:
		return "unknown reason";
	}
}

/* Loaded (/sys/module/NAME) or installed for the running kernel (a line of
 * modules.dep or modules.builtin naming NAME.ko). */
bool xen_check_module(const char *sysroot, const char *name)
{
	static const char *const lists[] = { "modules.dep", "modules.builtin" };
	char path[512], line[1024], want[80];
	struct utsname u;
	struct stat st;
	size_t i;

	snprintf(path, sizeof(path), "%s/sys/module/%s", sysroot, name);
	if (stat(path, &st) == 0)
		return true;
	if (uname(&u) != 0)
		return false;
	snprintf(want, sizeof(want), "/%s.ko", name);
	for (i = 0; i < 2; i++) {
		FILE *f;
		bool found = false;

		snprintf(path, sizeof(path), "%s/lib/modules/%s/%s", sysroot, u.release, lists[i]);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		while (!found && fgets(line, sizeof(line), f) != NULL) {
			char *colon = strchr(line, ':'), *nl = strchr(line, '\n'), *hit;

			if (colon != NULL)
				*colon = '\0';
			else if (nl != NULL)
				*nl = '\0';
			hit = strstr(line, want);
			/* "kernel/net/sched/sch_plug.ko" or ".ko.xz" etc. */
			found = hit != NULL && (hit[strlen(want)] == '\0' || hit[strlen(want)] == '.');
		}
		fclose(f);
		if (found)
			return true;
	}
	return false;
}
