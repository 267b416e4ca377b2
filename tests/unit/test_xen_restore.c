/* The Xen driver's backup side against a fake Xen: streams written by the
 * driver's own save (test_xen_common.c) are restored whole, cut short or
 * corrupted; only complete checkpoints' libxl records are ever applied, and
 * every failure leaves no domain and no handle behind. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "util/relay.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"

/* restore_callbacks.checkpoint results (xenguest.h XGR_CHECKPOINT_*) */
#define XGR_CHECKPOINT_ERROR    0
#define XGR_CHECKPOINT_FAILOVER 2

struct rs_result {
	int rc;
	struct remus_err err;
	struct engine e;
};

/* Write a 3-checkpoint stream (xenstore records on), keep the offsets. */
static int make_stream(struct engine *saved)
{
	int fd = xt_memfd();

	xt_setup_host();
	memset(saved, 0, sizeof(*saved));
	assert_int_equal(xt_save(saved, fd, true), 0);
	assert_int_equal(fake.save_checkpoints, 3);
	return fd;
}

/* The backup host: a fresh fake with only dom0; restore from fd (rewound).
 * A restored guest is destroyed again only after the checks (owned). */
static const char *replica_name = "web";

static void restore_from(int fd, struct rs_result *r, const char *fail_fn, int ckpt_rc,
    struct hv_guest **out)
{
	struct hv_guest_config cfg = { .name = replica_name, .mem_bytes = 128u << 20 };
	struct hv_stream_hooks h;

	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake.exists = false;
	fake.fail = (struct fake_fail){ fail_fn, 1, EIO };
	xt_engine_init(&r->e, &h, fd);
	r->e.ckpt_rc = ckpt_rc;
	memset(&r->err, 0, sizeof(r->err));
	if (lseek(fd, 0, SEEK_SET) != 0)
		assert_int_equal(errno, ESPIPE);     /* a pipe: read from where it is */
	*out = NULL;
	r->rc = xen_hv_ops.restore_stream(&cfg, fd, &h, out, &r->err);
}

/* After a failed restore: no domain survives, no handle is open. */
static void assert_nothing_left(const struct rs_result *r, const char *msg)
{
	assert_true(r->rc < 0);
	if (strstr(r->err.msg, msg) == NULL)
		fail_msg("message '%s' lacks '%s'", r->err.msg, msg);
	assert_false(fake.exists);
	assert_int_equal(fake.domains_destroyed, fake.domains_created);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	assert_int_equal(fake.tx_open, 0);
	assert_int_equal(fake.libxl_open, 0);
}

/* The stream stops after checkpoint 3 (primary died): libxc fails over,
 * the replica gets checkpoint 3's xenstore nodes, owner remapped to the new
 * domid, toolstack-owned nodes untouched, and stays paused until start(). */
static void test_restore_failover_after_complete(void **state)
{
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	const struct fake_node *n;
	int fd = make_stream(&saved);

	(void)state;
	restore_from(fd, &r, NULL, 1, &g);
	if (r.rc != 0)
		fail_msg("restore: %s", r.err.msg);
	assert_non_null(g);
	assert_int_equal(fake.restore_checkpoints, 3);
	assert_int_equal(r.e.ckpt_calls, 3);
	assert_int_equal(r.e.ckpt_fd_seen, -1);
	assert_true(fake.restore_failed_over);
	assert_int_equal(r.e.stream_ends, 0);     /* a cut stream, not a hand-over */
	assert_int_equal(fake.introduced, 1);
	assert_int_equal(fake.store_mfn_introduced, 0xfeffc);
	n = fake_get_node("/local/domain/9/data/epoch");
	assert_non_null(n);
	assert_string_equal(n->value, "epoch-3");
	assert_int_equal(n->owner, 9);
	assert_int_equal(n->other_id, 0);
	assert_int_equal(n->other_perm, 1);
	assert_string_equal(fake_get_node("/local/domain/9/name")->value, "web");
	assert_null(fake_get_node("/local/domain/9/device/vif/0/state"));
	/* the home a toolstack gives a domain: dom0's, readable by the guest;
	 * control/shutdown and data/ the guest's own; the rings it resumes with */
	n = fake_get_node("/local/domain/9");
	assert_non_null(n);
	assert_int_equal(n->owner, 0);
	assert_int_equal(n->other_id, 9);
	assert_int_equal(n->other_perm, 1);
	assert_int_equal(fake_get_node("/local/domain/9/control/shutdown")->owner, 9);
	assert_int_equal(fake_get_node("/local/domain/9/device")->other_id, 9);
	assert_string_equal(fake_get_node("/local/domain/9/console/ring-ref")->value, "1044477");
	assert_string_equal(fake_get_node("/local/domain/9/store/ring-ref")->value, "1044476");
	assert_string_equal(fake_get_node("/local/domain/9/memory/static-max")->value, "131072");
	/* vCPUs allocated, p2m pool sized as libxl would (8 vCPUs, 128 MiB) */
	assert_int_equal(fake.max_vcpus, 8);
	assert_int_equal(fake.paging_pool_bytes, 4096u * (256u * 8 + 2 * 128));
	assert_int_equal(fake.tx_committed, 2);
	assert_true(fake.paused);
	assert_int_equal(fake.unpauses, 0);
	assert_int_equal(xen_hv_ops.start(g, &r.err), 0);
	assert_false(fake.paused);
	xen_hv_ops.destroy(g);
	assert_false(fake.exists);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	close(fd);
}

/* A hand-over: the primary ends the stream with libxc's and libxl's END
 * right after its final checkpoint (3).  libxc completes the stream at
 * that checkpoint, the driver reads libxl's END and tells the engine
 * (stream_end); the replica is checkpoint 3 as after a failover.  Without
 * libxl's END behind libxc's (stream cut there) it is no hand-over. */
static void test_restore_handover_end(void **state)
{
	struct rs_result r;
	struct engine saved = { .stop_after = 100, .final_at = 3, .handed_at = 3 };
	struct hv_guest *g;
	int fd = xt_memfd();
	off_t len;

	(void)state;
	xt_setup_host();
	assert_int_equal(xt_save(&saved, fd, true), 0);
	len = lseek(fd, 0, SEEK_END);
	assert_int_equal(len, saved.ends[2] + 16);
	restore_from(fd, &r, NULL, 1, &g);
	if (r.rc != 0)
		fail_msg("restore: %s", r.err.msg);
	assert_int_equal(fake.restore_checkpoints, 3);
	assert_true(fake.restore_saw_end);
	assert_false(fake.restore_failed_over);
	assert_int_equal(r.e.stream_ends, 1);
	assert_string_equal(fake_get_node("/local/domain/9/data/epoch")->value, "epoch-3");
	xen_hv_ops.destroy(g);
	assert_false(fake.exists);
	/* libxc's END without libxl's behind it */
	assert_int_equal(ftruncate(fd, len - 8), 0);
	restore_from(fd, &r, NULL, 1, &g);
	assert_int_equal(r.rc, 0);
	assert_true(fake.restore_saw_end);
	assert_int_equal(r.e.stream_ends, 0);
	xen_hv_ops.destroy(g);
	assert_int_equal(fake.xc_open, 0);
	assert_int_equal(fake.xs_open, 0);
	close(fd);
}

/* Checkpoint 3's libxl records cut short or corrupted: the partial
 * checkpoint is dropped (callback says failover) and checkpoint 2 is what
 * the replica gets. */
static void test_restore_partial_checkpoint_never_applied(void **state)
{
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	int fd = make_stream(&saved);
	off_t cut[] = { saved.ends[2] - 8, saved.ends[2] - 3, saved.ends[1] + FAKE_CHUNK + 5,
	    saved.ends[1] + FAKE_CHUNK };

	(void)state;
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		int part = xt_memfd();
		char buf[4096];
		ssize_t n;

		assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
		assert_true(cut[i] <= (off_t)sizeof(buf));
		n = read(fd, buf, (size_t)cut[i]);
		assert_int_equal(n, cut[i]);
		assert_int_equal(write(part, buf, (size_t)n), n);
		restore_from(part, &r, NULL, 1, &g);
		if (r.rc != 0)
			fail_msg("cut at %lld: %s", (long long)cut[i], r.err.msg);
		assert_int_equal(fake.restore_result, XGR_CHECKPOINT_FAILOVER);
		assert_int_equal(fake.restore_checkpoints, 2);
		assert_int_equal(r.e.ckpt_calls, 2);
		assert_string_equal(fake_get_node("/local/domain/9/data/epoch")->value, "epoch-2");
		xen_hv_ops.destroy(g);
		close(part);
	}
	close(fd);
}

struct relay_job {
	struct relay_cfg cfg;
	struct relay_result res;
};

static void *relay_job_main(void *arg)
{
	struct relay_job *j = arg;

	relay_run(&j->cfg, &j->res);
	close(j->cfg.out_fd);       /* the driver reads the end of the stream */
	return NULL;
}

/* The sender hangs inside checkpoint 3 without closing its end (xl remus
 * stopped, not killed): the relay in front of the driver ends the stream
 * after the silence timeout, exactly like a lost stream, and the replica
 * gets checkpoint 2. */
static void test_restore_silent_sender(void **state)
{
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	struct relay_job job;
	pthread_t th;
	int fd = make_stream(&saved), in[2], out[2];
	off_t cut = saved.ends[1] + FAKE_CHUNK + 5;
	char buf[4096];

	(void)state;
	assert_true(cut <= (off_t)sizeof(buf));
	assert_int_equal(pread(fd, buf, (size_t)cut, 0), cut);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(write(in[1], buf, (size_t)cut), cut);     /* in[1] stays open */
	job.cfg = (struct relay_cfg){ .in_fd = in[0], .out_fd = out[1], .stop_fd = -1,
		.silence_ms = 30 };
	assert_int_equal(pthread_create(&th, NULL, relay_job_main, &job), 0);
	restore_from(out[0], &r, NULL, 1, &g);
	pthread_join(th, NULL);
	if (r.rc != 0)
		fail_msg("restore: %s", r.err.msg);
	assert_int_equal(job.res.end, RELAY_SILENCE);
	assert_int_equal(job.res.bytes, cut);
	assert_int_equal(fake.restore_result, XGR_CHECKPOINT_FAILOVER);
	assert_int_equal(fake.restore_checkpoints, 2);
	assert_int_equal(r.e.ckpt_calls, 2);
	assert_string_equal(fake_get_node("/local/domain/9/data/epoch")->value, "epoch-2");
	xen_hv_ops.destroy(g);
	close(in[0]);
	close(in[1]);
	close(out[0]);
	close(fd);
}

/* A record type nobody knows inside checkpoint 3: failover to 2. */
static void test_restore_corrupt_record(void **state)
{
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	int fd = make_stream(&saved);
	uint32_t bad = 0x77;

	(void)state;
	/* the CHECKPOINT_END of checkpoint 3 is the last 8 bytes */
	assert_int_equal(pwrite(fd, &bad, 4, saved.ends[2] - 8), 4);
	restore_from(fd, &r, NULL, 1, &g);
	assert_int_equal(r.rc, 0);
	assert_int_equal(fake.restore_checkpoints, 2);
	assert_string_equal(fake_get_node("/local/domain/9/data/epoch")->value, "epoch-2");
	xen_hv_ops.destroy(g);
	close(fd);
}

/* The engine hook writing CHECKPOINT_END itself yields the same stream. */
static void test_restore_engine_written_end(void **state)
{
	struct rs_result r;
	struct engine saved = { .postcopy_writes_end = true };
	struct hv_guest *g;
	int fd = xt_memfd();

	(void)state;
	xt_setup_host();
	assert_int_equal(xt_save(&saved, fd, true), 0);
	assert_int_equal(saved.postcopy_calls, 3);
	restore_from(fd, &r, NULL, 1, &g);
	assert_int_equal(r.rc, 0);
	assert_int_equal(fake.restore_checkpoints, 3);
	xen_hv_ops.destroy(g);
	close(fd);
}

/* Each step of building the replica failing: named, nothing left. */
static void test_restore_failures(void **state)
{
	static const struct { const char *fn; const char *msg; } cases[] = {
		{ "xc_interface_open", "xc_interface_open" },
		{ "xc_domain_create", "creating the replica domain" },
		{ "xc_domain_max_vcpus", "allocating the vCPUs of domain 9" },
		{ "xc_domain_setmaxmem", "setting max memory of domain 9" },
		{ "xc_set_paging_mempool_size", "sizing the paging pool of domain 9" },
		{ "xc_evtchn_alloc_unbound", "xenstore event channel" },
		{ "xc_domain_restore", "xc_domain_restore(XC_STREAM_REMUS) into domain 9" },
		{ "xs_introduce_domain", "introducing domain 9" },
		{ "xs_write", "writing /local/domain/9" },
		{ "xs_set_permissions", "permissions of /local/domain/9" },
		{ "xs_transaction_end", "committing the home of domain 9" },
	};
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	int fd = make_stream(&saved);

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		restore_from(fd, &r, cases[i].fn, 1, &g);
		assert_null(g);
		assert_nothing_left(&r, cases[i].msg);
	}
	restore_from(fd, &r, NULL, XGR_CHECKPOINT_ERROR, &g);
	assert_null(g);
	assert_nothing_left(&r, "engine checkpoint hook failed after checkpoint 1");
	close(fd);
}

/* Garbage instead of a libxl header: refused before any domain exists. */
static void test_restore_bad_header(void **state)
{
	struct rs_result r;
	struct hv_guest *g;
	int fd = xt_memfd();

	(void)state;
	assert_int_equal(write(fd, "GET / HTTP/1.1\r\n\r\nxxxxxxxx", 26), 26);
	restore_from(fd, &r, NULL, 1, &g);
	assert_null(g);
	assert_nothing_left(&r, "restore: libxl records:");
	assert_int_equal(fake.domains_created, 0);
	close(fd);
}

/* A complete replica, paused, for the device-attach tests. */
static struct hv_guest *restored_replica(int fd, struct rs_result *r)
{
	struct hv_guest *g;

	restore_from(fd, r, NULL, 1, &g);
	if (r->rc != 0)
		fail_msg("restore: %s", r->err.msg);
	return g;
}

static const char json[] = "{\"c_info\": {\"name\": \"web\"}}";

/* The guest's libxl configuration: what it says, and what is refused before
 * libxl sees it (no NUL, a NUL inside, too big) or by libxl's parser. */
static void test_json_guest(void **state)
{
	struct remus_err err = { 0 };
	struct xen_json_guest jg;

	(void)state;
	fake_reset();
	assert_int_equal(xen_json_guest(json, sizeof(json), &jg, &err), 0);
	assert_string_equal(jg.name, "web");
	assert_int_equal(jg.type, XEN_GUEST_PVH);
	assert_int_equal(jg.max_mem_bytes, 128u << 20);
	assert_int_equal(jg.nics, 1);
	assert_int_equal(jg.disks, 1);
	assert_int_equal(fake.libxl_open, 0);
	assert_true(xen_json_guest(json, sizeof(json) - 1, &jg, &err) < 0);
	assert_non_null(strstr(err.msg, "NUL-terminated"));
	assert_true(xen_json_guest("{}\0{}", 6, &jg, &err) < 0);
	assert_non_null(strstr(err.msg, "NUL-terminated"));
	assert_true(xen_json_guest(json, (2u << 20), &jg, &err) < 0);
	assert_non_null(strstr(err.msg, "at most"));
	assert_true(xen_json_guest("[1]", 4, &jg, &err) < 0);
	assert_non_null(strstr(err.msg, "not valid libxl JSON"));
	fake.json_max_memkb = 0;
	assert_true(xen_json_guest(json, sizeof(json), &jg, &err) < 0);
	assert_non_null(strstr(err.msg, "max_memkb"));
	fake.fail = (struct fake_fail){ "libxl_ctx_alloc", fake_calls("libxl_ctx_alloc") + 1, EIO };
	assert_true(xen_json_guest(json, sizeof(json), &jg, &err) < 0);
	assert_non_null(strstr(err.msg, "libxl_ctx_alloc"));
	assert_int_equal(fake.libxl_open, 0);
}

/* The daemon entry judging a stream's configuration: libxl's JSON read the
 * same way, summarised for the replica (memory, vifs, disks). */
static void test_daemon_describe(void **state)
{
	struct remus_err err = { 0 };
	struct hv_config_summary cs;

	(void)state;
	fake_reset();
	assert_int_equal(xen_hv_ops.describe_config(json, sizeof(json), &cs, &err), 0);
	assert_int_equal(cs.max_mem_bytes, 128u << 20);
	assert_int_equal(cs.nics, 1);
	assert_int_equal(cs.disks, 1);
	assert_true(xen_hv_ops.describe_config(json, sizeof(json) - 1, &cs, &err) < 0);
	assert_non_null(strstr(err.msg, "NUL-terminated"));
	assert_int_equal(fake.libxl_open, 0);
}

/* After failover the replica gets the guest's devices through libxl: its
 * type and stored configuration first (libxl's device add needs both),
 * then each disk and vif; each failing step is named, no context leaks,
 * and the replica is left for the caller to destroy. */
static void test_attach_devices(void **state)
{
	static const struct { const char *fn; const char *msg; } cases[] = {
		{ "libxl_ctx_alloc", "libxl_ctx_alloc failed" },
		{ "libxl_userdata_store", "storing the domain configuration of domain 9" },
		{ "libxl_device_disk_add", "attaching disk xvda to domain 9" },
		{ "libxl_device_nic_add", "attaching vif 0 to domain 9" },
		{ "xs_write", "writing /libxl/9/type" },
	};
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	int fd = make_stream(&saved);

	(void)state;
	g = restored_replica(fd, &r);
	assert_int_equal(xen_guest_domid(g), 9);
	assert_int_equal(xen_guest_attach_devices(g, json, sizeof(json), 5, &r.err), 0);
	assert_string_equal(fake_get_node("/libxl/9/type")->value, "pvh");
	assert_int_equal(fake.userdata_stored, 1);
	assert_int_equal(fake.disks_added, 1);
	assert_int_equal(fake.nics_added, 1);
	assert_int_equal(fake.libxl_open, 0);
	xen_hv_ops.destroy(g);
	/* the backup's own disk (diskrep = drbd): attached and stored there */
	g = restored_replica(fd, &r);
	assert_int_equal(xen_guest_attach_devices_on(g, json, sizeof(json), "/dev/drbd2", 5,
	    &r.err), 0);
	assert_string_equal(fake.disk_path_added, "/dev/drbd2");
	assert_string_equal(fake.userdata, "{\"disk\":\"/dev/drbd2\"}");
	assert_int_equal(fake.libxl_open, 0);
	xen_hv_ops.destroy(g);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		g = restored_replica(fd, &r);
		/* the next call of fn fails (xs_write was called by the restore) */
		fake.fail = (struct fake_fail){ cases[i].fn, fake_calls(cases[i].fn) + 1, EIO };
		assert_true(xen_guest_attach_devices(g, json, sizeof(json), 5, &r.err) < 0);
		if (strstr(r.err.msg, cases[i].msg) == NULL)
			fail_msg("message '%s' lacks '%s'", r.err.msg, cases[i].msg);
		assert_int_equal(fake.libxl_open, 0);
		assert_true(fake.exists);
		xen_hv_ops.destroy(g);
		assert_false(fake.exists);
		assert_int_equal(fake.xc_open, 0);
	}
	close(fd);
}

/* The failover's steps are recorded in order, each with its end time:
 * libxc's restore, the xenstore home, libxl's context and configuration,
 * each device, the unpause. */
static void test_failover_phases(void **state)
{
	static const char *const steps[] = { "libxc", "home", "libxl", "disk:xvda", "vif:0",
		"unpause" };
	struct xen_failover_phases ph;
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	uint64_t before, after;
	int fd = make_stream(&saved);

	(void)state;
	before = xen_now_us();
	g = restored_replica(fd, &r);
	xen_guest_failover_phases(g, &ph);
	assert_int_equal(ph.n, 2);
	assert_int_equal(xen_guest_attach_devices(g, json, sizeof(json), 5, &r.err), 0);
	assert_int_equal(xen_hv_ops.start(g, &r.err), 0);
	after = xen_now_us();
	xen_guest_failover_phases(g, &ph);
	assert_int_equal(ph.n, sizeof(steps) / sizeof(steps[0]));
	for (unsigned i = 0; i < ph.n; i++) {
		assert_string_equal(ph.p[i].step, steps[i]);
		assert_true(ph.p[i].end_us >= (i ? ph.p[i - 1].end_us : before));
		assert_true(ph.p[i].end_us <= after);
	}
	xen_hv_ops.destroy(g);
	close(fd);
}

/* A replica "web--backup" restored on a host where domain 5 (the old
 * primary) may still be called "web". */
static struct hv_guest *backup_replica(int fd, struct rs_result *r, bool primary_there)
{
	struct hv_guest *g;

	replica_name = "web--backup";
	g = restored_replica(fd, r);
	replica_name = "web";
	if (primary_there) {
		fake_set_node("/local/domain/5", "", 0, 0, 0);
		fake_set_node("/local/domain/5/name", "web", 0, 0, 0);
	}
	assert_string_equal(fake_get_node("/local/domain/9/name")->value, "web--backup");
	return g;
}

/* After failover the replica takes the guest's name, as xl's receiver
 * does; if libxl fails, the name is unchanged and nothing leaks. */
static void test_rename(void **state)
{
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	int fd = make_stream(&saved);

	(void)state;
	g = backup_replica(fd, &r, false);
	assert_int_equal(xen_guest_rename(g, "web", &r.err), 0);
	assert_string_equal(fake_get_node("/local/domain/9/name")->value, "web");
	assert_string_equal(xen_guest_name(g), "web");
	assert_int_equal(fake.renames, 1);
	assert_int_equal(xen_guest_rename(g, "web", &r.err), 0);   /* already so named */
	assert_int_equal(fake.renames, 1);
	assert_int_equal(fake.libxl_open, 0);
	xen_hv_ops.destroy(g);

	g = backup_replica(fd, &r, false);
	fake.fail = (struct fake_fail){ "libxl_domain_rename", 1, EIO };
	assert_int_equal(xen_guest_rename(g, "web", &r.err), -EIO);
	assert_non_null(strstr(r.err.msg, "could not rename domain 9 from 'web--backup' to 'web'"));
	assert_string_equal(xen_guest_name(g), "web--backup");
	assert_string_equal(fake_get_node("/local/domain/9/name")->value, "web--backup");
	assert_int_equal(xen_guest_rename(g, "", &r.err), -EINVAL);
	assert_int_equal(fake.libxl_open, 0);
	xen_hv_ops.destroy(g);
	assert_int_equal(fake.xs_open, 0);
	close(fd);
}

/* On one host the old primary may still hold the name: the replica keeps
 * its temporary name (the message says who holds it), and takes the name
 * once that domain is released; a release of another domain, or none
 * within the wait, leaves it as it is.  The watch is always removed. */
static void test_rename_name_taken(void **state)
{
	struct rs_result r;
	struct engine saved;
	struct hv_guest *g;
	int fd = make_stream(&saved);

	(void)state;
	g = backup_replica(fd, &r, true);
	assert_int_equal(xen_guest_rename(g, "web", &r.err), -EEXIST);
	assert_non_null(strstr(r.err.msg, "domain 5 is still named 'web'"));
	assert_non_null(strstr(r.err.msg, "domain 9 keeps the name 'web--backup'"));
	assert_int_equal(xen_guest_rename_when_free(g, "web", 0, &r.err), -EEXIST);
	assert_int_equal(fake.watches, 0);
	assert_int_equal(fake.renames, 0);
	assert_int_equal(fake.libxl_open, 0);

	fake.release_on_watch = 7;      /* another domain goes away */
	fake_set_node("/local/domain/7", "", 0, 0, 0);
	fake_set_node("/local/domain/7/name", "other", 0, 0, 0);
	assert_int_equal(xen_guest_rename_when_free(g, "web", 20, &r.err), -EEXIST);
	assert_null(fake_get_node("/local/domain/7/name"));
	assert_string_equal(xen_guest_name(g), "web--backup");
	assert_int_equal(fake.watches, 0);

	fake.release_on_watch = 5;      /* the old primary is destroyed */
	assert_int_equal(xen_guest_rename_when_free(g, "web", 60000, &r.err), 0);
	assert_string_equal(fake_get_node("/local/domain/9/name")->value, "web");
	assert_string_equal(xen_guest_name(g), "web");
	assert_int_equal(fake.renames, 1);
	assert_int_equal(fake.watches, 0);
	assert_int_equal(fake.libxl_open, 0);
	xen_hv_ops.destroy(g);

	g = backup_replica(fd, &r, true);
	fake.fail = (struct fake_fail){ "xs_watch", 1, EIO };
	assert_true(xen_guest_rename_when_free(g, "web", 60000, &r.err) < 0);
	assert_non_null(strstr(r.err.msg, "watching @releaseDomain"));
	assert_string_equal(xen_guest_name(g), "web--backup");
	xen_hv_ops.destroy(g);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_restore_failover_after_complete),
		cmocka_unit_test(test_restore_handover_end),
		cmocka_unit_test(test_restore_partial_checkpoint_never_applied),
		cmocka_unit_test(test_restore_silent_sender),
		cmocka_unit_test(test_restore_corrupt_record),
		cmocka_unit_test(test_restore_engine_written_end),
		cmocka_unit_test(test_restore_failures),
		cmocka_unit_test(test_restore_bad_header),
		cmocka_unit_test(test_json_guest),
		cmocka_unit_test(test_daemon_describe),
		cmocka_unit_test(test_attach_devices),
		cmocka_unit_test(test_failover_phases),
		cmocka_unit_test(test_rename),
		cmocka_unit_test(test_rename_name_taken),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
