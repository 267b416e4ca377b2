/*
 * The store device: PVM_HC_STORE (guest/abi/pvm_hypercall.h) and the
 * tools' requests, both on the monitor thread, so the store is never
 * touched by two threads and a paused guest has no request in progress
 * (the checkpoint's quiesce).  The hypercall's arguments are hostile: the
 * argument length is bounded before anything is read, every pointer lies
 * in RAM, every separator and count is checked, and an op the store
 * refuses changes nothing.
 */
#include <errno.h>
#include <string.h>

#include "hv/pvm/pvm_impl.h"

/* The store's -errno as the ABI's (the same numbers, ENOMEM aside). */
static int64_t abi_err(int rc)
{
	return rc == -ENOMEM ? -PVM_ENOSPC : rc;
}

/* "path NUL rest": false when there is no NUL (a is NULL when len is 0). */
static bool split(const uint8_t *a, uint64_t len, size_t *plen, const uint8_t **rest,
                  size_t *rlen)
{
	const uint8_t *z = a ? memchr(a, '\0', len) : NULL;

	if (z == NULL)
		return false;
	*plen = (size_t)(z - a);
	*rest = z + 1;
	*rlen = (size_t)(len - *plen - 1);
	return true;
}

static int set_perms(struct pvm_store *s, uint32_t txn, const uint8_t *a, uint64_t len)
{
	struct pvm_store_perm p[PVM_STORE_PERMS_MAX];
	const uint8_t *e;
	size_t plen, elen, n;

	if (!split(a, len, &plen, &e, &elen) || elen % 8 != 0)
		return -EINVAL;
	if ((n = elen / 8) > PVM_STORE_PERMS_MAX)
		return -E2BIG;
	for (size_t i = 0; i < n; i++) {
		p[i].domid = (uint32_t)e[8 * i] | (uint32_t)e[8 * i + 1] << 8 |
		             (uint32_t)e[8 * i + 2] << 16 | (uint32_t)e[8 * i + 3] << 24;
		p[i].perm = (uint32_t)e[8 * i + 4] | (uint32_t)e[8 * i + 5] << 8 |
		            (uint32_t)e[8 * i + 6] << 16 | (uint32_t)e[8 * i + 7] << 24;
	}
	return pvm_store_set_perms(s, PVM_STORE_GUEST_DOMID, txn, (const char *)a, plen, p, n, NULL);
}

int64_t pvm_store_hc_op(struct pvm_store *s, struct hv_blob *out, uint32_t op, uint32_t txn,
                        const uint8_t *a, uint64_t len)
{
	const uint32_t dom = PVM_STORE_GUEST_DOMID;
	const char *path = (const char *)a;
	const uint8_t *rest;
	size_t plen, rlen;
	uint32_t id;
	int rc;

	out->len = 0;
	switch (op) {
	case PVM_STORE_READ:
		return pvm_store_read(s, dom, txn, path, len, out, NULL);
	case PVM_STORE_WRITE:
		if (!split(a, len, &plen, &rest, &rlen))
			return -EINVAL;
		return pvm_store_write(s, dom, txn, path, plen, rest, rlen, NULL);
	case PVM_STORE_MKDIR:
		return pvm_store_mkdir(s, dom, txn, path, len, NULL);
	case PVM_STORE_RM:
		return pvm_store_rm(s, dom, txn, path, len, NULL);
	case PVM_STORE_LS:
		return pvm_store_ls(s, dom, txn, path, len, out, NULL);
	case PVM_STORE_GET_PERMS:
		return pvm_store_get_perms(s, dom, txn, path, len, out, NULL);
	case PVM_STORE_SET_PERMS:
		return set_perms(s, txn, a, len);
	case PVM_STORE_WATCH:
	case PVM_STORE_UNWATCH:
		if (txn != 0 || !split(a, len, &plen, &rest, &rlen))
			return -EINVAL;
		return op == PVM_STORE_WATCH ? pvm_store_watch(s, dom, path, plen, rest, rlen, NULL)
		                             : pvm_store_unwatch(s, dom, path, plen, rest, rlen, NULL);
	case PVM_STORE_EVENT:
		if (txn != 0 || len != 0)
			return -EINVAL;
		return pvm_store_event(s, false, out, NULL);     /* consumed once delivered */
	case PVM_STORE_TXN_START:
		if (txn != 0 || len != 0)
			return -EINVAL;
		if ((rc = pvm_store_txn_start(s, dom, &id, NULL)) < 0)
			return rc;
		return id;
	case PVM_STORE_TXN_END:
		if (len != 1 || a[0] > 1)
			return -EINVAL;
		return pvm_store_txn_end(s, dom, txn, a[0] == 1, NULL);
	default:
		return -EINVAL;
	}
}

/* PVM_HC_STORE(op | txn << 32, arg, arg_len, out, out_cap). */
int64_t pvm_hc_store(struct pvm_guest *g, const struct user_regs_struct *r)
{
	uint32_t op = (uint32_t)r->rdi, txn = (uint32_t)(r->rdi >> 32);
	uint64_t len = r->rdx, out = r->r10, cap = r->r8;
	const uint8_t *a = NULL;
	uint8_t *o = NULL;
	int64_t rc;

	if (g->store == NULL)
		return -PVM_ENODEV;
	if (len > PVM_STORE_ARG_MAX)
		return -PVM_E2BIG;
	if (len && (a = pvm_gptr(g, r->rsi, len)) == NULL)
		return -PVM_EFAULT;
	if (cap && pvm_gptr(g, out, cap) == NULL)
		return -PVM_EFAULT;
	if ((rc = pvm_store_hc_op(g->store, &g->store_out, op, txn, a, len)) < 0)
		return abi_err((int)rc);
	if (op != PVM_STORE_READ && op != PVM_STORE_LS && op != PVM_STORE_GET_PERMS &&
	    op != PVM_STORE_EVENT)
		return rc;
	size_t n = g->store_out.len;
	if (n > cap)
		return -PVM_EMSGSIZE;           /* nothing consumed: ask again */
	if (n) {
		o = pvm_gptr(g, out, n);
		memcpy(o, g->store_out.data, n);
		pvm_dirty_mark(g, out - PVM_RAM_BASE, n);
	}
	if (op == PVM_STORE_EVENT)
		pvm_store_event(g->store, true, &g->store_out, NULL);
	return (int64_t)n;
}

/* The tools' request (remusctl store), as domain 0. */
int pvm_store_cmd_req(struct pvm_guest *g, const struct pvm_store_cmd *c, struct remus_err *err)
{
	const struct hv_store_req *q = c->req;
	struct pvm_store *s = g->store;

	if (s == NULL)
		return remus_err_set(err, HV_EUNSUPP, "pvm: guest %s has no store", g->name);
	c->out->len = 0;
	switch (q->op) {
	case HV_STORE_READ:
		return pvm_store_read(s, PVM_STORE_DOM0, 0, q->path, q->path_len, c->out, err);
	case HV_STORE_WRITE:
		return pvm_store_write(s, PVM_STORE_DOM0, 0, q->path, q->path_len, q->value,
		                       q->value_len, err);
	case HV_STORE_LS:
		return pvm_store_ls(s, PVM_STORE_DOM0, 0, q->path, q->path_len, c->out, err);
	case HV_STORE_RM:
		return pvm_store_rm(s, PVM_STORE_DOM0, 0, q->path, q->path_len, err);
	default:
		return remus_err_set(err, -EINVAL, "pvm: store request %u unknown", q->op);
	}
}
