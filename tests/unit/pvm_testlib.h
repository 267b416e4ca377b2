/* Helpers shared by pvm's unit tests: guest paths, configs, waiting on a
 * guest state with a bounded timeout, and an engine-like checkpoint
 * (a replica memfd kept up to date from the dirty log, plus both blobs). */
#ifndef PVM_TESTLIB_H
#define PVM_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"

struct pt_ckpt {
	int ram_fd;
	uint8_t *ram;
	uint64_t ram_bytes;
	struct hv_blob hvm, emu;
	struct hv_pfn_list dirty;
	uint8_t *buf;               /* copy buffer, ram_bytes */
};

const char *pt_guest(const char *name);
void pt_config(struct hv_guest_config *cfg, const char *name, const char *guest,
               uint64_t mem, int console_fd);
/* Create + start; fails the test on error.  pt_create alone leaves the
 * guest stopped before its first instruction. */
struct hv_guest *pt_boot(const struct hv_guest_config *cfg);
struct hv_guest *pt_create(const struct hv_guest_config *cfg);
void pt_start(struct hv_guest *g);
/* Poll info until state == want (bounded: fails after `secs`). */
void pt_wait_state(struct hv_guest *g, enum hv_run_state want, int secs);
/* Read a u64 at RAM offset `off` of a paused guest. */
uint64_t pt_peek(struct hv_guest *g, uint64_t off);

int pt_ckpt_init(struct pt_ckpt *c, uint64_t ram_bytes);
/* Guest paused: dirty log + copy into the replica, save cpu + devices. */
void pt_ckpt_take(struct pt_ckpt *c, struct hv_guest *g);
/* A fresh memfd holding a copy of the replica (the restored guest owns it). */
int pt_ckpt_clone_ram(const struct pt_ckpt *c);
struct hv_guest *pt_restore(const struct hv_guest_config *cfg, const struct pt_ckpt *c,
                            int ram_fd, struct remus_err *err);
void pt_ckpt_free(struct pt_ckpt *c);
/* Read a line from fd (bounded wait): true if one arrived. */
bool pt_read_line(int fd, char *buf, size_t cap, int secs);

#endif
