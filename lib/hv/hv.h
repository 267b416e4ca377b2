/*
 * The hypervisor driver interface.  The checkpoint engine talks to guests
 * only through `struct hv_ops`; one implementation per folder (pvm/, xen/),
 * in the style of Xen's per-guest-type save/restore ops.
 *
 * Two ways to drive a checkpointed save, both honest about the platform:
 *  - step by step (pvm): the engine's epoch loop calls suspend, dirty_log,
 *    copy_pages, save_cpu, save_devices, resume and writes the stream itself;
 *  - driver-owned loop (Xen): the platform library (libxc's
 *    xc_domain_save with XC_STREAM_REMUS) writes the libxc records on the fd
 *    itself and calls back into the engine at each epoch boundary through
 *    `struct hv_stream_hooks`.  Such a driver sets `save_stream` and
 *    `restore_stream`; the step ops it cannot offer are NULL.
 * The engine asks the ops table which ops exist, never "which driver".
 *
 * Threading: all ops of one guest are called from one engine thread,
 * except net_transmit (any thread, see there).
 * A driver may run internal threads (pvm's monitor thread owns ptrace).
 * Errors: 0 or negative (-errno or HV_E*), message in `err`.
 */
#ifndef REMUS_HV_H
#define REMUS_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"
#include "util/api.h"

REMUS_API_BEGIN

struct hv_guest;        /* driver-owned, opaque to the engine */

#define HV_ERRORS(X) \
	X(HV_EBADSTATE, -2001, "op not valid in the guest's current state") \
	X(HV_EBADBLOB,  -2002, "HVM/EMULATOR context failed to decode") \
	X(HV_ECRASHED,  -2003, "the guest crashed (reason in err)") \
	X(HV_EUNSUPP,   -2004, "the driver or host lacks the feature") \
	X(HV_EUNRESTORABLE, -2005, "captured state fails the restore's own checks")
enum hv_error { HV_ERRORS(REMUS_ERR_ENUM) };

enum hv_run_state {
	HV_CREATED,     /* built, not started */
	HV_RUNNING,
	HV_PAUSED,      /* suspended by the engine (or restored, not resumed) */
	HV_CRASHED,     /* guest fault or bad hypercall; reason kept */
	HV_EXITED,      /* guest called exit; exit_code kept */
};

enum hv_dirty_mode {
	HV_DIRTY_EXACT,         /* hardware/kernel tracked: exact set */
	HV_DIRTY_HASH,          /* fallback: page hashing, O(RAM) per epoch */
};

/* Device hooks: where a guest's NIC output and disk I/O go.  NULL hook
 * members mean "identity" (write the frame to the TAP / the image). */
struct hv_net_hook {
	void *arg;
	/* A frame the guest sent; the hook owns its fate (queue for the epoch,
	 * or transmit).  Return 0, or negative to count it as dropped. */
	int (*guest_tx)(void *arg, const void *frame, size_t len);
};

struct hv_disk_hook {
	void *arg;
	int (*read)(void *arg, uint64_t off, void *buf, size_t len);
	int (*write)(void *arg, uint64_t off, const void *buf, size_t len);
	int (*flush)(void *arg);
};

struct hv_guest_config {
	const char *name;
	const char *image;          /* pvm: guest ELF; xen: xl domain config */
	uint64_t mem_bytes;
	const char *tap;            /* NIC backend interface, NULL: no NIC */
	uint8_t mac[6];             /* all zero: derive from name */
	uint8_t ipv4_addr[4], ipv4_gw[4], ipv4_prefix;
	const char *disk;           /* disk image path, NULL: no disk */
	int cpu;                    /* CPU to pin guest+monitor to, -1: none */
	int console_fd;             /* guest console output, -1: discard */
	struct hv_net_hook net;
	struct hv_disk_hook disk_io;
	/* The configuration the stream carried (Xen: the libxl JSON of xl's
	 * header, NUL counted in the length); NULL: none. */
	const char *stream_config;
	size_t stream_config_len;
	/* Ask for copy-on-write capture (capture_begin/capture_wait); a driver
	 * that cannot set the guest up for it fails create/restore with
	 * HV_EUNSUPP.  Default off: see docs/performance.md for its costs. */
	bool cow_capture;
};

struct hv_info {
	char name[64];
	uint64_t ram_bytes;
	uint64_t nr_pfns;
	uint32_t page_size;
	uint32_t nr_vcpus;
	uint32_t domain_type;       /* libxc DHDR type: 2 = x86 HVM */
	bool has_nic, has_disk, has_emulator;
	enum hv_dirty_mode dirty_mode;
	enum hv_run_state state;
	int exit_code;              /* HV_EXITED */
	char reason[128];           /* HV_CRASHED: why */
	uint64_t console_dropped;   /* console bytes dropped: nobody read them */
};

/* A growable byte buffer used for HVM_CONTEXT / EMULATOR_CONTEXT blobs. */
struct hv_blob {
	uint8_t *data;
	size_t len, cap;
};
void hv_blob_free(struct hv_blob *b);

/* A list of pfns, reused across epochs to avoid allocation in the pause. */
struct hv_pfn_list {
	uint64_t *pfns;
	size_t count, cap;
};
void hv_pfn_list_free(struct hv_pfn_list *l);

/*
 * Everything a guest is restored from: one complete checkpoint.
 * RAM is handed over as an fd (a memfd the backup kept live, so failover
 * needs no copy) of ram_bytes; the blobs are the checkpoint's HVM_CONTEXT
 * and EMULATOR_CONTEXT record bodies.
 */
struct hv_checkpoint {
	int ram_fd;
	uint64_t ram_bytes;
	const uint8_t *hvm_context;  size_t hvm_context_len;
	const uint8_t *emu_context;  size_t emu_context_len;
	/* The guest's store as a REMUS_XENSTORE record body (store_save);
	 * NULL: the checkpoint carried none (a driver with a store starts a
	 * fresh one). */
	const uint8_t *store;        size_t store_len;
};

/* A request of the tools on a guest's store (remusctl store). */
enum hv_store_op {
	HV_STORE_READ = 1,      /* out: the value */
	HV_STORE_WRITE = 2,     /* value: the new value */
	HV_STORE_LS = 3,        /* out: child names, each NUL-terminated */
	HV_STORE_RM = 4,        /* the node and its subtree */
};
struct hv_store_req {
	uint32_t op;            /* enum hv_store_op */
	const char *path;  size_t path_len;   /* absolute, or relative to the guest's home */
	const void *value; size_t value_len;
};

/* Callbacks a driver-owned save/restore loop makes into the engine. */
struct hv_stream_hooks {
	void *arg;
	/* Primary: the guest is suspended; close the netbuf/disk epoch. */
	int (*suspended)(void *arg);
	/* Primary: libxc wrote CHECKPOINT; write the libxl records + CHECKPOINT_END. */
	int (*postcopy)(void *arg, int fd);
	/* Primary: wait for ACK and the next tick.  1 go on, 0 stop cleanly
	 * (the guest runs on), HV_STREAM_HANDED_OVER: the final checkpoint of a
	 * hand-over is acknowledged, end the stream with END and leave the guest
	 * suspended; <0 error. */
	int (*wait_checkpoint)(void *arg);
	/* Primary, optional: asked before the guest is resumed after a
	 * checkpoint; true when that checkpoint is the final one of a hand-over
	 * (the guest stays suspended: resumed only if the hand-over is
	 * cancelled). */
	bool (*final)(void *arg);
	/* Backup: libxc read CHECKPOINT.  With fd >= 0 the hook reads and stages
	 * the libxl records up to CHECKPOINT_END itself; with fd = -1 the driver
	 * already staged a complete checkpoint and the hook only acknowledges it
	 * (the Xen driver does this, so it never reads past a record on an fd
	 * libxc shares).  1 = complete, 2 = failover (stream error/timeout),
	 * 0 = error. */
	int (*checkpoint)(void *arg, int fd);
	/* Primary, optional: the guest runs again (postcopy resumed it), while
	 * the checkpoint is still being sent; for the pause statistics. */
	void (*resumed)(void *arg);
	/* Backup, optional: the stream ended with its END records right after
	 * a complete checkpoint (the primary handed the guest over), as opposed
	 * to a stream that was cut (failover).  Called before restore_stream
	 * returns the replica. */
	void (*stream_end)(void *arg);
};
#define HV_STREAM_HANDED_OVER 2

/* What a stream's guest configuration (hv_guest_config.stream_config) says
 * the replica needs (describe_config). */
struct hv_config_summary {
	uint64_t max_mem_bytes;
	unsigned nics, disks;
};

/* Where a backup's failover spent its time: the steps a driver finished,
 * in order, each with its CLOCK_MONOTONIC end in us (failover_steps). */
#define HV_STEPS_MAX 16
struct hv_failover_steps {
	unsigned n;
	struct { char step[24]; uint64_t end_us; } p[HV_STEPS_MAX];
};

/* Why a guest cannot be protected, as the driver judges it (check): the
 * engine's categories, and one line of the driver's own text per reason
 * found (static strings). */
enum hv_check_block {
	HV_CHECK_UNSUPPORTED = 1u << 0,  /* this guest or host cannot be checkpointed */
	HV_CHECK_NO_NETBUF   = 1u << 1,  /* output buffering unavailable on this host */
	HV_CHECK_NO_DISKREP  = 1u << 2,  /* the guest's disks cannot be replicated */
};
#define HV_CHECK_TEXTS_MAX 16
struct hv_check {
	uint32_t blocks;                    /* enum hv_check_block bits */
	unsigned n;
	const char *text[HV_CHECK_TEXTS_MAX];
};

/* A guest given up by one process for another to adopt (live update of
 * the daemon): the descriptors the guest lives on and the driver's own
 * state, opaque to the caller (hand_off, adopt). */
enum hv_handoff_fd { HV_HFD_RAM, HV_HFD_TAP, HV_HFD_DISK, HV_HANDOFF_FDS };
struct hv_handoff {
	int fd[HV_HANDOFF_FDS];     /* -1: none */
	struct hv_blob blob;
};
/* Close the descriptors and free the blob (the guest itself is untouched). */
void hv_handoff_free(struct hv_handoff *h);

struct hv_ops {
	const char *name;

	int  (*create)(const struct hv_guest_config *cfg, struct hv_guest **out,
	               struct remus_err *err);
	int  (*start)(struct hv_guest *g, struct remus_err *err);
	void (*destroy)(struct hv_guest *g);
	int  (*info)(struct hv_guest *g, struct hv_info *out);

	/* Non-cooperative pause at any instruction / continue. */
	int  (*suspend)(struct hv_guest *g, struct remus_err *err);
	int  (*resume)(struct hv_guest *g, struct remus_err *err);

	/* Guest paused: pfns written since the last call, then clear the log.
	 * Includes pages the device models wrote into guest RAM. */
	int  (*dirty_log)(struct hv_guest *g, struct hv_pfn_list *out,
	                  struct remus_err *err);
	/* Copy `n` pages (pfns[i]) into dst (n * page_size bytes). */
	int  (*copy_pages)(struct hv_guest *g, const uint64_t *pfns, size_t n,
	                   void *dst, struct remus_err *err);
	/* Optional: a read-only view of the whole guest RAM, valid while the
	 * guest exists.  Live pre-copy sends straight from it, the guest
	 * running: a page it changes meanwhile is in the next dirty log and
	 * goes again.  NULL: pre-copy pauses and copies batch by batch. */
	const uint8_t *(*ram_view)(struct hv_guest *g);
	/* Optional copy-on-write capture, an alternative to dirty_log +
	 * copy_pages that lets the guest run while its pages are copied out.
	 * capture_begin (guest paused): the dirty set as dirty_log reports it,
	 * with those pages write-protected so the guest may resume at once; a
	 * page the guest (or a device model) writes before it is copied is
	 * copied first.  capture_wait (any state, after capture_begin): wait
	 * until every page is copied; *pages then holds out->count pages in list
	 * order with their content as at capture_begin, valid until the next
	 * capture_begin.  HV_EUNSUPP when the guest was not created with
	 * cow_capture; NULL when the driver has none. */
	int  (*capture_begin)(struct hv_guest *g, struct hv_pfn_list *out,
	                      struct remus_err *err);
	int  (*capture_wait)(struct hv_guest *g, const uint8_t **pages,
	                     struct remus_err *err);
	/* Guest paused: vCPU state as an HVM_CONTEXT record body.  Like
	 * save_devices, HV_EUNRESTORABLE when the state would fail restore's
	 * checks (a checkpoint that cannot be restored is never taken). */
	int  (*save_cpu)(struct hv_guest *g, struct hv_blob *out,
	                 struct remus_err *err);
	/* Guest paused: device state as an EMULATOR_CONTEXT blob (versioned). */
	int  (*save_devices)(struct hv_guest *g, struct hv_blob *out,
	                     struct remus_err *err);

	/* Build a paused guest from one complete checkpoint (start() runs it).
	 * Nothing is half-built: on error no guest exists. */
	int  (*restore)(const struct hv_guest_config *cfg,
	                const struct hv_checkpoint *ck, struct hv_guest **out,
	                struct remus_err *err);
	/* Optional: would restore accept these blobs?  The same checks restore
	 * makes, without building anything; HV_EUNRESTORABLE naming the first
	 * failure.  The backup calls it before committing a checkpoint. */
	int  (*validate_checkpoint)(const uint8_t *hvm_context, size_t hvm_len,
	                            const uint8_t *emu_context, size_t emu_len,
	                            struct remus_err *err);
	/* ---- Optional: the guest's store (a xenstore the driver keeps for the
	 * guest outside its RAM, pvm).  NULL: the driver has none. ---- */
	/* Guest paused: the whole store as a REMUS_XENSTORE record body (flags
	 * FULL: nodes, watches, pending watch events).  Quiesced: no request
	 * of the guest is in progress while it is paused. */
	int  (*store_save)(struct hv_guest *g, struct hv_blob *out, struct remus_err *err);
	/* Would restore accept this store body?  Restore's own checks, nothing
	 * built; the backup calls it before committing a checkpoint. */
	int  (*store_validate)(const uint8_t *body, size_t len, struct remus_err *err);
	/* A request of the tools on a created guest's store, any state; from
	 * any thread (serialised with the engine's ops).  -ENOENT, -EINVAL,
	 * -E2BIG, -ENOSPC like the store itself (why in err). */
	int  (*store_request)(struct hv_guest *g, const struct hv_store_req *req,
	                      struct hv_blob *out, struct remus_err *err);

	/* Ask the guest to announce itself on the network (gratuitous ARP). */
	int  (*announce)(struct hv_guest *g, struct remus_err *err);

	/* Put one Ethernet frame on the guest NIC's backend as if the guest had
	 * sent it, bypassing hv_net_hook (which is what handed the frame out):
	 * the path of frames a netbuf held until their epoch was acknowledged,
	 * and of the hook's pass-through.  Callable from any thread (pvm's
	 * monitor thread runs the hook, the engine thread releases epochs) and
	 * in any state of a created guest.  0, -ENODEV (no NIC), -EMSGSIZE
	 * (not a frame the NIC carries), or -errno of the backend.  NULL when
	 * the driver's output never passes through us (Xen: netbuf holds the
	 * vif's traffic in the kernel, sch_plug). */
	int  (*net_transmit)(struct hv_guest *g, const void *frame, size_t len);

	/* Optional driver-owned loops (see top of file). */
	int  (*save_stream)(struct hv_guest *g, int fd,
	                    const struct hv_stream_hooks *hooks, struct remus_err *err);
	int  (*restore_stream)(const struct hv_guest_config *cfg, int fd,
	                       const struct hv_stream_hooks *hooks,
	                       struct hv_guest **out, struct remus_err *err);
	/* Optional: true when restore_stream of this configuration hands the
	 * fd to a library that reads the whole stream itself (Xen: libxl for a
	 * guest with a device model).  The engine then forwards only complete
	 * checkpoints, acknowledges each itself once it holds it whole, and
	 * ends the fd at failover; the `checkpoint` hook is not called. */
	bool (*restore_whole_checkpoints)(const struct hv_guest_config *cfg);

	/* ---- Optional: what a daemon asks a driver whose guests it does not
	 * build itself (Xen: the toolstack made them).  NULL: not needed. ---- */
	/* Primary: bytes that go on the link before the stream, carrying the
	 * guest's configuration for the backup (Xen: xl's migration header
	 * with libxl's JSON); a backup of a driver with a preamble expects
	 * one and hands its configuration to describe_config/finish_replica. */
	int  (*preamble)(struct hv_guest *g, struct hv_blob *out, struct remus_err *err);
	/* Primary: the host interface that carries the guest's output, for a
	 * kernel netbuf (plug) when net_transmit is NULL (Xen: vif<domid>.0). */
	int  (*output_ifname)(struct hv_guest *g, char *buf, size_t cap,
	                      struct remus_err *err);
	/* Backup: judge the configuration a preamble carried; HV_EUNSUPP (why
	 * in err) for a guest this driver cannot replicate. */
	int  (*describe_config)(const char *config, size_t len, struct hv_config_summary *out,
	                        struct remus_err *err);
	/* Backup, before start(): the replica's devices from the configuration
	 * (config, len); `disk`, if not NULL, replaces the path of its one disk
	 * (this host's device of a replicated disk). */
	int  (*finish_replica)(struct hv_guest *g, const char *config, size_t len,
	                       const char *disk, struct remus_err *err);
	/* Backup, after a failover: the steps the driver finished. */
	void (*failover_steps)(const struct hv_guest *g, struct hv_failover_steps *out);
	/* The guest's current name, and a new one (a replica that took over
	 * gets the guest's own; -EEXIST while another guest holds it). */
	const char *(*guest_name)(const struct hv_guest *g);
	int  (*rename)(struct hv_guest *g, const char *name, struct remus_err *err);
	/* Forget the handle, leaving the guest as it is (a replica that took
	 * over runs on; attach to it again with create()). */
	void (*release)(struct hv_guest *g);
	/* End the guest for good, devices and all (a primary's copy after a
	 * hand-over: destroy() alone leaves an attached guest running); the
	 * handle stays to be released. */
	int  (*destroy_copy)(struct hv_guest *g, struct remus_err *err);
	/* Why this guest cannot be protected from this host (remusctl check);
	 * <0: the driver could not tell (err). */
	int  (*check)(struct hv_guest *g, struct hv_check *out, struct remus_err *err);

	/* ---- Optional: live update of the daemon.  NULL: not offered. ---- */
	/* Guest paused: give it up so another process (or this one again) can
	 * adopt it.  The guest stays paused in between and never runs
	 * unsupervised (pvm: it is left stopped, untraced).  *out receives its
	 * descriptors and state; the pages written since the last dirty_log
	 * travel in it, so the adopter's first dirty_log reports them.  On
	 * success the handle is gone (do not destroy it); on error nothing
	 * changed and the guest is still this handle's. */
	int  (*hand_off)(struct hv_guest *g, struct hv_handoff *out, struct remus_err *err);
	/* Take a handed-off guest: paused, as hand_off left it, its dirty log
	 * carried on.  Until it first runs (resume) it is not bound to this
	 * process: should the adopter die before, the guest stays as hand_off
	 * left it (pvm: stopped), for another adopt.  cfg gives what a process supplies anew (name, hooks,
	 * console, CPU); the descriptors are taken from `in` (duplicated: the
	 * caller still frees `in`).  On error no guest was taken over and the
	 * guest is as hand_off left it (it can be adopted again). */
	int  (*adopt)(const struct hv_guest_config *cfg, const struct hv_handoff *in,
	              struct hv_guest **out, struct remus_err *err);
};

/* Look a driver up by name ("pvm", "xen"); NULL if not built in. */
const struct hv_ops *hv_driver(const char *name);

REMUS_API_END

#endif
