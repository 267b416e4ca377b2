/*
 * pvm's store: a xenstore for one pvm guest, kept by the monitor outside
 * guest RAM (pvm_store*.c, not installed).  A pure library: no guest, no
 * thread, no I/O; the driver calls it from the monitor thread only.
 *
 * Semantics follow xenstored's: hierarchical nodes with binary values;
 * per-node permissions (entry 0: owner, and the access of every domain not
 * listed; further entries: per domain), enforced for the guest and not for
 * the tools (domain 0); watches with tokens on absolute, relative or
 * special ('@') paths that fire once on registration and on every change
 * at or under the path (and on the removal of a parent); transactions that
 * work on a copy and conflict at commit if the store changed meanwhile.
 * Every size is bounded (pvm_hypercall.h's PVM_STORE_*_MAX and the quotas
 * below); a refused operation changes nothing.
 * Errors: -ENOENT, -EACCES, -EINVAL, -E2BIG, -ENOSPC (quota), -EEXIST,
 * -EAGAIN (conflict, or a transaction that no longer exists), -ENOMEM;
 * the message in err.
 */
#ifndef REMUS_PVM_STORE_H
#define REMUS_PVM_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/hv.h"
#include "util/err.h"

#define PVM_STORE_DOM0          0u     /* the tools: every access allowed */
#define PVM_STORE_GUEST_DOMID   1u     /* a pvm guest's domain id in its store */
#define PVM_STORE_NODES_MAX     1000u  /* nodes the guest may own (xenstored's quota) */
#define PVM_STORE_ALL_NODES_MAX 8192u  /* nodes in all, the tools' included */
#define PVM_STORE_WATCHES_MAX   128u   /* the guest's watches */
#define PVM_STORE_TXNS_MAX      10u    /* the guest's open transactions */
#define PVM_STORE_EVENTS_MAX    1024u  /* watch events not yet read by the guest */

struct pvm_store;

struct pvm_store_perm {
	uint32_t domid;
	uint32_t perm;              /* PVM_STORE_PERM_* */
};

int  pvm_store_new(uint32_t domid, struct pvm_store **out, struct remus_err *err);
void pvm_store_free(struct pvm_store *s);
uint32_t pvm_store_domid(const struct pvm_store *s);

/*
 * The operations.  `dom` is the caller: PVM_STORE_DOM0 or the guest's
 * domid.  `txn` 0, or one of the caller's open transactions.  Paths are
 * bytes (not NUL-terminated), absolute or relative to the caller's home.
 * Results are appended to `out` after resetting it.
 */
int pvm_store_read(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                   size_t plen, struct hv_blob *out, struct remus_err *err);
int pvm_store_write(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                    size_t plen, const void *val, size_t vlen, struct remus_err *err);
int pvm_store_mkdir(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                    size_t plen, struct remus_err *err);
int pvm_store_rm(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                 size_t plen, struct remus_err *err);
/* Child names, each NUL-terminated, in creation order. */
int pvm_store_ls(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                 size_t plen, struct hv_blob *out, struct remus_err *err);
/* n x {u32 domid, u32 perm}, little-endian. */
int pvm_store_get_perms(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                        size_t plen, struct hv_blob *out, struct remus_err *err);
int pvm_store_set_perms(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                        size_t plen, const struct pvm_store_perm *p, size_t n,
                        struct remus_err *err);

/* Watches belong to the guest (dom must be its domid). */
int pvm_store_watch(struct pvm_store *s, uint32_t dom, const char *path, size_t plen,
                    const void *token, size_t tlen, struct remus_err *err);
int pvm_store_unwatch(struct pvm_store *s, uint32_t dom, const char *path, size_t plen,
                      const void *token, size_t tlen, struct remus_err *err);
/* Fire a special path ("@releaseDomain", ...) to the watches on it. */
void pvm_store_fire_special(struct pvm_store *s, const char *path);
/* Watch events the guest has not read yet. */
size_t pvm_store_pending(const struct pvm_store *s);
/* The oldest pending event as "path NUL token" in out (removed when
 * `consume`); -EAGAIN when none. */
int pvm_store_event(struct pvm_store *s, bool consume, struct hv_blob *out,
                    struct remus_err *err);

int pvm_store_txn_start(struct pvm_store *s, uint32_t dom, uint32_t *id, struct remus_err *err);
int pvm_store_txn_end(struct pvm_store *s, uint32_t dom, uint32_t id, bool commit,
                      struct remus_err *err);

/*
 * The whole state as a REMUS_XENSTORE record body (flags FULL): every node
 * (parents first, absolute paths, all permission entries), the guest's
 * watches (as registered), its pending events (in order).  Open
 * transactions are not carried (the guest's retry handles them).
 */
int pvm_store_save(struct pvm_store *s, struct hv_blob *body, struct remus_err *err);
/* A new store for `domid` from such a body: every entry checked (paths,
 * sizes, known domains, parents before children, quotas); on error
 * nothing is built.  out NULL: check only. */
int pvm_store_load(uint32_t domid, const uint8_t *body, size_t len, struct pvm_store **out,
                   struct remus_err *err);

/*
 * One PVM_HC_STORE op of the guest, its argument (a, len: at most
 * PVM_STORE_ARG_MAX bytes, already inside guest RAM) parsed as the ABI
 * says (pvm_hypercall.h); output (READ, LS, GET_PERMS, EVENT) in out.
 * >= 0 (TXN_START: the id) or -errno.  EVENT only peeks: the caller
 * consumes the event once it delivered it (pvm_store_event).
 */
#define PVM_STORE_ARG_MAX (PVM_STORE_PATH_MAX + 1 + PVM_STORE_VALUE_MAX)
int64_t pvm_store_hc_op(struct pvm_store *s, struct hv_blob *out, uint32_t op, uint32_t txn,
                        const uint8_t *a, uint64_t len);

/* Append to a blob (grows it); -ENOMEM. */
int pvm_store_blob_put(struct hv_blob *b, const void *p, size_t n);

#endif
