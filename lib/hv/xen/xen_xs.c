/*
 * The domain's own xenstore state through libxenstore: find a domain by
 * name, read its nodes and permissions into a REMUS_XENSTORE record, write
 * a committed checkpoint's nodes for the restored domain.  Watches cannot
 * be read from xenstored 4.17 (GET_DOMAIN_WATCHES is only proposed).
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Find the domain whose /local/domain/<id>/name is `name`. */
int xen_xs_domid_by_name(struct hv_guest *g, const char *name, uint32_t *domid,
    struct remus_err *err)
{
	unsigned n = 0, i, len;
	char **ids = xs_directory(g->xsh, XBT_NULL, "/local/domain", &n);
	char path[64], *end, *v;
	int rc = remus_err_set(err, -ENOENT, "xen: no domain named '%s' in xenstore", name);

	if (ids == NULL)
		return remus_err_sys(err, errno, "xen: listing /local/domain in xenstore");
	for (i = 0; i < n; i++) {
		unsigned long id = strtoul(ids[i], &end, 10);

		if (*end != '\0' || id >= DOMID_FIRST_RESERVED)
			continue;
		snprintf(path, sizeof(path), "/local/domain/%lu/name", id);
		v = xs_read(g->xsh, XBT_NULL, path, &len);
		if (v != NULL && strlen(v) == len && strcmp(v, name) == 0) {
			*domid = (uint32_t)id;
			remus_err_clear(err);
			rc = 0;
		}
		free(v);
		if (rc == 0)
			break;
	}
	free(ids);
	return rc;
}

/* Whether a device model (QEMU) registered itself for the domain. */
bool xen_xs_has_device_model(struct hv_guest *g)
{
	char path[64];
	unsigned n = 0;
	char **dm;

	snprintf(path, sizeof(path), "/local/domain/0/device-model/%u", g->domid);
	dm = xs_directory(g->xsh, XBT_NULL, path, &n);
	free(dm);
	return dm != NULL;
}

/* Everything collected from one walk of the domain's home. */
struct xs_walk {
	struct hv_guest *g;
	size_t home_len;                /* strlen("/local/domain/N/") */
	struct stream_xs_entry *e;
	size_t n;
	/* owned storage of each entry */
	char **paths;
	void **values;
	struct stream_xs_perm **perms;
	struct remus_err *err;
};

static void xs_walk_free(struct xs_walk *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		free(w->paths[i]);
		free(w->values[i]);
		free(w->perms[i]);
	}
	free(w->paths);
	free(w->values);
	free(w->perms);
	free(w->e);
}

/* Read one node (value and permissions) into the next entry. */
static int xs_walk_node(struct xs_walk *w, const char *path)
{
	struct hv_guest *g = w->g;
	struct xs_permissions *xp;
	struct stream_xs_perm *sp;
	unsigned len = 0, np = 0, i;
	size_t k = w->n;
	void *v;

	if (k == 0) {
		w->e = calloc(XEN_XS_MAX_NODES, sizeof(*w->e));
		w->paths = calloc(XEN_XS_MAX_NODES, sizeof(char *));
		w->values = calloc(XEN_XS_MAX_NODES, sizeof(void *));
		w->perms = calloc(XEN_XS_MAX_NODES, sizeof(void *));
		if (!w->e || !w->paths || !w->values || !w->perms)
			return remus_err_sys(w->err, ENOMEM, "xenstore: allocating the node table");
	}
	if (k >= XEN_XS_MAX_NODES)
		return remus_err_set(w->err, -E2BIG, "xenstore: domain %u has more than %u nodes",
		    g->domid, XEN_XS_MAX_NODES);
	v = xs_read(g->xsh, XBT_NULL, path, &len);
	if (v == NULL)
		return errno == ENOENT ? 0 : remus_err_sys(w->err, errno, "xenstore: reading %s", path);
	xp = xs_get_permissions(g->xsh, XBT_NULL, path, &np);
	if (xp == NULL) {
		free(v);
		return errno == ENOENT ? 0 : remus_err_sys(w->err, errno, "xenstore: permissions of %s", path);
	}
	sp = calloc(np ? np : 1, sizeof(*sp));
	w->paths[k] = strdup(path + w->home_len);
	if (sp == NULL || w->paths[k] == NULL) {
		free(v);
		free(xp);
		free(sp);
		return remus_err_sys(w->err, ENOMEM, "xenstore: copying %s", path);
	}
	for (i = 0; i < np; i++) {
		sp[i].domid = xp[i].id == g->domid ? XEN_XS_SELF : xp[i].id;
		sp[i].perm = xp[i].perms & STREAM_XS_PERM_BOTH;
	}
	free(xp);
	w->values[k] = v;
	w->perms[k] = sp;
	w->e[k] = (struct stream_xs_entry){
		.kind = STREAM_XS_NODE, .path_kind = STREAM_XS_RELATIVE,
		.path = w->paths[k], .path_len = (uint32_t)strlen(w->paths[k]),
		.value = v, .value_len = len, .perms = sp, .nperms = np,
	};
	w->n++;
	return 0;
}

/* Depth-first walk below `path` (the home itself is not a node we carry). */
static int xs_walk_tree(struct xs_walk *w, const char *path, unsigned depth)
{
	unsigned n = 0, i;
	char **kids;
	int rc = 0;

	if (depth > XEN_XS_MAX_DEPTH)
		return remus_err_set(w->err, -E2BIG, "xenstore: %s nests deeper than %u", path,
		    XEN_XS_MAX_DEPTH);
	kids = xs_directory(w->g->xsh, XBT_NULL, path, &n);
	if (kids == NULL)
		return errno == ENOENT ? 0 : remus_err_sys(w->err, errno, "xenstore: listing %s", path);
	for (i = 0; i < n && rc == 0; i++) {
		char *child;

		if (asprintf(&child, "%s/%s", path, kids[i]) < 0) {
			rc = remus_err_sys(w->err, ENOMEM, "xenstore: path below %s", path);
			break;
		}
		rc = xs_walk_node(w, child);
		if (rc == 0)
			rc = xs_walk_tree(w, child, depth + 1);
		free(child);
	}
	free(kids);
	return rc;
}

/* Append one REMUS_XENSTORE record holding every node of the domain's home
 * (paths relative to it, full state each checkpoint). */
int xen_xs_put_nodes(struct hv_guest *g, struct stream_buf *b, struct remus_err *err)
{
	struct xs_walk w = { .g = g, .err = err };
	char home[48];
	int rc;

	snprintf(home, sizeof(home), "/local/domain/%u", g->domid);
	w.home_len = strlen(home) + 1;
	if ((rc = xs_walk_tree(&w, home, 0)) < 0)
		goto out;
	if ((rc = stream_put_xenstore(b, STREAM_XS_FULL, w.e, w.n)) < 0)
		remus_err_set(err, rc, "xenstore: encoding %zu nodes of domain %u", w.n, g->domid);
out:
	xs_walk_free(&w);
	return rc;
}

/* Subtrees the toolstack writes for the new domain itself. */
static bool xs_toolstack_owned(const char *path, size_t len)
{
	static const char *const owned[] = {
		"device", "console", "store", "control", "memory", "name", "domid",
		"vm", "image", "cpu", "error",
	};
	size_t i, n;

	for (i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		n = strlen(owned[i]);
		if (len >= n && memcmp(path, owned[i], n) == 0 && (len == n || path[n] == '/'))
			return true;
	}
	return false;
}

/* Write one staged node under the new domain's home, owner remapped. */
static int xs_apply_one(struct hv_guest *g, xs_transaction_t t, const char *home,
    const struct stream_xs_entry *e, struct remus_err *err)
{
	struct xs_permissions xp[64];
	char *path = NULL;
	uint32_t i, np = e->nperms < 64 ? e->nperms : 64;
	int rc = 0;

	if (e->kind != STREAM_XS_NODE || e->path_kind != STREAM_XS_RELATIVE ||
	    xs_toolstack_owned(e->path, e->path_len))
		return 0;
	if (asprintf(&path, "%s/%.*s", home, (int)e->path_len, e->path) < 0)
		return remus_err_sys(err, ENOMEM, "xenstore: staged node path");
	for (i = 0; i < np; i++) {
		struct stream_xs_perm p = stream_xs_perm_at(e, i);

		xp[i].id = p.domid == XEN_XS_SELF ? g->domid : p.domid;
		xp[i].perms = p.perm;
	}
	if (!xs_write(g->xsh, t, path, e->value, e->value_len))
		rc = remus_err_sys(err, errno, "xenstore: writing %s", path);
	else if (np > 0 && !xs_set_permissions(g->xsh, t, path, xp, np))
		rc = remus_err_sys(err, errno, "xenstore: permissions of %s", path);
	free(path);
	return rc;
}

/* Write the committed checkpoint's xenstore nodes for the restored domain,
 * in one transaction (all or nothing). */
int xen_xs_apply_nodes(struct hv_guest *g, const struct stream_ckpt *ck, struct remus_err *err)
{
	const struct stream_blob *blob = stream_ckpt_blob(ck, STREAM_XL_REMUS_XENSTORE, UINT32_MAX);
	struct stream_xs_iter it;
	struct stream_xs_entry e;
	xs_transaction_t t;
	char home[48];
	int rc;

	if (blob == NULL)
		return 0;
	if ((rc = stream_xs_iter_init(&it, blob->data, blob->len, err)) < 0)
		return rc;
	snprintf(home, sizeof(home), "/local/domain/%u", g->domid);
	t = xs_transaction_start(g->xsh);
	if (t == XBT_NULL)
		return remus_err_sys(err, errno, "xenstore: starting a transaction");
	while ((rc = stream_xs_next(&it, &e, err)) == 1)
		if ((rc = xs_apply_one(g, t, home, &e, err)) < 0)
			break;
	if (!xs_transaction_end(g->xsh, t, rc < 0) && rc == 0)
		rc = remus_err_sys(err, errno, "xenstore: committing the guest's nodes");
	return rc;
}

/* One node of the new domain's home: value, and who may touch it.
 * guest_rw: the guest owns it (it writes control/, data/ ...); otherwise
 * dom0 owns it and the guest may read it. */
static int xs_mknode(struct hv_guest *g, xs_transaction_t t, const char *home,
    const char *rel, const char *value, bool guest_rw, struct remus_err *err)
{
	struct xs_permissions ro[2] = {
		{ .id = 0, .perms = XS_PERM_NONE }, { .id = g->domid, .perms = XS_PERM_READ },
	};
	struct xs_permissions rw[1] = { { .id = g->domid, .perms = XS_PERM_NONE } };
	char path[128];

	if (rel[0] == '\0')
		snprintf(path, sizeof(path), "%s", home);
	else
		snprintf(path, sizeof(path), "%s/%s", home, rel);
	if (!xs_write(g->xsh, t, path, value, (unsigned)strlen(value)))
		return remus_err_sys(err, errno, "xenstore: writing %s", path);
	if (!xs_set_permissions(g->xsh, t, path, guest_rw ? rw : ro, guest_rw ? 1 : 2))
		return remus_err_sys(err, errno, "xenstore: permissions of %s", path);
	return 0;
}

/* The home a toolstack gives a domain before xenstored meets it (what
 * libxl__domain_make and libxl__build_post write, minus /vm and devices):
 * without it the guest cannot read its own device/ directory after it
 * resumes, nor answer control/shutdown.  All in one transaction. */
int xen_xs_make_home(struct hv_guest *g, const struct xen_home *h, struct remus_err *err)
{
	static const char *const guest_owned[] = {
		"control/shutdown", "control/feature-poweroff", "control/feature-reboot",
		"control/feature-suspend", "control/sysrq",
		"control/platform-feature-multiprocessor-suspend",
		"control/platform-feature-xs_reset_watches",
		"device/suspend/event-channel", "data", "drivers", "attr", "error", "feature",
	};
	struct {
		const char *rel;
		char value[32];
	} ro[] = {
		{ "", "" }, { "device", "" }, { "control", "" }, { "memory", "" },
		{ "console", "" }, { "domid", "" }, { "memory/static-max", "" },
		{ "memory/target", "" }, { "store/port", "" }, { "store/ring-ref", "" },
		{ "console/port", "" }, { "console/ring-ref", "" }, { "console/limit", "1048576" },
		{ "console/type", "xenconsoled" }, { "console/output", "pty" },
	};
	xs_transaction_t t;
	char home[48];
	size_t i;
	int rc = 0;

	snprintf(ro[5].value, sizeof(ro[5].value), "%u", g->domid);
	snprintf(ro[6].value, sizeof(ro[6].value), "%" PRIu64, g->mem_bytes / 1024);
	snprintf(ro[7].value, sizeof(ro[7].value), "%" PRIu64, g->mem_bytes / 1024);
	snprintf(ro[8].value, sizeof(ro[8].value), "%u", h->store_port);
	snprintf(ro[9].value, sizeof(ro[9].value), "%lu", h->store_mfn);
	snprintf(ro[10].value, sizeof(ro[10].value), "%u", h->console_port);
	snprintf(ro[11].value, sizeof(ro[11].value), "%lu", h->console_mfn);
	snprintf(home, sizeof(home), "/local/domain/%u", g->domid);
	t = xs_transaction_start(g->xsh);
	if (t == XBT_NULL)
		return remus_err_sys(err, errno, "xenstore: starting a transaction");
	for (i = 0; i < sizeof(ro) / sizeof(ro[0]) && rc == 0; i++)
		rc = xs_mknode(g, t, home, ro[i].rel, ro[i].value, false, err);
	if (rc == 0)
		rc = xs_mknode(g, t, home, "name", g->name, false, err);
	for (i = 0; i < sizeof(guest_owned) / sizeof(guest_owned[0]) && rc == 0; i++)
		rc = xs_mknode(g, t, home, guest_owned[i], "", true, err);
	if (!xs_transaction_end(g->xsh, t, rc < 0) && rc == 0)
		rc = remus_err_sys(err, errno, "xenstore: committing the home of domain %u", g->domid);
	return rc;
}
