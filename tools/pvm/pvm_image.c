/*
 * Guest images as plain migration v2 streams (what `xl save` writes, minus
 * the xl file header): libxl header, LIBXC_CONTEXT, libxc headers,
 * STATIC_DATA_END, every RAM page as PAGE_DATA, X86_TSC_INFO, HVM_CONTEXT,
 * HVM_PARAMS, libxc END, then libxl EMULATOR_CONTEXT and END.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "stream/stream.h"
#include "tools/pvm/pvm_tool.h"

#define BATCH 1024u

/* Append the guest's RAM as PAGE_DATA records, flushing as we go. */
static int save_pages(const struct hv_ops *ops, struct hv_guest *g, uint64_t nr_pfns,
                      struct stream_buf *b, int fd, struct remus_err *err)
{
	uint64_t pfns[BATCH];
	uint8_t *pages = malloc((size_t)BATCH * STREAM_PAGE_SIZE);
	int rc = 0;

	if (pages == NULL)
		return remus_err_sys(err, ENOMEM, "save: page buffer");
	for (uint64_t start = 0; start < nr_pfns && rc == 0; start += BATCH) {
		uint32_t n = (uint32_t)(nr_pfns - start < BATCH ? nr_pfns - start : BATCH);
		for (uint32_t i = 0; i < n; i++)
			pfns[i] = start + i;
		if ((rc = ops->copy_pages(g, pfns, n, pages, err)) < 0)
			break;
		const void *ptr[BATCH];
		for (uint32_t i = 0; i < n; i++)
			ptr[i] = pages + (size_t)i * STREAM_PAGE_SIZE;
		if ((rc = stream_put_page_data(b, pfns, ptr, n, 0)) < 0 ||
		    (rc = stream_buf_flush(b, fd)) < 0) {
			rc = remus_err_set(err, rc, "save: write pages: %s", stream_strerror(rc));
			break;
		}
		stream_buf_reset(b);
	}
	free(pages);
	return rc;
}

int pvm_image_save(const struct hv_ops *ops, struct hv_guest *g, int fd,
                   struct remus_err *err)
{
	struct stream_buf b;
	struct hv_blob cpu = { 0 }, dev = { 0 };
	struct stream_tsc_info tsc = { 0 };
	struct hv_info in;
	int rc;

	stream_buf_init(&b);
	ops->info(g, &in);
	if ((rc = ops->save_cpu(g, &cpu, err)) < 0 || (rc = ops->save_devices(g, &dev, err)) < 0)
		goto out;
	if ((rc = stream_put_libxl_header(&b)) < 0 || (rc = stream_put_libxc_context(&b)) < 0 ||
	    (rc = stream_put_libxc_image_header(&b)) < 0 ||
	    (rc = stream_put_libxc_domain_header(&b, STREAM_DOM_X86_HVM, 4, 17)) < 0 ||
	    (rc = stream_put_static_data_end(&b)) < 0)
		goto enc;
	if ((rc = save_pages(ops, g, in.nr_pfns, &b, fd, err)) < 0)
		goto out;
	if ((rc = stream_put_tsc_info(&b, &tsc)) < 0 ||
	    (rc = stream_put_hvm_context(&b, cpu.data, cpu.len, 0)) < 0 ||
	    (rc = stream_put_hvm_params(&b, NULL, 0)) < 0 ||
	    (rc = stream_put_libxc_end(&b)) < 0 ||
	    (rc = stream_put_emulator_context(&b, STREAM_EMU_UNKNOWN, 0, dev.data, dev.len, 0)) < 0 ||
	    (rc = stream_put_libxl_end(&b)) < 0)
		goto enc;
	if ((rc = stream_buf_flush(&b, fd)) < 0) {
		rc = remus_err_sys(err, -rc, "save: write stream");
		goto out;
	}
	if (fsync(fd) < 0 && errno != EINVAL)
		rc = remus_err_sys(err, errno, "save: fsync");
	goto out;
enc:
	rc = remus_err_set(err, rc, "save: encode: %s", stream_strerror(rc));
out:
	stream_buf_free(&b);
	hv_blob_free(&cpu);
	hv_blob_free(&dev);
	return rc;
}

/* Copy a blob out of the checkpoint into an owned hv_blob. */
static int take_blob(struct hv_blob *dst, const uint8_t *data, size_t len, struct remus_err *err)
{
	dst->data = malloc(len ? len : 1);
	if (dst->data == NULL)
		return remus_err_sys(err, ENOMEM, "restore: blob");
	memcpy(dst->data, data, len);
	dst->len = dst->cap = len;
	return 0;
}

/* RAM = every pfn 0..N-1 exactly covered; fill a new memfd with it. */
static int build_ram(const struct stream_ckpt *c, struct pvm_image *im, struct remus_err *err)
{
	uint64_t max = 0;
	uint8_t *ram, *seen;
	int rc = 0;

	if (c->npages == 0)
		return remus_err_set(err, -EINVAL, "restore: stream carries no RAM pages");
	for (size_t i = 0; i < c->npages; i++)
		max = c->pfns[i] > max ? c->pfns[i] : max;
	if (max >= (1ULL << 30) / STREAM_PAGE_SIZE)
		return remus_err_set(err, -EINVAL, "restore: pfn %llu beyond the 1 GiB pvm RAM limit",
		                     (unsigned long long)max);
	im->ram_bytes = (max + 1) * STREAM_PAGE_SIZE;
	if ((seen = calloc(max + 1, 1)) == NULL)
		return remus_err_sys(err, ENOMEM, "restore: page map");
	im->ram_fd = memfd_create("pvm-restore", MFD_CLOEXEC);
	if (im->ram_fd < 0 || ftruncate(im->ram_fd, (off_t)im->ram_bytes) < 0) {
		rc = remus_err_sys(err, errno, "restore: RAM memfd");
		goto out;
	}
	ram = mmap(NULL, im->ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, im->ram_fd, 0);
	if (ram == MAP_FAILED) {
		rc = remus_err_sys(err, errno, "restore: map RAM");
		goto out;
	}
	for (size_t i = 0; i < c->npages; i++) {
		memcpy(ram + c->pfns[i] * STREAM_PAGE_SIZE, c->pages + i * STREAM_PAGE_SIZE, STREAM_PAGE_SIZE);
		seen[c->pfns[i]] = 1;
	}
	munmap(ram, im->ram_bytes);
	for (uint64_t p = 0; p <= max; p++)
		if (!seen[p]) {
			rc = remus_err_set(err, -EINVAL, "restore: RAM page %llu missing from the stream",
			                   (unsigned long long)p);
			break;
		}
out:
	free(seen);
	return rc;
}

/* Feed the whole file to the assembler; the final (complete) image out. */
static int read_stream(int fd, struct stream_asm *a, struct stream_ckpt *c, struct remus_err *err)
{
	static const size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);
	bool have = false;
	int rc = 0;

	if (buf == NULL)
		return remus_err_sys(err, ENOMEM, "restore: read buffer");
	for (;;) {
		ssize_t n = read(fd, buf, chunk);
		if (n < 0) {
			rc = remus_err_sys(err, errno, "restore: read");
			goto out;
		}
		if (n == 0)
			break;
		for (size_t off = 0; off < (size_t)n; ) {
			struct stream_ckpt *ck;
			size_t used = 0;
			rc = stream_asm_feed(a, buf + off, (size_t)n - off, &used, &ck);
			if (rc < 0) {
				rc = remus_err_set(err, rc, "restore: %s", a->err.msg);
				goto out;
			}
			off += used;
			if (rc == 1 && ck->npages) {
				stream_ckpt_free(c);
				stream_asm_take(a, c);
				have = true;
			}
		}
	}
	rc = stream_asm_eof(a);
	if (rc < 0) {
		rc = remus_err_set(err, rc, "restore: %s", a->err.msg);
	} else if (!have) {
		rc = remus_err_set(err, -EINVAL, "restore: stream holds no complete image");
	} else {
		rc = 0;
	}
out:
	free(buf);
	return rc;
}

int pvm_image_load(int fd, struct pvm_image *im, struct remus_err *err)
{
	struct stream_asm a;
	struct stream_ckpt c;
	const struct stream_blob *emu;
	int rc;

	memset(im, 0, sizeof(*im));
	memset(&c, 0, sizeof(c));
	im->ram_fd = -1;
	stream_asm_init(&a, NULL);
	if ((rc = read_stream(fd, &a, &c, err)) < 0)
		goto out;
	emu = stream_ckpt_blob(&c, STREAM_XL_EMULATOR_CONTEXT, UINT32_MAX);
	if (c.hvm_ctx == NULL || emu == NULL) {
		rc = remus_err_set(err, -EINVAL, "restore: stream lacks %s",
		                   c.hvm_ctx == NULL ? "HVM_CONTEXT" : "EMULATOR_CONTEXT");
		goto out;
	}
	if ((rc = take_blob(&im->hvm, c.hvm_ctx, c.hvm_ctx_len, err)) < 0 ||
	    (rc = take_blob(&im->emu, emu->data, emu->len, err)) < 0 ||
	    (rc = build_ram(&c, im, err)) < 0)
		goto out;
out:
	if (rc < 0)
		pvm_image_free(im);
	stream_ckpt_free(&c);
	stream_asm_free(&a);
	return rc;
}

void pvm_image_free(struct pvm_image *im)
{
	if (im->ram_fd >= 0)
		close(im->ram_fd);
	im->ram_fd = -1;
	hv_blob_free(&im->hvm);
	hv_blob_free(&im->emu);
}
