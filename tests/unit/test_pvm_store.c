/*
 * pvm's store (lib/hv/pvm/pvm_store*.c): node operations, permissions,
 * watches on absolute, relative and special paths, transactions and their
 * conflicts, the limits, and the REMUS_XENSTORE round trip (the record a
 * checkpoint carries, and every refusal of a bad one).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "hv/pvm/pvm_store.h"
#include "stream/stream.h"

#define G PVM_STORE_GUEST_DOMID
#define T PVM_STORE_DOM0
#define S(x) x, strlen(x)

static struct remus_err err;

static struct pvm_store *mk(void)
{
	struct pvm_store *s;
	assert_int_equal(pvm_store_new(G, &s, &err), 0);
	return s;
}

/* The next event as "path" and "token"; false when none. */
static bool next_event(struct pvm_store *s, char *path, char *token)
{
	struct hv_blob b = { 0 };
	if (pvm_store_event(s, true, &b, &err) < 0) {
		assert_int_equal(err.code, -EAGAIN);
		hv_blob_free(&b);
		return false;
	}
	size_t pl = strlen((char *)b.data);
	strcpy(path, (char *)b.data);
	memcpy(token, b.data + pl + 1, b.len - pl - 1);
	token[b.len - pl - 1] = '\0';
	hv_blob_free(&b);
	return true;
}

static void expect_event(struct pvm_store *s, const char *path, const char *token)
{
	char p[PVM_STORE_PATH_MAX + 1], t[PVM_STORE_TOKEN_MAX + 1];
	assert_true(next_event(s, p, t));
	assert_string_equal(p, path);
	assert_string_equal(t, token);
}

static void expect_no_event(struct pvm_store *s)
{
	char p[PVM_STORE_PATH_MAX + 1], t[PVM_STORE_TOKEN_MAX + 1];
	assert_false(next_event(s, p, t));
}

static void expect_node(struct pvm_store *s, uint32_t dom, const char *path, const char *v)
{
	struct hv_blob b = { 0 };
	assert_int_equal(pvm_store_read(s, dom, 0, S(path), &b, &err), 0);
	assert_int_equal(b.len, strlen(v));
	assert_memory_equal(b.data, v, b.len);
	hv_blob_free(&b);
}

static void test_nodes_and_relative_paths(void **state)
{
	struct pvm_store *s = mk();
	struct hv_blob b = { 0 };
	static const uint8_t bin[] = { 0, 1, 0, 255 };
	(void)state;

	/* a relative path is under the guest's home; parents are made */
	assert_int_equal(pvm_store_write(s, G, 0, S("data/x/y"), "v1", 2, &err), 0);
	expect_node(s, T, "/local/domain/1/data/x/y", "v1");
	expect_node(s, G, "data/x/y", "v1");
	expect_node(s, G, "/local/domain/1/data/x", "");
	/* binary values, NUL bytes included */
	assert_int_equal(pvm_store_write(s, G, 0, S("bin"), bin, sizeof(bin), &err), 0);
	assert_int_equal(pvm_store_read(s, G, 0, S("bin"), &b, &err), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, bin, 4);
	/* ls: children in creation order, each NUL-terminated */
	assert_int_equal(pvm_store_mkdir(s, G, 0, S("data/w"), &err), 0);
	assert_int_equal(pvm_store_ls(s, G, 0, S("data"), &b, &err), 0);
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "x\0w\0", 4);
	/* rm takes the subtree */
	assert_int_equal(pvm_store_rm(s, G, 0, S("data/x"), &err), 0);
	assert_int_equal(pvm_store_read(s, G, 0, S("data/x/y"), &b, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no node /local/domain/1/data/x/y"));
	assert_int_equal(pvm_store_rm(s, T, 0, S("/"), &err), -EINVAL);
	/* malformed paths */
	assert_int_equal(pvm_store_write(s, G, 0, S("a//b"), "", 0, &err), -EINVAL);
	assert_int_equal(pvm_store_write(s, G, 0, S("a/"), "", 0, &err), -EINVAL);
	assert_int_equal(pvm_store_write(s, G, 0, S("a b"), "", 0, &err), -EINVAL);
	assert_int_equal(pvm_store_write(s, G, 0, "a\0b", 3, "", 0, &err), -EINVAL);
	assert_int_equal(pvm_store_write(s, G, 0, "", 0, "", 0, &err), -EINVAL);
	assert_int_equal(pvm_store_write(s, G, 0, S("@releaseDomain"), "", 0, &err), -EINVAL);
	assert_int_equal(pvm_store_write(s, 7, 0, S("x"), "", 0, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown domain 7"));
	hv_blob_free(&b);
	pvm_store_free(s);
}

static void test_permissions(void **state)
{
	struct pvm_store *s = mk();
	struct hv_blob b = { 0 };
	struct pvm_store_perm ro[] = { { T, PVM_STORE_PERM_NONE }, { G, PVM_STORE_PERM_READ } };
	struct pvm_store_perm gown[] = { { G, PVM_STORE_PERM_NONE } };
	(void)state;

	/* outside its home the guest may do nothing */
	assert_int_equal(pvm_store_read(s, G, 0, S("/local"), &b, &err), -EACCES);
	assert_non_null(strstr(err.msg, "domain 1 may not read /local"));
	assert_int_equal(pvm_store_write(s, G, 0, S("/tool/x"), "1", 1, &err), -EACCES);
	assert_int_equal(pvm_store_ls(s, G, 0, S("/"), &b, &err), -EACCES);
	/* a tools' node the guest may read but not write */
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/cfg"), "on", 2, &err), 0);
	assert_int_equal(pvm_store_set_perms(s, T, 0, S("/local/domain/1/cfg"), ro, 2, &err), 0);
	expect_node(s, G, "cfg", "on");
	assert_int_equal(pvm_store_write(s, G, 0, S("cfg"), "off", 3, &err), -EACCES);
	assert_int_equal(pvm_store_rm(s, G, 0, S("cfg"), &err), -EACCES);
	assert_int_equal(pvm_store_write(s, G, 0, S("cfg/sub"), "1", 1, &err), -EACCES);
	assert_int_equal(pvm_store_set_perms(s, G, 0, S("cfg"), gown, 1, &err), -EACCES);
	expect_node(s, G, "cfg", "on");
	/* get_perms: entries as set, little-endian */
	assert_int_equal(pvm_store_get_perms(s, G, 0, S("cfg"), &b, &err), 0);
	assert_int_equal(b.len, 16);
	assert_memory_equal(b.data, "\0\0\0\0\0\0\0\0\1\0\0\0\1\0\0\0", 16);
	/* a node the tools make under the home inherits the guest's ownership */
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/t/u"), "1", 1, &err), 0);
	assert_int_equal(pvm_store_write(s, G, 0, S("t/u"), "2", 1, &err), 0);
	/* the guest cannot give a node away, name an unknown domain, or set too many */
	assert_int_equal(pvm_store_set_perms(s, G, 0, S("t"), ro, 2, &err), -EACCES);
	struct pvm_store_perm bad[] = { { G, 0 }, { 9, 1 } };
	assert_int_equal(pvm_store_set_perms(s, G, 0, S("t"), bad, 2, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "unknown domain 9"));
	struct pvm_store_perm many[PVM_STORE_PERMS_MAX + 1];
	for (size_t i = 0; i < PVM_STORE_PERMS_MAX + 1; i++)
		many[i] = (struct pvm_store_perm){ G, 1 };
	assert_int_equal(pvm_store_set_perms(s, G, 0, S("t"), many, PVM_STORE_PERMS_MAX + 1, &err),
	                 -E2BIG);
	assert_int_equal(pvm_store_set_perms(s, G, 0, S("t"), many, 0, &err), -EINVAL);
	struct pvm_store_perm bits[] = { { G, 4 } };
	assert_int_equal(pvm_store_set_perms(s, G, 0, S("t"), bits, 1, &err), -EINVAL);
	hv_blob_free(&b);
	pvm_store_free(s);
}

static void test_limits(void **state)
{
	struct pvm_store *s = mk();
	char *big = calloc(1, PVM_STORE_VALUE_MAX + 2);
	char name[32];
	(void)state;

	memset(big, 'a', PVM_STORE_PATH_MAX + 1);
	big[0] = '/';
	assert_int_equal(pvm_store_write(s, T, 0, big, PVM_STORE_PATH_MAX + 1, "", 0, &err), -E2BIG);
	/* relative: within the limit as given, over it once made absolute */
	assert_int_equal(pvm_store_write(s, G, 0, big + 1, PVM_STORE_PATH_MAX - 1, "", 0, &err),
	                 -E2BIG);
	assert_non_null(strstr(err.msg, "absolute"));
	assert_int_equal(pvm_store_write(s, G, 0, S("v"), big, PVM_STORE_VALUE_MAX + 1, &err), -E2BIG);
	assert_int_equal(pvm_store_write(s, G, 0, S("v"), big, PVM_STORE_VALUE_MAX, &err), 0);
	/* the guest's node quota (its home counts); a refused write makes no parent */
	for (unsigned i = 3; i < PVM_STORE_NODES_MAX; i++) {
		snprintf(name, sizeof(name), "n%u", i);
		assert_int_equal(pvm_store_write(s, G, 0, S(name), "", 0, &err), 0);
	}
	assert_int_equal(pvm_store_write(s, G, 0, S("q/r"), "", 0, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "quota"));
	struct hv_blob b = { 0 };
	assert_int_equal(pvm_store_read(s, G, 0, S("q"), &b, &err), -ENOENT);
	assert_int_equal(pvm_store_write(s, G, 0, S("q"), "", 0, &err), 0);
	assert_int_equal(pvm_store_write(s, G, 0, S("q2"), "", 0, &err), -ENOSPC);
	/* the tools cannot make the guest own more either (its store would
	 * not load on the backup); outside the home they may */
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/q3"), "", 0, &err), -ENOSPC);
	assert_int_equal(pvm_store_write(s, T, 0, S("/tool/q3"), "", 0, &err), 0);
	struct hv_blob rec = { 0 };
	assert_int_equal(pvm_store_save(s, &rec, &err), 0);
	assert_int_equal(pvm_store_load(G, rec.data, rec.len, NULL, &err), 0);
	hv_blob_free(&rec);
	/* watches */
	for (unsigned i = 0; i < PVM_STORE_WATCHES_MAX; i++) {
		snprintf(name, sizeof(name), "t%u", i);
		assert_int_equal(pvm_store_watch(s, G, S("w"), S(name), &err), 0);
	}
	assert_int_equal(pvm_store_watch(s, G, S("w"), S("one-more"), &err), -ENOSPC);
	assert_int_equal(pvm_store_watch(s, G, S("w"), big, PVM_STORE_TOKEN_MAX + 1, &err), -E2BIG);
	assert_int_equal(pvm_store_unwatch(s, G, S("w"), S("t0"), &err), 0);
	assert_int_equal(pvm_store_watch(s, G, S("w"), S("t1"), &err), -EEXIST);
	assert_int_equal(pvm_store_unwatch(s, G, S("w"), S("t0"), &err), -ENOENT);
	free(big);
	hv_blob_free(&b);
	pvm_store_free(s);
}

static void test_watches(void **state)
{
	struct pvm_store *s = mk();
	struct pvm_store_perm tools[] = { { T, PVM_STORE_PERM_NONE } };
	(void)state;

	/* fires once on registration, with the path as given */
	assert_int_equal(pvm_store_watch(s, G, S("data"), S("rel"), &err), 0);
	assert_int_equal(pvm_store_watch(s, G, S("/local/domain/1/data/a"), S("abs"), &err), 0);
	assert_int_equal(pvm_store_watch(s, G, S("@releaseDomain"), S("sp"), &err), 0);
	assert_int_equal(pvm_store_pending(s), 3);
	expect_event(s, "data", "rel");
	expect_event(s, "/local/domain/1/data/a", "abs");
	expect_event(s, "@releaseDomain", "sp");
	expect_no_event(s);
	/* a change under the path: relative watches see relative paths */
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/data/a/b"), "1", 1, &err), 0);
	expect_event(s, "data/a/b", "rel");
	expect_event(s, "/local/domain/1/data/a/b", "abs");
	expect_no_event(s);
	/* a sibling with the same prefix is not under the path */
	assert_int_equal(pvm_store_write(s, G, 0, S("data-x"), "1", 1, &err), 0);
	assert_int_equal(pvm_store_write(s, G, 0, S("data/ab"), "1", 1, &err), 0);
	expect_event(s, "data/ab", "rel");
	expect_no_event(s);
	/* removing a parent fires the watches below it */
	assert_int_equal(pvm_store_rm(s, G, 0, S("data"), &err), 0);
	expect_event(s, "data", "rel");
	expect_event(s, "/local/domain/1/data/a", "abs");
	expect_no_event(s);
	/* a node the guest may not read fires nothing */
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/data/secret"), "", 0, &err), 0);
	expect_event(s, "data/secret", "rel");
	assert_int_equal(pvm_store_set_perms(s, T, 0, S("/local/domain/1/data/secret"), tools, 1,
	                                     &err), 0);
	expect_event(s, "data/secret", "rel");       /* it could read it before */
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/data/secret"), "x", 1, &err), 0);
	expect_no_event(s);
	/* special paths fire only when fired */
	pvm_store_fire_special(s, "@introduceDomain");
	expect_no_event(s);
	pvm_store_fire_special(s, "@releaseDomain");
	expect_event(s, "@releaseDomain", "sp");
	/* unwatch: no more events; malformed watches refused */
	assert_int_equal(pvm_store_unwatch(s, G, S("data"), S("rel"), &err), 0);
	assert_int_equal(pvm_store_write(s, G, 0, S("data/z"), "1", 1, &err), 0);
	expect_no_event(s);
	assert_int_equal(pvm_store_watch(s, G, S("@"), S("t"), &err), -EINVAL);
	assert_int_equal(pvm_store_watch(s, G, S("@a/b"), S("t"), &err), -EINVAL);
	assert_int_equal(pvm_store_watch(s, G, S("a//b"), S("t"), &err), -EINVAL);
	assert_int_equal(pvm_store_watch(s, T, S("a"), S("t"), &err), -EINVAL);
	/* the event queue is bounded: past it, events are dropped, not queued */
	assert_int_equal(pvm_store_watch(s, G, S("q"), S("q"), &err), 0);
	for (unsigned i = 0; i < PVM_STORE_EVENTS_MAX + 5; i++)
		assert_int_equal(pvm_store_write(s, G, 0, S("q"), "", 0, &err), 0);
	assert_int_equal(pvm_store_pending(s), PVM_STORE_EVENTS_MAX);
	pvm_store_free(s);
}

static void test_transactions(void **state)
{
	struct pvm_store *s = mk();
	struct hv_blob b = { 0 };
	uint32_t t1, t2, ids[PVM_STORE_TXNS_MAX];
	(void)state;

	assert_int_equal(pvm_store_watch(s, G, S("cfg"), S("w"), &err), 0);
	expect_event(s, "cfg", "w");
	/* inside: seen by the transaction only, fired at commit */
	assert_int_equal(pvm_store_txn_start(s, G, &t1, &err), 0);
	assert_int_equal(pvm_store_write(s, G, t1, S("cfg/a"), "1", 1, &err), 0);
	assert_int_equal(pvm_store_write(s, G, t1, S("cfg/b"), "2", 1, &err), 0);
	assert_int_equal(pvm_store_read(s, G, 0, S("cfg/a"), &b, &err), -ENOENT);
	assert_int_equal(pvm_store_read(s, G, t1, S("cfg/a"), &b, &err), 0);
	expect_no_event(s);
	assert_int_equal(pvm_store_txn_end(s, G, t1, true, &err), 0);
	expect_node(s, G, "cfg/a", "1");
	expect_event(s, "cfg/a", "w");
	expect_event(s, "cfg/b", "w");
	expect_no_event(s);
	/* abort: nothing */
	assert_int_equal(pvm_store_txn_start(s, G, &t1, &err), 0);
	assert_int_equal(pvm_store_rm(s, G, t1, S("cfg/a"), &err), 0);
	assert_int_equal(pvm_store_txn_end(s, G, t1, false, &err), 0);
	expect_node(s, G, "cfg/a", "1");
	expect_no_event(s);
	/* conflict: the store changed since the start (the tools wrote) */
	assert_int_equal(pvm_store_txn_start(s, G, &t1, &err), 0);
	assert_int_equal(pvm_store_txn_start(s, G, &t2, &err), 0);
	assert_int_not_equal(t1, t2);
	assert_int_equal(pvm_store_write(s, G, t1, S("cfg/a"), "txn", 3, &err), 0);
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/cfg/c"), "3", 1, &err), 0);
	expect_event(s, "cfg/c", "w");
	assert_int_equal(pvm_store_txn_end(s, G, t1, true, &err), -EAGAIN);
	assert_non_null(strstr(err.msg, "conflicts"));
	expect_node(s, G, "cfg/a", "1");
	expect_no_event(s);
	/* ended (or lost in a restore): retry; another domain's: not ours */
	assert_int_equal(pvm_store_txn_end(s, G, t1, true, &err), -EAGAIN);
	assert_int_equal(pvm_store_read(s, G, t1, S("cfg/a"), &b, &err), -EAGAIN);
	assert_int_equal(pvm_store_txn_end(s, T, t2, true, &err), -EAGAIN);
	/* what it read may have changed: a read-only one conflicts too */
	assert_int_equal(pvm_store_txn_end(s, G, t2, true, &err), -EAGAIN);
	/* a bounded number open */
	for (unsigned i = 0; i < PVM_STORE_TXNS_MAX; i++)
		assert_int_equal(pvm_store_txn_start(s, G, &ids[i], &err), 0);
	assert_int_equal(pvm_store_txn_start(s, G, &t1, &err), -ENOSPC);
	hv_blob_free(&b);
	pvm_store_free(s);      /* frees the open ones */
}

/* The guest's PVM_HC_STORE arguments (pvm_store_hc_op): separators, counts
 * and sizes checked; EVENT peeks (the device consumes once delivered). */
static void test_hypercall_args(void **state)
{
	struct pvm_store *s = mk();
	struct hv_blob out = { 0 };
	const uint8_t *a;
	(void)state;

#define OP(op, txn, lit) pvm_store_hc_op(s, &out, op, txn, (const uint8_t *)(lit), sizeof(lit) - 1)
	assert_int_equal(OP(PVM_STORE_WRITE, 0, "data/x\0v1"), 0);
	assert_int_equal(OP(PVM_STORE_READ, 0, "data/x"), 0);
	assert_int_equal(out.len, 2);
	assert_memory_equal(out.data, "v1", 2);
	/* a write without its NUL separator, a read with one */
	assert_int_equal(OP(PVM_STORE_WRITE, 0, "data/x"), -EINVAL);
	assert_int_equal(OP(PVM_STORE_READ, 0, "data/x\0"), -EINVAL);
	/* watch: path NUL token; then EVENT twice: peeked, not consumed */
	assert_int_equal(OP(PVM_STORE_WATCH, 0, "data\0tok"), 0);
	assert_int_equal(OP(PVM_STORE_WATCH, 0, "data\0tok"), -EEXIST);
	assert_int_equal(OP(PVM_STORE_WATCH, 3, "data\0tok2"), -EINVAL);  /* not in a transaction */
	assert_int_equal(OP(PVM_STORE_EVENT, 0, ""), 0);
	assert_int_equal(out.len, 8);
	assert_memory_equal(out.data, "data\0tok", 8);
	assert_int_equal(pvm_store_pending(s), 1);
	assert_int_equal(OP(PVM_STORE_EVENT, 0, "x"), -EINVAL);
	/* set_perms: whole 8-byte entries, at most the limit */
	assert_int_equal(OP(PVM_STORE_SET_PERMS, 0, "data/x\0\1\0\0\0\0\0\0\0\0\0\0\0\1\0\0\0"), 0);
	assert_int_equal(OP(PVM_STORE_GET_PERMS, 0, "data/x"), 0);
	assert_int_equal(out.len, 16);
	a = out.data;
	assert_int_equal(a[0], 1);
	assert_int_equal(a[12], 1);
	assert_int_equal(OP(PVM_STORE_SET_PERMS, 0, "data/x\0\1\0\0"), -EINVAL);
	assert_int_equal(OP(PVM_STORE_SET_PERMS, 0, "data/x"), -EINVAL);
	static uint8_t many[7 + 8 * (PVM_STORE_PERMS_MAX + 1)] = "data/x";
	assert_int_equal(pvm_store_hc_op(s, &out, PVM_STORE_SET_PERMS, 0, many, sizeof(many)), -E2BIG);
	/* transactions: start, write inside, end takes exactly one byte 0 or 1 */
	int64_t id = OP(PVM_STORE_TXN_START, 0, "");
	assert_true(id > 0);
	assert_int_equal(OP(PVM_STORE_TXN_START, 1, ""), -EINVAL);
	assert_int_equal(OP(PVM_STORE_WRITE, (uint32_t)id, "data/t\0in"), 0);
	assert_int_equal(OP(PVM_STORE_TXN_END, (uint32_t)id, "\2"), -EINVAL);
	assert_int_equal(OP(PVM_STORE_TXN_END, (uint32_t)id, "\1\1"), -EINVAL);
	assert_int_equal(OP(PVM_STORE_TXN_END, (uint32_t)id, "\1"), 0);
	assert_int_equal(OP(PVM_STORE_READ, 0, "data/t"), 0);
	assert_int_equal(OP(PVM_STORE_TXN_END, (uint32_t)id, "\1"), -EAGAIN);
	/* ls, mkdir, rm; unknown ops; an empty argument */
	assert_int_equal(OP(PVM_STORE_MKDIR, 0, "data/d"), 0);
	assert_int_equal(OP(PVM_STORE_LS, 0, "data"), 0);
	assert_int_equal(out.len, 6);
	assert_memory_equal(out.data, "x\0t\0d\0", 6);
	assert_int_equal(OP(PVM_STORE_RM, 0, "data"), 0);
	assert_int_equal(OP(0, 0, "data"), -EINVAL);
	assert_int_equal(OP(99, 0, "data"), -EINVAL);
	assert_int_equal(pvm_store_hc_op(s, &out, PVM_STORE_READ, 0, NULL, 0), -EINVAL);
	assert_int_equal(pvm_store_hc_op(s, &out, PVM_STORE_TXN_END, 5, NULL, 0), -EINVAL);
#undef OP
	hv_blob_free(&out);
	pvm_store_free(s);
}

/* Save, load, save again: the same bytes; the loaded store behaves the
 * same (values, permissions, watches fire, pending events kept in order). */
static void test_record_round_trip(void **state)
{
	struct pvm_store *s = mk(), *r;
	struct hv_blob a = { 0 }, b = { 0 };
	struct pvm_store_perm ro[] = { { T, PVM_STORE_PERM_NONE }, { G, PVM_STORE_PERM_READ } };
	static const uint8_t bin[] = { 0, 0, 7 };
	uint32_t t;
	(void)state;

	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/cfg"), bin, 3, &err), 0);
	assert_int_equal(pvm_store_set_perms(s, T, 0, S("/local/domain/1/cfg"), ro, 2, &err), 0);
	assert_int_equal(pvm_store_watch(s, G, S("cfg"), S("w1"), &err), 0);
	assert_int_equal(pvm_store_watch(s, G, S("/tool"), S("w2"), &err), 0);
	assert_int_equal(pvm_store_watch(s, G, S("@releaseDomain"), "", 0, &err), 0);
	expect_event(s, "cfg", "w1");
	assert_int_equal(pvm_store_write(s, T, 0, S("/local/domain/1/cfg"), "x", 1, &err), 0);
	assert_int_equal(pvm_store_txn_start(s, G, &t, &err), 0);  /* not carried */
	assert_int_equal(pvm_store_pending(s), 3);   /* w2's and @'s first fire, cfg's change */
	assert_int_equal(pvm_store_save(s, &a, &err), 0);

	assert_int_equal(pvm_store_load(G, a.data, a.len, NULL, &err), 0);
	assert_int_equal(pvm_store_load(G, a.data, a.len, &r, &err), 0);
	assert_int_equal(pvm_store_save(r, &b, &err), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	expect_node(r, G, "cfg", "x");
	assert_int_equal(pvm_store_write(r, G, 0, S("cfg"), "y", 1, &err), -EACCES);
	assert_int_equal(pvm_store_txn_end(r, G, t, true, &err), -EAGAIN);
	expect_event(r, "/tool", "w2");
	expect_event(r, "@releaseDomain", "");
	expect_event(r, "cfg", "w1");
	expect_no_event(r);
	assert_int_equal(pvm_store_write(r, T, 0, S("/local/domain/1/cfg"), "z", 1, &err), 0);
	expect_event(r, "cfg", "w1");       /* the watch survived */
	pvm_store_free(r);

	/* it is a valid stream record too */
	struct stream_xs_iter it;
	struct stream_xs_entry e;
	unsigned kinds[5] = { 0 };
	assert_int_equal(stream_xs_iter_init(&it, a.data, a.len, &err), 0);
	while (stream_xs_next(&it, &e, &err) == 1)
		kinds[e.kind]++;
	assert_int_equal(kinds[STREAM_XS_NODE], 5);
	assert_int_equal(kinds[STREAM_XS_WATCH], 3);
	assert_int_equal(kinds[STREAM_XS_EVENT], 3);
	hv_blob_free(&a);
	hv_blob_free(&b);
	pvm_store_free(s);
}

/* Build a record body from entries. */
static void body_of(struct hv_blob *out, uint32_t flags, const struct stream_xs_entry *e, size_t n)
{
	struct stream_buf b;
	stream_buf_init(&b);
	assert_int_equal(stream_put_xenstore(&b, flags, e, n), 0);
	uint32_t len = (uint32_t)b.data[4] | (uint32_t)b.data[5] << 8 | (uint32_t)b.data[6] << 16;
	out->len = 0;
	assert_int_equal(pvm_store_blob_put(out, b.data + 8, len), 0);
	stream_buf_free(&b);
}

static void expect_refused(uint32_t flags, const struct stream_xs_entry *e, size_t n, int code,
                           const char *why)
{
	struct hv_blob body = { 0 };
	struct pvm_store *r = (void *)1;
	body_of(&body, flags, e, n);
	assert_int_equal(pvm_store_load(G, body.data, body.len, &r, &err), code);
	assert_null(r);
	if (strstr(err.msg, why) == NULL)
		fail_msg("'%s' does not say '%s'", err.msg, why);
	hv_blob_free(&body);
}

#define NODE(p, np, pp) { .kind = STREAM_XS_NODE, .path_kind = STREAM_XS_ABSOLUTE, .path = p, \
	.path_len = sizeof(p) - 1, .value = (const uint8_t *)"", .perms = pp, .nperms = np }

static void test_record_refused(void **state)
{
	static const struct stream_xs_perm own[] = { { 0, 0 } }, unk[] = { { 5, 0 } };
	(void)state;

	struct stream_xs_entry ok[] = { NODE("/", 1, own), NODE("/a", 1, own) };
	struct hv_blob body = { 0 };
	body_of(&body, STREAM_XS_FULL, ok, 2);
	struct pvm_store *r;
	assert_int_equal(pvm_store_load(G, body.data, body.len, &r, &err), 0);
	pvm_store_free(r);
	/* truncated body: refused by the stream's own check */
	assert_int_equal(pvm_store_load(G, body.data, body.len - 1, &r, &err), -EINVAL);
	assert_null(r);
	hv_blob_free(&body);

	expect_refused(0, ok, 2, -EINVAL, "not a full store");
	struct stream_xs_entry orphan[] = { NODE("/", 1, own), NODE("/a/b", 1, own) };
	expect_refused(STREAM_XS_FULL, orphan, 2, -EINVAL, "before its parent");
	struct stream_xs_entry noroot[] = { NODE("/a", 1, own) };
	expect_refused(STREAM_XS_FULL, noroot, 1, -EINVAL, "root must come first");
	struct stream_xs_entry twice[] = { NODE("/", 1, own), NODE("/a", 1, own), NODE("/a", 1, own) };
	expect_refused(STREAM_XS_FULL, twice, 3, -EINVAL, "twice");
	struct stream_xs_entry unknown[] = { NODE("/", 1, own), NODE("/a", 1, unk) };
	expect_refused(STREAM_XS_FULL, unknown, 2, -EINVAL, "unknown domain 5");
	struct stream_xs_entry noperm[] = { NODE("/", 1, own), NODE("/a", 0, NULL) };
	expect_refused(STREAM_XS_FULL, noperm, 2, -EINVAL, "permission entries");
	struct stream_xs_entry badpath[] = { NODE("/", 1, own), NODE("/a//b", 1, own) };
	expect_refused(STREAM_XS_FULL, badpath, 2, -EINVAL, "'//'");
	struct stream_xs_entry rm[] = { NODE("/", 1, own),
		{ .kind = STREAM_XS_RM, .path_kind = STREAM_XS_ABSOLUTE, .path = "/a", .path_len = 2 } };
	expect_refused(STREAM_XS_FULL, rm, 2, -EINVAL, "kind 3 in a full store");
	struct stream_xs_entry w2[] = { NODE("/", 1, own),
		{ .kind = STREAM_XS_WATCH, .path_kind = STREAM_XS_RELATIVE, .path = "a", .path_len = 1,
		  .value = (const uint8_t *)"t", .value_len = 1 },
		{ .kind = STREAM_XS_WATCH, .path_kind = STREAM_XS_RELATIVE, .path = "a", .path_len = 1,
		  .value = (const uint8_t *)"t", .value_len = 1 } };
	expect_refused(STREAM_XS_FULL, w2, 3, -EEXIST, "watch 2");
	static uint8_t tok[PVM_STORE_TOKEN_MAX + 1];
	struct stream_xs_entry bigtok[] = { NODE("/", 1, own),
		{ .kind = STREAM_XS_EVENT, .path_kind = STREAM_XS_RELATIVE, .path = "a", .path_len = 1,
		  .value = tok, .value_len = sizeof(tok) } };
	expect_refused(STREAM_XS_FULL, bigtok, 2, -E2BIG, "event 1: token");
	static uint8_t val[PVM_STORE_VALUE_MAX + 1];
	struct stream_xs_entry bigval[] = { NODE("/", 1, own), NODE("/v", 1, own) };
	bigval[1].value = val;
	bigval[1].value_len = sizeof(val);
	expect_refused(STREAM_XS_FULL, bigval, 2, -E2BIG, "value of");
	/* the guest cannot be domain 0 */
	assert_int_equal(pvm_store_load(T, (const uint8_t *)"\1\0\0\0\0\0\0\0", 8, NULL, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nodes_and_relative_paths),
		cmocka_unit_test(test_permissions),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_watches),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_hypercall_args),
		cmocka_unit_test(test_record_round_trip),
		cmocka_unit_test(test_record_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
