/*
 * pvm's store <-> a REMUS_XENSTORE record body (lib/stream/xenstore.h):
 * the whole store in every checkpoint (flags FULL): nodes, the guest's
 * watches, its pending events.  Loading is hostile-input code: every entry
 * is checked into a new store, which exists only if all of them pass.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "hv/pvm/pvm_store_impl.h"
#include "stream/stream.h"

/* Loading: the nodes so far, indexed by path (open addressing, at most
 * half full), and how many the guest owns, so a record loads in linear
 * time (the backup checks one per checkpoint). */
#define LOAD_SLOTS (2u * PVM_STORE_ALL_NODES_MAX)       /* a power of two */
struct loader {
	struct pvm_store *s;
	uint32_t *slot;             /* node index + 1; 0: empty */
	size_t owned;
};

static struct store_node *load_find(const struct loader *l, const char *p, size_t n)
{
	for (size_t i = XXH3_64bits(p, n) & (LOAD_SLOTS - 1); l->slot[i];
	     i = (i + 1) & (LOAD_SLOTS - 1)) {
		struct store_node *nd = &l->s->live.n[l->slot[i] - 1];
		if (nd->plen == n && memcmp(nd->path, p, n) == 0)
			return nd;
	}
	return NULL;
}

static void load_index(struct loader *l, const char *p, size_t n, size_t idx)
{
	size_t i = XXH3_64bits(p, n) & (LOAD_SLOTS - 1);

	while (l->slot[i])
		i = (i + 1) & (LOAD_SLOTS - 1);
	l->slot[i] = (uint32_t)idx + 1;
}

static uint32_t path_kind(const char *p)
{
	return p[0] == '/' ? STREAM_XS_ABSOLUTE : p[0] == '@' ? STREAM_XS_SPECIAL : STREAM_XS_RELATIVE;
}

/* The encoding itself (pvm_store_save caches it). */
static int encode(const struct pvm_store *s, struct hv_blob *body, struct remus_err *err)
{
	size_t n = s->live.count + s->nw + s->nev, k = 0;
	struct stream_xs_entry *e = calloc(n ? n : 1, sizeof(*e));
	struct stream_xs_perm *p = calloc(s->live.count * PVM_STORE_PERMS_MAX + 1, sizeof(*p));
	struct stream_buf b;
	int rc;

	stream_buf_init(&b);
	body->len = 0;
	if (e == NULL || p == NULL) {
		rc = remus_err_sys(err, ENOMEM, "store: save");
		goto out;
	}
	for (size_t i = 0; i < s->live.count; i++, k++) {
		const struct store_node *nd = &s->live.n[i];
		struct stream_xs_perm *q = p + i * PVM_STORE_PERMS_MAX;
		for (uint32_t j = 0; j < nd->nperms; j++)
			q[j] = (struct stream_xs_perm){ nd->perms[j].domid, nd->perms[j].perm };
		e[k] = (struct stream_xs_entry){ .kind = STREAM_XS_NODE, .path_kind = STREAM_XS_ABSOLUTE,
			.path = nd->path, .path_len = (uint32_t)nd->plen, .value = nd->val,
			.value_len = nd->vlen, .perms = q, .nperms = nd->nperms };
	}
	for (size_t i = 0; i < s->nw; i++, k++)
		e[k] = (struct stream_xs_entry){ .kind = STREAM_XS_WATCH,
			.path_kind = path_kind(s->w[i].path), .path = s->w[i].path,
			.path_len = (uint32_t)s->w[i].plen, .value = s->w[i].token,
			.value_len = s->w[i].tlen };
	for (size_t i = 0; i < s->nev; i++, k++) {
		const struct store_event *ev = &s->ev[(s->ev_head + i) % PVM_STORE_EVENTS_MAX];
		e[k] = (struct stream_xs_entry){ .kind = STREAM_XS_EVENT, .path_kind = path_kind(ev->path),
			.path = ev->path, .path_len = (uint32_t)ev->plen, .value = ev->token,
			.value_len = ev->tlen };
	}
	if ((rc = stream_put_xenstore(&b, STREAM_XS_FULL, e, n)) < 0) {
		rc = remus_err_set(err, rc == -ENOMEM ? -ENOMEM : -EINVAL, "store: encoding "
		                   "REMUS_XENSTORE: %s", stream_strerror(rc));
		goto out;
	}
	/* the record's body: after the 8-byte header, without the padding */
	uint32_t blen = (uint32_t)b.data[4] | (uint32_t)b.data[5] << 8 |
	                (uint32_t)b.data[6] << 16 | (uint32_t)b.data[7] << 24;
	if ((rc = pvm_store_blob_put(body, b.data + 8, blen)) < 0)
		rc = remus_err_sys(err, ENOMEM, "store: save");
out:
	stream_buf_free(&b);
	free(e);
	free(p);
	return rc;
}

int pvm_store_save(struct pvm_store *s, struct hv_blob *body, struct remus_err *err)
{
	int rc;

	if (s->saved.data == NULL || s->saved_rev != s->rev) {
		if ((rc = encode(s, &s->saved, err)) < 0) {
			hv_blob_free(&s->saved);
			return rc;
		}
		s->saved_rev = s->rev;
	}
	body->len = 0;
	if (pvm_store_blob_put(body, s->saved.data, s->saved.len) < 0)
		return remus_err_sys(err, ENOMEM, "store: save");
	return 0;
}

/* A node entry into the new store: absolute path, parent already there,
 * not a duplicate, value and permissions within the limits. */
static int load_node(struct loader *ld, const struct stream_xs_entry *e, uint32_t i,
                     struct remus_err *err)
{
	struct pvm_store *s = ld->s;
	char abs[PVM_STORE_PATH_MAX + 1];
	struct pvm_store_perm p[PVM_STORE_PERMS_MAX];
	size_t alen, l;
	int rc;

	if (e->path_kind != STREAM_XS_ABSOLUTE)
		return remus_err_set(err, -EINVAL, "store record: node %u: path not absolute", i);
	if ((rc = store_resolve(s, e->path, e->path_len, STORE_PATH_NODE, abs, &alen, err)) < 0) {
		remus_err_wrap(err, "store record: node %u", i);
		return rc;
	}
	if (e->value_len > PVM_STORE_VALUE_MAX)
		return remus_err_set(err, -E2BIG, "store record: node %.200s: value of %u bytes, the "
		                     "limit is %u", abs, e->value_len, PVM_STORE_VALUE_MAX);
	if (e->nperms > PVM_STORE_PERMS_MAX || e->nperms == 0)
		return remus_err_set(err, e->nperms ? -E2BIG : -EINVAL, "store record: node %.200s: "
		                     "%u permission entries (1 to %u)", abs, e->nperms,
		                     PVM_STORE_PERMS_MAX);
	for (uint32_t j = 0; j < e->nperms; j++) {
		struct stream_xs_perm q = stream_xs_perm_at(e, j);
		p[j] = (struct pvm_store_perm){ q.domid, q.perm };
	}
	if ((rc = store_perms_check(s, p, e->nperms, err)) < 0) {
		remus_err_wrap(err, "store record: node %.200s", abs);
		return rc;
	}
	if (load_find(ld, abs, alen) != NULL)
		return remus_err_set(err, -EINVAL, "store record: node %.200s twice", abs);
	if (alen == 1 ? s->live.count != 0 : s->live.count == 0)
		return remus_err_set(err, -EINVAL, "store record: node %.200s: the root must come "
		                     "first", abs);
	for (l = alen; l > 1 && abs[l - 1] != '/'; l--)
		;
	l = l > 1 ? l - 1 : 1;
	if (alen > 1 && load_find(ld, abs, l) == NULL)
		return remus_err_set(err, -EINVAL, "store record: node %.200s before its parent", abs);
	if (s->live.count == PVM_STORE_ALL_NODES_MAX ||
	    (p[0].domid == s->domid && ld->owned == PVM_STORE_NODES_MAX))
		return remus_err_set(err, -ENOSPC, "store record: node %.200s: over the store's "
		                     "node limits", abs);
	if (store_tree_add(&s->live, abs, alen, e->value, e->value_len, p, e->nperms) < 0)
		return remus_err_sys(err, ENOMEM, "store record");
	load_index(ld, abs, alen, s->live.count - 1);
	ld->owned += p[0].domid == s->domid;
	return 0;
}

static int load_event(struct pvm_store *s, const struct stream_xs_entry *e, uint32_t i,
                      struct remus_err *err)
{
	char abs[PVM_STORE_PATH_MAX + 1];
	size_t alen;
	int rc;

	/* what a watch reports: a path a watch could name */
	if ((rc = store_resolve(s, e->path, e->path_len, STORE_PATH_WATCH, abs, &alen, err)) < 0) {
		remus_err_wrap(err, "store record: event %u", i);
		return rc;
	}
	if (e->value_len > PVM_STORE_TOKEN_MAX)
		return remus_err_set(err, -E2BIG, "store record: event %u: token of %u bytes, the "
		                     "limit is %u", i, e->value_len, PVM_STORE_TOKEN_MAX);
	if (s->nev == PVM_STORE_EVENTS_MAX)
		return remus_err_set(err, -ENOSPC, "store record: more than %u pending events",
		                     PVM_STORE_EVENTS_MAX);
	if (store_event_push(s, e->path, e->path_len, e->value, e->value_len) < 0)
		return remus_err_sys(err, ENOMEM, "store record");
	return 0;
}

int pvm_store_load(uint32_t domid, const uint8_t *body, size_t len, struct pvm_store **out,
                   struct remus_err *err)
{
	struct stream_xs_iter it;
	struct stream_xs_entry e;
	struct pvm_store *s;
	int rc;

	if (out)
		*out = NULL;
	if (domid == PVM_STORE_DOM0)
		return remus_err_set(err, -EINVAL, "store: the guest cannot be domain 0");
	if (stream_xs_iter_init(&it, body, len, err) < 0) {
		remus_err_wrap(err, "store record");
		if (err)
			err->code = -EINVAL;
		return -EINVAL;
	}
	if (!(it.flags & STREAM_XS_FULL))
		return remus_err_set(err, -EINVAL, "store record: not a full store (flag FULL unset)");
	struct loader ld = { .slot = calloc(LOAD_SLOTS, sizeof(uint32_t)) };
	if ((s = store_alloc(domid)) == NULL || ld.slot == NULL) {
		free(ld.slot);
		free(s);
		return remus_err_sys(err, ENOMEM, "store record");
	}
	ld.s = s;
	while ((rc = stream_xs_next(&it, &e, err)) == 1) {
		uint32_t i = it.index - 1;
		switch (e.kind) {
		case STREAM_XS_NODE:
			rc = load_node(&ld, &e, i, err);
			break;
		case STREAM_XS_WATCH:
			if ((rc = store_watch_add(s, e.path, e.path_len, e.value, e.value_len, err)) < 0)
				remus_err_wrap(err, "store record: watch %u", i);
			break;
		case STREAM_XS_EVENT:
			rc = load_event(s, &e, i, err);
			break;
		default:
			rc = remus_err_set(err, -EINVAL, "store record: entry %u: kind %u in a full "
			                   "store", i, e.kind);
			break;
		}
		if (rc < 0)
			break;
	}
	free(ld.slot);
	if (rc == 0 && s->live.count == 0)
		rc = remus_err_set(err, -EINVAL, "store record: no root node");
	if (rc < 0 || out == NULL) {
		pvm_store_free(s);
		if (rc == STREAM_E_XENSTORE && err) {
			remus_err_wrap(err, "store record");
			err->code = -EINVAL;
		}
		return rc < 0 ? (rc == STREAM_E_XENSTORE ? -EINVAL : rc) : 0;
	}
	*out = s;
	return 0;
}
