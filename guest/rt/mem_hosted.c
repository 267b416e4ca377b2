/*
 * Heap entry points for hosted builds (hosted guests, unit tests, fuzz
 * targets): libc's allocator, so ASan sees every guest allocation.
 */
#include <stdlib.h>

#include "guest/rt/rt.h"

/* Allocate n bytes. */
void *rt_malloc(size_t n)
{
	return malloc(n ? n : 1);
}

/* Allocate zeroed memory. */
void *rt_calloc(size_t count, size_t size)
{
	return calloc(count ? count : 1, size ? size : 1);
}

/* Free memory from rt_malloc/rt_calloc. */
void rt_free(void *p)
{
	free(p);
}
