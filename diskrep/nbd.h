/*
 * An NBD server for one disk: how a guest whose disks the hypervisor opens
 * itself (Xen: blkback on dom0's /dev/nbdN, bound by nbd-client; QEMU's
 * NBD block driver) sends its disk I/O through a disk hook, the same one a
 * pvm guest's block device uses, so the builtin diskrep backend can
 * replicate it epoch by epoch.
 *
 * The fixed-newstyle protocol of the NBD specification (doc/proto.md of
 * the nbd project), simple replies only: options EXPORT_NAME, GO, INFO,
 * LIST and ABORT (any other is answered "unsupported"); commands READ,
 * WRITE (with FUA), FLUSH and DISC.  Everything the client sends is
 * hostile input: option payloads and requests are bounded, a request
 * outside the disk or unaligned to its sector is answered EINVAL without
 * touching it, and a malformed message ends the connection with an error
 * that names what was wrong.
 */
#ifndef REMUS_DISKREP_NBD_H
#define REMUS_DISKREP_NBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"
#include "util/err.h"

#define NBD_OPT_DATA_MAX   4096u        /* largest option payload taken */
#define NBD_OPTS_MAX       64u          /* options before transmission */
#define NBD_NAME_MAX       256u         /* export name */
#define NBD_IO_MAX         (32u << 20)  /* largest READ/WRITE request */
#define NBD_SECTOR         512u         /* the disk hook's alignment */

/* Wire constants (big-endian on the wire). */
#define NBD_INIT_MAGIC     0x4e42444d41474943ULL   /* "NBDMAGIC" */
#define NBD_OPTS_MAGIC     0x49484156454f5054ULL   /* "IHAVEOPT" */
#define NBD_REP_MAGIC      0x0003e889045565a9ULL
#define NBD_REQ_MAGIC      0x25609513u
#define NBD_SIMPLE_MAGIC   0x67446698u

enum nbd_option {
	NBD_OPT_EXPORT_NAME = 1, NBD_OPT_ABORT = 2, NBD_OPT_LIST = 3,
	NBD_OPT_INFO = 6, NBD_OPT_GO = 7,
};
enum nbd_command {
	NBDC_READ = 0, NBDC_WRITE = 1, NBDC_DISC = 2, NBDC_FLUSH = 3,
};
#define NBDC_FLAG_FUA      (1u << 0)

/* One request header (28 bytes on the wire), parsed. */
struct nbd_request {
	uint16_t flags, type;
	uint64_t cookie, offset;
	uint32_t length;
};

/* One option header (16 bytes), parsed. */
struct nbd_option_hdr {
	uint32_t option, length;
};

/* The disk served: its size (a multiple of NBD_SECTOR) and where I/O goes. */
struct nbd_export {
	const char *name;           /* "" or NULL: the default export only */
	uint64_t size;
	bool read_only;
	struct hv_disk_hook io;     /* read/write/flush: 0 or -errno */
};

struct nbd_stats {
	uint64_t reads, writes, flushes, fua_writes, read_bytes, write_bytes;
	uint64_t refused;           /* requests answered with an error */
};

/* How the server moves bytes (an fd in nbd_serve; a test or a fuzz target
 * can give its own): read exactly len bytes (0; -EPIPE at end of input),
 * write all of them (0 or -errno). */
struct nbd_io {
	void *arg;
	int (*read)(void *arg, void *buf, size_t len);
	int (*write)(void *arg, const void *buf, size_t len);
};

/* Parse the 16 bytes after the client's flags: an option header. */
int nbd_parse_option(const uint8_t p[16], struct nbd_option_hdr *out, struct remus_err *err);
/* Parse a 28-byte request header.  The magic and the type's known flags
 * are checked (a bad one ends the connection); the range is not: see
 * nbd_request_error. */
int nbd_parse_request(const uint8_t p[28], struct nbd_request *out, struct remus_err *err);
/* The NBD error a well-formed request gets without touching the disk
 * (0: serve it): EINVAL outside the disk, unaligned or too long, EPERM
 * writing a read-only export. */
uint32_t nbd_request_error(const struct nbd_request *r, const struct nbd_export *ex);

/* Serve one client from its first byte to its DISC or end: 0 on a clean
 * end (DISC, ABORT, or the client closing between requests), or an error. */
int nbd_serve_io(const struct nbd_io *io, const struct nbd_export *ex, struct nbd_stats *st,
                 struct remus_err *err);
/* The same over a connected stream socket; stop_fd (-1: none) readable
 * ends it with -ECANCELED. */
int nbd_serve(int fd, int stop_fd, const struct nbd_export *ex, struct nbd_stats *st,
              struct remus_err *err);

#endif
