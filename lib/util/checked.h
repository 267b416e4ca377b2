/*
 * Overflow-checked size arithmetic for parsers of hostile input.
 * Each returns false (and leaves *out untouched) when the result would
 * not fit; callers turn that into a named error.
 */
#ifndef REMUS_UTIL_CHECKED_H
#define REMUS_UTIL_CHECKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool ck_add_size(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static inline bool ck_mul_size(size_t a, size_t b, size_t *out)
{
	size_t r;
	if (__builtin_mul_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

static inline bool ck_add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	uint64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return false;
	*out = r;
	return true;
}

/* Round up to a multiple of 8 (record padding); false on overflow. */
static inline bool ck_align8(size_t n, size_t *out)
{
	size_t r;
	if (__builtin_add_overflow(n, (size_t)7, &r))
		return false;
	*out = r & ~(size_t)7;
	return true;
}

#endif
