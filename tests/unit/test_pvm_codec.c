/* Strict decoding of pvm's byte formats: HVM_CONTEXT (vCPU), EMULATOR_CONTEXT
 * (devices), guest ELF images and control-socket messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <elf.h>
#include <errno.h>
#include <cmocka.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"
#include "tools/pvm/pvm_tool.h"

/* A plausible vCPU: 64-bit user selectors, x87+SSE+AVX state. */
static struct pvm_vcpu *sample_vcpu(void)
{
	struct pvm_vcpu *v = calloc(1, sizeof(*v));
	assert_non_null(v);
	v->rax = 1; v->rbx = 0x1122334455667788ULL; v->r15 = 15;
	v->rip = PVM_RAM_BASE + 0x40; v->rsp = PVM_RAM_BASE + 0x100000; v->rflags = 0x246;
	v->cs = 0x33; v->ss = 0x2b;
	v->xcr0 = 0x7;
	v->xsave_len = 832;
	v->xsave[0] = 0x7f; v->xsave[1] = 0x03;     /* FCW */
	v->xsave[24] = 0x80; v->xsave[25] = 0x1f;   /* MXCSR */
	v->xsave[160] = 0xaa;                       /* xmm0 */
	v->xsave[512] = 0x7;                        /* XSTATE_BV */
	v->xsave[576] = 0xbb;                       /* ymm0 high */
	return v;
}

static void test_cpu_round_trip_and_truncation(void **state)
{
	struct remus_err err = { 0 };
	struct hv_blob b = { 0 };
	struct pvm_vcpu *v = sample_vcpu(), *w = malloc(sizeof(*w));
	(void)state;

	assert_int_equal(pvm_cpu_encode(v, &b, &err), 0);
	assert_int_equal(pvm_cpu_decode(b.data, b.len, w, &err), 0);
	assert_int_equal(w->rbx, v->rbx);
	assert_int_equal(w->rip, v->rip);
	assert_int_equal(w->xsave_len, v->xsave_len);
	assert_memory_equal(w->xsave, v->xsave, v->xsave_len);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(pvm_cpu_decode(b.data, n, w, &err), HV_EBADBLOB);
	uint8_t *longer = malloc(b.len + 1);
	memcpy(longer, b.data, b.len);
	longer[b.len] = 0;
	assert_int_equal(pvm_cpu_decode(longer, b.len + 1, w, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "trailing"));
	free(longer);
	hv_blob_free(&b);
	free(v);
	free(w);
}

/* Encode, let `edit` damage one field, expect a decode error naming `what`. */
static void expect_reject(void (*edit)(struct pvm_vcpu *), const char *what)
{
	struct remus_err err = { 0 };
	struct hv_blob b = { 0 };
	struct pvm_vcpu *v = sample_vcpu(), *w = malloc(sizeof(*w));

	edit(v);
	if (pvm_cpu_encode(v, &b, &err) == 0) {
		assert_int_equal(pvm_cpu_decode(b.data, b.len, w, &err), HV_EBADBLOB);
		assert_non_null(strstr(err.msg, what));
	}
	hv_blob_free(&b);
	free(v);
	free(w);
}
static void bad_cs(struct pvm_vcpu *v) { v->cs = 0x10; }
static void bad_flags(struct pvm_vcpu *v) { v->rflags = 0x3202; }
static void bad_bv(struct pvm_vcpu *v) { v->xsave[512] = 0x1f; }
static void bad_xcr0(struct pvm_vcpu *v) { v->xcr0 = 0x4; }

static void test_cpu_rejects_bad_fields(void **state)
{
	(void)state;
	expect_reject(bad_cs, "not 64-bit user selectors");
	expect_reject(bad_flags, "rflags");
	expect_reject(bad_bv, "xstate_bv");
	expect_reject(bad_xcr0, "xcr0");
}

static void test_cpu_rejects_bad_header(void **state)
{
	struct remus_err err = { 0 };
	struct hv_blob b = { 0 };
	struct pvm_vcpu *v = sample_vcpu(), *w = malloc(sizeof(*w));
	(void)state;

	assert_int_equal(pvm_cpu_encode(v, &b, &err), 0);
	b.data[8] ^= 1;                             /* HEADER magic */
	assert_int_equal(pvm_cpu_decode(b.data, b.len, w, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "magic"));
	b.data[8] ^= 1;
	b.data[0] = 7;                              /* first record not HEADER */
	assert_int_equal(pvm_cpu_decode(b.data, b.len, w, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "record type 7 at offset 0"));
	hv_blob_free(&b);
	free(v);
	free(w);
}

static void test_emu_round_trip_and_errors(void **state)
{
	struct remus_err err = { 0 };
	struct hv_blob b = { 0 }, b2 = { 0 };
	struct pvm_frame fr[2];
	struct pvm_emu e = { .boot_count = 2, .pending_events = PVM_EV_ANNOUNCE, .waiting = 1,
	                     .wait_deadline_ns = 99, .disk_sectors = 8, .rxq_count = 2, .rxq = fr }, d;
	(void)state;

	memset(fr, 0, sizeof(fr));
	fr[0].len = 60;
	fr[1].len = 61;
	memset(fr[1].data, 0x5a, 61);
	assert_int_equal(pvm_emu_encode(&e, &b, &err), 0);
	assert_int_equal(pvm_emu_decode(b.data, b.len, &d, &err), 0);
	assert_int_equal(d.rxq_count, 2);
	assert_int_equal(d.rxq[1].len, 61);
	assert_int_equal(d.rxq[1].data[60], 0x5a);
	assert_int_equal(d.waiting, 1);
	assert_int_equal(d.pending_events, PVM_EV_ANNOUNCE);
	assert_int_equal(pvm_emu_encode(&d, &b2, &err), 0);
	assert_int_equal(b2.len, b.len);
	assert_memory_equal(b2.data, b.data, b.len);
	pvm_emu_free(&d);
	for (size_t n = 0; n < b.len; n++)
		assert_int_equal(pvm_emu_decode(b.data, n, &d, &err), HV_EBADBLOB);
	b.data[b.len - 1] = 1;                      /* padding of the last frame */
	assert_int_equal(pvm_emu_decode(b.data, b.len, &d, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "non-zero padding"));
	b.data[b.len - 1] = 0;
	b.data[4] = 2;                              /* version */
	assert_int_equal(pvm_emu_decode(b.data, b.len, &d, &err), HV_EBADBLOB);
	assert_non_null(strstr(err.msg, "version 2"));
	hv_blob_free(&b);
	hv_blob_free(&b2);
}

/* A minimal ELF with one PT_LOAD segment at `vaddr`. */
static size_t make_elf(uint8_t *buf, uint64_t vaddr, uint64_t memsz)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;
	Elf64_Phdr *ph = (Elf64_Phdr *)(buf + sizeof(*eh));

	memset(buf, 0, 4096);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_type = ET_EXEC;
	eh->e_machine = EM_X86_64;
	eh->e_entry = vaddr;
	eh->e_phoff = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	ph->p_type = PT_LOAD;
	ph->p_offset = 0;
	ph->p_vaddr = vaddr;
	ph->p_filesz = 4096;
	ph->p_memsz = memsz;
	return 4096;
}

static void test_elf_checks(void **state)
{
	struct remus_err err = { 0 };
	struct pvm_elf elf;
	uint8_t *buf = malloc(4096);
	size_t n;
	(void)state;

	n = make_elf(buf, PVM_RAM_BASE, 8192);
	assert_int_equal(pvm_elf_parse(buf, n, 1 << 20, &elf, &err), 0);
	assert_int_equal(elf.nsegs, 1);
	assert_int_equal(elf.entry, PVM_RAM_BASE);
	n = make_elf(buf, 0x400000, 4096);          /* the usual Linux link address */
	assert_int_equal(pvm_elf_parse(buf, n, 1 << 20, &elf, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "outside guest RAM"));
	n = make_elf(buf, PVM_RAM_BASE, 2 << 20);    /* bss beyond a 1 MiB guest */
	assert_int_equal(pvm_elf_parse(buf, n, 1 << 20, &elf, &err), -EINVAL);
	n = make_elf(buf, PVM_RAM_BASE, 4096);
	assert_int_equal(pvm_elf_parse(buf, 100, 1 << 20, &elf, &err), -EINVAL);
	((Elf64_Ehdr *)buf)->e_phnum = 0xffff;
	assert_int_equal(pvm_elf_parse(buf, n, 1 << 20, &elf, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "overrun"));
	free(buf);
}

static void test_ctl_messages(void **state)
{
	struct remus_err err = { 0 };
	struct pvm_ctl_msg m = { .type = PVM_CTL_REPLY }, d;
	uint8_t buf[PVM_CTL_HDR_SIZE + PVM_CTL_REPLY_SIZE];
	size_t n;
	(void)state;

	m.reply.rc = -22;
	m.reply.state = HV_RUNNING;
	m.reply.ram_bytes = 1 << 24;
	m.reply.console_dropped = 123456789012ULL;
	strcpy(m.reply.msg, "hello");
	n = pvm_ctl_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, sizeof(buf));
	assert_int_equal(pvm_ctl_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.reply.rc, -22);
	assert_string_equal(d.reply.msg, "hello");
	assert_int_equal(d.reply.console_dropped, 123456789012ULL);
	assert_int_equal(pvm_ctl_decode(buf, n - 1, &d, &err), -EPROTO);
	buf[n - 1] = 'x';
	memset(buf + 40, 'x', PVM_CTL_MSG_MAX);      /* the message field */
	assert_int_equal(pvm_ctl_decode(buf, n, &d, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "NUL"));
	m.type = PVM_CTL_SAVE;
	n = pvm_ctl_encode(&m, buf, sizeof(buf));
	assert_int_equal(n, PVM_CTL_HDR_SIZE);
	assert_int_equal(pvm_ctl_decode(buf, n, &d, &err), 0);
	assert_int_equal(d.type, PVM_CTL_SAVE);
	buf[6] = 9;                                 /* unknown type */
	assert_int_equal(pvm_ctl_decode(buf, n, &d, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "unknown message type 9"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpu_round_trip_and_truncation),
		cmocka_unit_test(test_cpu_rejects_bad_fields),
		cmocka_unit_test(test_cpu_rejects_bad_header),
		cmocka_unit_test(test_emu_round_trip_and_errors),
		cmocka_unit_test(test_elf_checks),
		cmocka_unit_test(test_ctl_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
