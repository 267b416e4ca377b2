/*
 * Freestanding start-up and the guest heap: rt_start runs after crt0 has
 * zeroed .bss, places the heap between the image end and the stack, calls
 * main and exits through the exit hypercall.
 */
#include "guest/rt/rt.h"

#define RT_STACK_BYTES (1u << 20)

extern char __image_end[];
int main(void);

/* The one heap of this guest (the guest is a machine of its own). */
static struct rt_heap guest_heap;

_Noreturn void rt_start(uint64_t ram_base, uint64_t ram_size);

/* Set up the heap inside RAM and run the guest's main. */
_Noreturn void rt_start(uint64_t ram_base, uint64_t ram_size)
{
	uintptr_t lo = (uintptr_t)__image_end;
	uintptr_t hi = (uintptr_t)(ram_base + ram_size);

	if (hi > lo + RT_STACK_BYTES)
		rt_heap_init(&guest_heap, (void *)lo, hi - RT_STACK_BYTES - lo);
	else
		rt_heap_init(&guest_heap, (void *)lo, 0);
	hc_exit(main());
}

/* Allocate from the guest heap (NULL when RAM is exhausted). */
void *rt_malloc(size_t n)
{
	return rt_heap_alloc(&guest_heap, n);
}

/* Allocate zeroed memory with an overflow-checked size. */
void *rt_calloc(size_t count, size_t size)
{
	size_t n;
	void *p;

	if (__builtin_mul_overflow(count, size, &n))
		return NULL;
	p = rt_malloc(n);
	if (p)
		memset(p, 0, n);
	return p;
}

/* Return memory to the guest heap. */
void rt_free(void *p)
{
	rt_heap_free(&guest_heap, p);
}
