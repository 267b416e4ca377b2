/*
 * pvm's store: nodes, paths and permissions, and the node operations
 * (read, write, mkdir, rm, ls, get/set perms).  Each operation checks
 * everything before it changes anything, so a refused one changes nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hv/pvm/pvm_store_impl.h"

int pvm_store_blob_put(struct hv_blob *b, const void *p, size_t n)
{
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2)
				return -ENOMEM;
			cap *= 2;
		}
		uint8_t *d = realloc(b->data, cap);
		if (d == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '@';
}

/* Components of p[0..len) (no leading '/'): non-empty, allowed characters. */
static const char *components_problem(const char *p, size_t len)
{
	if (len == 0)
		return "empty path";
	if (p[len - 1] == '/')
		return "path ending in '/'";
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '/') {
			if (i == 0 || p[i - 1] == '/')
				return "empty path component ('//')";
		} else if (p[i] == '\0') {
			return "NUL byte in path";
		} else if (!name_char(p[i])) {
			return "character outside [A-Za-z0-9_@-/] in path";
		}
	}
	return NULL;
}

int store_resolve(const struct pvm_store *s, const char *path, size_t plen,
                  enum store_path_use use, char *abs, size_t *alen, struct remus_err *err)
{
	const char *why;

	if (plen == 0)
		return remus_err_set(err, -EINVAL, "store: empty path");
	if (plen > PVM_STORE_PATH_MAX)
		return remus_err_set(err, -E2BIG, "store: path of %zu bytes, the limit is %u", plen,
		                     PVM_STORE_PATH_MAX);
	if (path[0] == '@') {
		if (use != STORE_PATH_WATCH)
			return remus_err_set(err, -EINVAL, "store: special path '%.*s' names no node",
			                     (int)(plen > 64 ? 64 : plen), path);
		for (size_t i = 1; i < plen; i++)
			if (!name_char(path[i]) || path[i] == '@')
				return remus_err_set(err, -EINVAL, "store: bad character in special path");
		if (plen < 2)
			return remus_err_set(err, -EINVAL, "store: special path '@' without a name");
		memcpy(abs, path, plen);
		abs[plen] = '\0';
		*alen = plen;
		return 0;
	}
	if (path[0] == '/') {
		if (plen > 1 && (why = components_problem(path + 1, plen - 1)) != NULL)
			return remus_err_set(err, -EINVAL, "store: %s", why);
		memcpy(abs, path, plen);
		abs[plen] = '\0';
		*alen = plen;
		return 0;
	}
	if ((why = components_problem(path, plen)) != NULL)
		return remus_err_set(err, -EINVAL, "store: %s", why);
	if (s->home_len + 1 + plen > PVM_STORE_PATH_MAX)
		return remus_err_set(err, -E2BIG, "store: relative path of %zu bytes: %zu bytes "
		                     "absolute, the limit is %u", plen, s->home_len + 1 + plen,
		                     PVM_STORE_PATH_MAX);
	memcpy(abs, s->home, s->home_len);
	abs[s->home_len] = '/';
	memcpy(abs + s->home_len + 1, path, plen);
	*alen = s->home_len + 1 + plen;
	abs[*alen] = '\0';
	return 0;
}

bool store_is_under(const char *p, size_t plen, const char *top, size_t tlen)
{
	if (tlen == 1 && top[0] == '/')
		return p[0] == '/';
	return plen >= tlen && memcmp(p, top, tlen) == 0 && (plen == tlen || p[tlen] == '/');
}

struct store_node *store_find(const struct store_tree *t, const char *abs, size_t alen)
{
	for (size_t i = 0; i < t->count; i++)
		if (t->n[i].plen == alen && memcmp(t->n[i].path, abs, alen) == 0)
			return &t->n[i];
	return NULL;
}

/* Owner (entry 0's domain) may do anything; a listed domain what its entry
 * says; everyone else what entry 0 says.  The tools may do anything. */
bool store_may(const struct pvm_store *s, uint32_t dom, const struct store_node *n,
               uint32_t want)
{
	(void)s;
	if (dom == PVM_STORE_DOM0 || dom == n->perms[0].domid)
		return true;
	for (uint32_t i = 1; i < n->nperms; i++)
		if (n->perms[i].domid == dom)
			return (n->perms[i].perm & want) == want;
	return (n->perms[0].perm & want) == want;
}

size_t store_owned(const struct store_tree *t, uint32_t dom)
{
	size_t k = 0;

	for (size_t i = 0; i < t->count; i++)
		k += t->n[i].perms[0].domid == dom;
	return k;
}

static void node_free(struct store_node *n)
{
	free(n->path);
	free(n->val);
}

void store_tree_free(struct store_tree *t)
{
	for (size_t i = 0; i < t->count; i++)
		node_free(&t->n[i]);
	free(t->n);
	memset(t, 0, sizeof(*t));
}

static int tree_reserve(struct store_tree *t, size_t more)
{
	if (t->cap - t->count >= more)
		return 0;
	size_t cap = t->cap ? t->cap : 16;
	while (cap - t->count < more)
		cap *= 2;
	struct store_node *n = realloc(t->n, cap * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	t->n = n;
	t->cap = cap;
	return 0;
}

static int node_fill(struct store_node *n, const char *abs, size_t alen, const void *val,
                     uint32_t vlen, const struct pvm_store_perm *p, uint32_t np)
{
	memset(n, 0, sizeof(*n));
	n->path = malloc(alen + 1);
	n->val = vlen ? malloc(vlen) : NULL;
	if (n->path == NULL || (vlen && n->val == NULL)) {
		node_free(n);
		return -ENOMEM;
	}
	memcpy(n->path, abs, alen);
	n->path[alen] = '\0';
	n->plen = alen;
	if (vlen)
		memcpy(n->val, val, vlen);
	n->vlen = vlen;
	n->nperms = np;
	memcpy(n->perms, p, np * sizeof(*p));
	return 0;
}

int store_tree_add(struct store_tree *t, const char *abs, size_t alen, const void *val,
                   uint32_t vlen, const struct pvm_store_perm *p, uint32_t np)
{
	if (tree_reserve(t, 1) < 0)
		return -ENOMEM;
	if (node_fill(&t->n[t->count], abs, alen, val, vlen, p, np) < 0)
		return -ENOMEM;
	t->count++;
	return 0;
}

int store_tree_copy(struct store_tree *dst, const struct store_tree *src)
{
	memset(dst, 0, sizeof(*dst));
	if (tree_reserve(dst, src->count ? src->count : 1) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < src->count; i++) {
		const struct store_node *n = &src->n[i];
		if (store_tree_add(dst, n->path, n->plen, n->val, n->vlen, n->perms, n->nperms) < 0) {
			store_tree_free(dst);
			return -ENOMEM;
		}
	}
	return 0;
}

struct pvm_store *store_alloc(uint32_t domid)
{
	struct pvm_store *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->domid = domid;
	s->home_len = (size_t)snprintf(s->home, sizeof(s->home), "/local/domain/%u", domid);
	return s;
}

/* A fresh store: "/", "/local", "/local/domain" of the tools, readable by
 * nobody else; the guest's home owned by the guest. */
int pvm_store_new(uint32_t domid, struct pvm_store **out, struct remus_err *err)
{
	struct pvm_store_perm tools = { PVM_STORE_DOM0, PVM_STORE_PERM_NONE };
	struct pvm_store_perm guest = { domid, PVM_STORE_PERM_NONE };
	struct pvm_store *s;

	*out = NULL;
	if (domid == PVM_STORE_DOM0)
		return remus_err_set(err, -EINVAL, "store: the guest cannot be domain 0");
	if ((s = store_alloc(domid)) == NULL ||
	    store_tree_add(&s->live, "/", 1, NULL, 0, &tools, 1) < 0 ||
	    store_tree_add(&s->live, "/local", 6, NULL, 0, &tools, 1) < 0 ||
	    store_tree_add(&s->live, "/local/domain", 13, NULL, 0, &tools, 1) < 0 ||
	    store_tree_add(&s->live, s->home, s->home_len, NULL, 0, &guest, 1) < 0) {
		pvm_store_free(s);
		return remus_err_sys(err, ENOMEM, "store: new");
	}
	*out = s;
	return 0;
}

void pvm_store_free(struct pvm_store *s)
{
	if (s == NULL)
		return;
	store_tree_free(&s->live);
	for (size_t i = 0; i < PVM_STORE_TXNS_MAX; i++)
		if (s->txn[i].id)
			pvm_store_txn_end(s, s->txn[i].dom, s->txn[i].id, false, NULL);
	store_watches_free(s);
	hv_blob_free(&s->saved);
	free(s);
}

uint32_t pvm_store_domid(const struct pvm_store *s)
{
	return s->domid;
}

/* One node operation's working set: the tree it works on (the store's or
 * a transaction's), the absolute path, and the node once found. */
struct store_op {
	struct store_tree *t;
	struct store_txn *tx;
	struct store_node *n;
	size_t alen;
	char abs[PVM_STORE_PATH_MAX + 1];
};

/* The common start of a node operation: the tree and the absolute path. */
static int op_begin(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                    size_t plen, struct store_op *op, struct remus_err *err)
{
	if (dom != PVM_STORE_DOM0 && dom != s->domid)
		return remus_err_set(err, -EINVAL, "store: unknown domain %u", dom);
	op->tx = NULL;
	op->n = NULL;
	if ((op->t = store_tree_of(s, dom, txn, &op->tx, err)) == NULL)
		return -EAGAIN;
	return store_resolve(s, path, plen, STORE_PATH_NODE, op->abs, &op->alen, err);
}

static int denied(struct remus_err *err, uint32_t dom, const char *what, const char *abs)
{
	return remus_err_set(err, -EACCES, "store: domain %u may not %s %.200s", dom, what, abs);
}

/* The node at op->abs, which dom may access with perm (0: no check here,
 * the caller has its own rule); what names the access in the refusal. */
static int op_find(const struct pvm_store *s, uint32_t dom, uint32_t perm, const char *what,
                   struct store_op *op, struct remus_err *err)
{
	if ((op->n = store_find(op->t, op->abs, op->alen)) == NULL)
		return remus_err_set(err, -ENOENT, "store: no node %.200s", op->abs);
	if (perm != 0 && !store_may(s, dom, op->n, perm))
		return denied(err, dom, what, op->abs);
	return 0;
}

/* op_begin and op_find: the start of every operation on an existing node. */
static int op_node(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                   size_t plen, uint32_t perm, const char *what, struct store_op *op,
                   struct remus_err *err)
{
	int rc = op_begin(s, dom, txn, path, plen, op, err);

	return rc < 0 ? rc : op_find(s, dom, perm, what, op, err);
}

int pvm_store_read(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                   size_t plen, struct hv_blob *out, struct remus_err *err)
{
	struct store_op op;
	int rc;

	out->len = 0;
	if ((rc = op_node(s, dom, txn, path, plen, PVM_STORE_PERM_READ, "read", &op, err)) < 0)
		return rc;
	if (pvm_store_blob_put(out, op.n->val, op.n->vlen) < 0)
		return remus_err_sys(err, ENOMEM, "store: read");
	return 0;
}

/* Write (or mkdir when val is NULL) at abs: the missing ancestors are made
 * with the nearest existing one's permissions, owned by the writer (unless
 * it is the tools). */
static int do_write(struct pvm_store *s, uint32_t dom, struct store_tree *t, struct store_txn *tx,
                    const char *abs, size_t alen, const void *val, size_t vlen,
                    struct remus_err *err)
{
	struct store_node *n = store_find(t, abs, alen), *anc;
	struct pvm_store_perm p[PVM_STORE_PERMS_MAX];
	size_t missing = 1, l = alen, have;
	uint32_t np, owner;

	if (vlen > PVM_STORE_VALUE_MAX)
		return remus_err_set(err, -E2BIG, "store: value of %zu bytes, the limit is %u", vlen,
		                     PVM_STORE_VALUE_MAX);
	if (n != NULL) {
		if (val == NULL)
			return 0;                       /* mkdir of an existing node */
		if (!store_may(s, dom, n, PVM_STORE_PERM_WRITE))
			return denied(err, dom, "write", abs);
		uint8_t *v = vlen ? malloc(vlen) : NULL;
		if (vlen && v == NULL)
			return remus_err_sys(err, ENOMEM, "store: write");
		if (vlen)
			memcpy(v, val, vlen);
		free(n->val);
		n->val = v;
		n->vlen = (uint32_t)vlen;
		store_changed(s, tx, abs, alen, false, store_may(s, s->domid, n, PVM_STORE_PERM_READ));
		return 0;
	}
	/* the nearest existing ancestor ("/" always exists) */
	for (;;) {
		while (l > 1 && abs[l - 1] != '/')
			l--;
		l = l > 1 ? l - 1 : 1;
		if ((anc = store_find(t, abs, l)) != NULL)
			break;
		missing++;
	}
	if (!store_may(s, dom, anc, PVM_STORE_PERM_WRITE))
		return denied(err, dom, "create nodes under", anc->path);
	/* the new nodes' owner: the writer, or for the tools the ancestor's
	 * owner; the guest's quota holds whoever creates its nodes (a store
	 * over it would not load on the backup) */
	owner = dom == PVM_STORE_DOM0 ? anc->perms[0].domid : dom;
	have = owner == s->domid ? store_owned(t, owner) : 0;
	if (owner == s->domid && have + missing > PVM_STORE_NODES_MAX)
		return remus_err_set(err, -ENOSPC, "store: domain %u owns %zu nodes, %zu more would "
		                     "pass its quota of %u", owner, have, missing, PVM_STORE_NODES_MAX);
	if (t->count + missing > PVM_STORE_ALL_NODES_MAX)
		return remus_err_set(err, -ENOSPC, "store: %zu nodes, %zu more would pass the limit "
		                     "of %u", t->count, missing, PVM_STORE_ALL_NODES_MAX);
	np = anc->nperms;
	memcpy(p, anc->perms, np * sizeof(p[0]));
	if (dom != PVM_STORE_DOM0)
		p[0].domid = dom;
	if (tree_reserve(t, missing) < 0)
		return remus_err_sys(err, ENOMEM, "store: write");
	/* every missing level, outermost first; only the last carries val */
	for (size_t k = missing; k-- > 0;) {
		size_t e = alen;
		for (size_t j = 0; j < k; j++) {
			while (abs[e - 1] != '/')
				e--;
			e--;
		}
		if (store_tree_add(t, abs, e, k == 0 ? val : NULL, k == 0 ? (uint32_t)vlen : 0, p,
		                   np) < 0) {
			/* undo the levels added so far: nothing half-applied */
			for (size_t j = k + 1; j < missing; j++)
				node_free(&t->n[--t->count]);
			return remus_err_sys(err, ENOMEM, "store: write");
		}
	}
	store_changed(s, tx, abs, alen, false,
	              store_may(s, s->domid, &t->n[t->count - 1], PVM_STORE_PERM_READ));
	return 0;
}

int pvm_store_write(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                    size_t plen, const void *val, size_t vlen, struct remus_err *err)
{
	struct store_op op;
	int rc;

	if ((rc = op_begin(s, dom, txn, path, plen, &op, err)) < 0)
		return rc;
	return do_write(s, dom, op.t, op.tx, op.abs, op.alen, val ? val : "", vlen, err);
}

int pvm_store_mkdir(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                    size_t plen, struct remus_err *err)
{
	struct store_op op;
	int rc;

	if ((rc = op_begin(s, dom, txn, path, plen, &op, err)) < 0)
		return rc;
	return do_write(s, dom, op.t, op.tx, op.abs, op.alen, NULL, 0, err);
}

int pvm_store_rm(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                 size_t plen, struct remus_err *err)
{
	struct store_op op;
	struct store_tree *t;
	size_t j = 0;
	int rc;

	if ((rc = op_begin(s, dom, txn, path, plen, &op, err)) < 0)
		return rc;
	if (op.alen == 1)
		return remus_err_set(err, -EINVAL, "store: the root cannot be removed");
	if ((rc = op_find(s, dom, PVM_STORE_PERM_WRITE, "remove", &op, err)) < 0)
		return rc;
	store_changed(s, op.tx, op.abs, op.alen, true,
	              store_may(s, s->domid, op.n, PVM_STORE_PERM_READ));
	t = op.t;
	for (size_t i = 0; i < t->count; i++) {
		if (store_is_under(t->n[i].path, t->n[i].plen, op.abs, op.alen))
			node_free(&t->n[i]);
		else
			t->n[j++] = t->n[i];
	}
	t->count = j;
	return 0;
}

int pvm_store_ls(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                 size_t plen, struct hv_blob *out, struct remus_err *err)
{
	struct store_op op;
	size_t base;
	int rc;

	out->len = 0;
	if ((rc = op_node(s, dom, txn, path, plen, PVM_STORE_PERM_READ, "list", &op, err)) < 0)
		return rc;
	base = op.alen == 1 ? 1 : op.alen + 1;      /* where a child's name starts */
	for (size_t i = 0; i < op.t->count; i++) {
		const struct store_node *c = &op.t->n[i];
		if (c->plen <= base || !store_is_under(c->path, c->plen, op.abs, op.alen) ||
		    memchr(c->path + base, '/', c->plen - base) != NULL)
			continue;
		if (pvm_store_blob_put(out, c->path + base, c->plen - base + 1) < 0)
			return remus_err_sys(err, ENOMEM, "store: ls");
	}
	return 0;
}

int pvm_store_get_perms(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                        size_t plen, struct hv_blob *out, struct remus_err *err)
{
	struct store_op op;
	int rc;

	out->len = 0;
	if ((rc = op_node(s, dom, txn, path, plen, PVM_STORE_PERM_READ,
	                  "read the permissions of", &op, err)) < 0)
		return rc;
	for (uint32_t i = 0; i < op.n->nperms; i++) {
		uint8_t e[8];
		for (int b = 0; b < 4; b++) {
			e[b] = (uint8_t)(op.n->perms[i].domid >> (8 * b));
			e[4 + b] = (uint8_t)(op.n->perms[i].perm >> (8 * b));
		}
		if (pvm_store_blob_put(out, e, 8) < 0)
			return remus_err_sys(err, ENOMEM, "store: get_perms");
	}
	return 0;
}

/* A permission list the store can hold: 1..PERMS_MAX entries, known
 * domains, known bits. */
int store_perms_check(const struct pvm_store *s, const struct pvm_store_perm *p, size_t n,
                      struct remus_err *err)
{
	if (n == 0)
		return remus_err_set(err, -EINVAL, "store: empty permission list (the owner is entry 0)");
	if (n > PVM_STORE_PERMS_MAX)
		return remus_err_set(err, -E2BIG, "store: %zu permission entries, the limit is %u", n,
		                     PVM_STORE_PERMS_MAX);
	for (size_t i = 0; i < n; i++) {
		if (p[i].domid != PVM_STORE_DOM0 && p[i].domid != s->domid)
			return remus_err_set(err, -EINVAL, "store: permission entry %zu names unknown "
			                     "domain %u", i, p[i].domid);
		if (p[i].perm > PVM_STORE_PERM_BOTH)
			return remus_err_set(err, -EINVAL, "store: permission entry %zu has unknown bits "
			                     "%#x", i, p[i].perm);
	}
	return 0;
}

int pvm_store_set_perms(struct pvm_store *s, uint32_t dom, uint32_t txn, const char *path,
                        size_t plen, const struct pvm_store_perm *p, size_t np,
                        struct remus_err *err)
{
	struct store_op op;
	struct store_node *n;
	int rc;

	if ((rc = op_begin(s, dom, txn, path, plen, &op, err)) < 0 ||
	    (rc = store_perms_check(s, p, np, err)) < 0 ||
	    (rc = op_find(s, dom, 0, NULL, &op, err)) < 0)
		return rc;
	n = op.n;
	if (dom != PVM_STORE_DOM0 && dom != n->perms[0].domid)
		return denied(err, dom, "change the permissions of (not its owner)", op.abs);
	if (dom != PVM_STORE_DOM0 && p[0].domid != dom)
		return remus_err_set(err, -EACCES, "store: domain %u may not give %.200s to domain "
		                     "%u", dom, op.abs, p[0].domid);
	if (p[0].domid == s->domid && n->perms[0].domid != s->domid &&
	    store_owned(op.t, s->domid) + 1 > PVM_STORE_NODES_MAX)
		return remus_err_set(err, -ENOSPC, "store: domain %u would own more than %u nodes",
		                     s->domid, PVM_STORE_NODES_MAX);
	bool was = store_may(s, s->domid, n, PVM_STORE_PERM_READ);
	n->nperms = (uint32_t)np;
	memcpy(n->perms, p, np * sizeof(*p));
	store_changed(s, op.tx, op.abs, op.alen, false,
	              was || store_may(s, s->domid, n, PVM_STORE_PERM_READ));
	return 0;
}
