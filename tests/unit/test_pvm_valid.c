/*
 * "Protected" must mean restorable: a vCPU or device state that pvm's
 * restore would refuse is refused when it is captured (save_cpu /
 * save_devices: HV_EUNRESTORABLE) and by validate_checkpoint, with the
 * same rules and the same words as the restore.  The compat guest switches
 * itself to 32-bit compatibility mode (cs 0x23) to produce such a state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pvm_testlib.h"
#include "stream/xen_hvm.h"

#define MEM (16ULL << 20)
#define SEL_MSG "hvm context: CPU: cs=0x23 ss=0x2b, not 64-bit user selectors"

/* Offset of hvm_hw_cpu.cs_sel inside an HVM_CONTEXT body pvm wrote. */
#define CS_SEL_OFF (2 * sizeof(struct hvm_save_descriptor) + sizeof(struct hvm_save_header) + \
                    offsetof(struct hvm_hw_cpu, cs_sel))

/* The compat guest, once in compatibility mode: its checkpoint is refused
 * at capture with restore's reason; before the switch it is taken. */
static void test_compat_guest_capture_refused(void **state)
{
	struct remus_err err = { 0 };
	struct hv_guest_config cfg;
	struct hv_blob hvm = { 0 }, emu = { 0 };
	struct hv_guest *g;
	struct timespec t0, t;
	char line[128];
	int pfd[2], rc = 0;

	(void)state;
	assert_int_equal(pipe(pfd), 0);
	pt_config(&cfg, "compat", "compat", MEM, pfd[1]);
	g = pt_boot(&cfg);
	assert_true(pt_read_line(pfd[0], line, sizeof(line), 10));
	assert_string_equal(line, "compat: 64-bit");
	assert_true(pt_read_line(pfd[0], line, sizeof(line), 20));
	assert_string_equal(line, "compat: switching to 32-bit compatibility mode");
	/* the far return follows the hypercall at once: a few pauses at most */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
		rc = pvm_hv_ops.save_cpu(g, &hvm, &err);
		if (rc != 0)
			break;
		assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			fail_msg("the compat guest's vCPU was still saved after 10 s");
	}
	assert_int_equal(rc, HV_EUNRESTORABLE);
	assert_int_equal(err.code, HV_EUNRESTORABLE);
	assert_non_null(strstr(err.msg, "checkpoint would not restore: " SEL_MSG));
	/* devices are fine and still taken; the guest itself runs on */
	assert_int_equal(pvm_hv_ops.save_devices(g, &emu, &err), 0);
	assert_int_equal(pvm_hv_ops.resume(g, &err), 0);
	pvm_hv_ops.destroy(g);
	hv_blob_free(&hvm);
	hv_blob_free(&emu);
	close(pfd[0]);
	close(pfd[1]);
}

/* validate_checkpoint accepts a real checkpoint and refuses the same one
 * with cs 0x23 patched in, in restore's words; restore refuses it alike. */
static void test_validate_same_rules_as_restore(void **state)
{
	struct remus_err err = { 0 }, rerr = { 0 };
	struct hv_guest_config cfg;
	struct hv_guest *g, *r;
	struct pt_ckpt ck;
	uint16_t sel = 0x23;
	int fd;

	(void)state;
	pt_config(&cfg, "counter", "counter", MEM, -1);
	g = pt_boot(&cfg);
	assert_int_equal(pt_ckpt_init(&ck, MEM), 0);
	assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
	pt_ckpt_take(&ck, g);
	assert_int_equal(pvm_hv_ops.validate_checkpoint(ck.hvm.data, ck.hvm.len, ck.emu.data,
	                                                ck.emu.len, &err), 0);
	assert_true(ck.hvm.len > CS_SEL_OFF + sizeof(sel));
	memcpy(ck.hvm.data + CS_SEL_OFF, &sel, sizeof(sel));
	assert_int_equal(pvm_hv_ops.validate_checkpoint(ck.hvm.data, ck.hvm.len, ck.emu.data,
	                                                ck.emu.len, &err), HV_EUNRESTORABLE);
	assert_string_equal(err.msg, "checkpoint would not restore: " SEL_MSG);
	fd = pt_ckpt_clone_ram(&ck);
	r = pt_restore(&cfg, &ck, fd, &rerr);
	assert_null(r);
	assert_non_null(strstr(rerr.msg, SEL_MSG));
	close(fd);
	/* the vCPU good again, the device blob cut short: refused alike */
	sel = 0x33;
	memcpy(ck.hvm.data + CS_SEL_OFF, &sel, sizeof(sel));
	assert_int_equal(pvm_hv_ops.validate_checkpoint(ck.hvm.data, ck.hvm.len, ck.emu.data,
	                                                ck.emu.len, &err), 0);
	assert_int_equal(pvm_hv_ops.validate_checkpoint(ck.hvm.data, ck.hvm.len, ck.emu.data, 3,
	                                                &err), HV_EUNRESTORABLE);
	assert_non_null(strstr(err.msg, "checkpoint would not restore: emulator context: 3 bytes"));
	pvm_hv_ops.destroy(g);
	pt_ckpt_free(&ck);
}

/* The encoder applies the restore's vCPU rules: nothing it writes can be
 * refused by the decoder for the selectors or rflags. */
static void test_encode_refuses_what_decode_refuses(void **state)
{
	struct remus_err err = { 0 };
	struct hv_guest_config cfg;
	struct pvm_vcpu *v = malloc(sizeof(*v));
	struct hv_blob out = { 0 };
	struct hv_guest *g;
	struct pt_ckpt ck;

	(void)state;
	assert_non_null(v);
	pt_config(&cfg, "counter", "counter", MEM, -1);
	g = pt_boot(&cfg);
	assert_int_equal(pt_ckpt_init(&ck, MEM), 0);
	assert_int_equal(pvm_hv_ops.suspend(g, &err), 0);
	pt_ckpt_take(&ck, g);
	assert_int_equal(pvm_cpu_decode(ck.hvm.data, ck.hvm.len, v, &err), 0);
	assert_int_equal(pvm_vcpu_validate(v, &err), 0);
	assert_int_equal(pvm_cpu_encode(v, &out, &err), 0);
	v->cs = 0x23;
	assert_int_equal(pvm_cpu_encode(v, &out, &err), HV_EBADBLOB);
	assert_string_equal(err.msg, SEL_MSG);
	v->cs = 0x33;
	v->rflags |= 0x3000;        /* IOPL 3: not a user-mode value */
	assert_int_equal(pvm_cpu_encode(v, &out, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "invalid for user mode"));
	pvm_hv_ops.destroy(g);
	pt_ckpt_free(&ck);
	hv_blob_free(&out);
	free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compat_guest_capture_refused),
		cmocka_unit_test(test_validate_same_rules_as_restore),
		cmocka_unit_test(test_encode_refuses_what_decode_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
