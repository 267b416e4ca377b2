/*
 * diskrep: disk replication tied to checkpoint epochs.
 *
 * The backup's disk must equal the primary's disk as of the last committed
 * checkpoint: never a torn epoch, never a write the memory checkpoint does
 * not know about.  One ops table, one implementation per backend:
 *   "builtin"  epoch-buffered replication over a connected fd (the engine's
 *              authenticated transport socket); the backup stages each
 *              epoch and applies it only at commit, through a journal;
 *   "drbd"     drives drbd-utils for a guest disk on Xen hosts (see
 *              docs/diskrep.md: stock DRBD cannot hold writes per epoch).
 *
 * Epochs: writes made on the primary after epoch_mark(N-1) belong to epoch
 * N; epoch_mark(N) closes N (the engine calls it while the guest is paused,
 * step 5 of the epoch).  The backup stages N's writes and, when the memory
 * checkpoint N is complete too, commit(N) applies them.  At failover the
 * backup calls discard_uncommitted().
 *
 * Threading (builtin primary): the guest's I/O thread, the engine thread
 * (epoch_mark, epoch_acked, set_peer, restart, counters) and a resync
 * thread may use one handle at once; the handle serialises them.  Backup
 * handles are used by one engine thread.
 * Errors: 0 or negative (-errno or DISKREP_E*), message in `err`.
 */
#ifndef REMUS_DISKREP_H
#define REMUS_DISKREP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "diskrep/kind.h"
#include "hv/hv.h"
#include "util/err.h"

#define DISKREP_SECTOR          512u
#define DISKREP_MAX_WRITE       (1u << 20)  /* largest write frame payload */
#define DISKREP_DEFAULT_BLOCK   65536u      /* resync / bitmap granularity */
#define DISKREP_DEFAULT_STAGE   (64u << 20) /* staged bytes kept in memory */

#define DISKREP_ERRORS(X) \
	X(DISKREP_EPROTO,   -7001, "malformed or out-of-range peer message") \
	X(DISKREP_EEPOCH,   -7002, "epoch out of order (backwards, gap, not ready)") \
	X(DISKREP_ERANGE,   -7003, "offset/length outside the image or unaligned") \
	X(DISKREP_EPEER,    -7004, "the peer link is gone; resync needed") \
	X(DISKREP_ECORRUPT, -7005, "journal/state/bitmap file failed validation") \
	X(DISKREP_EUNSAFE,  -7006, "configuration breaks the guarantee") \
	X(DISKREP_EUNSUPP,  -7007, "op not offered by this backend/role") \
	X(DISKREP_ESTATE,   -7008, "op not valid in the current state") \
	X(DISKREP_ETOOL,    -7009, "an external tool (drbdadm) failed") \
	X(DISKREP_ENBD,     -7010, "malformed or unsupported NBD client message")
enum diskrep_error { DISKREP_ERRORS(REMUS_ERR_ENUM) };

enum diskrep_role { DISKREP_PRIMARY, DISKREP_BACKUP };

/* Test-build fault injection: called at every named step of a commit
 * (and of recovery).  A test may _exit() inside to simulate a crash, or
 * return non-zero to make the step fail with -EIO. */
struct diskrep_fault {
	void *arg;
	int (*hit)(void *arg, const char *point);
};

/* DRBD resource description (drbd backend only). */
struct diskrep_drbd_config {
	const char *resource;       /* DRBD resource name, e.g. "remus-g1" */
	unsigned minor;             /* /dev/drbd<minor> */
	const char *device;         /* override of /dev/drbd<minor> (tests) */
	const char *backing_disk;   /* lower-level disk of this host */
	const char *conf_dir;       /* where <resource>.res goes (/etc/drbd.d) */
	const char *local_host, *local_addr;   /* "hostA", "10.0.0.1:7789" */
	const char *peer_host, *peer_addr;
	char protocol;              /* 'C' (only safe one); 0 = 'C' */
	bool disk_flushes_off;      /* operator asked for disk-flushes no */
	bool allow_two_primaries;   /* operator asked for dual-primary */
	/* Adopt a resource the operator already runs (a Xen guest's disk is
	 * bound to /dev/drbdN before protection): no resource file, no
	 * create-md/up/down; open() checks its role and connection through
	 * drbdsetup, promote() is `drbdsetup primary`.  Only resource and
	 * device (or minor) are used. */
	bool adopt;
};

/* The state of a DRBD resource as drbdsetup events2 reports it. */
struct diskrep_drbd_state {
	char role[16], connection[24], disk[24], peer_disk[24];
};

/* Ask drbdsetup for a resource's state (no handle: remusctl check/status). */
/* The connection's two endpoints from `drbdsetup show RESOURCE` (DRBD 8.4
 * names a connection by them, as "af:addr:port"): the `address` of the
 * `_this_host` and `_remote_host` sections.  Tool output is checked like
 * peer input (bounded, known address families, address characters only);
 * allow_two says whether `allow-two-primaries yes;` is set. */
#define DISKREP_DRBD_ADDR_MAX 80
struct diskrep_drbd_conn {
	char local[DISKREP_DRBD_ADDR_MAX], peer[DISKREP_DRBD_ADDR_MAX];
	bool allow_two;
};
int diskrep_drbd_parse_show(const char *text, size_t len, struct diskrep_drbd_conn *out,
                            struct remus_err *err);
int diskrep_drbd_show(const char *resource, struct diskrep_drbd_conn *out,
                      struct remus_err *err);

int diskrep_drbd_probe(const char *resource, struct diskrep_drbd_state *out,
                       struct remus_err *err);

struct diskrep_config {
	enum diskrep_role role;
	const char *image;          /* builtin: local image file/device */
	int peer_fd;                /* builtin: connected, bidirectional; -1 none */
	const char *state_dir;      /* builtin: journal/state (backup), bitmap (primary) */
	size_t stage_mem_cap;       /* backup: staged bytes in memory; 0 = default */
	uint32_t block_size;        /* resync/bitmap block; 0 = default */
	uint64_t start_epoch;       /* primary: last epoch already marked */
	bool unsafe;                /* accept configurations that weaken the guarantee */
	/* A backend with adopts_device: the resource the operator runs under
	 * the guest's disk (drbd: its resource name); `image` is this host's
	 * device of it.  Same as drbd.adopt with drbd.resource/device. */
	const char *resource;
	struct diskrep_fault fault; /* test builds; zero = none */
	struct diskrep_drbd_config drbd;
};

/* What one received message did (backup side). */
enum diskrep_event_type {
	DISKREP_EV_STAGED,          /* a write was staged for `epoch` */
	DISKREP_EV_EPOCH_READY,     /* all writes of `epoch` are staged */
	DISKREP_EV_SYNC_STEP,       /* resync traffic handled */
	DISKREP_EV_SYNC_DONE,       /* resync complete; image consistent at `epoch` */
};

struct diskrep_event {
	enum diskrep_event_type type;
	uint64_t epoch;
};

struct diskrep_progress {
	uint64_t done_bytes, total_bytes;
	double rate_bps;            /* bytes per second since the start */
	uint64_t blocks_sent;
};
typedef void (*diskrep_progress_fn)(void *arg, const struct diskrep_progress *p);

enum diskrep_resync_mode {
	DISKREP_RESYNC_FULL,        /* compare every block's hash with the peer */
	DISKREP_RESYNC_DIRTY,       /* send only blocks in the dirty bitmap */
};

struct diskrep_counters {
	uint64_t writes, write_bytes, flushes;
	uint64_t epochs_marked, epochs_acked;
	uint64_t staged_writes, staged_bytes, spilled_bytes;
	uint64_t epochs_committed, epochs_discarded, rejects;
	uint64_t resync_blocks_sent, resync_bytes_sent, resync_blocks_applied;
	uint64_t dirty_blocks;      /* primary: blocks set in the bitmap now */
	uint64_t committed_epoch;   /* backup: last committed epoch */
	bool consistent;            /* backup: image usable for failover */
	bool peer_lost;             /* primary: link lost since last resync */
};

struct diskrep;                 /* backend-owned, opaque */

/* What a backend reports about the disk it replicates, as it names it
 * (remusctl status shows the fields under the backend's name). */
#define DISKREP_STATUS_FIELDS 8
struct diskrep_status {
	unsigned n;
	struct {
		const char *key;        /* static string */
		bool is_bool, b;
		char text[64];
	} f[DISKREP_STATUS_FIELDS];
};

struct diskrep_ops {
	const char *name;
	enum diskrep_kind kind;     /* the configuration's and HELLO's value */
	/* The backend replicates a block device the operator runs under the
	 * guest's disk (opened with cfg.resource, cfg.image its device): the
	 * hypervisor uses that device itself, no disk hook and no engine
	 * channel; a replica's configuration must have exactly one disk, which
	 * the backup points at its own device.  false: the engine carries the
	 * backend's frames (RNET_MSG_DISK) and the guest's I/O goes through
	 * the disk hook. */
	bool adopts_device;

	int  (*open)(const struct diskrep_config *cfg, struct diskrep **out,
	             struct remus_err *err);
	void (*close)(struct diskrep *d);
	/* Point the handle at a new connected peer fd (reconnect); -1 detaches. */
	int  (*set_peer)(struct diskrep *d, int fd, struct remus_err *err);

	/* Primary: guest I/O (sector-aligned), epoch boundaries, acks. */
	int  (*read)(struct diskrep *d, uint64_t off, void *buf, size_t len,
	             struct remus_err *err);
	int  (*write)(struct diskrep *d, uint64_t off, const void *buf, size_t len,
	              struct remus_err *err);
	int  (*flush)(struct diskrep *d, struct remus_err *err);
	int  (*epoch_mark)(struct diskrep *d, uint64_t epoch, struct remus_err *err);
	/* The backup acknowledged checkpoint `epoch` (clears the dirty bitmap). */
	int  (*epoch_acked)(struct diskrep *d, uint64_t epoch, struct remus_err *err);
	/* A new replication run (the engine restarts its numbering): the next
	 * epoch_mark is base + 1; a resync must follow (it carries the base to
	 * the backup).  NULL: the backend keeps one numbering forever. */
	int  (*restart)(struct diskrep *d, uint64_t base, struct remus_err *err);
	/* Bring the backup to this image.  The guest may keep writing
	 * meanwhile (builtin): its writes are tagged with the open epoch and
	 * streamed as usual; the backup stages them and applies them at that
	 * epoch's commit, on top of the resynced blocks. */
	int  (*resync)(struct diskrep *d, enum diskrep_resync_mode mode,
	               diskrep_progress_fn progress, void *arg, struct remus_err *err);

	/* Backup: take one message from the peer fd, or one the engine read. */
	int  (*receive)(struct diskrep *d, struct diskrep_event *ev,
	                struct remus_err *err);
	int  (*deliver)(struct diskrep *d, const void *frame, size_t len,
	                struct diskrep_event *ev, struct remus_err *err);
	/* Apply every staged epoch up to `epoch` (crash-safe, in order). */
	int  (*commit)(struct diskrep *d, uint64_t epoch, struct remus_err *err);
	/* Failover: drop everything staged; the image stays at the last commit. */
	int  (*discard_uncommitted)(struct diskrep *d, struct remus_err *err);
	/* Failover: become the writable side (drbd: promote). */
	int  (*promote)(struct diskrep *d, struct remus_err *err);
	/* Planned hand-over with a disk that has one writer at a time (drbd
	 * 8.4): open (allow) or close the window in which both hosts may be
	 * its writable side, so the backup can promote while the primary's
	 * suspended copy still holds its device.  Closing fails while both
	 * sides are writable.  NULL: the backend needs no window. */
	int  (*dual_primary)(struct diskrep *d, bool allow, struct remus_err *err);
	/* Give the writable side up (drbd: Secondary): the primary once its
	 * copy is destroyed, a backup that promoted but could not start the
	 * replica.  Closes this handle's device first.  NULL: nothing to do. */
	int  (*demote)(struct diskrep *d, struct remus_err *err);

	void (*counters)(struct diskrep *d, struct diskrep_counters *out);

	/* Optional, without a handle (a tool run each: never under a lock
	 * that status waits for).  status: fields describing the replicated
	 * disk now; with `handover`, also the hand-over window's state.  On a
	 * failed probe the fields filled so far stay and err says why. */
	int  (*status)(const struct diskrep_config *cfg, bool handover,
	               struct diskrep_status *out, struct remus_err *err);
	/* Whether a guest can be protected from here on this disk (role,
	 * replication): 0 yes, DISKREP_ESTATE no, other <0 unknown; `report`
	 * always says what was seen (for the log). */
	int  (*check)(const struct diskrep_config *cfg, struct remus_err *report);
};

/* Look a backend up by name ("builtin", "drbd") or by kind; NULL if
 * unknown (and for "none"). */
const struct diskrep_ops *diskrep_backend(const char *name);
const struct diskrep_ops *diskrep_backend_of(uint32_t kind);

/* Adapter from the hypervisor's disk hook to a primary diskrep handle. */
struct diskrep_hook {
	const struct diskrep_ops *ops;
	struct diskrep *d;
	struct remus_err err;       /* last error of a hook call */
};
void diskrep_hook_init(struct diskrep_hook *h, const struct diskrep_ops *ops,
                       struct diskrep *d, struct hv_disk_hook *out);

/* Check an offset/length pair against an image: sector-aligned, inside. */
int diskrep_check_range(uint64_t image_bytes, uint64_t off, uint64_t len,
                        struct remus_err *err);

#endif
