/*
 * The guest runtime: the hypercall layer, a small libc subset, a heap and
 * the clock.  One header for both builds: a freestanding pvm guest
 * (__STDC_HOSTED__ == 0, hypercalls are `syscall`) and the hosted test
 * build (an ordinary Linux program whose "hypercalls" use a TAP fd, a disk
 * image file, clock_gettime and poll).  Guest code includes only this.
 */
#ifndef GUEST_RT_H
#define GUEST_RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guest/abi/pvm_hypercall.h"

#if __STDC_HOSTED__
#include <string.h>
#else
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
#endif

/* ---- hypercalls (one backend per build: hc_pvm.c or hc_hosted.c) ---- */
int64_t hc_console_write(const char *buf, uint64_t len);
int64_t hc_clock(uint32_t which);
int64_t hc_wait(uint64_t deadline_mono_ns);
int64_t hc_net_send(const void *frame, uint64_t len);
int64_t hc_net_recv(void *buf, uint64_t cap);
int64_t hc_blk_read(uint64_t sector, void *buf, uint64_t nsectors);
int64_t hc_blk_write(uint64_t sector, const void *buf, uint64_t nsectors);
int64_t hc_blk_flush(void);
int64_t hc_info(struct pvm_info *out, uint64_t size);
/* PVM_HC_STORE (see pvm_hypercall.h); -PVM_ENODEV where there is none. */
int64_t hc_store(uint32_t op, uint32_t txn, const void *arg, uint64_t len, void *out,
                 uint64_t cap);

/* The store client (store.c): paths absolute or relative to the guest's
 * home; results >= 0 or -PVM_E*. */
/* The value into buf (at most cap bytes); its length. */
int64_t store_read(const char *path, void *buf, uint64_t cap);
int64_t store_write(const char *path, const void *val, uint64_t len);
int64_t store_rm(const char *path);
/* Watch path; events carry token (fires once at once). */
int64_t store_watch(const char *path, const char *token);
/* The next watch event: path and token NUL-terminated into their buffers;
 * 0, or -PVM_EAGAIN when none is pending. */
int64_t store_event(char *path, uint64_t pcap, char *token, uint64_t tcap);
_Noreturn void hc_exit(int64_t code);

/* ---- time ---- */
static inline uint64_t rt_now_ns(void)
{
	int64_t t = hc_clock(PVM_CLOCK_MONOTONIC);
	return t < 0 ? 0 : (uint64_t)t;
}

static inline uint64_t rt_now_ms(void)
{
	return rt_now_ns() / 1000000u;
}

/* ---- formatted output (fmt.c) ---- */
int rt_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
int rt_snprintf(char *buf, size_t cap, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void rt_panic(const char *file, int line, const char *what);

#define rt_assert(x) \
	((x) ? (void)0 : rt_panic(__FILE__, __LINE__, #x))

/* ---- heap ---- */
/*
 * A segregated-fit allocator over one region: power-of-two size classes
 * with free lists, bump allocation from the region, no coalescing (guest
 * workloads reuse a few sizes).  rt_heap_* are testable on any region;
 * rt_malloc/rt_free use the guest's heap (libc malloc in the hosted build).
 */
#define RT_HEAP_CLASSES 28

struct rt_heap {
	uint8_t *next;                    /* bump pointer */
	uint8_t *end;
	void *free_list[RT_HEAP_CLASSES];
	size_t in_use;                    /* bytes handed out (incl. headers) */
};

void rt_heap_init(struct rt_heap *h, void *base, size_t len);
void *rt_heap_alloc(struct rt_heap *h, size_t n);
void rt_heap_free(struct rt_heap *h, void *p);

void *rt_malloc(size_t n);
void *rt_calloc(size_t count, size_t size);
void rt_free(void *p);

/* ---- small helpers ---- */
uint32_t rt_crc32(uint32_t crc, const void *buf, size_t len);
/* Parse a decimal u64 from s[0..len); false unless all digits and no overflow. */
bool rt_parse_u64(const char *s, size_t len, uint64_t *out);

#endif
