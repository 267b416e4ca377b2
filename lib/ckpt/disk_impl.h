/* The disk channel between an engine and its diskrep handle (disk.c). */
#ifndef REMUS_CKPT_DISK_IMPL_H
#define REMUS_CKPT_DISK_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/ckpt.h"

struct disk_channel {
	int fd;                 /* our end of diskrep's peer socketpair, -1: none */
	uint8_t *pend;          /* read from fd, not yet queued on the link */
	size_t pend_len;
	uint8_t *in;            /* backup: link bytes not yet a whole frame */
	size_t in_len, in_cap;
	uint64_t bytes_out, bytes_in;
};

void disk_channel_init(struct disk_channel *l, int fd);
void disk_channel_free(struct disk_channel *l);
int  disk_channel_forward_out(struct disk_channel *l, struct rnet_conn *c, struct remus_err *err);
int  disk_channel_write_in(struct disk_channel *l, const uint8_t *p, size_t len, struct remus_err *err);
int  disk_channel_deliver_in(struct disk_channel *l, const struct diskrep_ops *dr, struct diskrep *d,
                    const uint8_t *p, size_t len, uint64_t *ready, struct remus_err *err);

#endif
