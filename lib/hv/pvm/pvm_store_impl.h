/* pvm's store, internals shared by pvm_store.c (nodes, paths,
 * permissions), pvm_store_watch.c (watches, events, transactions) and
 * pvm_store_rec.c (REMUS_XENSTORE records). */
#ifndef REMUS_PVM_STORE_IMPL_H
#define REMUS_PVM_STORE_IMPL_H

#include "hv/pvm/pvm_store.h"

struct store_node {
	char *path;                 /* absolute, NUL-terminated */
	size_t plen;
	uint8_t *val;
	uint32_t vlen;
	uint32_t nperms;            /* 1..PVM_STORE_PERMS_MAX */
	struct pvm_store_perm perms[PVM_STORE_PERMS_MAX];
};

/* Nodes in creation order: a parent always comes before its children. */
struct store_tree {
	struct store_node *n;
	size_t count, cap;
};

/* A change made inside a transaction, fired when it commits. */
struct store_change {
	char *path;
	bool removed, visible;      /* visible: the guest could read the node */
};

struct store_txn {
	uint32_t id;                /* 0: slot free */
	uint32_t dom;
	uint64_t gen;               /* the store's generation when it started */
	struct store_tree tree;     /* the transaction's copy */
	struct store_change *ch;
	size_t nch, chcap;
};

struct store_watch {
	char *path;                 /* as registered (relative, absolute or '@') */
	size_t plen;
	uint8_t *token;
	uint32_t tlen;
};

struct store_event {
	char *path;                 /* as reported to the guest */
	size_t plen;
	uint8_t *token;
	uint32_t tlen;
};

struct pvm_store {
	uint32_t domid;
	char home[32];              /* "/local/domain/<domid>" */
	size_t home_len;
	struct store_tree live;
	uint64_t gen;               /* bumped by every change of `live` */
	uint64_t rev;               /* bumped by every change of what save encodes */
	uint64_t saved_rev;         /* `saved` is the encoding at this rev */
	struct hv_blob saved;       /* the last save's body (most checkpoints
	                             * find the store unchanged) */
	struct store_watch w[PVM_STORE_WATCHES_MAX];
	size_t nw;
	struct store_event ev[PVM_STORE_EVENTS_MAX];   /* ring */
	size_t ev_head, nev;
	uint64_t events_dropped;
	struct store_txn txn[PVM_STORE_TXNS_MAX];
	uint32_t next_txn;
};

enum store_path_use { STORE_PATH_NODE, STORE_PATH_WATCH };

/* pvm_store.c */
struct pvm_store *store_alloc(uint32_t domid);
/* Check a path and make it absolute into abs (PVM_STORE_PATH_MAX + 1);
 * a watch may also name a special '@' path (kept as is). */
int store_resolve(const struct pvm_store *s, const char *path, size_t plen,
                  enum store_path_use use, char *abs, size_t *alen, struct remus_err *err);
struct store_node *store_find(const struct store_tree *t, const char *abs, size_t alen);
bool store_may(const struct pvm_store *s, uint32_t dom, const struct store_node *n,
               uint32_t want);
void store_tree_free(struct store_tree *t);
int store_tree_copy(struct store_tree *dst, const struct store_tree *src);
/* Append a node (path, value and perms copied); -ENOMEM. */
int store_tree_add(struct store_tree *t, const char *abs, size_t alen, const void *val,
                   uint32_t vlen, const struct pvm_store_perm *p, uint32_t np);
int  store_perms_check(const struct pvm_store *s, const struct pvm_store_perm *p, size_t n,
                       struct remus_err *err);
size_t store_owned(const struct store_tree *t, uint32_t dom);
bool store_is_under(const char *p, size_t plen, const char *top, size_t tlen);

/* pvm_store_watch.c */
/* A node of the live store changed: fire the watches on it now, or note it
 * in txn for its commit. */
void store_changed(struct pvm_store *s, struct store_txn *txn, const char *abs, size_t alen,
                   bool removed, bool visible);
struct store_tree *store_tree_of(struct pvm_store *s, uint32_t dom, uint32_t txn_id,
                                 struct store_txn **txn, struct remus_err *err);
void store_watches_free(struct pvm_store *s);
int  store_watch_add(struct pvm_store *s, const char *path, size_t plen, const void *token,
                     size_t tlen, struct remus_err *err);
int  store_event_push(struct pvm_store *s, const char *path, size_t plen, const void *token,
                      size_t tlen);

#endif
