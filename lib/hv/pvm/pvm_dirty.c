/*
 * The dirty log.  Exact mode: the guest's RAM is registered with a
 * WP-async userfaultfd (pvm_stub.c); one PAGEMAP_SCAN on the guest's
 * pagemap reads the written pages and write-protects them again.
 * Fallback (no WP-async, or forced with REMUS_PVM_DIRTY=hash): hash
 * every page and report those whose hash changed, O(RAM) per call.
 * Pages the monitor itself wrote (device models) are kept in a bitmap
 * and merged in both modes.
 * Copy-on-write guests (pvm_cow.c) have a synchronous WP userfaultfd
 * instead: the scan only reads which pages lost their protection (the
 * guest's write faults lifted it) and the collected list is protected
 * again with one ioctl per run.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <xxhash.h>

#include "hv/pvm/pvm_impl.h"

/* Debian 12's headers predate PAGEMAP_SCAN (Linux 6.7). */
struct pvm_page_region {
	uint64_t start, end, categories;
};
struct pvm_scan_arg {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define PVM_PAGEMAP_SCAN        _IOWR('f', 16, struct pvm_scan_arg)
#define PVM_PAGE_IS_WRITTEN     (1ULL << 1)
#define PVM_SCAN_WP_MATCHING    (1ULL << 0)
#define PVM_SCAN_CHECK_WPASYNC  (1ULL << 1)
#define SCAN_VEC_LEN 1024

int pvm_dirty_init(struct pvm_guest *g, bool want_exact, struct remus_err *err)
{
	size_t words = (g->nr_pfns + 63) / 64;

	if (g->cow && !pvm_uffd_wp_sync_supported())
		return remus_err_set(err, HV_EUNSUPP, "pvm: copy-on-write capture needs userfaultfd "
		                     "write-protect on shmem, which this kernel lacks");
	if (g->cow)
		want_exact = true;
	g->dirty_mode = (want_exact && (g->cow || pvm_uffd_wp_async_supported())) ? HV_DIRTY_EXACT
	                                                                          : HV_DIRTY_HASH;
	g->dev_dirty = calloc(words, sizeof(uint64_t));
	g->scan_bits = calloc(words, sizeof(uint64_t));
	if (g->dev_dirty == NULL || g->scan_bits == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: dirty bitmaps");
	if (g->dirty_mode == HV_DIRTY_EXACT) {
		g->scan_vec = calloc(SCAN_VEC_LEN, sizeof(struct pvm_page_region));
		if (g->scan_vec == NULL)
			return remus_err_sys(err, ENOMEM, "pvm: scan vector");
		return 0;
	}
	g->hashes = malloc(g->nr_pfns * sizeof(uint64_t));
	if (g->hashes == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: page hashes");
	for (uint64_t i = 0; i < g->nr_pfns; i++)
		g->hashes[i] = XXH3_64bits(g->ram + i * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
	return 0;
}

void pvm_dirty_free(struct pvm_guest *g)
{
	free(g->dev_dirty);
	free(g->scan_bits);
	free(g->hashes);
	free(g->scan_vec);
	g->dev_dirty = g->scan_bits = g->hashes = NULL;
	g->scan_vec = NULL;
}

/* Record that the monitor wrote [off, off+len) of guest RAM. */
void pvm_dirty_mark(struct pvm_guest *g, uint64_t off, uint64_t len)
{
	if (len == 0)
		return;
	for (uint64_t p = off / PVM_PAGE_SIZE; p <= (off + len - 1) / PVM_PAGE_SIZE && p < g->nr_pfns; p++)
		g->dev_dirty[p / 64] |= 1ULL << (p % 64);
}

/* Exact mode: read-and-reprotect the written pages into scan_bits. */
static int dirty_scan(struct pvm_guest *g, struct remus_err *err)
{
	struct pvm_page_region *vec = g->scan_vec;
	struct pvm_scan_arg a = {
		.size = sizeof(a),
		.flags = g->cow ? 0 : PVM_SCAN_WP_MATCHING | PVM_SCAN_CHECK_WPASYNC,
		.start = PVM_RAM_BASE,
		.end = PVM_RAM_BASE + g->ram_bytes,
		.vec = (uint64_t)(uintptr_t)vec,
		.vec_len = SCAN_VEC_LEN,
		.category_mask = PVM_PAGE_IS_WRITTEN,
		.return_mask = PVM_PAGE_IS_WRITTEN,
	};

	for (;;) {
		int n = ioctl(g->pagemap_fd, PVM_PAGEMAP_SCAN, &a);
		if (n < 0)
			return remus_err_sys(err, errno, "pvm: PAGEMAP_SCAN");
		for (int i = 0; i < n; i++) {
			uint64_t lo = (vec[i].start - PVM_RAM_BASE) / PVM_PAGE_SIZE;
			uint64_t hi = (vec[i].end - PVM_RAM_BASE) / PVM_PAGE_SIZE;
			for (uint64_t p = lo; p < hi && p < g->nr_pfns; p++)
				g->scan_bits[p / 64] |= 1ULL << (p % 64);
		}
		if (a.walk_end >= a.end || n < SCAN_VEC_LEN)
			break;
		a.start = a.walk_end;
	}
	return 0;
}

/* Fallback: compare each page's hash with the last call's. */
static void dirty_hash(struct pvm_guest *g)
{
	for (uint64_t i = 0; i < g->nr_pfns; i++) {
		uint64_t h = XXH3_64bits(g->ram + i * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
		if (h != g->hashes[i]) {
			g->hashes[i] = h;
			g->scan_bits[i / 64] |= 1ULL << (i % 64);
		}
	}
}

/* Make sure the list can hold n pfns. */
static int list_reserve(struct hv_pfn_list *l, size_t n, struct remus_err *err)
{
	if (n <= l->cap)
		return 0;
	uint64_t *p = realloc(l->pfns, n * sizeof(*p));
	if (p == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: pfn list of %zu", n);
	l->pfns = p;
	l->cap = n;
	return 0;
}

int pvm_dirty_collect(struct pvm_guest *g, struct hv_pfn_list *out,
                      struct remus_err *err)
{
	size_t words = (g->nr_pfns + 63) / 64, count = 0;
	int rc;

	memcpy(g->scan_bits, g->dev_dirty, words * sizeof(uint64_t));
	if (g->dirty_mode == HV_DIRTY_EXACT) {
		if ((rc = dirty_scan(g, err)))
			return rc;
	} else {
		dirty_hash(g);
	}
	for (size_t w = 0; w < words; w++)
		count += (size_t)__builtin_popcountll(g->scan_bits[w]);
	if ((rc = list_reserve(out, count, err)))
		return rc;
	out->count = 0;
	for (size_t w = 0; w < words; w++) {
		uint64_t bits = g->scan_bits[w];
		while (bits) {
			out->pfns[out->count++] = w * 64 + (uint64_t)__builtin_ctzll(bits);
			bits &= bits - 1;
		}
	}
	memset(g->dev_dirty, 0, words * sizeof(uint64_t));
	return g->cow ? pvm_cow_protect(g, out, err) : 0;
}
