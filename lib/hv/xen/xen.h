/*
 * The Xen driver (libxenguest + libxenstore), beyond the generic hv_ops
 * table `xen_hv_ops`: the reasons a Xen guest cannot be protected (for
 * `remusctl check`) and the driver's own options.
 */
#ifndef REMUS_HV_XEN_H
#define REMUS_HV_XEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"
#include "util/err.h"

/* Why a Xen guest cannot be protected: a fixed list, one bit each. */
enum xen_check_reason {
	XEN_CHECK_PV_NO_SHADOW  = 1u << 0, /* classic PV: log-dirty needs shadow paging */
	XEN_CHECK_DEVICE_MODEL  = 1u << 1, /* HVM with QEMU on DRBD: libxl opens the disk before promote */
	XEN_CHECK_DISK_NOT_REPLICATED = 1u << 2, /* a disk on neither /dev/drbdN nor /dev/nbdN */
	XEN_CHECK_NO_SCH_PLUG   = 1u << 3, /* kernel module sch_plug unavailable */
	XEN_CHECK_NO_IFB        = 1u << 4, /* kernel module ifb unavailable */
	XEN_CHECK_NO_DRBD       = 1u << 5, /* kernel module drbd unavailable */
	XEN_CHECK_NO_NBD        = 1u << 6, /* kernel module nbd unavailable */
};
#define XEN_CHECK_NREASONS 7

enum xen_guest_kind {
	XEN_GUEST_PV,
	XEN_GUEST_PVH,
	XEN_GUEST_HVM,
};

/* What `xen_check` judges: filled by xen_check_probe() or by a caller. */
struct xen_check_input {
	enum xen_guest_kind kind;
	bool shadow_paging;         /* Xen built with CONFIG_SHADOW_PAGING */
	bool has_device_model;
	const char *const *disks;   /* backing paths of the guest's disks */
	size_t ndisks;
	bool mod_sch_plug, mod_ifb, mod_drbd, mod_nbd;
};

/*
 * Fill `in` for a protected-to-be guest: its kind (PV, PVH = HVM container
 * without a device model, HVM), Xen's shadow paging (xc_physinfo), its
 * disks (the `params` of its vbd/qdisk backends in xenstore) and the
 * host's modules under sysroot.  Free with xen_check_input_free.
 */
int xen_check_probe(struct hv_guest *g, const char *sysroot, struct xen_check_input *in,
    struct remus_err *err);
void xen_check_input_free(struct xen_check_input *in);

/* The reasons (enum xen_check_reason bits) the guest cannot be protected. */
unsigned xen_check(const struct xen_check_input *in);
/* A one-line, user-facing explanation of one reason bit. */
const char *xen_check_reason_text(unsigned reason);
/* Whether kernel module `name` is loaded, built in, or installed for the
 * running kernel (modroot: normally "/lib/modules", sysroot "/"). */
bool xen_check_module(const char *sysroot, const char *name);

/*
 * Send the guest's own xenstore nodes (STREAM_XL_REMUS_XENSTORE) with each
 * checkpoint.  Off by default: Xen's own receiver (`xl migrate-receive -r`)
 * rejects that record type, so turn it on only towards a remusd backup.
 */
void xen_guest_set_xenstore_records(struct hv_guest *g, bool on);

/*
 * How save_stream suspends the guest at each epoch.  COOPERATIVE (default)
 * is what `xl remus` does: xenstore control/shutdown = "suspend", the guest
 * suspends itself, the fast resume cancels it; a replica restored from such
 * a checkpoint learns it moved and reconnects its PV devices.  REMOTE stops
 * the guest from outside (SHUTDOWN_suspend): needs no guest help, but after
 * a failover the guest's PV devices stay disconnected (docs/xen.md).
 */
enum xen_suspend_mode {
	XEN_SUSPEND_COOPERATIVE = 0,
	XEN_SUSPEND_REMOTE,
};
void xen_guest_set_suspend_mode(struct hv_guest *g, enum xen_suspend_mode mode);

/*
 * The directory of the device models' QMP sockets (qmp-libxl-<domid>),
 * for an HVM guest with QEMU; default /var/run/xen, where libxl puts them.
 */
int xen_guest_set_qmp_dir(struct hv_guest *g, const char *dir, struct remus_err *err);

/* The guest's libxl configuration as JSON (libxl's own encoding, as `xl`
 * sends it; *len counts the final NUL).  Free *json with free(). */
int xen_guest_config_json(struct hv_guest *g, char **json, size_t *len, struct remus_err *err);

/* Forget the guest, leaving its domain as it is (a replica that took over
 * keeps running); closes the handles. */
void xen_guest_release(struct hv_guest *g);

/* Destroy the guest's domain through libxl (devices, hotplug state and
 * xenstore home included, as `xl destroy`); the handle stays to be
 * released.  For a primary's copy after a hand-over.  libxl's messages at
 * log_level and above go to stderr. */
int xen_guest_destroy_domain(struct hv_guest *g, int log_level, struct remus_err *err);

/* The Xen domain id of a guest (attached or restored). */
uint32_t xen_guest_domid(const struct hv_guest *g);

/* xl's migration protocol, receiving side (what `xl migrate-receive -r`
 * does before the stream): the banner, then xl's header with the guest's
 * JSON configuration (malloc'ed, *len bytes with its NUL), read without
 * consuming a byte of the libxl stream after it. */
#define XEN_XL_JSON_MAX (1u << 20)
int xen_xl_send_banner(int fd, struct remus_err *err);
int xen_xl_read_header(int fd, char **json, size_t *len, struct remus_err *err);

/* What a libxl domain configuration (the JSON `xl` sends in its migration
 * header) says about the guest; parsed by libxl itself. */
struct xen_json_guest {
	char name[64];
	enum xen_guest_kind type;
	uint64_t max_mem_bytes;
	unsigned vcpus, nics, disks;
	bool device_model;      /* HVM: libxl starts QEMU for it */
};
/* json: len bytes, one NUL-terminated text (the NUL counted), <= 1 MiB. */
int xen_json_guest(const char *json, size_t len, struct xen_json_guest *out,
    struct remus_err *err);

/*
 * Give a replica that restore_stream left paused the PV devices of the
 * guest's libxl configuration (vifs, disks; hotplug scripts included), so
 * that a guest suspended cooperatively reconnects its frontends when it
 * resumes.  Call before start().  libxl's messages at log_level (xentoollog
 * level, e.g. 5 = XTL_WARN) and above go to stderr.
 */
int xen_guest_attach_devices(struct hv_guest *g, const char *json, size_t len, int log_level,
    struct remus_err *err);
/* The same, with the guest's one disk on this host's `disk_path` instead
 * of the path in json (the backup's own DRBD device: on another host, or
 * another minor on localhost, than the primary's); the configuration
 * libxl stores for the domain says so too.  A configuration with other
 * than one disk is refused. */
int xen_guest_attach_devices_on(struct hv_guest *g, const char *json, size_t len,
    const char *disk_path, int log_level, struct remus_err *err);

/*
 * Where a backup's failover spends its time: restore_stream,
 * xen_guest_attach_devices and start() each append the steps they finish,
 * with the CLOCK_MONOTONIC time (us) at the end of the step, in order:
 * "libxc" (xc_domain_restore returned: the stream ended and libxc built the
 * last complete checkpoint), "home" (xenstore home, introduction, staged
 * nodes), "libxl" (libxl context, stored configuration), one "disk:VDEV" /
 * "vif:N" per device (hotplug scripts included), "unpause".  The caller
 * knows when the stream itself ended (its relay or link pump).
 */
#define XEN_PHASES_MAX 16
struct xen_phase {
	char step[24];
	uint64_t end_us;
};
struct xen_failover_phases {
	unsigned n;
	struct xen_phase p[XEN_PHASES_MAX];
};
void xen_guest_failover_phases(const struct hv_guest *g, struct xen_failover_phases *out);
/* CLOCK_MONOTONIC in microseconds: the clock of xen_phase.end_us. */
uint64_t xen_now_us(void);

/*
 * Give the replica the guest's own name after failover, as xl's receiver
 * does (libxl_domain_rename: xenstore name, /vm name, stored configuration).
 * -EEXIST (message names the holder) while another domain has the name:
 * on one host the old primary may still exist; the replica keeps its
 * temporary name.  xen_guest_rename_when_free() retries each time a domain
 * is released (xenstore's @releaseDomain) for at most wait_ms (0: once).
 */
int xen_guest_rename(struct hv_guest *g, const char *name, struct remus_err *err);
int xen_guest_rename_when_free(struct hv_guest *g, const char *name, unsigned wait_ms,
    struct remus_err *err);
/* The domain's current name (what restore_stream or a rename gave it). */
const char *xen_guest_name(const struct hv_guest *g);

extern const struct hv_ops xen_hv_ops;

#endif
