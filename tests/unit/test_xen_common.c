/* Helpers shared by the Xen driver tests (see test_xen_common.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/xen/xen.h"
#include "stream/stream.h"
#include "test_xen_common.h"
#include "test_xen_fake.h"

/* dom0 and a PVH guest "web" with a data node and a frontend node. */
void xt_setup_host(void)
{
	fake_reset();
	fake_set_node("/local/domain", "", 0, 0, 0);
	fake_set_node("/local/domain/0", "", 0, 0, 0);
	fake_set_node("/local/domain/0/name", "Domain-0", 0, 0, 0);
	fake_set_node("/local/domain/5", "", 0, 5, 1);
	fake_set_node("/local/domain/5/name", "web", 0, 5, 1);
	fake_set_node("/local/domain/5/data", "", 5, 0, 1);
	fake_set_node("/local/domain/5/data/epoch", "epoch-0", 5, 0, 1);
	fake_set_node("/local/domain/5/device", "", 0, 5, 1);
	fake_set_node("/local/domain/5/device/vif", "", 0, 5, 1);
	fake_set_node("/local/domain/5/device/vif/0", "", 5, 0, 1);
	fake_set_node("/local/domain/5/device/vif/0/state", "4", 5, 0, 1);
}

/* Primary: the guest is suspended; stamp the epoch into its xenstore. */
static int hook_suspended(void *arg)
{
	struct engine *e = arg;
	char v[32];

	if (!fake.suspended)
		e->not_suspended_in_hook = true;
	e->suspended_calls++;
	snprintf(v, sizeof(v), "epoch-%d", e->suspended_calls);
	fake_set_node("/local/domain/5/data/epoch", v, 5, 0, 1);
	return 0;
}

/* Primary: the engine's own libxl records (none) and CHECKPOINT_END. */
static int hook_postcopy(void *arg, int fd)
{
	struct engine *e = arg;
	struct stream_buf b;
	int rc;

	e->postcopy_calls++;
	stream_buf_init(&b);
	rc = stream_put_checkpoint_end(&b);
	if (rc == 0)
		rc = stream_buf_flush(&b, fd);
	stream_buf_free(&b);
	return rc;
}

/* Primary: "ACK received, next tick": stop after stop_after epochs. */
static int hook_wait(void *arg)
{
	struct engine *e = arg;

	if (e->waits < MAX_EPOCHS)
		e->ends[e->waits] = lseek(e->fd, 0, SEEK_CUR);
	e->waits++;
	if (e->final_at == e->waits)
		e->suspended_at_final = fake.suspended;
	if (e->wait_fail_at == e->waits)
		return e->wait_fail_rc;
	if (e->handed_at == e->waits)
		return HV_STREAM_HANDED_OVER;
	return e->waits < e->stop_after ? 1 : 0;
}

/* Primary: whether the checkpoint just taken is a hand-over's final one. */
static bool hook_final(void *arg)
{
	const struct engine *e = arg;

	return e->final_at != 0 && e->suspended_calls == e->final_at;
}

/* Backup: the stream ended with END (a hand-over). */
static void hook_stream_end(void *arg)
{
	struct engine *e = arg;

	e->stream_ends++;
}

/* Backup: the driver staged a complete checkpoint; acknowledge it. */
static int hook_checkpoint(void *arg, int fd)
{
	struct engine *e = arg;

	e->ckpt_calls++;
	e->ckpt_fd_seen = fd;
	return e->ckpt_rc;
}

void xt_engine_init(struct engine *e, struct hv_stream_hooks *h, int fd)
{
	memset(e, 0, sizeof(*e));
	e->stop_after = 3;
	e->ckpt_rc = 1;
	e->fd = fd;
	*h = (struct hv_stream_hooks){
		.arg = e,
		.suspended = hook_suspended,
		.postcopy = NULL,
		.wait_checkpoint = hook_wait,
		.checkpoint = hook_checkpoint,
		.final = hook_final,
		.stream_end = hook_stream_end,
	};
	if (e->postcopy_writes_end)
		h->postcopy = hook_postcopy;
}

int xt_memfd(void)
{
	int fd = memfd_create("xen-stream", 0);

	assert_true(fd >= 0);
	return fd;
}

int xt_save(struct engine *e, int fd, bool xs_records)
{
	struct hv_guest_config cfg = { .name = "web" };
	struct hv_stream_hooks h;
	struct remus_err err = { 0 };
	struct hv_guest *g = NULL;
	bool own_end = e->postcopy_writes_end;
	int stop = e->stop_after ? e->stop_after : 3, rc;
	int final_at = e->final_at, handed_at = e->handed_at;
	int fail_at = e->wait_fail_at, fail_rc = e->wait_fail_rc;

	xt_engine_init(e, &h, fd);
	e->stop_after = stop;
	e->final_at = final_at;
	e->handed_at = handed_at;
	e->wait_fail_at = fail_at;
	e->wait_fail_rc = fail_rc;
	if (own_end) {
		e->postcopy_writes_end = true;
		h.postcopy = hook_postcopy;
	}
	assert_int_equal(xen_hv_ops.create(&cfg, &g, &err), 0);
	xen_guest_set_xenstore_records(g, xs_records);
	rc = xen_hv_ops.save_stream(g, fd, &h, &err);
	if (rc != 0)
		print_message("save: %s\n", err.msg);
	xen_hv_ops.destroy(g);
	return rc;
}
