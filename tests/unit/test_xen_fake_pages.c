/* A guest with real pages for the fake libxc (test_xen_fake.h's put_libxc
 * and read_libxc hooks): the fake save writes Xen 4.17's libxc records of
 * each checkpoint — PAGE_DATA of the pages that changed, TSC_INFO,
 * HVM_CONTEXT, HVM_PARAMS, CHECKPOINT — and the fake restore reads them
 * record by record as libxc does, keeping every byte it read. */
#include "test_xen_fake_pages.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_xen_fake.h"

struct fake_pages fpages;

/* Page pfn as checkpoint n leaves it: a pattern of its own, and in the
 * first fpages.dirty pages a counter that checkpoint n changed. */
void fake_page(uint8_t *page, uint64_t pfn, int n)
{
	for (size_t i = 0; i < STREAM_PAGE_SIZE; i++)
		page[i] = (uint8_t)(pfn * 31u + i * 7u);
	if (pfn < fpages.dirty)
		memcpy(page + 64, &n, sizeof(n));
}

/* Checkpoint n's libxc records (n = 1: headers and every page first). */
static int put_pages(int fd, int n)
{
	struct stream_tsc_info tsc = { .mode = 1, .khz = 2000000, .nsec = (uint64_t)n * 1000u };
	struct stream_hvm_param par = { 2, (uint64_t)n };
	unsigned count = n == 1 ? fpages.pages : fpages.dirty;
	uint64_t pfns[1024];
	uint8_t *pages = malloc((size_t)1024 * STREAM_PAGE_SIZE);
	const void *ptr[1024];
	struct stream_buf b, hvm;
	size_t before;
	int rc = 0;

	if (pages == NULL)
		return -1;
	stream_buf_init(&b);
	stream_buf_init(&hvm);
	if (n == 1 && (stream_put_libxc_image_header(&b) < 0 ||
	               stream_put_libxc_domain_header(&b, STREAM_DOM_X86_HVM, 4, 17) < 0 ||
	               stream_put_static_data_end(&b) < 0))
		rc = -1;
	for (unsigned first = 0; rc == 0 && first < count; first += 1024) {
		unsigned k = count - first < 1024 ? count - first : 1024;

		for (unsigned i = 0; i < k; i++) {
			pfns[i] = first + i;
			fake_page(pages + (size_t)i * STREAM_PAGE_SIZE, first + i, n);
			ptr[i] = pages + (size_t)i * STREAM_PAGE_SIZE;
		}
		rc = stream_put_page_data(&b, pfns, ptr, k, 0);
	}
	if (rc == 0 && (stream_put_tsc_info(&b, &tsc) < 0 || stream_hvm_put_end(&hvm) < 0 ||
	                stream_put_hvm_context(&b, stream_buf_flat(&hvm), stream_buf_size(&hvm), 0) < 0 ||
	                stream_put_hvm_params(&b, &par, 1) < 0 || stream_put_checkpoint(&b) < 0))
		rc = -1;
	before = stream_buf_size(&fpages.saved);
	if (rc == 0 && stream_buf_append(&fpages.saved, stream_buf_flat(&b), stream_buf_size(&b)) < 0)
		rc = -1;
	if (rc == 0) {
		fpages.saved_ckpt_end[n < FAKE_PAGES_MAX_CKPT ? n : 0] = before + stream_buf_size(&b);
		rc = stream_buf_flush(&b, fd);
	}
	stream_buf_free(&b);
	stream_buf_free(&hvm);
	free(pages);
	return rc < 0 ? -1 : 0;
}

/* Exactly len bytes, or the stream stopped (0). */
static int read_exact(int fd, uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = read(fd, p + off, len - off);

		if (n <= 0)
			return 0;
		off += (size_t)n;
	}
	return stream_buf_append(&fpages.restored, p, len) == 0;
}

/* The next checkpoint's records, up to its CHECKPOINT (1) or END (2). */
static int read_pages(int fd)
{
	uint8_t hdr[STREAM_LIBXC_IHDR_SIZE + STREAM_LIBXC_DHDR_SIZE], *body = NULL;
	int rc = 0;

	if (!fpages.restore_started) {
		fpages.restore_started = true;
		if (!read_exact(fd, hdr, sizeof(hdr)))
			return 0;
	}
	for (;;) {
		uint32_t type, len;

		if (!read_exact(fd, hdr, 8))
			break;
		type = get_le32(hdr);
		len = (get_le32(hdr + 4) + 7u) & ~7u;
		if (len > (64u << 20) || (body = realloc(body, len ? len : 1)) == NULL)
			break;
		if (len && !read_exact(fd, body, len))
			break;
		if (type == STREAM_XC_CHECKPOINT || type == STREAM_XC_END) {
			rc = type == STREAM_XC_END ? 2 : 1;
			break;
		}
	}
	free(body);
	return rc;
}

void fake_pages_on(unsigned pages, unsigned dirty)
{
	fake_pages_off();
	fpages.pages = pages;
	fpages.dirty = dirty;
	stream_buf_init(&fpages.saved);
	stream_buf_init(&fpages.restored);
	fake.put_libxc = put_pages;
	fake.read_libxc = read_pages;
}

void fake_pages_off(void)
{
	stream_buf_free(&fpages.saved);
	stream_buf_free(&fpages.restored);
	memset(&fpages, 0, sizeof(fpages));
	fake.put_libxc = NULL;
	fake.read_libxc = NULL;
}
