/*
 * libFuzzer target for pvm's store parsers, selected by the first byte:
 *  0: a REMUS_XENSTORE body loaded as a checkpoint's store
 *     (pvm_store_load): one that loads saves and loads again to the same
 *     bytes;
 *  1: a guest's PVM_HC_STORE arguments (pvm_store_hc_op), a sequence of
 *     {u8 op, u8 txn, u16 len (LE), len bytes}, on a fresh store with the
 *     tools' writes mixed in: after every op the store must save to a
 *     record that loads (whatever a guest does stays checkpointable).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/pvm/pvm_store.h"

static void fuzz_record(const uint8_t *d, size_t n)
{
	struct remus_err err = { 0 };
	struct hv_blob a = { 0 }, b = { 0 };
	struct pvm_store *s = NULL, *t = NULL;

	if (pvm_store_load(PVM_STORE_GUEST_DOMID, d, n, &s, &err) < 0)
		return;
	if (pvm_store_save(s, &a, &err) < 0 ||
	    pvm_store_load(PVM_STORE_GUEST_DOMID, a.data, a.len, &t, &err) < 0 ||
	    pvm_store_save(t, &b, &err) < 0 || a.len != b.len || memcmp(a.data, b.data, a.len))
		__builtin_trap();
	pvm_store_free(s);
	pvm_store_free(t);
	hv_blob_free(&a);
	hv_blob_free(&b);
}

static void fuzz_ops(const uint8_t *d, size_t n)
{
	struct remus_err err = { 0 };
	struct hv_blob out = { 0 }, rec = { 0 };
	struct pvm_store *s = NULL;
	uint32_t txns[4] = { 0 };
	size_t off = 0;

	if (pvm_store_new(PVM_STORE_GUEST_DOMID, &s, &err) < 0)
		return;
	for (unsigned k = 0; k < 64 && n - off >= 4; k++) {
		uint8_t op = d[off], t = d[off + 1];
		size_t len = (size_t)d[off + 2] | (size_t)d[off + 3] << 8;
		off += 4;
		if (len > n - off)
			len = n - off;
		const uint8_t *a = len ? d + off : NULL;
		off += len;
		if (op & 0x80) {                /* the tools write what follows */
			pvm_store_write(s, PVM_STORE_DOM0, 0, (const char *)a, len / 2,
			                a ? a + len / 2 : NULL, len - len / 2, &err);
			continue;
		}
		int64_t rc = pvm_store_hc_op(s, &out, op & 0x1f, t < 4 ? txns[t] : t, a, len);
		if ((op & 0x1f) == PVM_STORE_TXN_START && rc > 0)
			txns[t & 3] = (uint32_t)rc;
		if ((op & 0x1f) == PVM_STORE_EVENT && rc == 0)
			pvm_store_event(s, true, &out, NULL);
		if (pvm_store_save(s, &rec, &err) < 0 ||
		    pvm_store_load(PVM_STORE_GUEST_DOMID, rec.data, rec.len, NULL, &err) < 0)
			__builtin_trap();
	}
	pvm_store_free(s);
	hv_blob_free(&out);
	hv_blob_free(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n == 0)
		return 0;
	if (d[0] == 0)
		fuzz_record(d + 1, n - 1);
	else if (d[0] == 1)
		fuzz_ops(d + 1, n - 1);
	return 0;
}
