/*
 * The device model (QEMU, "qemu-xen") of an HVM domain on the primary, as
 * libxl 4.17 drives it during a Remus save:
 *  - switch_qemu_logdirty: xen-set-global-dirty-log {enable}
 *    (libxl_dom_save.c);
 *  - suspend, once the guest is suspended: "stop", then the device state
 *    into a file: libxl opens it and passes it with add-fd, then
 *    xen-save-devices-state {filename: /dev/fdset/N, live}
 *    (libxl_qmp.c, libxl__qmp_suspend_save);
 *  - resume: "cont" before xc_domain_resume (libxl_dom_suspend.c);
 *  - each checkpoint's libxl records before CHECKPOINT_END: the device
 *    model's physmap xenstore entries (EMULATOR_XENSTORE_DATA, only when
 *    there are some) and the saved state (EMULATOR_CONTEXT), both as
 *    emulator qemu-upstream index 0 (libxl_stream_write.c).
 * Differences, on purpose: the state lands in an anonymous memfd (no file
 * under /var/lib/xen to clean up), emptied before each save (libxl reopens
 * its file without O_TRUNC), the fd set is removed after each save (one
 * connection serves every checkpoint), and "live" is false: libxl passes
 * true (dss->live = 1 in libxl_remus.c), which makes QEMU inactivate the
 * disks after the save only for "cont" to reactivate them; the primary's
 * QEMU keeps its disks, so we skip that round trip.
 */
#include "hv/xen/xen.h"
#include "hv/xen/xen_impl.h"
#include "hv/xen/xen_qmp.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct xen_emu {
	struct xen_qmp *qmp;
	int state_fd;              /* memfd QEMU's device state is saved into */
	uint8_t *state;            /* its bytes after the last save */
	size_t state_len, state_cap;
	bool stopped;              /* "stop" sent, no "cont" yet */
};

/* The QMP socket libxl gives QEMU for a domain (libxl_dm.c). */
static void emu_qmp_path(const struct hv_guest *g, char *path, size_t size)
{
	snprintf(path, size, "%s/qmp-libxl-%u", g->qmp_dir[0] ? g->qmp_dir : XEN_RUN_DIR,
	    g->domid);
}

int xen_emu_open(struct hv_guest *g, struct remus_err *err)
{
	struct xen_emu *e = calloc(1, sizeof(*e));
	char path[128];
	int rc;

	if (e == NULL)
		return remus_err_sys(err, ENOMEM, "device model: allocating its state");
	e->state_fd = memfd_create("remus-qemu-state", MFD_CLOEXEC);
	if (e->state_fd < 0) {
		rc = remus_err_sys(err, errno, "device model: memfd for QEMU's device state");
		goto err;
	}
	emu_qmp_path(g, path, sizeof(path));
	if ((rc = xen_qmp_connect(&e->qmp, path, err)) < 0) {
		remus_err_wrap(err, "device model of domain %u", g->domid);
		goto err;
	}
	g->emu = e;
	return 0;
err:
	if (e->state_fd >= 0)
		close(e->state_fd);
	free(e);
	return rc;
}

void xen_emu_close(struct hv_guest *g)
{
	struct xen_emu *e = g->emu;

	if (e == NULL)
		return;
	xen_qmp_close(e->qmp);
	close(e->state_fd);
	free(e->state);
	free(e);
	g->emu = NULL;
}

int xen_emu_logdirty(struct hv_guest *g, bool enable, struct remus_err *err)
{
	struct json_object *args = json_object_new_object();

	if (args == NULL || json_object_object_add(args, "enable", json_object_new_boolean(enable))) {
		json_object_put(args);
		return remus_err_sys(err, ENOMEM, "device model: building the log-dirty switch");
	}
	if (xen_qmp_exec(g->emu->qmp, "xen-set-global-dirty-log", args, -1, NULL, err) < 0)
		return remus_err_wrap(err, "device model: switching its log-dirty mode %s",
		    enable ? "on" : "off");
	return 0;
}

/* Pass a fresh write-only descriptor of the (emptied) memfd to QEMU: the
 * fd set's id.  QEMU picks an fd of a set by its access mode (O_WRONLY for
 * the save), so the memfd is reopened write-only. */
static int emu_add_state_fd(struct xen_emu *e, int64_t *fdset, struct remus_err *err)
{
	struct json_object *ret = NULL, *id;
	char self[64];
	int wfd, rc;

	if (ftruncate(e->state_fd, 0) != 0)
		return remus_err_sys(err, errno, "device model: emptying the state memfd");
	snprintf(self, sizeof(self), "/proc/self/fd/%d", e->state_fd);
	if ((wfd = open(self, O_WRONLY | O_CLOEXEC)) < 0)
		return remus_err_sys(err, errno, "device model: reopening the state memfd write-only");
	rc = xen_qmp_exec(e->qmp, "add-fd", NULL, wfd, &ret, err);
	close(wfd);
	if (rc < 0)
		return rc;
	if (!json_object_is_type(ret, json_type_object) ||
	    !json_object_object_get_ex(ret, "fdset-id", &id) || !json_object_is_type(id, json_type_int) ||
	    json_object_get_int64(id) < 0) {
		json_object_put(ret);
		return remus_err_set(err, XEN_QMP_EPROTO, "qmp: add-fd returned no fdset-id");
	}
	*fdset = json_object_get_int64(id);
	json_object_put(ret);
	return 0;
}

static int emu_save_to_fdset(struct xen_emu *e, int64_t fdset, struct remus_err *err)
{
	struct json_object *args = json_object_new_object();
	char name[48];

	snprintf(name, sizeof(name), "/dev/fdset/%lld", (long long)fdset);
	if (args == NULL || json_object_object_add(args, "filename", json_object_new_string(name)) ||
	    (xen_qmp_version_at_least(e->qmp, 2, 11, 0) &&
	    json_object_object_add(args, "live", json_object_new_boolean(0)))) {
		json_object_put(args);
		return remus_err_sys(err, ENOMEM, "device model: building xen-save-devices-state");
	}
	return xen_qmp_exec(e->qmp, "xen-save-devices-state", args, -1, NULL, err);
}

static int emu_remove_fdset(struct xen_emu *e, int64_t fdset, struct remus_err *err)
{
	struct json_object *args = json_object_new_object();

	if (args == NULL || json_object_object_add(args, "fdset-id", json_object_new_int64(fdset))) {
		json_object_put(args);
		return remus_err_sys(err, ENOMEM, "device model: building remove-fd");
	}
	return xen_qmp_exec(e->qmp, "remove-fd", args, -1, NULL, err);
}

/* Read the saved state back: a bounded, non-empty QEMU device-state file
 * (it starts with QEMU_VM_FILE_MAGIC, "QEVM"). */
static int emu_read_state(struct xen_emu *e, struct remus_err *err)
{
	struct stat st;
	size_t got = 0;
	ssize_t n;

	if (fstat(e->state_fd, &st) != 0)
		return remus_err_sys(err, errno, "device model: fstat of the state memfd");
	if (st.st_size < 4 || (uint64_t)st.st_size > XEN_EMU_MAX_STATE)
		return remus_err_set(err, -EPROTO,
		    "device model: QEMU saved %lld bytes of device state (expected 4 .. %u)",
		    (long long)st.st_size, XEN_EMU_MAX_STATE);
	if ((size_t)st.st_size > e->state_cap) {
		uint8_t *p = realloc(e->state, (size_t)st.st_size);

		if (p == NULL)
			return remus_err_sys(err, ENOMEM, "device model: %lld bytes of device state",
			    (long long)st.st_size);
		e->state = p;
		e->state_cap = (size_t)st.st_size;
	}
	while (got < (size_t)st.st_size) {
		n = pread(e->state_fd, e->state + got, (size_t)st.st_size - got, (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return remus_err_sys(err, n < 0 ? errno : EIO, "device model: reading the saved state");
		got += (size_t)n;
	}
	if (memcmp(e->state, "QEVM", 4) != 0)
		return remus_err_set(err, -EPROTO,
		    "device model: the saved device state does not start with QEMU's magic QEVM");
	e->state_len = got;
	return 0;
}

int xen_emu_suspend(struct hv_guest *g, struct remus_err *err)
{
	struct xen_emu *e = g->emu;
	struct remus_err rerr = { 0 };
	int64_t fdset = -1;
	int rc;

	e->state_len = 0;
	rc = xen_qmp_exec(e->qmp, "stop", NULL, -1, NULL, err);
	/* unless QEMU refused it, it may have stopped: "cont" goes out anyway
	 * (harmless on a running QEMU) */
	if (rc != XEN_QMP_ECMD)
		e->stopped = true;
	if (rc < 0)
		goto err;
	if ((rc = emu_add_state_fd(e, &fdset, err)) < 0)
		goto err;
	rc = emu_save_to_fdset(e, fdset, err);
	if (emu_remove_fdset(e, fdset, &rerr) < 0 && rc == 0) {
		*err = rerr;
		rc = rerr.code;
	}
	if (rc < 0 || (rc = emu_read_state(e, err)) < 0)
		goto err;
	return 0;
err:
	return remus_err_wrap(err, "saving the device model of domain %u", g->domid);
}

int xen_emu_resume(struct hv_guest *g, struct remus_err *err)
{
	struct xen_emu *e = g->emu;

	if (e == NULL || !e->stopped)
		return 0;
	if (xen_qmp_exec(e->qmp, "cont", NULL, -1, NULL, err) < 0)
		return remus_err_wrap(err, "resuming the device model of domain %u", g->domid);
	e->stopped = false;
	return 0;
}

/* The kv list of the device model's physmap entries, as libxl collects
 * them (libxl__save_emulator_xenstore_data): for each entry of
 * /local/domain/0/device-model/<domid>/physmap its start_addr, size and
 * name, keys relative to the device model's directory; none = no record. */
struct emu_physmap {
	struct stream_kv kv[XEN_EMU_MAX_PHYSMAP * 3];
	char *owned[XEN_EMU_MAX_PHYSMAP * 3 * 2];
	size_t n;
};

static void emu_physmap_free(struct emu_physmap *pm)
{
	for (size_t i = 0; i < pm->n * 2; i++)
		free(pm->owned[i]);
	pm->n = 0;
}

static int emu_physmap_read(struct hv_guest *g, struct emu_physmap *pm, struct remus_err *err)
{
	static const char *const subkeys[3] = { "start_addr", "size", "name" };
	char dir[96], path[256], key[160];
	unsigned nent = 0, len;
	char **ent;
	int rc = 0;

	snprintf(dir, sizeof(dir), "/local/domain/0/device-model/%u", g->domid);
	snprintf(path, sizeof(path), "%s/physmap", dir);
	if ((ent = xs_directory(g->xsh, XBT_NULL, path, &nent)) == NULL)
		return 0;
	if (nent > XEN_EMU_MAX_PHYSMAP) {
		rc = remus_err_set(err, -E2BIG, "device model: %u physmap entries in %s (at most %u)",
		    nent, path, XEN_EMU_MAX_PHYSMAP);
		goto out;
	}
	for (unsigned i = 0; i < nent; i++) {
		for (unsigned j = 0; j < 3; j++) {
			char *v;

			snprintf(key, sizeof(key), "physmap/%.64s/%s", ent[i], subkeys[j]);
			snprintf(path, sizeof(path), "%s/%s", dir, key);
			if ((v = xs_read(g->xsh, XBT_NULL, path, &len)) == NULL) {
				rc = remus_err_sys(err, errno, "device model: reading %s", path);
				goto out;
			}
			if (strlen(v) != len) {
				free(v);
				rc = remus_err_set(err, -EPROTO, "device model: %s holds a NUL byte", path);
				goto out;
			}
			pm->owned[pm->n * 2] = v;
			if ((pm->owned[pm->n * 2 + 1] = strdup(key)) == NULL) {
				pm->n++;
				rc = remus_err_sys(err, ENOMEM, "device model: physmap key");
				goto out;
			}
			pm->kv[pm->n].key = pm->owned[pm->n * 2 + 1];
			pm->kv[pm->n].value = v;
			pm->n++;
		}
	}
out:
	free(ent);
	return rc;
}

int xen_emu_put_records(struct hv_guest *g, struct stream_buf *b, struct remus_err *err)
{
	struct xen_emu *e = g->emu;
	struct emu_physmap *pm = calloc(1, sizeof(*pm));
	int rc;

	if (pm == NULL)
		return remus_err_sys(err, ENOMEM, "device model: physmap list");
	if (e->state_len == 0) {
		rc = remus_err_set(err, -EPROTO, "device model: no saved state for this checkpoint");
		goto out;
	}
	if ((rc = emu_physmap_read(g, pm, err)) < 0)
		goto out;
	if (pm->n > 0 && (rc = stream_put_emulator_xenstore_data(b, STREAM_EMU_QEMU_UPSTREAM, 0,
	    pm->kv, pm->n)) < 0) {
		remus_err_set(err, rc, "device model: encoding EMULATOR_XENSTORE_DATA");
		goto out;
	}
	if ((rc = stream_put_emulator_context(b, STREAM_EMU_QEMU_UPSTREAM, 0, e->state,
	    e->state_len, STREAM_REF)) < 0)
		remus_err_set(err, rc, "device model: encoding EMULATOR_CONTEXT (%zu bytes)", e->state_len);
out:
	emu_physmap_free(pm);
	free(pm);
	return rc;
}

/*
 * Backup side.  A checkpoint carrying a device model's state cannot be
 * honoured by our hand-built replica: libxl starts QEMU for a restored
 * domain only inside libxl_domain_create_restore (libxl_dm.c builds its
 * command line from the domain config and adds "-incoming fd:N" with the
 * saved state, after writing the physmap keys), which also runs its own
 * xc_domain_restore on the whole stream; no public libxl/libxc call
 * attaches a device model to a domain built otherwise (docs/xen.md).  So
 * the first such checkpoint ends the protection with this error instead of
 * being acknowledged: a failover without device state would resume a guest
 * whose emulated devices are gone.
 */
int xen_emu_refuse_restore(const struct stream_ckpt *ck, struct remus_err *err)
{
	const struct stream_blob *b = stream_ckpt_blob(ck, STREAM_XL_EMULATOR_CONTEXT, UINT32_MAX);

	if (b == NULL)
		b = stream_ckpt_blob(ck, STREAM_XL_EMULATOR_XENSTORE_DATA, UINT32_MAX);
	if (b == NULL)
		return 0;
	return remus_err_set(err, HV_EUNSUPP,
	    "restore: checkpoint %llu carries a device model's state (emulator %u, %s) but came without xl's header naming the guest's configuration: a replica built here cannot restart QEMU from it (remusd's backup restores such guests through libxl when the primary sends that header, as remusd does)",
	    (unsigned long long)ck->seq, b->id,
	    b->type == STREAM_XL_EMULATOR_CONTEXT ? "EMULATOR_CONTEXT" : "EMULATOR_XENSTORE_DATA");
}
