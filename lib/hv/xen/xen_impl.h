/* Internal state of the Xen driver, shared by its files. */
#ifndef REMUS_HV_XEN_IMPL_H
#define REMUS_HV_XEN_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include <xenctrl.h>
#include <xenstore.h>
#include <xenguest.h>

#include "hv/hv.h"
#include "hv/xen/xen.h"
#include "stream/stream.h"

/* Bounds on what we read out of xenstore for one domain. */
#define XEN_XS_MAX_NODES 4096u
#define XEN_XS_MAX_DEPTH 16u
/* How long a non-cooperative suspend may take before it counts as failed. */
#define XEN_SUSPEND_TIMEOUT_MS 2000u
/* A cooperative one: the guest freezes its tasks and devices first (seconds
 * under emulation; libxl allows a minute). */
#define XEN_COOP_SUSPEND_TIMEOUT_MS 30000u
/* How long the backup waits for libxl's END behind libxc's (same write on
 * the primary; only a cut stream leaves it out, and that one is at EOF). */
#define XEN_END_WAIT_MS 5000u
/* vCPUs the replica container allows (the stream's HVM context says how
 * many the guest uses). */
#define XEN_RESTORE_MAX_VCPUS 8u
/* Domain perms naming the guest itself travel as this id (remapped on restore). */
#define XEN_XS_SELF 0x7ff0u
/* Where libxl puts the device model's QMP socket (libxl_run_dir_path). */
#define XEN_RUN_DIR "/var/run/xen"
/* Bounds on what the device model hands us per checkpoint: its saved
 * device state (typically tens of KiB) and its physmap xenstore entries. */
#define XEN_EMU_MAX_STATE (32u << 20)
#define XEN_EMU_MAX_PHYSMAP 32u

struct xen_emu;

struct hv_guest {
	xc_interface *xch;
	struct xs_handle *xsh;
	uint32_t domid;
	char name[64];
	bool hvm;               /* PVH or HVM (an HVM container) */
	bool has_dm;            /* a device model (QEMU) serves the domain */
	bool owned;             /* built by restore_stream: destroy() kills it */
	bool libxl_built;       /* built by libxl (with its QEMU): libxl unpauses/destroys it */
	bool xs_records;        /* send REMUS_XENSTORE records with checkpoints */
	enum xen_suspend_mode suspend_mode;
	uint64_t mem_bytes;
	char qmp_dir[64];       /* where the QMP sockets are ("" = XEN_RUN_DIR) */
	struct xen_emu *emu;    /* the device model, during save_stream */

	/* during save_stream / restore_stream */
	int fd;
	const struct hv_stream_hooks *hooks;
	struct remus_err *err;
	bool suspended;         /* we suspended it and have not resumed it yet */
	bool stopped;           /* the engine asked to stop cleanly */
	bool handed;            /* hand-over: final checkpoint acknowledged, stay suspended */
	bool cb_failed;         /* a callback recorded an error in err */

	/* backup: the failover's steps (xen.h) */
	struct xen_failover_phases phases;
};

/* xen_ops.c */
int  xen_guest_open(struct hv_guest **out, struct remus_err *err);
void xen_guest_close(struct hv_guest *g);
void xen_guest_destroy(struct hv_guest *g);
int  xen_domain_state(struct hv_guest *g, xc_dominfo_t *info, struct remus_err *err);

void xen_phase_mark(struct hv_guest *g, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* What the restored domain's xenstore home must name (ring pages, ports). */
struct xen_home {
	unsigned long store_mfn, console_mfn;
	uint32_t store_port, console_port;
};

/* xen_xs.c */
int xen_xs_make_home(struct hv_guest *g, const struct xen_home *h, struct remus_err *err);
int xen_xs_domid_by_name(struct hv_guest *g, const char *name, uint32_t *domid,
    struct remus_err *err);
int xen_xs_put_nodes(struct hv_guest *g, struct stream_buf *b, struct remus_err *err);
int xen_xs_apply_nodes(struct hv_guest *g, const struct stream_ckpt *ck,
    struct remus_err *err);
bool xen_xs_has_device_model(struct hv_guest *g);

/* xen_emu.c: the device model (QEMU over QMP) of an HVM domain */
int  xen_emu_open(struct hv_guest *g, struct remus_err *err);
void xen_emu_close(struct hv_guest *g);
int  xen_emu_logdirty(struct hv_guest *g, bool enable, struct remus_err *err);
/* "stop" and save its device state (after the guest suspended). */
int  xen_emu_suspend(struct hv_guest *g, struct remus_err *err);
/* "cont" if it was stopped (before the domain resumes). */
int  xen_emu_resume(struct hv_guest *g, struct remus_err *err);
/* EMULATOR_XENSTORE_DATA (if any physmap) and EMULATOR_CONTEXT. */
int  xen_emu_put_records(struct hv_guest *g, struct stream_buf *b, struct remus_err *err);
/* Backup: HV_EUNSUPP if a staged checkpoint carries emulator records. */
int  xen_emu_refuse_restore(const struct stream_ckpt *ck, struct remus_err *err);

/* xen_save.c / xen_restore.c */
int xen_save_stream(struct hv_guest *g, int fd, const struct hv_stream_hooks *hooks,
    struct remus_err *err);
int xen_restore_stream(const struct hv_guest_config *cfg, int fd,
    const struct hv_stream_hooks *hooks, struct hv_guest **out, struct remus_err *err);
/* xen_restore_dm.c: a guest with a device model, restored by libxl. */
bool xen_restore_whole_checkpoints(const struct hv_guest_config *cfg);
int  xen_restore_libxl(const struct hv_guest_config *cfg, int fd, struct hv_guest **out,
    struct remus_err *err);
int  xen_libxl_unpause(struct hv_guest *g, struct remus_err *err);
/* Resume the domain save_stream suspended (fast resume when cooperative). */
int xen_save_resume(struct hv_guest *g, struct remus_err *err);
/* hv_ops.resume: a suspended domain resumes, a paused one is unpaused. */
int xen_resume(struct hv_guest *g, struct remus_err *err);

/* The daemon-facing entries of xen_hv_ops (xen_daemon.c). */
int  xen_daemon_preamble(struct hv_guest *g, struct hv_blob *out, struct remus_err *err);
int  xen_daemon_output_ifname(struct hv_guest *g, char *buf, size_t cap, struct remus_err *err);
int  xen_daemon_describe_config(const char *config, size_t len, struct hv_config_summary *out,
                                struct remus_err *err);
int  xen_daemon_finish_replica(struct hv_guest *g, const char *config, size_t len,
                               const char *disk, struct remus_err *err);
void xen_daemon_failover_steps(const struct hv_guest *g, struct hv_failover_steps *out);
int  xen_daemon_destroy_copy(struct hv_guest *g, struct remus_err *err);
int  xen_daemon_check(struct hv_guest *g, struct hv_check *out, struct remus_err *err);

#endif
