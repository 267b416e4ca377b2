/* Helpers shared by pvm's unit tests (see pvm_testlib.h). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"

const char *pt_guest(const char *name)
{
	static char path[512];      /* test-program scratch, one caller at a time */
	const char *b = getenv("BUILD");
	snprintf(path, sizeof(path), "%s/tests/pvm/%s.elf", b ? b : "build", name);
	return path;
}

void pt_config(struct hv_guest_config *cfg, const char *name, const char *guest,
               uint64_t mem, int console_fd)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->name = name;
	cfg->image = guest ? pt_guest(guest) : NULL;
	cfg->mem_bytes = mem;
	cfg->cpu = getenv("PT_NOPIN") ? -1 : sched_getcpu();
	cfg->console_fd = console_fd;
}

struct hv_guest *pt_create(const struct hv_guest_config *cfg)
{
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;

	if (pvm_hv_ops.create(cfg, &g, &err) < 0)
		fail_msg("create %s: %s", cfg->image, err.msg);
	return g;
}

void pt_start(struct hv_guest *g)
{
	struct remus_err err = { 0 };

	if (pvm_hv_ops.start(g, &err) < 0)
		fail_msg("start: %s", err.msg);
}

struct hv_guest *pt_boot(const struct hv_guest_config *cfg)
{
	struct hv_guest *g = pt_create(cfg);

	pt_start(g);
	return g;
}

void pt_wait_state(struct hv_guest *g, enum hv_run_state want, int secs)
{
	struct hv_info in;
	struct timespec t0, t, d = { 0, 1000000 };

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pvm_hv_ops.info(g, &in);
		if (in.state == want)
			return;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > secs)
			fail_msg("guest state %d, waited %ds for %d (reason: %s)", in.state, secs, want, in.reason);
		nanosleep(&d, NULL);
	}
}

uint64_t pt_peek(struct hv_guest *g, uint64_t off)
{
	struct remus_err err = { 0 };
	uint64_t pfn = off / PVM_PAGE_SIZE, v;
	uint8_t *page = malloc(PVM_PAGE_SIZE);

	assert_non_null(page);
	if (pvm_hv_ops.copy_pages(g, &pfn, 1, page, &err) < 0)
		fail_msg("copy_pages: %s", err.msg);
	memcpy(&v, page + off % PVM_PAGE_SIZE, 8);
	free(page);
	return v;
}

int pt_ckpt_init(struct pt_ckpt *c, uint64_t ram_bytes)
{
	memset(c, 0, sizeof(*c));
	c->ram_bytes = ram_bytes;
	c->ram_fd = memfd_create("pt-replica", MFD_CLOEXEC);
	if (c->ram_fd < 0 || ftruncate(c->ram_fd, (off_t)ram_bytes) < 0)
		return -errno;
	c->ram = mmap(NULL, ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, c->ram_fd, 0);
	c->buf = malloc(ram_bytes);
	return c->ram == MAP_FAILED || c->buf == NULL ? -ENOMEM : 0;
}

void pt_ckpt_take(struct pt_ckpt *c, struct hv_guest *g)
{
	struct remus_err err = { 0 };

	if (pvm_hv_ops.dirty_log(g, &c->dirty, &err) < 0)
		fail_msg("dirty_log: %s", err.msg);
	if (pvm_hv_ops.copy_pages(g, c->dirty.pfns, c->dirty.count, c->buf, &err) < 0)
		fail_msg("copy_pages: %s", err.msg);
	for (size_t i = 0; i < c->dirty.count; i++)
		memcpy(c->ram + c->dirty.pfns[i] * PVM_PAGE_SIZE, c->buf + i * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
	if (pvm_hv_ops.save_cpu(g, &c->hvm, &err) < 0)
		fail_msg("save_cpu: %s", err.msg);
	if (pvm_hv_ops.save_devices(g, &c->emu, &err) < 0)
		fail_msg("save_devices: %s", err.msg);
}

int pt_ckpt_clone_ram(const struct pt_ckpt *c)
{
	int fd = memfd_create("pt-restore", MFD_CLOEXEC);
	for (uint64_t done = 0; fd >= 0 && done < c->ram_bytes; ) {
		ssize_t n = pwrite(fd, c->ram + done, c->ram_bytes - done, (off_t)done);
		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += (uint64_t)n;
	}
	return fd;
}

struct hv_guest *pt_restore(const struct hv_guest_config *cfg, const struct pt_ckpt *c,
                            int ram_fd, struct remus_err *err)
{
	struct hv_checkpoint ck = {
		.ram_fd = ram_fd, .ram_bytes = c->ram_bytes,
		.hvm_context = c->hvm.data, .hvm_context_len = c->hvm.len,
		.emu_context = c->emu.data, .emu_context_len = c->emu.len,
	};
	struct hv_guest *g = NULL;

	if (pvm_hv_ops.restore(cfg, &ck, &g, err) < 0)
		return NULL;
	return g;
}

void pt_ckpt_free(struct pt_ckpt *c)
{
	if (c->ram && c->ram != MAP_FAILED)
		munmap(c->ram, c->ram_bytes);
	if (c->ram_fd >= 0)
		close(c->ram_fd);
	hv_blob_free(&c->hvm);
	hv_blob_free(&c->emu);
	hv_pfn_list_free(&c->dirty);
	free(c->buf);
}

bool pt_read_line(int fd, char *buf, size_t cap, int secs)
{
	size_t n = 0;
	struct pollfd p = { fd, POLLIN, 0 };

	while (n + 1 < cap) {
		if (poll(&p, 1, secs * 1000) <= 0)
			return false;
		if (read(fd, buf + n, 1) != 1)
			return false;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = 0;
	return true;
}
