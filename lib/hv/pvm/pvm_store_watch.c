/*
 * pvm's store: watches, the guest's queue of watch events, transactions.
 * A watch fires once when registered, then for every change at or under
 * its path and for the removal of a node above it, if the guest may read
 * the node.  A transaction works on a copy of the store; its commit
 * conflicts (-EAGAIN) when the store changed since it started (the whole
 * store, as xenstored's first implementation did), and fires the
 * transaction's changes only then.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "hv/pvm/pvm_store_impl.h"

int store_event_push(struct pvm_store *s, const char *path, size_t plen, const void *token,
                     size_t tlen)
{
	struct store_event *e;

	if (s->nev == PVM_STORE_EVENTS_MAX) {
		s->events_dropped++;            /* as xenstored past its quota */
		return -ENOSPC;
	}
	e = &s->ev[(s->ev_head + s->nev) % PVM_STORE_EVENTS_MAX];
	e->path = malloc(plen + 1);
	e->token = malloc(tlen ? tlen : 1);
	if (e->path == NULL || e->token == NULL) {
		free(e->path);
		free(e->token);
		s->events_dropped++;
		return -ENOMEM;
	}
	memcpy(e->path, path, plen);
	e->path[plen] = '\0';
	e->plen = plen;
	if (tlen)
		memcpy(e->token, token, tlen);
	e->tlen = (uint32_t)tlen;
	s->nev++;
	s->rev++;
	return 0;
}

/* Fire every watch that a change of abs concerns. */
static void fire(struct pvm_store *s, const char *abs, size_t alen, bool removed, bool visible)
{
	char wabs[PVM_STORE_PATH_MAX + 1];

	if (!visible)
		return;
	for (size_t i = 0; i < s->nw; i++) {
		const struct store_watch *w = &s->w[i];
		size_t wlen;
		if (w->path[0] == '@' ||
		    store_resolve(s, w->path, w->plen, STORE_PATH_WATCH, wabs, &wlen, NULL) < 0)
			continue;
		const char *p = abs;
		size_t plen = alen;
		if (store_is_under(abs, alen, wabs, wlen)) {
			/* reported as the watch was given: relative below home */
			if (w->path[0] != '/' && store_is_under(abs, alen, s->home, s->home_len) &&
			    alen > s->home_len) {
				p = abs + s->home_len + 1;
				plen = alen - s->home_len - 1;
			}
		} else if (removed && store_is_under(wabs, wlen, abs, alen)) {
			p = w->path;                /* a parent went: the watched node is gone */
			plen = w->plen;
		} else {
			continue;
		}
		store_event_push(s, p, plen, w->token, w->tlen);
	}
}

void store_changed(struct pvm_store *s, struct store_txn *txn, const char *abs, size_t alen,
                   bool removed, bool visible)
{
	if (txn == NULL) {
		s->gen++;
		s->rev++;
		fire(s, abs, alen, removed, visible);
		return;
	}
	if (txn->nch == txn->chcap) {
		size_t cap = txn->chcap ? 2 * txn->chcap : 8;
		struct store_change *c = realloc(txn->ch, cap * sizeof(*c));
		if (c == NULL)
			return;         /* the commit then fires less; never half a change */
		txn->ch = c;
		txn->chcap = cap;
	}
	char *p = malloc(alen + 1);
	if (p == NULL)
		return;
	memcpy(p, abs, alen);
	p[alen] = '\0';
	txn->ch[txn->nch++] = (struct store_change){ p, removed, visible };
}

void pvm_store_fire_special(struct pvm_store *s, const char *path)
{
	size_t len = strlen(path);

	for (size_t i = 0; i < s->nw; i++)
		if (s->w[i].plen == len && memcmp(s->w[i].path, path, len) == 0)
			store_event_push(s, path, len, s->w[i].token, s->w[i].tlen);
}

static void watch_free(struct store_watch *w)
{
	free(w->path);
	free(w->token);
	memset(w, 0, sizeof(*w));
}

void store_watches_free(struct pvm_store *s)
{
	for (size_t i = 0; i < s->nw; i++)
		watch_free(&s->w[i]);
	s->nw = 0;
	while (s->nev) {
		struct store_event *e = &s->ev[s->ev_head];
		free(e->path);
		free(e->token);
		s->ev_head = (s->ev_head + 1) % PVM_STORE_EVENTS_MAX;
		s->nev--;
	}
}

static struct store_watch *watch_find(struct pvm_store *s, const char *path, size_t plen,
                                      const void *token, size_t tlen)
{
	for (size_t i = 0; i < s->nw; i++)
		if (s->w[i].plen == plen && !memcmp(s->w[i].path, path, plen) &&
		    s->w[i].tlen == tlen && (tlen == 0 || !memcmp(s->w[i].token, token, tlen)))
			return &s->w[i];
	return NULL;
}

/* Register a watch (checked: path, token size, duplicate, quota); no
 * initial event. */
int store_watch_add(struct pvm_store *s, const char *path, size_t plen, const void *token,
                    size_t tlen, struct remus_err *err)
{
	char abs[PVM_STORE_PATH_MAX + 1];
	struct store_watch *w;
	size_t alen;
	int rc;

	if ((rc = store_resolve(s, path, plen, STORE_PATH_WATCH, abs, &alen, err)) < 0)
		return rc;
	if (tlen > PVM_STORE_TOKEN_MAX)
		return remus_err_set(err, -E2BIG, "store: watch token of %zu bytes, the limit is %u",
		                     tlen, PVM_STORE_TOKEN_MAX);
	if (watch_find(s, path, plen, token, tlen) != NULL)
		return remus_err_set(err, -EEXIST, "store: watch on %.200s with this token exists",
		                     abs);
	if (s->nw == PVM_STORE_WATCHES_MAX)
		return remus_err_set(err, -ENOSPC, "store: %u watches, the guest's quota",
		                     PVM_STORE_WATCHES_MAX);
	w = &s->w[s->nw];
	w->path = malloc(plen + 1);
	w->token = malloc(tlen ? tlen : 1);
	if (w->path == NULL || w->token == NULL) {
		watch_free(w);
		return remus_err_sys(err, ENOMEM, "store: watch");
	}
	memcpy(w->path, path, plen);
	w->path[plen] = '\0';
	w->plen = plen;
	if (tlen)
		memcpy(w->token, token, tlen);
	w->tlen = (uint32_t)tlen;
	s->nw++;
	s->rev++;
	return 0;
}

int pvm_store_watch(struct pvm_store *s, uint32_t dom, const char *path, size_t plen,
                    const void *token, size_t tlen, struct remus_err *err)
{
	int rc;

	if (dom != s->domid)
		return remus_err_set(err, -EINVAL, "store: watches are the guest's (domain %u), "
		                     "not domain %u's", s->domid, dom);
	if ((rc = store_watch_add(s, path, plen, token, tlen, err)) < 0)
		return rc;
	store_event_push(s, path, plen, token, tlen);        /* the initial fire */
	return 0;
}

int pvm_store_unwatch(struct pvm_store *s, uint32_t dom, const char *path, size_t plen,
                      const void *token, size_t tlen, struct remus_err *err)
{
	struct store_watch *w;

	if (dom != s->domid)
		return remus_err_set(err, -EINVAL, "store: domain %u has no watches", dom);
	if ((w = watch_find(s, path, plen, token, tlen)) == NULL)
		return remus_err_set(err, -ENOENT, "store: no such watch on %.*s",
		                     (int)(plen > 200 ? 200 : plen), path);
	watch_free(w);
	*w = s->w[--s->nw];
	memset(&s->w[s->nw], 0, sizeof(s->w[0]));
	s->rev++;
	return 0;
}

size_t pvm_store_pending(const struct pvm_store *s)
{
	return s->nev;
}

int pvm_store_event(struct pvm_store *s, bool consume, struct hv_blob *out,
                    struct remus_err *err)
{
	struct store_event *e = &s->ev[s->ev_head];

	out->len = 0;
	if (s->nev == 0)
		return remus_err_set(err, -EAGAIN, "store: no watch event pending");
	if (pvm_store_blob_put(out, e->path, e->plen + 1) < 0 ||
	    pvm_store_blob_put(out, e->token, e->tlen) < 0)
		return remus_err_sys(err, ENOMEM, "store: event");
	if (consume) {
		free(e->path);
		free(e->token);
		s->ev_head = (s->ev_head + 1) % PVM_STORE_EVENTS_MAX;
		s->nev--;
		s->rev++;
	}
	return 0;
}

struct store_tree *store_tree_of(struct pvm_store *s, uint32_t dom, uint32_t id,
                                 struct store_txn **txn, struct remus_err *err)
{
	*txn = NULL;
	if (id == 0)
		return &s->live;
	for (size_t i = 0; i < PVM_STORE_TXNS_MAX; i++)
		if (s->txn[i].id == id && s->txn[i].dom == dom) {
			*txn = &s->txn[i];
			return &s->txn[i].tree;
		}
	remus_err_set(err, -EAGAIN, "store: no transaction %u (ended, or lost in a restore): "
	              "retry", id);
	return NULL;
}

int pvm_store_txn_start(struct pvm_store *s, uint32_t dom, uint32_t *id, struct remus_err *err)
{
	struct store_txn *t = NULL;

	if (dom != PVM_STORE_DOM0 && dom != s->domid)
		return remus_err_set(err, -EINVAL, "store: unknown domain %u", dom);
	for (size_t i = 0; i < PVM_STORE_TXNS_MAX && t == NULL; i++)
		if (s->txn[i].id == 0)
			t = &s->txn[i];
	if (t == NULL)
		return remus_err_set(err, -ENOSPC, "store: %u transactions open, the limit",
		                     PVM_STORE_TXNS_MAX);
	if (store_tree_copy(&t->tree, &s->live) < 0)
		return remus_err_sys(err, ENOMEM, "store: transaction copy");
	do {
		s->next_txn++;
	} while (s->next_txn == 0 || store_tree_of(s, dom, s->next_txn, &(struct store_txn *){ 0 },
	                                           NULL) != NULL);
	t->id = s->next_txn;
	t->dom = dom;
	t->gen = s->gen;
	*id = t->id;
	return 0;
}

int pvm_store_txn_end(struct pvm_store *s, uint32_t dom, uint32_t id, bool commit,
                      struct remus_err *err)
{
	struct store_txn *t;
	int rc = 0;

	if (id == 0 || store_tree_of(s, dom, id, &t, err) == NULL)
		return remus_err_set(err, -EAGAIN, "store: no transaction %u (ended, or lost in a "
		                     "restore): retry", id);
	if (commit && t->gen != s->gen) {
		rc = remus_err_set(err, -EAGAIN, "store: transaction %u conflicts with a change made "
		                   "since it started: retry", id);
	} else if (commit) {
		store_tree_free(&s->live);
		s->live = t->tree;
		memset(&t->tree, 0, sizeof(t->tree));
		s->gen++;
		s->rev++;
		for (size_t i = 0; i < t->nch; i++)
			fire(s, t->ch[i].path, strlen(t->ch[i].path), t->ch[i].removed, t->ch[i].visible);
	}
	store_tree_free(&t->tree);
	for (size_t i = 0; i < t->nch; i++)
		free(t->ch[i].path);
	free(t->ch);
	memset(t, 0, sizeof(*t));
	return rc;
}
