/* The Xen driver's primary side against a fake Xen (test_xen_fake.c):
 * attach, the save loop's callbacks wired to the engine hooks, and every
 * failure path: a clear message, the guest left running, no handle leaked. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <cmocka.h>
#include <xentoollog.h>

#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"
#include "xl_header_cases.h"

/* No handle outlives the guest, and the guest is running, not suspended. */
static void assert_clean_primary(void)
{
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_true(fake.exists);
	assert_false(fake.suspended);
	assert_int_equal(fake.domains_destroyed, 0);
}

/* Run save with a failure injected; return its rc and message. */
static int save_failing(const char *fn, int nth, int err_no, struct remus_err *err,
    struct engine *e, int fd)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	int rc;

	xt_engine_init(e, &h, fd);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, err), 0);
	xen_guest_set_xenstore_records(g, true);
	fake.fail = (struct fake_fail){ fn, nth, err_no };
	rc = xen_hv_ops.save_stream(g, fd, &h, err);
	xen_hv_ops.destroy(g);
	return rc;
}

static void test_registry_and_attach(void **state)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct hv_info info;

	(void)state;
	xt_setup_host();
	assert_ptr_equal(hv_driver("xen"), &xen_hv_ops);
	assert_null(xen_hv_ops.dirty_log);
	assert_null(xen_hv_ops.copy_pages);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	assert_int_equal(xen_hv_ops.info(g, &info), 0);
	assert_string_equal(info.name, "web");
	assert_int_equal(info.domain_type, STREAM_DOM_X86_HVM);
	assert_int_equal(info.state, HV_RUNNING);
	assert_false(info.has_emulator);
	xen_hv_ops.destroy(g);
	assert_clean_primary();
}

static void test_attach_failures(void **state)
{
	struct hv_guest_config cfg = { .name = "nosuch" };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;

	(void)state;
	xt_setup_host();
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "no domain named 'nosuch'"));
	assert_clean_primary();

	cfg.name = "web";
	xt_setup_host();
	fake.fail = (struct fake_fail){ "xc_interface_open", 1, EACCES };
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), -EACCES);
	assert_non_null(strstr(err.msg, "xc_interface_open"));
	assert_clean_primary();

	xt_setup_host();
	fake.fail = (struct fake_fail){ "xs_open", 1, ECONNREFUSED };
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), -ECONNREFUSED);
	assert_non_null(strstr(err.msg, "xenstored"));
	assert_clean_primary();

	xt_setup_host();
	fake.fail = (struct fake_fail){ "xs_directory", 1, EACCES };
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), -EACCES);
	assert_non_null(strstr(err.msg, "/local/domain"));
	assert_clean_primary();
}

/* Three epochs: suspend → engine hook (guest suspended) → resume → records;
 * the stream is the libxl header, LIBXC_CONTEXT, then per checkpoint the
 * libxc chunk, the xenstore record and CHECKPOINT_END. */
static void test_save_epochs(void **state)
{
	struct engine e = { 0 };
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	assert_int_equal(xt_save(&e, fd, true), 0);
	assert_int_equal(fake.save_checkpoints, 3);
	assert_int_equal(e.suspended_calls, 3);
	assert_int_equal(e.waits, 3);
	assert_false(e.not_suspended_in_hook);
	/* cooperative: the guest suspended itself, the fast resume cancelled it */
	assert_string_equal(fake_get_node("/local/domain/5/control/shutdown")->value, "suspend");
	assert_int_equal(fake.fast_resumes, 3);
	assert_int_equal(fake.slow_resumes, 0);
	assert_int_equal(fake.xs_resumes, 3);
	assert_int_equal(fake.calls[3], 0);   /* no remote xc_domain_shutdown */
	assert_clean_primary();
	assert_true(e.ends[0] > 16 + 8 + FAKE_CHUNK + 8);
	assert_true(e.ends[1] > e.ends[0] && e.ends[2] > e.ends[1]);
	close(fd);
}

/* Without xenstore records nothing is invented for a PVH guest: each
 * checkpoint is exactly the libxc chunk and CHECKPOINT_END. */
static void test_save_pvh_nothing_invented(void **state)
{
	struct engine e = { 0 };
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	assert_int_equal(xt_save(&e, fd, false), 0);
	assert_int_equal(e.ends[0], 16 + 8 + FAKE_CHUNK + 8);
	assert_int_equal(e.ends[1] - e.ends[0], FAKE_CHUNK + 8);
	close(fd);
}

static void test_save_refuses_pv_and_device_model(void **state)
{
	struct engine e;
	struct remus_err err = { 0 };
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	fake.hvm = false;
	assert_int_equal(save_failing(NULL, 0, 0, &err, &e, fd), HV_EUNSUPP);
	assert_non_null(strstr(err.msg, "classic PV"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);

	/* a device model is served over its QMP socket (test_xen_emu.c); none
	 * listening here: refused before a byte is sent */
	xt_setup_host();
	fake_set_node("/local/domain/0/device-model", "", 0, 0, 0);
	fake_set_node("/local/domain/0/device-model/5", "", 0, 0, 0);
	assert_true(save_failing(NULL, 0, 0, &err, &e, fd) < 0);
	assert_non_null(strstr(err.msg, "device model of domain 5"));
	assert_int_equal(lseek(fd, 0, SEEK_END), 0);
	assert_clean_primary();
	close(fd);
}

/* Each libxc/xenstore failure inside the loop: named in the message, the
 * guest left running, the checkpoints before it complete. */
static void test_save_failures(void **state)
{
	static const struct { const char *fn; int nth; const char *msg; } cases[] = {
		{ "xs_write", 2, "suspend: writing /local/domain/5/control/shutdown failed" },
		{ "xc_domain_resume", 1, "postcopy: resuming domain 5" },
		{ "xs_resume_domain", 2, "postcopy: xenstored refused to resume domain 5" },
		{ "xs_read", 4, "xenstore: reading /local/domain/5/" },
		{ "xs_get_permissions", 1, "xenstore: permissions of /local/domain/5/" },
		{ "xc_domain_getinfo", 3, "xc_domain_getinfo of domain 5" },
		{ "xc_domain_save", 1, "xc_domain_save(XC_STREAM_REMUS) of domain 5 failed" },
	};
	struct remus_err err;
	struct engine e;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = xt_memfd();

		xt_setup_host();
		memset(&err, 0, sizeof(err));
		assert_true(save_failing(cases[i].fn, cases[i].nth, EIO, &err, &e, fd) < 0);
		if (strstr(err.msg, cases[i].msg) == NULL)
			fail_msg("%s: message '%s' lacks '%s'", cases[i].fn, err.msg, cases[i].msg);
		assert_clean_primary();
		close(fd);
	}
}

/* The remote suspend: SHUTDOWN_suspend from outside, the slow resume that
 * leaves the guest's registers alone; its failure named. */
static void test_save_remote_suspend(void **state)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct remus_err err = { 0 };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	xt_engine_init(&e, &h, fd);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	xen_guest_set_suspend_mode(g, XEN_SUSPEND_REMOTE);
	assert_int_equal(xen_hv_ops.save_stream(g, fd, &h, &err), 0);
	assert_int_equal(e.suspended_calls, 3);
	assert_false(e.not_suspended_in_hook);
	assert_int_equal(fake.slow_resumes, 3);
	assert_int_equal(fake.fast_resumes + fake.xs_resumes, 0);
	assert_null(fake_get_node("/local/domain/5/control/shutdown"));

	fake.fail = (struct fake_fail){ "xc_domain_shutdown", 4, EPERM };
	assert_true(xen_hv_ops.save_stream(g, fd, &h, &err) < 0);
	assert_non_null(strstr(err.msg, "xc_domain_shutdown(SHUTDOWN_suspend) of domain 5 failed"));
	xen_hv_ops.destroy(g);
	assert_clean_primary();
	close(fd);
}

static void test_save_guest_crashes_while_suspending(void **state)
{
	struct remus_err err = { 0 };
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	fake.never_suspends = true;
	assert_int_equal(save_failing(NULL, 0, 0, &err, &e, fd), HV_ECRASHED);
	assert_non_null(strstr(err.msg, "crashed while being suspended"));
	assert_int_equal(e.suspended_calls, 0);
	close(fd);
}

static void test_save_engine_hook_fails(void **state)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct remus_err err = { 0 };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	xt_engine_init(&e, &h, fd);
	e.wait_fail_at = 2;
	e.wait_fail_rc = -ETIMEDOUT;
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	assert_true(xen_hv_ops.save_stream(g, fd, &h, &err) < 0);
	assert_non_null(strstr(err.msg, "engine wait hook failed (-110)"));
	assert_int_equal(fake.save_checkpoints, 2);
	xen_hv_ops.destroy(g);
	assert_clean_primary();
	close(fd);
}

/* Save "web" with a hand-over at epoch 2 (final_at) into fd; g stays open. */
static int save_handover(struct engine *e, struct hv_stream_hooks *h, int fd, int wait_fail_rc,
    struct hv_guest **g, struct remus_err *err)
{
	struct hv_guest_config cfg = { .name = "web" };

	xt_setup_host();
	xt_engine_init(e, h, fd);
	e->stop_after = 100;
	e->final_at = 2;
	if (wait_fail_rc != 0) {
		e->wait_fail_at = 2;
		e->wait_fail_rc = wait_fail_rc;
	} else {
		e->handed_at = 2;
	}
	assert_int_equal(xen_hv_ops.create(&cfg, g, err), 0);
	return xen_hv_ops.save_stream(*g, fd, h, err);
}

/* Hand-over: the final checkpoint leaves the domain suspended; after its
 * ACK the driver ends the stream with libxc's and libxl's END (libxc
 * writes none when the checkpoint callback stops its Remus loop); a later
 * resume (cancel after BYE(REFUSED), resume --force) is the cooperative
 * suspend's cancel. */
static void test_save_handover(void **state)
{
	static const uint8_t zero[16];
	uint8_t tail[16];
	struct remus_err err = { 0 };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	struct hv_info in;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	assert_int_equal(save_handover(&e, &h, fd, 0, &g, &err), 0);
	assert_int_equal(fake.save_checkpoints, 2);
	assert_true(e.suspended_at_final);
	assert_true(fake.suspended);
	assert_int_equal(fake.fast_resumes, 1);
	assert_int_equal(fake.xs_resumes, 1);
	assert_int_equal(lseek(fd, 0, SEEK_END), e.ends[1] + 16);
	assert_int_equal(pread(fd, tail, sizeof(tail), e.ends[1]), 16);
	assert_memory_equal(tail, zero, sizeof(zero));      /* END (libxc), END (libxl) */
	assert_int_equal(xen_hv_ops.info(g, &in), 0);
	assert_int_equal(in.state, HV_PAUSED);
	assert_int_equal(xen_hv_ops.resume(g, &err), 0);
	assert_false(fake.suspended);
	assert_int_equal(fake.fast_resumes, 2);
	assert_int_equal(fake.xs_resumes, 2);
	xen_hv_ops.destroy(g);
	assert_clean_primary();
	close(fd);
}

/* No ACK for the final checkpoint (the engine's wait fails): cancelled,
 * the domain resumes here (fast resume + xenstored told), no END sent. */
static void test_save_handover_cancelled(void **state)
{
	struct remus_err err = { 0 };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	assert_true(save_handover(&e, &h, fd, -EPIPE, &g, &err) < 0);
	assert_non_null(strstr(err.msg, "engine wait hook failed"));
	assert_true(e.suspended_at_final);
	assert_int_equal(fake.fast_resumes, 2);
	assert_int_equal(fake.xs_resumes, 2);
	assert_int_equal(lseek(fd, 0, SEEK_END), e.ends[1]);
	xen_hv_ops.destroy(g);
	assert_clean_primary();
	close(fd);
}

/* Confirmed: the primary's suspended copy is destroyed through libxl; a
 * libxl failure says which domain and leaves no context open. */
static void test_save_handover_destroy(void **state)
{
	struct remus_err err = { 0 };
	struct hv_stream_hooks h;
	struct hv_guest *g = NULL;
	struct engine e;
	int fd = xt_memfd();

	(void)state;
	assert_int_equal(save_handover(&e, &h, fd, 0, &g, &err), 0);
	fake.fail = (struct fake_fail){ "libxl_domain_destroy", 1, EIO };
	assert_true(xen_guest_destroy_domain(g, XTL_CRITICAL, &err) < 0);
	assert_non_null(strstr(err.msg, "destroying domain 5 (web) failed"));
	assert_true(fake.exists);
	assert_int_equal(fake.libxl_open, 0);
	assert_int_equal(xen_guest_destroy_domain(g, XTL_CRITICAL, &err), 0);
	assert_false(fake.exists);
	assert_int_equal(fake.domains_destroyed, 1);
	assert_int_equal(fake.libxl_open, 0);
	xen_guest_release(g);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	close(fd);
}

/* The backup is gone before the first byte: EPIPE, not SIGPIPE. */
static void test_save_peer_closed(void **state)
{
	struct remus_err err = { 0 };
	struct engine e;
	int sv[2];

	(void)state;
	xt_setup_host();
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	assert_int_equal(save_failing(NULL, 0, 0, &err, &e, sv[0]), -EPIPE);
	assert_non_null(strstr(err.msg, "writing the libxl header"));
	assert_int_equal(fake.calls[5], 0);   /* xc_domain_save never ran */
	assert_clean_primary();
	close(sv[0]);
}

static void test_check_reasons(void **state)
{
	const char *drbd[] = { "/dev/drbd0" }, *mixed[] = { "/dev/drbd0", "/srv/web.img" };
	const char *nbd[] = { "/dev/nbd3" };
	struct xen_check_input in = { .kind = XEN_GUEST_PVH, .mod_sch_plug = true,
	    .mod_ifb = true, .mod_drbd = true, .disks = drbd, .ndisks = 1 };

	(void)state;
	assert_int_equal(xen_check(&in), 0);
	in.kind = XEN_GUEST_PV;
	assert_int_equal(xen_check(&in), XEN_CHECK_PV_NO_SHADOW);
	in.shadow_paging = true;
	assert_int_equal(xen_check(&in), 0);
	in.kind = XEN_GUEST_HVM;
	in.has_device_model = true;        /* QEMU: fine without DRBD disks */
	in.ndisks = 0;
	assert_int_equal(xen_check(&in), 0);
	in.disks = mixed;
	in.ndisks = 2;
	in.mod_ifb = false;
	assert_int_equal(xen_check(&in),
	    XEN_CHECK_DEVICE_MODEL | XEN_CHECK_DISK_NOT_REPLICATED | XEN_CHECK_NO_IFB);
	in.has_device_model = false;       /* the same disks without QEMU */
	assert_int_equal(xen_check(&in), XEN_CHECK_DISK_NOT_REPLICATED | XEN_CHECK_NO_IFB);
	in = (struct xen_check_input){ .kind = XEN_GUEST_PVH };
	assert_int_equal(xen_check(&in), XEN_CHECK_NO_SCH_PLUG | XEN_CHECK_NO_IFB);
	/* a disk remusd serves (/dev/nbdN): no DRBD needed, the nbd module is;
	 * QEMU may open it before a failover (it is always there) */
	in = (struct xen_check_input){ .kind = XEN_GUEST_HVM, .has_device_model = true,
	    .mod_sch_plug = true, .mod_ifb = true, .disks = nbd, .ndisks = 1 };
	assert_int_equal(xen_check(&in), XEN_CHECK_NO_NBD);
	in.mod_nbd = true;
	assert_int_equal(xen_check(&in), 0);
	in.disks = mixed;                  /* DRBD under QEMU is still refused */
	in.ndisks = 2;
	in.mod_drbd = true;
	assert_int_equal(xen_check(&in), XEN_CHECK_DEVICE_MODEL | XEN_CHECK_DISK_NOT_REPLICATED);
	for (unsigned b = 0; b < XEN_CHECK_NREASONS; b++)
		assert_null(strstr(xen_check_reason_text(1u << b), "unknown"));
	assert_non_null(strstr(xen_check_reason_text(1u << 20), "unknown"));
}

/* Modules found loaded (/sys/module), installed (modules.dep, compressed
 * names too) or built in; absent ones are reported absent. */
static void test_check_modules(void **state)
{
	const char *tmp = getenv("TMPDIR");
	char root[256], path[512];
	struct utsname u;
	FILE *f;

	(void)state;
	snprintf(root, sizeof(root), "%s/test_xen_modXXXXXX",
	    tmp != NULL && strlen(tmp) < 200 ? tmp : "/tmp");
	assert_non_null(mkdtemp(root));
	assert_int_equal(uname(&u), 0);
	snprintf(path, sizeof(path), "%s/sys", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sys/module", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sys/module/sch_plug", root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/lib", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/lib/modules", root);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/lib/modules/%s", root, u.release);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/lib/modules/%s/modules.dep", root, u.release);
	assert_non_null(f = fopen(path, "w"));
	fputs("kernel/drivers/net/ifb.ko.xz:\nkernel/drivers/block/drbd/drbd.ko.xz: kernel/lib/lru_cache.ko.xz\n", f);
	fclose(f);
	assert_true(xen_check_module(root, "sch_plug"));
	assert_true(xen_check_module(root, "ifb"));
	assert_true(xen_check_module(root, "drbd"));
	assert_false(xen_check_module(root, "lru"));       /* a prefix is not a module */
	assert_false(xen_check_module(root, "act_mirred"));
	unlink(path);
	snprintf(path, sizeof(path), "rm -rf '%s'", root);
	assert_int_equal(system(path), 0);
}

/* The facts of a live guest: PVH, one DRBD and one file disk (vbd and
 * qdisk backends), Xen without shadow paging; then a PV guest; a failing
 * xenstore read is named and frees what was collected. */
static void test_check_probe(void **state)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct remus_err err = { 0 };
	struct xen_check_input in;
	struct hv_guest *g = NULL;
	unsigned r;

	(void)state;
	xt_setup_host();
	fake_set_node("/local/domain/0/backend", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/vbd", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/vbd/5", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/vbd/5/51712", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/vbd/5/51712/params", "/dev/drbd0", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk/5", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk/5/51728", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk/5/51728/params", "/srv/web.img", 0, 0, 0);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	assert_int_equal(xen_check_probe(g, "/nonexistent-root", &in, &err), 0);
	assert_int_equal(in.kind, XEN_GUEST_PVH);
	assert_false(in.shadow_paging);
	assert_int_equal(in.ndisks, 2);
	assert_string_equal(in.disks[0], "/dev/drbd0");
	assert_string_equal(in.disks[1], "/srv/web.img");
	r = xen_check(&in);
	assert_int_equal(r, XEN_CHECK_DISK_NOT_REPLICATED | XEN_CHECK_NO_SCH_PLUG |
	    XEN_CHECK_NO_IFB | XEN_CHECK_NO_DRBD);
	xen_check_input_free(&in);

	fake.fail = (struct fake_fail){ "xs_read", fake.calls[11] + 2, EACCES };
	assert_int_equal(xen_check_probe(g, "/nonexistent-root", &in, &err), -EACCES);
	assert_non_null(strstr(err.msg, "check: reading /local/domain/0/backend/qdisk/5/51728/params"));
	assert_null(in.disks);
	xen_hv_ops.destroy(g);

	xt_setup_host();
	fake.hvm = false;
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	assert_int_equal(xen_check_probe(g, "/nonexistent-root", &in, &err), 0);
	assert_int_equal(in.kind, XEN_GUEST_PV);
	assert_true(xen_check(&in) & XEN_CHECK_PV_NO_SHADOW);
	xen_check_input_free(&in);
	fake.shadow_paging = true;
	assert_int_equal(xen_check_probe(g, "/nonexistent-root", &in, &err), 0);
	assert_false(xen_check(&in) & XEN_CHECK_PV_NO_SHADOW);
	xen_check_input_free(&in);
	xen_hv_ops.destroy(g);
	assert_clean_primary();
}

/* What remusd asks the driver through hv_ops' daemon entries: the
 * interface a kernel netbuf holds, and check's reasons in the engine's
 * categories with the driver's texts (the disk facts as in
 * test_check_probe; the host's modules are this machine's, not asserted). */
static void test_daemon_entries(void **state)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	struct hv_check hc;
	char ifname[16];
	bool named = false;

	(void)state;
	xt_setup_host();
	assert_non_null(xen_hv_ops.preamble);
	assert_non_null(xen_hv_ops.describe_config);
	assert_non_null(xen_hv_ops.finish_replica);
	assert_non_null(xen_hv_ops.release);
	assert_non_null(xen_hv_ops.destroy_copy);
	fake_set_node("/local/domain/0/backend", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk/5", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk/5/51728", "", 0, 0, 0);
	fake_set_node("/local/domain/0/backend/qdisk/5/51728/params", "/srv/web.img", 0, 0, 0);
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	assert_int_equal(xen_hv_ops.output_ifname(g, ifname, sizeof(ifname), &err), 0);
	assert_string_equal(ifname, "vif5.0");
	assert_int_equal(xen_hv_ops.output_ifname(g, ifname, 4, &err), -ENAMETOOLONG);
	assert_int_equal(xen_hv_ops.check(g, &hc, &err), 0);
	assert_true(hc.blocks & HV_CHECK_NO_DISKREP);
	assert_false(hc.blocks & HV_CHECK_UNSUPPORTED);
	assert_true(hc.n >= 1);
	for (unsigned i = 0; i < hc.n; i++)
		named |= strcmp(hc.text[i], xen_check_reason_text(XEN_CHECK_DISK_NOT_REPLICATED)) == 0;
	assert_true(named);
	fake.fail = (struct fake_fail){ "xs_read", fake_calls("xs_read") + 1, EACCES };
	assert_true(xen_hv_ops.check(g, &hc, &err) < 0);
	assert_true(err.msg[0] != '\0');
	xen_hv_ops.destroy(g);
	assert_clean_primary();
}

/* xl's header from a peer (remus-xl-receive): the bad cases of
 * xl_header_cases.h are refused by the one strict check with its reason;
 * a good one is read without a byte of the stream behind it. */
static void test_xl_header_reader(void **state)
{
	static const char json[] = "{\"c_info\":{}}";
	struct remus_err err = { 0 };
	struct stream_buf b;
	char *cfg;
	size_t len, hl;

	(void)state;
	for (size_t i = 0; i < XL_NBAD; i++) {
		int fd = xt_memfd();
		uint8_t *p = xl_case_bytes(&xl_bad_cases[i], &len);

		assert_int_equal(write(fd, p, len), (ssize_t)len);
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		cfg = (char *)1;
		assert_int_equal(xen_xl_read_header(fd, &cfg, &len, &err), -EPROTO);
		if (strstr(err.msg, xl_bad_cases[i].why) == NULL)
			fail_msg("%s: '%s' lacks '%s'", xl_bad_cases[i].name, err.msg,
			         xl_bad_cases[i].why);
		assert_null(cfg);
		free(p);
		close(fd);
	}
	stream_buf_init(&b);
	assert_int_equal(stream_put_xl_header(&b, json, sizeof(json)), 0);
	hl = stream_buf_size(&b);
	assert_int_equal(stream_put_libxl_header(&b), 0);
	{
		int fd = xt_memfd();

		assert_int_equal(write(fd, stream_buf_flat(&b), stream_buf_size(&b)),
		                 (ssize_t)stream_buf_size(&b));
		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_int_equal(xen_xl_read_header(fd, &cfg, &len, &err), 0);
		assert_int_equal(len, sizeof(json));
		assert_string_equal(cfg, json);
		assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)hl);
		free(cfg);
		close(fd);
	}
	stream_buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry_and_attach),
		cmocka_unit_test(test_attach_failures),
		cmocka_unit_test(test_save_epochs),
		cmocka_unit_test(test_save_pvh_nothing_invented),
		cmocka_unit_test(test_save_refuses_pv_and_device_model),
		cmocka_unit_test(test_save_failures),
		cmocka_unit_test(test_save_remote_suspend),
		cmocka_unit_test(test_save_guest_crashes_while_suspending),
		cmocka_unit_test(test_save_engine_hook_fails),
		cmocka_unit_test(test_save_peer_closed),
		cmocka_unit_test(test_save_handover),
		cmocka_unit_test(test_save_handover_cancelled),
		cmocka_unit_test(test_save_handover_destroy),
		cmocka_unit_test(test_check_reasons),
		cmocka_unit_test(test_check_modules),
		cmocka_unit_test(test_check_probe),
		cmocka_unit_test(test_daemon_entries),
		cmocka_unit_test(test_xl_header_reader),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
