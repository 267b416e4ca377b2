/* The fake Xen host behind the --wrap'ed libxc/libxenguest/xenstore calls
 * (see test_xen_fake.h).  The fake save/restore loops follow libxc 4.17's
 * order of callbacks and return-code rules (xg_sr_save.c, xg_sr_restore.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <libxl.h>

#include "test_xen_fake.h"

struct fake_xen fake;

enum { F_OPEN, F_XS_OPEN, F_GETINFO, F_SHUTDOWN, F_RESUME, F_SAVE, F_RESTORE,
	F_CREATE, F_MAXMEM, F_EVTCHN, F_INTRODUCE, F_XS_READ, F_XS_WRITE,
	F_XS_PERMS, F_XS_DIR, F_TX_END, F_PHYSINFO, F_MAX_VCPUS, F_PAGING, F_XS_SETPERMS,
	F_LIBXL_CTX, F_JSON, F_USERDATA, F_DISK_ADD, F_NIC_ADD, F_XS_RESUME, F_DOM_DESTROY,
	F_CREATE_RESTORE, F_NFN };
static const char *const fn_names[F_NFN] = {
	"xc_interface_open", "xs_open", "xc_domain_getinfo", "xc_domain_shutdown",
	"xc_domain_resume", "xc_domain_save", "xc_domain_restore", "xc_domain_create",
	"xc_domain_setmaxmem", "xc_evtchn_alloc_unbound", "xs_introduce_domain",
	"xs_read", "xs_write", "xs_get_permissions", "xs_directory", "xs_transaction_end",
	"xc_physinfo", "xc_domain_max_vcpus", "xc_set_paging_mempool_size", "xs_set_permissions",
	"libxl_ctx_alloc", "libxl_domain_config_from_json", "libxl_userdata_store",
	"libxl_device_disk_add", "libxl_device_nic_add", "xs_resume_domain", "libxl_domain_destroy",
	"libxl_domain_create_restore",
};

void fake_reset(void)
{
	free(fake.libxl_restore_data);
	memset(&fake, 0, sizeof(fake));
	fake.domid = 5;
	fake.exists = true;
	fake.hvm = true;
	fake.created_domid = 9;
	fake.json_max_memkb = 131072;
}

/* Whether this call of fn is the one told to fail (sets errno). */
static bool should_fail(int fn)
{
	fake.calls[fn]++;
	if (fake.fail.fn != NULL && strcmp(fake.fail.fn, fn_names[fn]) == 0 &&
	    fake.calls[fn] == (fake.fail.nth ? fake.fail.nth : 1)) {
		errno = fake.fail.err ? fake.fail.err : EIO;
		return true;
	}
	return false;
}

int fake_calls(const char *fn)
{
	for (int i = 0; i < F_NFN; i++)
		if (strcmp(fn_names[i], fn) == 0)
			return fake.calls[i];
	abort();
}

void fake_set_node(const char *path, const char *value, unsigned owner,
    unsigned other_id, unsigned other_perm)
{
	struct fake_node *n = (struct fake_node *)fake_get_node(path);

	if (n == NULL) {
		if (fake.nnodes >= FAKE_MAX_NODES)
			abort();
		n = &fake.nodes[fake.nnodes++];
	}
	snprintf(n->path, sizeof(n->path), "%s", path);
	snprintf(n->value, sizeof(n->value), "%s", value);
	n->owner = owner;
	n->other_id = other_id;
	n->other_perm = other_perm;
}

const struct fake_node *fake_get_node(const char *path)
{
	for (int i = 0; i < fake.nnodes; i++)
		if (strcmp(fake.nodes[i].path, path) == 0)
			return &fake.nodes[i];
	return NULL;
}

/* ---- libxc handles and domains ---------------------------------------- */

xc_interface *__wrap_xc_interface_open(xentoollog_logger *l, xentoollog_logger *d, unsigned f)
{
	(void)l; (void)d; (void)f;
	if (should_fail(F_OPEN))
		return NULL;
	fake.xc_open++;
	return malloc(8);
}

int __wrap_xc_interface_close(xc_interface *xch)
{
	fake.xc_open--;
	free(xch);
	return 0;
}

int __wrap_xc_domain_getinfo(xc_interface *xch, uint32_t first, unsigned max, xc_dominfo_t *info)
{
	(void)xch; (void)max;
	if (should_fail(F_GETINFO))
		return -1;
	memset(info, 0, sizeof(*info));
	if (!fake.exists || first > fake.domid) {
		errno = ESRCH;
		return 0;
	}
	info->domid = fake.domid;
	info->hvm = fake.hvm;
	info->crashed = fake.crashed;
	info->paused = fake.paused;
	info->shutdown = fake.suspended;
	info->shutdown_reason = fake.suspended ? SHUTDOWN_suspend : 0;
	info->nr_pages = 32768;
	info->max_memkb = 131072;
	return 1;
}

int __wrap_xc_domain_shutdown(xc_interface *xch, uint32_t domid, int reason)
{
	(void)xch;
	if (should_fail(F_SHUTDOWN))
		return -1;
	if (domid != fake.domid || reason != SHUTDOWN_suspend)
		return errno = EINVAL, -1;
	if (fake.never_suspends)
		fake.crashed = true;
	else
		fake.suspended = true;
	return 0;
}

int __wrap_xc_domain_resume(xc_interface *xch, uint32_t domid, int fast)
{
	(void)xch;
	if (should_fail(F_RESUME))
		return -1;
	/* The fast resume rewrites the return value of the guest's suspend
	 * hypercall: only right for a guest that made one, and vice versa. */
	if (domid != fake.domid || (fast != 0) != fake.coop_suspended)
		return errno = EINVAL, -1;
	fake.suspended = fake.coop_suspended = false;
	if (fast)
		fake.fast_resumes++;
	else
		fake.slow_resumes++;
	return 0;
}

int __wrap_xc_domain_pause(xc_interface *xch, uint32_t domid)
{
	(void)xch; (void)domid;
	fake.paused = true;
	return 0;
}

int __wrap_xc_domain_unpause(xc_interface *xch, uint32_t domid)
{
	(void)xch; (void)domid;
	fake.paused = false;
	fake.unpauses++;
	return 0;
}

int __wrap_xc_domain_create(xc_interface *xch, uint32_t *domid, struct xen_domctl_createdomain *c)
{
	(void)xch;
	if (should_fail(F_CREATE))
		return -1;
	if (!(c->flags & XEN_DOMCTL_CDF_hvm))
		return errno = EINVAL, -1;
	*domid = fake.created_domid;
	fake.domid = fake.created_domid;
	fake.exists = true;
	fake.paused = true;
	fake.domains_created++;
	return 0;
}

int __wrap_xc_domain_destroy(xc_interface *xch, uint32_t domid)
{
	(void)xch;
	if (domid == fake.domid)
		fake.exists = false;
	fake.domains_destroyed++;
	return 0;
}

int __wrap_xc_domain_setmaxmem(xc_interface *xch, uint32_t domid, uint64_t kb)
{
	(void)xch; (void)domid; (void)kb;
	return should_fail(F_MAXMEM) ? -1 : 0;
}

int __wrap_xc_domain_max_vcpus(xc_interface *xch, uint32_t domid, unsigned max)
{
	(void)xch; (void)domid;
	if (should_fail(F_MAX_VCPUS))
		return -1;
	fake.max_vcpus = max;
	return 0;
}

int __wrap_xc_set_paging_mempool_size(xc_interface *xch, uint32_t domid, uint64_t size)
{
	(void)xch; (void)domid;
	if (should_fail(F_PAGING))
		return -1;
	fake.paging_pool_bytes = size;
	return 0;
}

int __wrap_xc_evtchn_alloc_unbound(xc_interface *xch, uint32_t dom, uint32_t remote)
{
	(void)xch; (void)dom; (void)remote;
	return should_fail(F_EVTCHN) ? -1 : 3 + fake.calls[F_EVTCHN];
}

int __wrap_xc_physinfo(xc_interface *xch, xc_physinfo_t *info)
{
	(void)xch;
	if (should_fail(F_PHYSINFO))
		return -1;
	memset(info, 0, sizeof(*info));
	info->capabilities = XEN_SYSCTL_PHYSCAP_hap |
	    (fake.shadow_paging ? XEN_SYSCTL_PHYSCAP_shadow : 0);
	return 0;
}

/* ---- libxenguest: the save/restore loops ------------------------------- */

/* One checkpoint's "libxc records": a fixed chunk naming the checkpoint. */
static int put_chunk(int fd, int n)
{
	char chunk[FAKE_CHUNK + 16];

	memset(chunk, 0, sizeof(chunk));
	snprintf(chunk, sizeof(chunk), "XC-CKPT-%d", n);
	return write(fd, chunk, FAKE_CHUNK) == FAKE_CHUNK ? 0 : -1;
}

int __wrap_xc_domain_save(xc_interface *xch, int fd, uint32_t dom, uint32_t flags,
    struct save_callbacks *cb, xc_stream_type_t type, int recv_fd)
{
	int rc;

	(void)xch; (void)flags; (void)recv_fd;
	if (should_fail(F_SAVE))
		return -1;
	if (type != XC_STREAM_REMUS || dom != fake.domid || !cb->postcopy || !cb->checkpoint ||
	    (fake.hvm && !cb->switch_qemu_logdirty))
		return errno = EINVAL, -1;
	if (cb->switch_qemu_logdirty(dom, 1, cb->data) != 0)
		return -1;
	for (;;) {
		if (!cb->suspend(cb->data)) {
			rc = -1;                        /* "Guest failed to suspend" */
			break;
		}
		if (!fake.suspended || (fake.put_libxc ? fake.put_libxc(fd, fake.save_checkpoints + 1) :
		                        put_chunk(fd, fake.save_checkpoints + 1)) < 0) {
			rc = -1;                        /* "Domain has not been suspended" */
			break;
		}
		if ((rc = cb->postcopy(cb->data)) <= 0)
			break;
		fake.save_checkpoints++;
		if ((rc = cb->checkpoint(cb->data)) <= 0)
			break;
	}
	/* libxc's HVM cleanup switches QEMU's log-dirty mode off again. */
	if (cb->switch_qemu_logdirty(dom, 0, cb->data) != 0)
		rc = -1;
	return rc;
}

/* The next checkpoint's libxc records, read as libxc reads them (record
 * by record: END is 8 bytes, a chunk 16): 1 a checkpoint (its callback
 * follows), 2 END, 0 the stream stopped. */
static int next_checkpoint(int fd)
{
	static const char end[8];   /* libxc END: type 0, length 0 */
	char chunk[FAKE_CHUNK];
	ssize_t n;

	if (fake.read_libxc != NULL)
		return fake.read_libxc(fd);
	n = read(fd, chunk, sizeof(end));
	if (n == (ssize_t)sizeof(end) && memcmp(chunk, end, sizeof(end)) == 0)
		return 2;
	if (n == (ssize_t)sizeof(end))
		n += read(fd, chunk + sizeof(end), sizeof(chunk) - sizeof(end));
	return n == (ssize_t)sizeof(chunk);
}

int __wrap_xc_domain_restore(xc_interface *xch, int fd, uint32_t dom,
    unsigned store_evtchn, unsigned long *store_mfn, uint32_t store_domid,
    unsigned console_evtchn, unsigned long *console_mfn, uint32_t console_domid,
    xc_stream_type_t type, struct restore_callbacks *cb, int send_back_fd)
{
	(void)xch; (void)store_evtchn; (void)store_domid; (void)console_evtchn;
	(void)console_domid; (void)send_back_fd;
	if (should_fail(F_RESTORE))
		return -1;
	if (type != XC_STREAM_REMUS || dom != fake.domid || cb == NULL || !cb->checkpoint)
		return errno = EINVAL, -1;
	for (;;) {
		int rr = next_checkpoint(fd);

		if (rr == 2)
			fake.restore_saw_end = true;    /* stream complete at this checkpoint */
		if (rr != 1)
			break;                          /* END, or EOF / short: failover if >= 1 */
		fake.restore_result = cb->checkpoint(cb->data);
		if (fake.restore_result == XGR_CHECKPOINT_ERROR)
			return errno = EIO, -1;
		if (fake.restore_result == XGR_CHECKPOINT_FAILOVER)
			break;
		fake.restore_checkpoints++;
	}
	if (fake.restore_checkpoints == 0)
		return errno = EIO, -1;
	fake.restore_failed_over = !fake.restore_saw_end;
	*store_mfn = 0xfeffc;
	*console_mfn = 0xfeffd;
	return 0;
}

/* ---- libxenstore -------------------------------------------------------- */

struct xs_handle *__wrap_xs_open(unsigned long flags)
{
	(void)flags;
	if (should_fail(F_XS_OPEN))
		return NULL;
	fake.xs_open++;
	return malloc(8);
}

void __wrap_xs_close(struct xs_handle *h)
{
	fake.xs_open--;
	free(h);
}

/* Immediate children of dir, returned in one allocation like libxenstore. */
char **__wrap_xs_directory(struct xs_handle *h, xs_transaction_t t, const char *dir, unsigned *num)
{
	const char *names[FAKE_MAX_NODES];
	size_t dlen = strlen(dir), total = 0, k = 0;
	char **out, *p;

	(void)h; (void)t;
	if (should_fail(F_XS_DIR))
		return NULL;
	for (int i = 0; i < fake.nnodes; i++) {
		const char *q = fake.nodes[i].path;

		if (strncmp(q, dir, dlen) != 0 || q[dlen] != '/' || strchr(q + dlen + 1, '/'))
			continue;
		names[k++] = q + dlen + 1;
		total += strlen(q + dlen + 1) + 1;
	}
	if (k == 0 && fake_get_node(dir) == NULL)
		return errno = ENOENT, NULL;
	out = malloc(k * sizeof(char *) + total + 1);
	p = (char *)(out + k);
	for (size_t i = 0; i < k; i++) {
		out[i] = p;
		p = stpcpy(p, names[i]) + 1;
	}
	*num = (unsigned)k;
	return out;
}

void *__wrap_xs_read(struct xs_handle *h, xs_transaction_t t, const char *path, unsigned *len)
{
	const struct fake_node *n = fake_get_node(path);

	(void)h; (void)t;
	if (should_fail(F_XS_READ))
		return NULL;
	if (n == NULL)
		return errno = ENOENT, NULL;
	*len = (unsigned)strlen(n->value);
	return strdup(n->value);
}

struct xs_permissions *__wrap_xs_get_permissions(struct xs_handle *h, xs_transaction_t t,
    const char *path, unsigned *num)
{
	const struct fake_node *n = fake_get_node(path);
	struct xs_permissions *p;

	(void)h; (void)t;
	if (should_fail(F_XS_PERMS))
		return NULL;
	if (n == NULL)
		return errno = ENOENT, NULL;
	p = calloc(2, sizeof(*p));
	p[0].id = n->owner;
	p[0].perms = XS_PERM_NONE;
	p[1].id = n->other_id;
	p[1].perms = n->other_perm;
	*num = 2;
	return p;
}

bool __wrap_xs_write(struct xs_handle *h, xs_transaction_t t, const char *path,
    const void *data, unsigned len)
{
	char v[64];

	(void)h; (void)t;
	if (should_fail(F_XS_WRITE))
		return false;
	snprintf(v, sizeof(v), "%.*s", (int)len, (const char *)data);
	fake_set_node(path, v, 0, 0, 0);
	/* A PV-aware guest answers a suspend request by suspending itself. */
	if (strcmp(path, "/local/domain/5/control/shutdown") == 0 && strcmp(v, "suspend") == 0 &&
	    fake.domid == 5) {
		if (fake.never_suspends)
			fake.crashed = true;
		else
			fake.suspended = fake.coop_suspended = true;
	}
	return true;
}

bool __wrap_xs_resume_domain(struct xs_handle *h, unsigned domid)
{
	(void)h;
	if (should_fail(F_XS_RESUME))
		return false;
	if (domid != fake.domid)
		return errno = EINVAL, false;
	fake.xs_resumes++;
	return true;
}

bool __wrap_xs_set_permissions(struct xs_handle *h, xs_transaction_t t, const char *path,
    struct xs_permissions *perms, unsigned num)
{
	struct fake_node *n = (struct fake_node *)fake_get_node(path);

	(void)h; (void)t;
	if (should_fail(F_XS_SETPERMS))
		return false;
	if (n == NULL || num < 1 || num > 2)
		return errno = EINVAL, false;
	n->owner = perms[0].id;
	n->other_id = num == 2 ? perms[1].id : 0;
	n->other_perm = num == 2 ? perms[1].perms : XS_PERM_NONE;
	return true;
}

xs_transaction_t __wrap_xs_transaction_start(struct xs_handle *h)
{
	(void)h;
	fake.tx_open++;
	return 42;
}

bool __wrap_xs_transaction_end(struct xs_handle *h, xs_transaction_t t, bool abort_tx)
{
	(void)h; (void)t;
	fake.tx_open--;
	if (abort_tx) {
		fake.tx_aborted++;
		return true;
	}
	if (should_fail(F_TX_END))
		return false;
	fake.tx_committed++;
	return true;
}

bool __wrap_xs_introduce_domain(struct xs_handle *h, unsigned domid, unsigned long mfn,
    unsigned evtchn)
{
	(void)h; (void)domid; (void)evtchn;
	if (should_fail(F_INTRODUCE))
		return false;
	fake.introduced++;
	fake.store_mfn_introduced = mfn;
	return true;
}

/* ---- libxenlight (device attach of a restored replica) ------------------ */

int __wrap_libxl_ctx_alloc(libxl_ctx **pctx, int version, unsigned flags, xentoollog_logger *lg)
{
	(void)version; (void)flags; (void)lg;
	if (should_fail(F_LIBXL_CTX))
		return ERROR_FAIL;
	*pctx = malloc(8);
	fake.libxl_open++;
	return 0;
}

int __wrap_libxl_domain_destroy(libxl_ctx *ctx, uint32_t domid, const libxl_asyncop_how *how)
{
	(void)ctx; (void)how;
	if (should_fail(F_DOM_DESTROY))
		return ERROR_FAIL;
	if (!fake.exists || domid != fake.domid)
		return ERROR_INVAL;
	fake.exists = fake.suspended = fake.coop_suspended = false;
	fake.domains_destroyed++;
	return 0;
}

int __wrap_libxl_ctx_free(libxl_ctx *ctx)
{
	if (ctx != NULL)
		fake.libxl_open--;
	free(ctx);
	return 0;
}

/* Any text starting with '{' is "valid": a PVH guest "web" (HVM with
 * fake.json_hvm) with one disk (xvda) and one vif, max_memkb from the fake. */
int __wrap_libxl_domain_config_from_json(libxl_ctx *ctx, libxl_domain_config *p, const char *s)
{
	(void)ctx;
	if (should_fail(F_JSON) || s[0] != '{')
		return ERROR_INVAL;
	p->c_info.name = strdup("web");
	p->c_info.type = fake.json_hvm ? LIBXL_DOMAIN_TYPE_HVM : LIBXL_DOMAIN_TYPE_PVH;
	p->b_info.max_memkb = fake.json_max_memkb;
	p->b_info.max_vcpus = 1;
	p->disks = calloc(1, sizeof(*p->disks));
	libxl_device_disk_init(&p->disks[0]);
	p->disks[0].vdev = strdup("xvda");
	p->num_disks = 1;
	p->nics = calloc(1, sizeof(*p->nics));
	libxl_device_nic_init(&p->nics[0]);
	p->num_nics = 1;
	return 0;
}

/* The configuration rendered back: names the disk's path, for the tests. */
char *__wrap_libxl_domain_config_to_json(libxl_ctx *ctx, libxl_domain_config *p)
{
	char buf[128];

	(void)ctx;
	snprintf(buf, sizeof(buf), "{\"disk\":\"%s\"}",
	    p->num_disks > 0 && p->disks[0].pdev_path ? p->disks[0].pdev_path : "");
	return strdup(buf);
}

int __wrap_libxl_userdata_store(libxl_ctx *ctx, uint32_t domid, const char *what,
    const uint8_t *data, int len)
{
	(void)ctx;
	if (should_fail(F_USERDATA))
		return ERROR_FAIL;
	if (domid != fake.domid || strcmp(what, "libxl-json") != 0 || len <= 0)
		return ERROR_INVAL;
	fake.userdata_stored++;
	snprintf(fake.userdata, sizeof(fake.userdata), "%.*s", len, (const char *)data);
	return 0;
}

int __wrap_libxl_device_disk_add(libxl_ctx *ctx, uint32_t domid, libxl_device_disk *disk,
    const libxl_asyncop_how *how)
{
	(void)ctx; (void)how;
	if (should_fail(F_DISK_ADD))
		return ERROR_FAIL;
	if (domid != fake.domid || fake.userdata_stored == 0)
		return ERROR_INVAL;
	fake.disks_added++;
	snprintf(fake.disk_path_added, sizeof(fake.disk_path_added), "%s",
	    disk->pdev_path ? disk->pdev_path : "");
	return 0;
}

int __wrap_libxl_device_nic_add(libxl_ctx *ctx, uint32_t domid, libxl_device_nic *nic,
    const libxl_asyncop_how *how)
{
	(void)ctx; (void)nic; (void)how;
	if (should_fail(F_NIC_ADD))
		return ERROR_FAIL;
	if (domid != fake.domid || fake.userdata_stored == 0)
		return ERROR_INVAL;
	fake.nics_added++;
	return 0;
}

/* libxl's restore of a guest with a device model: reads the stream it is
 * given to its end (as libxl does at failover) and keeps every byte, for
 * the tests to compare with what the primary sent.  A failure told by
 * fake.fail happens before it reads anything (libxl failing to create the
 * domain). */
int __wrap_libxl_domain_create_restore(libxl_ctx *ctx, libxl_domain_config *d, uint32_t *domid,
    int fd, int send_back_fd, const libxl_domain_restore_params *params,
    const libxl_asyncop_how *ao, const libxl_asyncprogress_how *aop)
{
	char buf[4096];
	ssize_t n;

	(void)ctx; (void)send_back_fd; (void)ao; (void)aop;
	if (should_fail(F_CREATE_RESTORE))
		return ERROR_FAIL;
	if (params->checkpointed_stream != LIBXL_CHECKPOINTED_STREAM_REMUS ||
	    params->stream_version != 2 || d->c_info.name == NULL)
		return ERROR_INVAL;
	snprintf(fake.libxl_restore_name, sizeof(fake.libxl_restore_name), "%s", d->c_info.name);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		uint8_t *nb = realloc(fake.libxl_restore_data, fake.libxl_restore_bytes + (size_t)n);

		if (nb == NULL)
			return ERROR_NOMEM;
		memcpy(nb + fake.libxl_restore_bytes, buf, (size_t)n);
		fake.libxl_restore_data = nb;
		fake.libxl_restore_bytes += (size_t)n;
	}
	if (n < 0)
		return ERROR_FAIL;
	*domid = fake.created_domid;
	fake.domid = fake.created_domid;
	fake.exists = fake.paused = true;
	fake.domains_created++;
	return 0;
}

int __wrap_libxl_domain_unpause(libxl_ctx *ctx, uint32_t domid, const libxl_asyncop_how *how)
{
	(void)ctx; (void)how;
	if (!fake.exists || domid != fake.domid)
		return ERROR_INVAL;
	fake.paused = false;
	fake.unpauses++;
	return 0;
}
