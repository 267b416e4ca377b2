/* A guest with real pages behind the fake libxc (test_xen_fake_pages.c). */
#ifndef TEST_XEN_FAKE_PAGES_H
#define TEST_XEN_FAKE_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include "stream/stream.h"

#define FAKE_PAGES_MAX_CKPT 64

struct fake_pages {
	unsigned pages;             /* the guest's pages: all in checkpoint 1 */
	unsigned dirty;             /* pages changed by each later checkpoint */
	struct stream_buf saved;    /* libxc bytes the fake save wrote */
	size_t saved_ckpt_end[FAKE_PAGES_MAX_CKPT];   /* [n]: end of checkpoint n in saved */
	struct stream_buf restored; /* libxc bytes the fake restore read */
	bool restore_started;
};

extern struct fake_pages fpages;

/* Make the fake libxc save/restore this guest (after fake_reset). */
void fake_pages_on(unsigned pages, unsigned dirty);
void fake_pages_off(void);
/* Page pfn as checkpoint n leaves it. */
void fake_page(uint8_t *page, uint64_t pfn, int n);

#endif
