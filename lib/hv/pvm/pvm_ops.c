/*
 * pvm's hv_ops: guest construction (from an ELF or a checkpoint), teardown,
 * and the engine-side half of every op, which posts a command to the
 * monitor thread and waits for its result.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"

/* Post a command to the monitor thread and wait for its result. */
int pvm_post(struct pvm_guest *g, enum pvm_cmd c, void *arg, struct remus_err *err)
{
	int rc;

	pthread_mutex_lock(&g->mu);
	while (g->cmd != PVM_CMD_NONE)          /* store_request may come from another thread */
		pthread_cond_wait(&g->cv, &g->mu);
	g->cmd = c;
	g->cmd_arg = arg;
	g->cmd_done = false;
	if (g->executing && g->pid > 0)
		syscall(SYS_tgkill, g->pid, g->pid, SIGURG);
	uint64_t one = 1;
	(void)!write(g->evfd, &one, sizeof(one));
	while (!g->cmd_done)
		pthread_cond_wait(&g->cv, &g->mu);
	rc = g->cmd_rc;
	if (rc < 0 && err != NULL)
		*err = g->cmd_err;
	g->cmd = PVM_CMD_NONE;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
	return rc;
}

/* Open the TAP interface `name` (must exist or be creatable), non-blocking. */
static int open_tap(const char *name, struct remus_err *err)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return remus_err_sys(err, errno, "pvm: open /dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return remus_err_sys(err, e, "pvm: attach TAP %s", name);
	}
	return fd;
}

/* Derive a locally administered MAC from the guest name (FNV-1a). */
static void mac_from_name(const char *name, uint8_t mac[6])
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 1099511628211ULL;
	mac[0] = 0x02;
	for (int i = 1; i < 6; i++)
		mac[i] = (uint8_t)(h >> (8 * i));
}

/* Allocate the guest and everything that does not depend on the image. */
int pvm_guest_alloc(const struct hv_guest_config *cfg, uint64_t ram_bytes,
                       struct pvm_guest **out, struct remus_err *err)
{
	struct pvm_guest *g = calloc(1, sizeof(*g));
	static const uint8_t zero[6];
	int rc;

	if (g == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: guest");
	g->ram_fd = g->console_fd = g->tap_fd = g->disk_fd = g->evfd = g->pagemap_fd = -1;
	g->con.fd = g->con.own_fd = -1;
	g->ram = MAP_FAILED;
	*out = g;
	if (ram_bytes == 0 || ram_bytes % PVM_PAGE_SIZE || ram_bytes > PVM_RAM_MAX)
		return remus_err_set(err, -EINVAL, "pvm: RAM size %llu: must be a multiple of 4 KiB, at most 1 GiB",
		                     (unsigned long long)ram_bytes);
	snprintf(g->name, sizeof(g->name), "%s", cfg->name ? cfg->name : "pvm");
	g->ram_bytes = ram_bytes;
	g->nr_pfns = ram_bytes / PVM_PAGE_SIZE;
	g->cpu = cfg->cpu;
	g->net = cfg->net;
	g->disk_io = cfg->disk_io;
	if (memcmp(cfg->mac, zero, 6) == 0)
		mac_from_name(g->name, g->mac);
	else
		memcpy(g->mac, cfg->mac, 6);
	memcpy(g->ip, cfg->ipv4_addr, 4);
	memcpy(g->gw, cfg->ipv4_gw, 4);
	g->prefix = cfg->ipv4_prefix;
	g->cow = cfg->cow_capture;
	if (cfg->console_fd >= 0 && (g->console_fd = fcntl(cfg->console_fd, F_DUPFD_CLOEXEC, 3)) < 0)
		return remus_err_sys(err, errno, "pvm: dup console fd");
	if ((rc = pvm_console_init(&g->con, g->console_fd, err)) < 0)
		return rc;
	if ((g->rxq = calloc(PVM_EMU_MAX_RXQ, sizeof(*g->rxq))) == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: receive queue");
	if (cfg->tap && (g->tap_fd = open_tap(cfg->tap, err)) < 0)
		return g->tap_fd;
	if (cfg->disk) {
		struct stat sb;
		if ((g->disk_fd = open(cfg->disk, O_RDWR | O_CLOEXEC)) < 0)
			return remus_err_sys(err, errno, "pvm: open disk image %s", cfg->disk);
		if (fstat(g->disk_fd, &sb) < 0)
			return remus_err_sys(err, errno, "pvm: stat disk image %s", cfg->disk);
		g->emu.disk_sectors = (uint64_t)sb.st_size / PVM_SECTOR_SIZE;
	}
	if ((g->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
		return remus_err_sys(err, errno, "pvm: eventfd");
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	return 0;
}

/* Map RAM into the monitor (populated, so copies never fault). */
int pvm_map_ram(struct pvm_guest *g, struct remus_err *err)
{
	g->ram = mmap(NULL, g->ram_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, g->ram_fd, 0);
	if (g->ram == MAP_FAILED)
		return remus_err_sys(err, errno, "pvm: map guest RAM (%llu bytes)",
		                     (unsigned long long)g->ram_bytes);
	return 0;
}

/* Read a whole file (the guest image) into memory. */
static int read_file(const char *path, uint8_t **buf, size_t *len, struct remus_err *err)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

	*buf = NULL;
	if (fd < 0)
		return remus_err_sys(err, errno, "pvm: open guest image %s", path);
	if (fstat(fd, &sb) < 0 || sb.st_size <= 0 || sb.st_size > (off_t)PVM_RAM_MAX) {
		rc = remus_err_set(err, -EINVAL, "pvm: guest image %s: bad size", path);
		goto out;
	}
	*len = (size_t)sb.st_size;
	if ((*buf = malloc(*len)) == NULL) {
		rc = remus_err_sys(err, ENOMEM, "pvm: guest image");
		goto out;
	}
	for (size_t done = 0; done < *len; ) {
		ssize_t n = read(fd, *buf + done, *len - done);
		if (n <= 0) {
			rc = remus_err_sys(err, n < 0 ? errno : EIO, "pvm: read guest image %s", path);
			goto out;
		}
		done += (size_t)n;
	}
out:
	close(fd);
	return rc;
}

/* Copy the image's segments into RAM; the pages count as dirty. */
static int load_elf(struct pvm_guest *g, const char *path, struct remus_err *err)
{
	struct pvm_elf elf;
	uint8_t *img;
	size_t len = 0;
	int rc = read_file(path, &img, &len, err);

	if (rc == 0)
		rc = pvm_elf_parse(img, len, g->ram_bytes, &elf, err);
	if (rc < 0) {
		free(img);
		return rc;
	}
	for (unsigned i = 0; i < elf.nsegs; i++) {
		const struct pvm_elf_seg *s = &elf.segs[i];
		memcpy(g->ram + (s->vaddr - PVM_RAM_BASE), img + s->offset, s->filesz);
		pvm_dirty_mark(g, s->vaddr - PVM_RAM_BASE, s->memsz);
	}
	g->entry = elf.entry;
	free(img);
	return 0;
}

/* Start the monitor thread (pinned as configured) and have it run its
 * first command: spawn the stub, or adopt a handed-off guest. */
int pvm_start_monitor(struct pvm_guest *g, enum pvm_cmd first, struct remus_err *err)
{
	pthread_attr_t at;
	int rc;

	pthread_attr_init(&at);
	if (g->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(g->cpu, &set);
		pthread_attr_setaffinity_np(&at, sizeof(set), &set);
	}
	rc = pthread_create(&g->thread, &at, pvm_monitor_main, g);
	pthread_attr_destroy(&at);
	if (rc != 0)
		return remus_err_sys(err, rc, "pvm: monitor thread (cpu %d)", g->cpu);
	g->thread_started = true;
	return pvm_post(g, first, NULL, err);
}

void pvm_destroy(struct hv_guest *hg)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;

	if (g == NULL)
		return;
	if (g->thread_started) {
		pvm_post(g, PVM_CMD_QUIT, NULL, NULL);
		pthread_join(g->thread, NULL);
	}
	if (g->evfd >= 0) {
		pthread_mutex_destroy(&g->mu);
		pthread_cond_destroy(&g->cv);
	}
	pvm_cow_detach(g);
	pvm_dirty_free(g);
	pvm_console_free(&g->con);
	if (g->ram != MAP_FAILED)
		munmap(g->ram, g->ram_bytes);
	int fds[] = { g->ram_fd, g->console_fd, g->tap_fd, g->disk_fd, g->evfd, g->pagemap_fd };
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	free(g->rxq);
	free(g->vcpu_in);
	pvm_store_free(g->store);
	hv_blob_free(&g->store_out);
	free(g);
}

/* Dirty-log mode wanted: exact unless REMUS_PVM_DIRTY=hash forces the fallback. */
bool pvm_want_exact(void)
{
	const char *m = getenv("REMUS_PVM_DIRTY");
	return m == NULL || strcmp(m, "hash") != 0;
}

static int pvm_create(const struct hv_guest_config *cfg, struct hv_guest **out,
                      struct remus_err *err)
{
	struct pvm_guest *g = NULL;
	int rc;

	*out = NULL;
	if (cfg->image == NULL)
		return remus_err_set(err, -EINVAL, "pvm: no guest image given");
	if ((rc = pvm_guest_alloc(cfg, cfg->mem_bytes, &g, err)))
		goto err;
	g->ram_fd = memfd_create("pvm-ram", MFD_CLOEXEC);
	if (g->ram_fd < 0 || ftruncate(g->ram_fd, (off_t)g->ram_bytes) < 0) {
		rc = remus_err_sys(err, errno, "pvm: RAM memfd of %llu bytes", (unsigned long long)g->ram_bytes);
		goto err;
	}
	if ((rc = pvm_map_ram(g, err)) || (rc = pvm_dirty_init(g, pvm_want_exact(), err)))
		goto err;
	if ((rc = load_elf(g, cfg->image, err)) ||
	    (rc = pvm_store_new(PVM_STORE_GUEST_DOMID, &g->store, err)))
		goto err;
	g->emu.boot_count = 0;
	g->mono_offset = 0;
	g->state = HV_CREATED;
	if ((rc = pvm_start_monitor(g, PVM_CMD_SPAWN, err)))
		goto err;
	*out = (struct hv_guest *)g;
	return 0;
err:
	pvm_destroy((struct hv_guest *)g);
	return rc;
}

/* Take the device part of a checkpoint into the new guest. */
void pvm_take_emu(struct pvm_guest *g, const struct pvm_emu *e)
{
	struct timespec ts;
	uint64_t disk = g->emu.disk_sectors;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	g->emu = *e;
	g->emu.rxq = NULL;
	g->emu.disk_sectors = disk;
	g->emu.boot_count = e->boot_count + 1;
	g->mono_offset = (int64_t)e->guest_mono_ns -
	                 (int64_t)((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec);
	for (uint32_t i = 0; i < e->rxq_count; i++)
		g->rxq[i] = e->rxq[i];
	g->rxq_head = 0;
}

static int pvm_restore(const struct hv_guest_config *cfg, const struct hv_checkpoint *ck,
                       struct hv_guest **out, struct remus_err *err)
{
	struct pvm_guest *g = NULL;
	struct pvm_vcpu *v = malloc(sizeof(*v));
	struct pvm_emu e = { 0 };
	struct stat sb;
	int rc;

	*out = NULL;
	if (v == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: restore");
	if ((rc = pvm_cpu_decode(ck->hvm_context, ck->hvm_context_len, v, err)) ||
	    (rc = pvm_emu_decode(ck->emu_context, ck->emu_context_len, &e, err))) {
		free(v);
		return remus_err_wrap(err, "restore: ");
	}
	if ((rc = pvm_guest_alloc(cfg, ck->ram_bytes, &g, err)))
		goto err;
	g->vcpu_in = v;
	v = NULL;
	if (fstat(ck->ram_fd, &sb) < 0 || (uint64_t)sb.st_size < ck->ram_bytes) {
		rc = remus_err_set(err, -EINVAL, "pvm: restore: RAM fd smaller than %llu bytes",
		                   (unsigned long long)ck->ram_bytes);
		goto err;
	}
	if ((g->ram_fd = fcntl(ck->ram_fd, F_DUPFD_CLOEXEC, 3)) < 0) {
		rc = remus_err_sys(err, errno, "pvm: restore: dup RAM fd");
		goto err;
	}
	if ((rc = pvm_map_ram(g, err)) || (rc = pvm_dirty_init(g, pvm_want_exact(), err)))
		goto err;
	rc = ck->store ? pvm_store_load(PVM_STORE_GUEST_DOMID, ck->store, ck->store_len, &g->store, err)
	               : pvm_store_new(PVM_STORE_GUEST_DOMID, &g->store, err);
	if (rc < 0) {
		remus_err_wrap(err, "pvm: restore");
		goto err;
	}
	pvm_take_emu(g, &e);
	g->state = HV_PAUSED;
	if ((rc = pvm_start_monitor(g, PVM_CMD_SPAWN, err)) || (rc = pvm_post(g, PVM_CMD_SETCPU, g->vcpu_in, err)))
		goto err;
	pvm_emu_free(&e);
	*out = (struct hv_guest *)g;
	return 0;
err:
	free(v);
	pvm_emu_free(&e);
	pvm_destroy((struct hv_guest *)g);
	return rc;
}

static int pvm_start(struct hv_guest *hg, struct remus_err *err)
{
	return pvm_post((struct pvm_guest *)hg, PVM_CMD_START, NULL, err);
}

static int pvm_info(struct hv_guest *hg, struct hv_info *out)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;

	memset(out, 0, sizeof(*out));
	snprintf(out->name, sizeof(out->name), "%s", g->name);
	out->ram_bytes = g->ram_bytes;
	out->nr_pfns = g->nr_pfns;
	out->page_size = PVM_PAGE_SIZE;
	out->nr_vcpus = 1;
	out->domain_type = 2;
	out->has_nic = g->tap_fd >= 0;
	out->has_disk = g->disk_fd >= 0;
	out->has_emulator = true;
	out->dirty_mode = g->dirty_mode;
	out->console_dropped = __atomic_load_n(&g->con.dropped, __ATOMIC_RELAXED);
	pthread_mutex_lock(&g->mu);
	out->state = g->state;
	out->exit_code = g->exit_code;
	snprintf(out->reason, sizeof(out->reason), "%s", g->reason);
	pthread_mutex_unlock(&g->mu);
	return 0;
}

static int pvm_suspend(struct hv_guest *hg, struct remus_err *err)
{
	return pvm_post((struct pvm_guest *)hg, PVM_CMD_SUSPEND, NULL, err);
}

static int pvm_resume(struct hv_guest *hg, struct remus_err *err)
{
	return pvm_post((struct pvm_guest *)hg, PVM_CMD_RESUME, NULL, err);
}

static int pvm_dirty_log(struct hv_guest *hg, struct hv_pfn_list *out, struct remus_err *err)
{
	return pvm_post((struct pvm_guest *)hg, PVM_CMD_DIRTY, out, err);
}

/* Copy pages straight from the monitor's mapping: the guest is paused. */
static int pvm_copy_pages(struct hv_guest *hg, const uint64_t *pfns, size_t n, void *dst,
                          struct remus_err *err)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	uint8_t *d = dst;
	enum hv_run_state st;

	pthread_mutex_lock(&g->mu);
	st = g->state;
	pthread_mutex_unlock(&g->mu);
	if (st == HV_RUNNING)
		return remus_err_set(err, HV_EBADSTATE, "pvm: copy_pages: guest is running");
	for (size_t i = 0; i < n; i++) {
		if (pfns[i] >= g->nr_pfns)
			return remus_err_set(err, -EINVAL, "pvm: copy_pages: pfn %llu beyond %llu pages",
			                     (unsigned long long)pfns[i], (unsigned long long)g->nr_pfns);
		memcpy(d + i * PVM_PAGE_SIZE, g->ram + pfns[i] * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
	}
	return 0;
}

/* Copy-on-write capture: the dirty set (protected by the scan), then the
 * copy-out starts; see pvm_cow.c. */
static int pvm_capture_begin(struct hv_guest *hg, struct hv_pfn_list *out, struct remus_err *err)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	enum hv_run_state st;
	int rc;

	if (!g->cow || g->cow_state == NULL)
		return remus_err_set(err, HV_EUNSUPP, "pvm: guest %s was not created for copy-on-write "
		                     "capture", g->name);
	pthread_mutex_lock(&g->mu);
	st = g->state;
	pthread_mutex_unlock(&g->mu);
	if (st == HV_RUNNING)
		return remus_err_set(err, HV_EBADSTATE, "pvm: capture_begin: guest is running");
	if ((rc = pvm_post(g, PVM_CMD_DIRTY, out, err)) < 0)
		return rc;
	return pvm_cow_begin(g, out, err);
}

static int pvm_capture_wait(struct hv_guest *hg, const uint8_t **pages, struct remus_err *err)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;

	if (!g->cow || g->cow_state == NULL)
		return remus_err_set(err, HV_EUNSUPP, "pvm: guest %s was not created for copy-on-write "
		                     "capture", g->name);
	return pvm_cow_wait(g, pages, err);
}

/* The guest's RAM as the monitor maps it (shared memfd, whole size). */
static const uint8_t *pvm_ram_view(struct hv_guest *hg)
{
	return ((struct pvm_guest *)hg)->ram;
}

/* A capture that restore would refuse: the same message, its own code. */
static int unrestorable(int rc, struct remus_err *err)
{
	if (rc != HV_EBADBLOB)
		return rc;
	remus_err_wrap(err, "checkpoint would not restore");
	if (err != NULL)
		err->code = HV_EUNRESTORABLE;
	return HV_EUNRESTORABLE;
}

/* The vCPU is checked by pvm_cpu_encode with restore's own rules
 * (pvm_vcpu_validate); the rest of the blob is fixed by construction. */
static int pvm_save_cpu(struct hv_guest *hg, struct hv_blob *out, struct remus_err *err)
{
	return unrestorable(pvm_post((struct pvm_guest *)hg, PVM_CMD_SAVE_CPU, out, err), err);
}

/* The device blob goes through restore's decoder before it is handed out. */
static int pvm_save_devices(struct hv_guest *hg, struct hv_blob *out, struct remus_err *err)
{
	struct pvm_emu e = { 0 };
	int rc = pvm_post((struct pvm_guest *)hg, PVM_CMD_SAVE_DEV, out, err);

	if (rc == 0)
		rc = pvm_emu_decode(out->data, out->len, &e, err);
	pvm_emu_free(&e);
	return unrestorable(rc, err);
}

static int pvm_validate_checkpoint(const uint8_t *hvm, size_t hvm_len, const uint8_t *emu,
                                   size_t emu_len, struct remus_err *err)
{
	return pvm_checkpoint_validate(hvm, hvm_len, emu, emu_len, err);
}

static int pvm_store_save_op(struct hv_guest *hg, struct hv_blob *out, struct remus_err *err)
{
	return pvm_post((struct pvm_guest *)hg, PVM_CMD_STORE_SAVE, out, err);
}

static int pvm_store_validate(const uint8_t *body, size_t len, struct remus_err *err)
{
	return pvm_store_load(PVM_STORE_GUEST_DOMID, body, len, NULL, err);
}

static int pvm_store_request(struct hv_guest *hg, const struct hv_store_req *req,
                             struct hv_blob *out, struct remus_err *err)
{
	struct pvm_store_cmd c = { req, out };

	return pvm_post((struct pvm_guest *)hg, PVM_CMD_STORE_REQ, &c, err);
}

static int pvm_announce(struct hv_guest *hg, struct remus_err *err)
{
	return pvm_post((struct pvm_guest *)hg, PVM_CMD_ANNOUNCE, NULL, err);
}

/* Released or passed-through frames go into the TAP queue the guest's own
 * frames would take; one write per frame is atomic on a TAP, so the monitor
 * and engine threads need no lock. */
static int pvm_net_transmit(struct hv_guest *hg, const void *frame, size_t len)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	ssize_t n;

	if (g->tap_fd < 0)
		return -ENODEV;
	if (len < PVM_FRAME_MIN || len > PVM_FRAME_MAX)
		return -EMSGSIZE;
	n = write(g->tap_fd, frame, len);
	if (n < 0)
		return -errno;
	return n == (ssize_t)len ? 0 : -EIO;
}

const struct hv_ops pvm_hv_ops = {
	.name = "pvm",
	.create = pvm_create,
	.start = pvm_start,
	.destroy = pvm_destroy,
	.info = pvm_info,
	.suspend = pvm_suspend,
	.resume = pvm_resume,
	.dirty_log = pvm_dirty_log,
	.copy_pages = pvm_copy_pages,
	.capture_begin = pvm_capture_begin,
	.capture_wait = pvm_capture_wait,
	.ram_view = pvm_ram_view,
	.save_cpu = pvm_save_cpu,
	.save_devices = pvm_save_devices,
	.restore = pvm_restore,
	.validate_checkpoint = pvm_validate_checkpoint,
	.announce = pvm_announce,
	.store_save = pvm_store_save_op,
	.store_validate = pvm_store_validate,
	.store_request = pvm_store_request,
	.net_transmit = pvm_net_transmit,
	.save_stream = NULL,
	.restore_stream = NULL,
	.hand_off = pvm_hand_off,
	.adopt = pvm_adopt,
};
