/*
 * A guest disk served to this host's kernel as /dev/nbdN: how a Xen
 * guest's disk (blkback on phy:/dev/nbdN, or QEMU) reaches the builtin
 * diskrep backend.  The image is served over a unix socket by a thread
 * running the NBD server (nbd.h); `nbd-client` hands that connection to
 * the kernel.  Where the served I/O goes is switched at run time without
 * the kernel noticing:
 *   DIRECT     straight to the image (no session protects the guest yet;
 *              the first protection resyncs the backup by block hashes);
 *   HOOK       through a disk hook (the builtin backend's primary handle:
 *              every write journaled for its epoch);
 *   READ_ONLY  writes refused with EPERM (this host holds a replica: only
 *              the replication receiver writes its image, at commit).
 * The export is advertised writable: a replica promoted at failover is
 * written through the same kernel device, switched to HOOK.
 * Errors: 0 or negative (-errno or DISKREP_E*), message in `err`.
 */
#ifndef REMUS_DISKREP_NBD_DEVICE_H
#define REMUS_DISKREP_NBD_DEVICE_H

#include <stdbool.h>
#include <stdint.h>

#include "diskrep/nbd.h"
#include "hv/hv.h"
#include "util/err.h"

enum nbd_device_mode { NBD_DEVICE_DIRECT, NBD_DEVICE_HOOK, NBD_DEVICE_READ_ONLY };

struct nbd_device_config {
	const char *name;           /* export name (the guest's) */
	const char *image;          /* the disk image (file or block device) */
	const char *device;         /* /dev/nbdN; NULL: serve only (tests) */
	const char *socket;         /* the unix socket path served on */
	const char *client;         /* nbd-client program; NULL: "nbd-client" */
};

struct nbd_device_status {
	enum nbd_device_mode mode;
	bool bound;                 /* nbd-client handed a connection to the kernel */
	uint64_t size;
	unsigned clients;           /* connections served so far */
	struct nbd_stats st;
	char last_error[256];       /* how the last connection ended, if badly */
};

struct nbd_device;

/* Open the image, listen, start serving (mode DIRECT) and, with a device,
 * bind it with `nbd-client -unix SOCKET DEVICE`. */
int nbd_device_open(const struct nbd_device_config *c, struct nbd_device **out,
                    struct remus_err *err);
/* Where I/O goes from the next request on (hook: for NBD_DEVICE_HOOK; it
 * must stay valid until the next route or close).  Waits for a request in
 * progress. */
void nbd_device_route(struct nbd_device *d, enum nbd_device_mode mode,
                      const struct hv_disk_hook *hook);
/* Drop the kernel's cached blocks of the device (BLKFLSBUF): the image
 * changed under it (a replica's epochs were committed). */
int nbd_device_drop_cache(struct nbd_device *d, struct remus_err *err);
void nbd_device_status(struct nbd_device *d, struct nbd_device_status *out);
const char *nbd_device_mode_name(enum nbd_device_mode m);
/* Stop serving; a bound device is unbound (`nbd-client -d`) first. */
void nbd_device_close(struct nbd_device *d);

#endif
