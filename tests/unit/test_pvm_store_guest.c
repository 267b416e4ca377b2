/*
 * pvm's store device through a real guest (tests/pvm/guests/storer.c):
 * the hypercall's refusals of bad arguments (EFAULT, E2BIG, EMSGSIZE with
 * nothing consumed, EACCES), PVM_EV_STORE waking a guest in WAIT when the
 * tools write, and a checkpoint taken while an event is pending: the
 * restored guest gets that event and its watch fires again for a later
 * write, without registering anything again.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "hv/pvm/pvm.h"
#include "tests/unit/pvm_testlib.h"

#define MEM (16u << 20)

static void tools(struct hv_guest *g, uint32_t op, const char *path, const char *v,
                  struct hv_blob *out)
{
	struct hv_store_req q = { op, path, strlen(path), v, v ? strlen(v) : 0 };
	struct remus_err err = { 0 };

	if (pvm_hv_ops.store_request(g, &q, out, &err) < 0)
		fail_msg("store request on %s: %s", path, err.msg);
}

static void expect_line(int fd, const char *want)
{
	char line[256];

	if (!pt_read_line(fd, line, sizeof(line), 10))
		fail_msg("no console line, expected '%s'", want);
	assert_string_equal(line, want);
}

static void test_store_device(void **state)
{
	struct hv_guest_config cfg;
	struct remus_err err = { 0 };
	struct hv_blob out = { 0 }, store = { 0 };
	struct hv_guest *g, *r;
	struct pt_ckpt ck;
	int p[2], q[2], fd;
	(void)state;

	assert_int_equal(pipe(p), 0);
	pt_config(&cfg, "store-guest", "storer", MEM, p[1]);
	g = pt_boot(&cfg);
	expect_line(p[0], "store checks ok");
	tools(g, HV_STORE_WRITE, "/local/domain/1/w", "a", &out);
	expect_line(p[0], "event w t value=a boot=0");
	tools(g, HV_STORE_READ, "w", NULL, &out);
	assert_int_equal(out.len, 1);

	/* paused: the tools' write leaves an event pending in the store */
	assert_int_equal(pt_ckpt_init(&ck, MEM), 0);
	assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
	tools(g, HV_STORE_WRITE, "w", "b", &out);
	pt_ckpt_take(&ck, g);
	assert_int_equal(pvm_hv_ops.store_save(g, &store, &err), 0);
	pvm_hv_ops.destroy(g);

	/* the restored guest reads it, then sees the next write */
	assert_int_equal(pipe(q), 0);
	cfg.console_fd = q[1];
	fd = pt_ckpt_clone_ram(&ck);
	struct hv_checkpoint c = { .ram_fd = fd, .ram_bytes = MEM,
		.hvm_context = ck.hvm.data, .hvm_context_len = ck.hvm.len,
		.emu_context = ck.emu.data, .emu_context_len = ck.emu.len,
		.store = store.data, .store_len = store.len };
	assert_int_equal(pvm_hv_ops.restore(&cfg, &c, &r, &err), 0);
	close(fd);
	assert_int_equal(pvm_hv_ops.start(r, &err), 0);
	expect_line(q[0], "event w t value=b boot=1");
	tools(r, HV_STORE_WRITE, "w", "c", &out);
	expect_line(q[0], "event w t value=c boot=1");

	/* a checkpoint whose store would not load is refused whole */
	store.data[8] ^= 0xff;          /* the first entry's kind */
	c.ram_fd = pt_ckpt_clone_ram(&ck);
	assert_int_not_equal(pvm_hv_ops.restore(&cfg, &c, &g, &err), 0);
	assert_null(g);
	if (strstr(err.msg, "store record: xenstore entry 0") == NULL)
		fail_msg("restore: %s", err.msg);
	assert_int_not_equal(pvm_hv_ops.store_validate(store.data, store.len, &err), 0);
	close(c.ram_fd);

	pvm_hv_ops.destroy(r);
	pt_ckpt_free(&ck);
	hv_blob_free(&out);
	hv_blob_free(&store);
	close(p[0]);
	close(p[1]);
	close(q[0]);
	close(q[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_store_device),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
