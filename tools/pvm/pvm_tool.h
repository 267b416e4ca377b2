/*
 * The `pvm` command's internal interfaces: the control-socket protocol
 * between `pvm run` and `pvm save`/`pvm list`, and the stream image
 * (a plain migration v2 stream, like `xl save` writes) of a paused guest.
 */
#ifndef PVM_TOOL_H
#define PVM_TOOL_H

#include <stddef.h>
#include <stdint.h>

#include "hv/hv.h"
#include "util/err.h"

/* ---- control messages: 16-byte header + fixed per-type payload ---- */
#define PVM_CTL_MAGIC    0x434d5650u        /* "PVMC" */
#define PVM_CTL_VERSION  2u                 /* 2: console_dropped in REPLY */
#define PVM_CTL_HDR_SIZE 16u
#define PVM_CTL_MSG_MAX  256u

enum pvm_ctl_type {
	PVM_CTL_SAVE = 1,       /* no payload; the file fd rides along (SCM_RIGHTS) */
	PVM_CTL_INFO = 2,       /* no payload */
	PVM_CTL_REPLY = 3,      /* struct pvm_ctl_reply */
};

struct pvm_ctl_reply {
	int32_t rc;             /* 0 or negative error */
	uint32_t state;         /* enum hv_run_state */
	uint64_t ram_bytes;
	uint64_t console_dropped;   /* console bytes nobody read (hv_info) */
	char msg[PVM_CTL_MSG_MAX];   /* NUL-terminated */
};
#define PVM_CTL_REPLY_SIZE (24u + PVM_CTL_MSG_MAX)

struct pvm_ctl_msg {
	uint32_t type;
	struct pvm_ctl_reply reply;     /* PVM_CTL_REPLY only */
};

/* Encode a message into buf (PVM_CTL_HDR_SIZE + payload); returns its length. */
size_t pvm_ctl_encode(const struct pvm_ctl_msg *m, uint8_t *buf, size_t cap);
/* Strict decode of one whole message (type, exact length, reserved, NUL). */
int pvm_ctl_decode(const uint8_t *buf, size_t len, struct pvm_ctl_msg *m,
                   struct remus_err *err);
/* "$REMUS_RUNDIR/pvm" (default /run/remus/pvm) and NAME.sock inside it. */
int pvm_ctl_dir(char *buf, size_t cap, struct remus_err *err);
int pvm_ctl_path(const char *name, char *buf, size_t cap, struct remus_err *err);
/* Send a message (with an fd, or -1); receive one (fd out, or -1). */
int pvm_ctl_send(int sock, const struct pvm_ctl_msg *m, int fd, struct remus_err *err);
int pvm_ctl_recv(int sock, struct pvm_ctl_msg *m, int *fd, struct remus_err *err);

/* ---- stream images ---- */
/* Write the paused guest as a plain libxl/libxc v2 stream to fd. */
int pvm_image_save(const struct hv_ops *ops, struct hv_guest *g, int fd,
                   struct remus_err *err);
/* A decoded image: RAM in a memfd, both context blobs (owned). */
struct pvm_image {
	int ram_fd;
	uint64_t ram_bytes;
	struct hv_blob hvm, emu;
};
/* Read and fully decode a stream from fd; nothing is started. */
int pvm_image_load(int fd, struct pvm_image *im, struct remus_err *err);
void pvm_image_free(struct pvm_image *im);

#endif
