/*
 * The guest heap: power-of-two size classes (16 B .. 2 GiB), each block
 * preceded by a 16-byte header holding its class; freed blocks go on their
 * class's free list and are reused for the same class.
 */
#include "guest/rt/rt.h"

#define HEAP_HDR   16u
#define HEAP_MIN_SHIFT 4u
#define HEAP_MAGIC 0x68656170u

struct heap_hdr {
	uint32_t magic;
	uint32_t cls;
	uint64_t pad;
};

/* Prepare an empty heap over [base, base+len). */
void rt_heap_init(struct rt_heap *h, void *base, size_t len)
{
	uintptr_t b = ((uintptr_t)base + 15u) & ~(uintptr_t)15u;
	uintptr_t e = (uintptr_t)base + len;

	memset(h, 0, sizeof(*h));
	h->next = (uint8_t *)b;
	h->end = (uint8_t *)(e > b ? e : b);
}

/* Size class whose block holds n payload bytes; -1 if none is big enough. */
static int heap_class(size_t n)
{
	size_t need;

	if (__builtin_add_overflow(n, (size_t)HEAP_HDR, &need))
		return -1;
	for (unsigned c = 0; c < RT_HEAP_CLASSES; c++)
		if (((size_t)1 << (c + HEAP_MIN_SHIFT)) >= need)
			return (int)c;
	return -1;
}

/* Allocate n bytes (16-byte aligned); NULL if the heap is exhausted. */
void *rt_heap_alloc(struct rt_heap *h, size_t n)
{
	int c = heap_class(n);
	size_t sz;
	struct heap_hdr *hdr;

	if (c < 0)
		return NULL;
	sz = (size_t)1 << ((unsigned)c + HEAP_MIN_SHIFT);
	if (h->free_list[c]) {
		uint8_t *p = h->free_list[c];
		memcpy(&h->free_list[c], p, sizeof(void *));
		hdr = (struct heap_hdr *)(p - HEAP_HDR);
	} else {
		if ((size_t)(h->end - h->next) < sz)
			return NULL;
		hdr = (struct heap_hdr *)h->next;
		h->next += sz;
	}
	hdr->magic = HEAP_MAGIC;
	hdr->cls = (uint32_t)c;
	h->in_use += sz;
	return (uint8_t *)hdr + HEAP_HDR;
}

/* Return a block to its class's free list (NULL is ignored). */
void rt_heap_free(struct rt_heap *h, void *p)
{
	struct heap_hdr *hdr;

	if (!p)
		return;
	hdr = (struct heap_hdr *)((uint8_t *)p - HEAP_HDR);
	if (hdr->magic != HEAP_MAGIC || hdr->cls >= RT_HEAP_CLASSES)
		rt_panic(__FILE__, __LINE__, "rt_heap_free: not a heap block");
	hdr->magic = 0;
	h->in_use -= (size_t)1 << (hdr->cls + HEAP_MIN_SHIFT);
	memcpy(p, &h->free_list[hdr->cls], sizeof(void *));
	h->free_list[hdr->cls] = p;
}
