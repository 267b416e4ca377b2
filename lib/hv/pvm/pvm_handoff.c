/*
 * Live update: a paused pvm guest changes tracer without ever running
 * untraced.  hand_off captures the vCPU, the devices and the pages written
 * since the last dirty_log, queues SIGSTOP on the stopped tracee and
 * detaches: the guest leaves its ptrace-stop straight into a group stop
 * (a signal is handled before any return to user mode), untraced but
 * stopped.  adopt, in the same or another process, checks the process is
 * the guest whose RAM it was given, PTRACE_SEIZEs it (EXITKILL once it runs: it
 * dies with its new tracer), interrupts it, and loads the saved vCPU as a
 * restore does.  The dirty log carries on: the WP-async protection lives in
 * the guest's page tables, and the pages collected at hand-off are marked
 * again.  The seize leaves EXITKILL off until the guest first runs
 * (resume): an adopter that dies before that leaves the guest in its
 * group stop (the kernel re-stops a detached tracee whose group stop is in
 * effect) for the old daemon to take back; once it runs, it dies with its
 * tracer as every pvm guest does.
 *
 * The hand-off blob (little-endian, version 1):
 *   0 magic "PVMH"  4 version  8 pid  12 flags (bit 0: exact dirty log)
 *   16 ram_bytes    24 mono_offset (i64)
 *   32 hvm_len  36 emu_len  40 ndirty  44 store_len
 *   48 HVM_CONTEXT body, EMULATOR_CONTEXT blob, the store (its checkpoint
 *      record body, pvm_store_save; 0 bytes: an empty store), ndirty
 *      ascending pfns (u64)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hv/pvm/pvm_impl.h"
#include "util/bytes.h"

#define HO_MAGIC   0x484d5650u      /* "PVMH" */
#define HO_VERSION 1u
#define HO_HDR     48u
#define HO_F_EXACT (1u << 0)

int pvm_handoff_decode(const uint8_t *b, size_t len, struct pvm_handoff_info *out,
                       struct remus_err *err)
{
	uint32_t flags;
	uint64_t need, prev = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len < HO_HDR)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: %zu bytes, the header is %u", len, HO_HDR);
	if (get_le32(b) != HO_MAGIC)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: magic %#x", get_le32(b));
	if (get_le32(b + 4) != HO_VERSION)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: version %u, this driver reads %u",
		                     get_le32(b + 4), HO_VERSION);
	out->pid = get_le32(b + 8);
	flags = get_le32(b + 12);
	out->ram_bytes = get_le64(b + 16);
	out->mono_offset = (int64_t)get_le64(b + 24);
	out->hvm_len = get_le32(b + 32);
	out->emu_len = get_le32(b + 36);
	out->ndirty = get_le32(b + 40);
	out->store_len = get_le32(b + 44);
	if (flags & ~HO_F_EXACT)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: unknown flags %#x", flags);
	out->exact = flags & HO_F_EXACT;
	if (out->pid <= 1 || out->pid > INT32_MAX)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: guest pid %" PRIu32, out->pid);
	if (out->ram_bytes == 0 || out->ram_bytes % PVM_PAGE_SIZE || out->ram_bytes > PVM_RAM_MAX)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: RAM size %" PRIu64, out->ram_bytes);
	if (out->ndirty > out->ram_bytes / PVM_PAGE_SIZE)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: %u dirty pages of %" PRIu64,
		                     out->ndirty, (uint64_t)(out->ram_bytes / PVM_PAGE_SIZE));
	need = (uint64_t)HO_HDR + out->hvm_len + out->emu_len + out->store_len + 8ULL * out->ndirty;
	if (need != len)
		return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: %zu bytes, the header says %" PRIu64,
		                     len, need);
	out->hvm = b + HO_HDR;
	out->emu = out->hvm + out->hvm_len;
	out->store = out->emu + out->emu_len;
	out->dirty = out->store + out->store_len;
	for (uint32_t i = 0; i < out->ndirty; i++) {
		uint64_t pfn = get_le64(out->dirty + 8 * (size_t)i);
		if (pfn >= out->ram_bytes / PVM_PAGE_SIZE || (i > 0 && pfn <= prev))
			return remus_err_set(err, HV_EBADBLOB, "pvm hand-off: dirty pfn %" PRIu64 " (entry %u) "
			                     "out of range or order", pfn, i);
		prev = pfn;
	}
	if (((rc = pvm_checkpoint_validate(out->hvm, out->hvm_len, out->emu, out->emu_len, err)) < 0) ||
	    (out->store_len &&
	     (rc = pvm_store_load(PVM_STORE_GUEST_DOMID, out->store, out->store_len, NULL, err)) < 0)) {
		remus_err_wrap(err, "pvm hand-off: ");
		if (err != NULL)
			err->code = HV_EBADBLOB;
		return HV_EBADBLOB;
	}
	return 0;
}

/* The blob for a guest whose vCPU, devices and dirty pages were captured. */
static int encode(const struct pvm_guest *g, const struct hv_blob *hvm, const struct hv_blob *emu,
                  const struct hv_blob *store, const struct hv_pfn_list *dirty,
                  struct hv_blob *out, struct remus_err *err)
{
	size_t len = HO_HDR + hvm->len + emu->len + store->len + 8 * dirty->count;
	uint8_t *p = malloc(len);

	if (p == NULL)
		return remus_err_sys(err, ENOMEM, "pvm hand-off: blob of %zu bytes", len);
	put_le32(p, HO_MAGIC);
	put_le32(p + 4, HO_VERSION);
	put_le32(p + 8, (uint32_t)g->pid);
	put_le32(p + 12, g->dirty_mode == HV_DIRTY_EXACT ? HO_F_EXACT : 0);
	put_le64(p + 16, g->ram_bytes);
	put_le64(p + 24, (uint64_t)g->mono_offset);
	put_le32(p + 32, (uint32_t)hvm->len);
	put_le32(p + 36, (uint32_t)emu->len);
	put_le32(p + 40, (uint32_t)dirty->count);
	put_le32(p + 44, (uint32_t)store->len);
	memcpy(p + HO_HDR, hvm->data, hvm->len);
	memcpy(p + HO_HDR + hvm->len, emu->data, emu->len);
	if (store->len)
		memcpy(p + HO_HDR + hvm->len + emu->len, store->data, store->len);
	for (size_t i = 0; i < dirty->count; i++)       /* dirty_log lists ascend */
		put_le64(p + HO_HDR + hvm->len + emu->len + store->len + 8 * i, dirty->pfns[i]);
	hv_blob_free(out);
	out->data = p;
	out->len = out->cap = len;
	return 0;
}

/* Monitor thread: leave the stopped guest stopped and untraced. */
int pvm_handoff_detach(struct pvm_guest *g, struct remus_err *err)
{
	if (g->run != PVM_R_PAUSED || !g->stopped || g->pid <= 0)
		return remus_err_set(err, HV_EBADSTATE, "pvm: hand_off: guest not paused");
	if (kill(g->pid, SIGSTOP) < 0)
		return remus_err_sys(err, errno, "pvm: hand_off: SIGSTOP to guest %d", g->pid);
	if (ptrace(PTRACE_DETACH, g->pid, 0, 0) < 0)     /* the pending SIGSTOP is
		                                           * swallowed if it stays ours */
		return remus_err_sys(err, errno, "pvm: hand_off: PTRACE_DETACH guest %d", g->pid);
	g->pid = 0;
	g->stopped = false;
	g->run = PVM_R_DEAD;
	return 0;
}

int pvm_hand_off(struct hv_guest *hg, struct hv_handoff *out, struct remus_err *err)
{
	struct pvm_guest *g = (struct pvm_guest *)hg;
	struct hv_blob hvm = { 0 }, emu = { 0 }, store = { 0 };
	struct hv_pfn_list dirty = { 0 };
	struct hv_info in;
	int rc;

	for (int i = 0; i < HV_HANDOFF_FDS; i++)
		out->fd[i] = -1;
	out->blob = (struct hv_blob){ 0 };
	if (g->cow)
		return remus_err_set(err, HV_EUNSUPP, "pvm: hand_off: a copy-on-write guest's "
		                     "userfaultfd cannot change process");
	pvm_hv_ops.info(hg, &in);
	if (in.state != HV_PAUSED)
		return remus_err_set(err, HV_EBADSTATE, "pvm: hand_off: guest %s is not paused", g->name);
	/* the dirty set first: if anything after fails, its pages must still
	 * be reported, so they go back into the monitor's bitmap */
	if ((rc = pvm_post(g, PVM_CMD_DIRTY, &dirty, err)) < 0)
		goto out;
	if ((rc = pvm_hv_ops.save_cpu(hg, &hvm, err)) < 0 ||
	    (rc = pvm_hv_ops.save_devices(hg, &emu, err)) < 0 ||
	    (g->store != NULL && (rc = pvm_post(g, PVM_CMD_STORE_SAVE, &store, err)) < 0) ||
	    (rc = encode(g, &hvm, &emu, &store, &dirty, &out->blob, err)) < 0)
		goto undo;
	int fds[HV_HANDOFF_FDS] = { g->ram_fd, g->tap_fd, g->disk_fd };
	for (int i = 0; i < HV_HANDOFF_FDS; i++)
		if (fds[i] >= 0 && (out->fd[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3)) < 0) {
			rc = remus_err_sys(err, errno, "pvm: hand_off: dup descriptor");
			goto undo;
		}
	if ((rc = pvm_post(g, PVM_CMD_HANDOFF, NULL, err)) < 0)
		goto undo;
	pthread_join(g->thread, NULL);
	g->thread_started = false;
	pvm_destroy(hg);                /* the guest process is not ours any more */
	rc = 0;
	goto out;
undo:
	for (size_t i = 0; i < dirty.count; i++)
		pvm_dirty_mark(g, dirty.pfns[i] * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
	hv_handoff_free(out);
out:
	hv_blob_free(&hvm);
	hv_blob_free(&emu);
	hv_blob_free(&store);
	hv_pfn_list_free(&dirty);
	return rc;
}

/* Is pid the process that maps ram_fd's file at the RAM base?  A hand-off
 * blob names a pid; only the guest it was given the RAM of is adopted. */
static int check_identity(pid_t pid, int ram_fd, struct remus_err *err)
{
	char path[64], line[512], want[32];
	struct stat sb;
	bool found = false;
	FILE *f;

	if (fstat(ram_fd, &sb) < 0)
		return remus_err_sys(err, errno, "pvm: adopt: stat RAM descriptor");
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	snprintf(want, sizeof(want), "%llx-", (unsigned long long)PVM_RAM_BASE);
	if ((f = fopen(path, "re")) == NULL)
		return remus_err_sys(err, errno, "pvm: adopt: guest process %d", pid);
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		unsigned long long ino = 0;
		if (strncmp(line, want, strlen(want)) == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %llu", &ino) == 1 && ino == (unsigned long long)sb.st_ino)
			found = true;
	}
	fclose(f);
	if (!found)
		return remus_err_set(err, HV_EBADSTATE, "pvm: adopt: process %d does not map the "
		                     "guest's RAM at the RAM base: not the handed-off guest", pid);
	return 0;
}

/* Monitor thread: become the guest's tracer and hold it in a ptrace-stop. */
int pvm_adopt_seize(struct pvm_guest *g, struct remus_err *err)
{
	pid_t pid = g->adopt_pid;
	char path[64];
	int st;

	if (ptrace(PTRACE_SEIZE, pid, 0, PTRACE_O_TRACESYSGOOD) < 0)
		return remus_err_sys(err, errno, "pvm: adopt: PTRACE_SEIZE guest %d", pid);
	/* stopped: the seize traps it already; stopping (SIGSTOP pending): it
	 * stops on delivery; this makes sure either way (an extra trap later
	 * is a stop the monitor swallows) */
	if (ptrace(PTRACE_INTERRUPT, pid, 0, 0) < 0) {
		int e = errno;
		ptrace(PTRACE_DETACH, pid, 0, 0);
		return remus_err_sys(err, e, "pvm: adopt: PTRACE_INTERRUPT guest %d", pid);
	}
	while (waitpid(pid, &st, __WALL) < 0)
		if (errno != EINTR)
			return remus_err_sys(err, errno, "pvm: adopt: wait for guest %d", pid);
	if (!WIFSTOPPED(st))
		return remus_err_set(err, HV_ECRASHED, "pvm: adopt: guest %d ended (status %#x)", pid, st);
	g->pid = pid;
	g->stopped = true;
	g->run = PVM_R_PAUSED;
	g->paused_in_wait = false;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	if ((g->pagemap_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return remus_err_sys(err, errno, "pvm: adopt: open %s", path);
	return 0;
}

/* Monitor thread, before an adopted guest first runs: from now on it dies
 * with its tracer. */
int pvm_adopt_arm(struct pvm_guest *g, struct remus_err *err)
{
	if (ptrace(PTRACE_SETOPTIONS, g->pid, 0, PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD) < 0)
		return remus_err_sys(err, errno, "pvm: PTRACE_SETOPTIONS EXITKILL on guest %d", g->pid);
	g->exitkill = true;
	return 0;
}

/* Take the descriptors a hand-off passed (duplicates; RAM is checked). */
static int take_fds(struct pvm_guest *g, const struct hv_handoff *in, struct remus_err *err)
{
	struct stat sb;

	if (in->fd[HV_HFD_RAM] < 0)
		return remus_err_set(err, -EINVAL, "pvm: adopt: no RAM descriptor");
	if ((g->ram_fd = fcntl(in->fd[HV_HFD_RAM], F_DUPFD_CLOEXEC, 3)) < 0)
		return remus_err_sys(err, errno, "pvm: adopt: dup RAM descriptor");
	if (fstat(g->ram_fd, &sb) < 0 || (uint64_t)sb.st_size < g->ram_bytes)
		return remus_err_set(err, -EINVAL, "pvm: adopt: RAM descriptor smaller than %" PRIu64
		                     " bytes", g->ram_bytes);
	if (in->fd[HV_HFD_TAP] >= 0 && (g->tap_fd = fcntl(in->fd[HV_HFD_TAP], F_DUPFD_CLOEXEC, 3)) < 0)
		return remus_err_sys(err, errno, "pvm: adopt: dup TAP descriptor");
	if (in->fd[HV_HFD_DISK] >= 0) {
		if ((g->disk_fd = fcntl(in->fd[HV_HFD_DISK], F_DUPFD_CLOEXEC, 3)) < 0 ||
		    fstat(g->disk_fd, &sb) < 0)
			return remus_err_sys(err, errno, "pvm: adopt: disk descriptor");
		g->emu.disk_sectors = (uint64_t)sb.st_size / PVM_SECTOR_SIZE;
	}
	return 0;
}

int pvm_adopt(const struct hv_guest_config *cfg, const struct hv_handoff *in,
              struct hv_guest **out, struct remus_err *err)
{
	struct hv_guest_config c = *cfg;
	struct pvm_handoff_info h;
	struct pvm_guest *g = NULL;
	struct pvm_vcpu *v = malloc(sizeof(*v));
	struct pvm_emu e = { 0 };
	int rc;

	*out = NULL;
	if (v == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: adopt");
	if ((rc = pvm_handoff_decode(in->blob.data, in->blob.len, &h, err)) ||
	    (rc = pvm_cpu_decode(h.hvm, h.hvm_len, v, err)) ||
	    (rc = pvm_emu_decode(h.emu, h.emu_len, &e, err)))
		goto err;
	c.tap = c.disk = NULL;          /* the handed-off descriptors instead */
	c.cow_capture = false;
	if ((rc = pvm_guest_alloc(&c, h.ram_bytes, &g, err)) || (rc = take_fds(g, in, err)) ||
	    (rc = check_identity((pid_t)h.pid, g->ram_fd, err)) || (rc = pvm_map_ram(g, err)) ||
	    (rc = pvm_dirty_init(g, h.exact, err)))
		goto err;
	if ((g->dirty_mode == HV_DIRTY_EXACT) != h.exact) {
		rc = remus_err_set(err, HV_EUNSUPP, "pvm: adopt: the guest's dirty log is %s, this "
		                   "process cannot keep it so", h.exact ? "exact" : "hashed");
		goto err;
	}
	rc = h.store_len ? pvm_store_load(PVM_STORE_GUEST_DOMID, h.store, h.store_len, &g->store, err)
	                 : pvm_store_new(PVM_STORE_GUEST_DOMID, &g->store, err);
	if (rc < 0)
		goto err;
	uint64_t disk = g->emu.disk_sectors;
	pvm_take_emu(g, &e);
	g->emu.disk_sectors = disk;
	g->emu.boot_count = e.boot_count;       /* the same run, not a restore */
	g->mono_offset = h.mono_offset;         /* the same host clock */
	for (uint32_t i = 0; i < h.ndirty; i++)
		pvm_dirty_mark(g, get_le64(h.dirty + 8 * (size_t)i) * PVM_PAGE_SIZE, PVM_PAGE_SIZE);
	g->vcpu_in = v;
	v = NULL;
	g->adopt_pid = (pid_t)h.pid;
	g->started = true;              /* it ran already: start() would be wrong */
	g->state = HV_PAUSED;
	if ((rc = pvm_start_monitor(g, PVM_CMD_ADOPT, err)) ||
	    (rc = pvm_post(g, PVM_CMD_SETCPU, g->vcpu_in, err)))
		goto err;
	pvm_emu_free(&e);
	*out = (struct hv_guest *)g;
	return 0;
err:
	/* seized but not loaded: leave it stopped again, for another try */
	if (g != NULL && g->pid > 0 && pvm_post(g, PVM_CMD_HANDOFF, NULL, NULL) == 0) {
		pthread_join(g->thread, NULL);
		g->thread_started = false;
	}
	free(v);
	pvm_emu_free(&e);
	pvm_destroy((struct hv_guest *)g);
	return rc;
}
