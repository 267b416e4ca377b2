/*
 * vCPU state <-> HVM_CONTEXT body.  The body is what Xen's
 * xc_domain_hvm_getcontext returns: HEADER, CPU (struct hvm_hw_cpu),
 * CPU_XSAVE (struct hvm_hw_cpu_xsave + the XSAVE area), END, each behind
 * a struct hvm_save_descriptor.  Fields a process has no use for
 * (control registers, segment limits/attributes, MSRs) carry the fixed
 * values of a 64-bit user context and are checked on decode.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>

#include "hv/pvm/pvm.h"
#include "stream/xen_hvm.h"
#include "util/checked.h"

#define PVM_CR0      0x80050033ULL   /* PG|AM|WP|NE|ET|MP|PE */
#define PVM_CR4      0x000006f0ULL   /* OSXMMEXCPT|OSFXSR|PGE|MCE|PAE|PSE */
#define PVM_EFER     0x00000d01ULL   /* NXE|LMA|LME|SCE */
#define PVM_CS_AR    0x0a9bU         /* 64-bit code, present, accessed */
#define PVM_DS_AR    0x0c93U         /* data, present, writable */
#define PVM_USER_CS  0x33
#define PVM_USER_SS  0x2b
#define XSAVE_HDR_OFF 512
#define XSAVE_MIN    (512 + 64)

/* Append one descriptor + body to the blob. */
static int put_rec(struct hv_blob *b, uint16_t code, const void *body,
                   uint32_t len, struct remus_err *err)
{
	struct hvm_save_descriptor d = { .typecode = code, .instance = 0, .length = len };
	size_t need;

	if (!ck_add_size(b->len, sizeof(d) + (size_t)len, &need))
		return remus_err_set(err, HV_EBADBLOB, "hvm context: size overflow");
	if (need > b->cap) {
		size_t cap = need * 2;
		uint8_t *p = realloc(b->data, cap);
		if (p == NULL)
			return remus_err_sys(err, ENOMEM, "hvm context: grow to %zu", cap);
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, &d, sizeof(d));
	if (len)
		memcpy(b->data + b->len + sizeof(d), body, len);
	b->len = need;
	return 0;
}

/* Fill the fixed, non-register parts of hvm_hw_cpu for a 64-bit user vCPU. */
static void fill_fixed(struct hvm_hw_cpu *c)
{
	c->cr0 = PVM_CR0;
	c->cr4 = PVM_CR4;
	c->msr_efer = PVM_EFER;
	c->dr6 = 0xffff0ff0;
	c->dr7 = 0x400;
	c->cs_limit = c->ds_limit = c->es_limit = 0xffffffff;
	c->fs_limit = c->gs_limit = c->ss_limit = 0xffffffff;
	c->cs_arbytes = PVM_CS_AR;
	c->ds_arbytes = c->es_arbytes = c->fs_arbytes = PVM_DS_AR;
	c->gs_arbytes = c->ss_arbytes = PVM_DS_AR;
	c->tr_arbytes = 0x8b;
	c->ldtr_arbytes = 0x10000;   /* unusable */
	c->flags = XEN_X86_FPU_INITIALISED;
}

int pvm_cpu_encode(const struct pvm_vcpu *v, struct hv_blob *out,
                   struct remus_err *err)
{
	struct hvm_save_header h = { .magic = HVM_FILE_MAGIC, .version = HVM_FILE_VERSION };
	struct hvm_hw_cpu c;
	struct hvm_hw_cpu_xsave xh;
	unsigned a, bx, cx, dx;
	int rc;

	if ((rc = pvm_vcpu_validate(v, err)))
		return rc;
	if (__get_cpuid(1, &a, &bx, &cx, &dx))
		h.cpuid = a;
	memset(&c, 0, sizeof(c));
	fill_fixed(&c);
	memcpy(c.fpu_regs, v->xsave, sizeof(c.fpu_regs));
	c.rax = v->rax; c.rbx = v->rbx; c.rcx = v->rcx; c.rdx = v->rdx;
	c.rbp = v->rbp; c.rsi = v->rsi; c.rdi = v->rdi; c.rsp = v->rsp;
	c.r8 = v->r8; c.r9 = v->r9; c.r10 = v->r10; c.r11 = v->r11;
	c.r12 = v->r12; c.r13 = v->r13; c.r14 = v->r14; c.r15 = v->r15;
	c.rip = v->rip; c.rflags = v->rflags;
	c.cs_sel = v->cs; c.ss_sel = v->ss; c.ds_sel = v->ds;
	c.es_sel = v->es; c.fs_sel = v->fs; c.gs_sel = v->gs;
	c.fs_base = v->fs_base; c.gs_base = v->gs_base;
	memset(&xh, 0, sizeof(xh));
	xh.xfeature_mask = v->xcr0;
	xh.xcr0 = v->xcr0;
	xh.xcr0_accum = v->xcr0;

	out->len = 0;
	rc = put_rec(out, HVM_SAVE_CODE(HEADER), &h, sizeof(h), err);
	if (rc == 0)
		rc = put_rec(out, HVM_SAVE_CODE(CPU), &c, sizeof(c), err);
	if (rc == 0) {
		/* CPU_XSAVE: the 24-byte head, then the area (Xen's layout). */
		size_t head = offsetof(struct hvm_hw_cpu_xsave, save_area);
		uint8_t tmp[sizeof(xh) + PVM_XSAVE_MAX];
		memcpy(tmp, &xh, head);
		memcpy(tmp + head, v->xsave, v->xsave_len);
		rc = put_rec(out, CPU_XSAVE_CODE, tmp, (uint32_t)(head + v->xsave_len), err);
	}
	if (rc == 0)
		rc = put_rec(out, HVM_SAVE_CODE(END), NULL, 0, err);
	return rc;
}

/* Read the descriptor at *off; check its body fits and matches `code`. */
static int get_rec(const uint8_t *buf, size_t len, size_t *off, uint16_t code,
                   const uint8_t **body, uint32_t *blen, struct remus_err *err)
{
	struct hvm_save_descriptor d;
	size_t end;

	if (len - *off < sizeof(d))
		return remus_err_set(err, HV_EBADBLOB,
		                     "hvm context: truncated descriptor at offset %zu", *off);
	memcpy(&d, buf + *off, sizeof(d));
	if (d.typecode != code)
		return remus_err_set(err, HV_EBADBLOB,
		                     "hvm context: record type %u at offset %zu, expected %u",
		                     d.typecode, *off, code);
	if (d.instance != 0)
		return remus_err_set(err, HV_EBADBLOB,
		                     "hvm context: instance %u at offset %zu (one vCPU only)",
		                     d.instance, *off);
	if (!ck_add_size(*off + sizeof(d), d.length, &end) || end > len)
		return remus_err_set(err, HV_EBADBLOB,
		                     "hvm context: record type %u at offset %zu: length %u overruns blob",
		                     code, *off, d.length);
	*body = buf + *off + sizeof(d);
	*blen = d.length;
	*off = end;
	return 0;
}

/* Check the fields a pvm vCPU cannot change hold their fixed values. */
static int check_fixed(const struct hvm_hw_cpu *c, struct remus_err *err)
{
	struct hvm_hw_cpu ref;

	memset(&ref, 0, sizeof(ref));
	fill_fixed(&ref);
	if (c->cr0 != ref.cr0 || c->cr4 != ref.cr4 || c->msr_efer != ref.msr_efer)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU: control registers/EFER differ from a pvm vCPU");
	if (c->pending_event != 0)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU: pending event %#x not supported",
		                     c->pending_event);
	if (!(c->flags & XEN_X86_FPU_INITIALISED))
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU: FPU not initialised");
	return 0;
}

/* A data segment selector a 64-bit user vCPU may hold. */
static bool data_sel_ok(uint16_t sel)
{
	return sel == 0 || sel == PVM_USER_SS;
}

int pvm_vcpu_validate(const struct pvm_vcpu *v, struct remus_err *err)
{
	uint64_t bv, comp;

	if (v->cs != PVM_USER_CS || v->ss != PVM_USER_SS)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU: cs=%#x ss=%#x, not 64-bit user selectors",
		                     v->cs, v->ss);
	if (!data_sel_ok(v->ds) || !data_sel_ok(v->es) || !data_sel_ok(v->fs) || !data_sel_ok(v->gs))
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU: bad data segment selector");
	if (!(v->rflags & 0x2) || (v->rflags & ~0x00000000003f7fd7ULL) || (v->rflags & 0x3000))
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU: rflags %#llx invalid for user mode",
		                     (unsigned long long)v->rflags);
	if (v->xsave_len < XSAVE_MIN || v->xsave_len > PVM_XSAVE_MAX)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: xsave length %u", v->xsave_len);
	if ((v->xcr0 & 3) != 3)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU_XSAVE xcr0 %#llx invalid",
		                     (unsigned long long)v->xcr0);
	memcpy(&bv, v->xsave + XSAVE_HDR_OFF, 8);
	memcpy(&comp, v->xsave + XSAVE_HDR_OFF + 8, 8);
	if (bv & ~v->xcr0)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU_XSAVE xstate_bv %#llx outside xcr0",
		                     (unsigned long long)bv);
	if (comp != 0)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU_XSAVE compacted format not supported");
	return 0;
}

/* Copy the register file out of hvm_hw_cpu. */
static void regs_from_cpu(const struct hvm_hw_cpu *c, struct pvm_vcpu *v)
{
	v->rax = c->rax; v->rbx = c->rbx; v->rcx = c->rcx; v->rdx = c->rdx;
	v->rbp = c->rbp; v->rsi = c->rsi; v->rdi = c->rdi; v->rsp = c->rsp;
	v->r8 = c->r8; v->r9 = c->r9; v->r10 = c->r10; v->r11 = c->r11;
	v->r12 = c->r12; v->r13 = c->r13; v->r14 = c->r14; v->r15 = c->r15;
	v->rip = c->rip; v->rflags = c->rflags;
	v->cs = (uint16_t)c->cs_sel; v->ss = (uint16_t)c->ss_sel; v->ds = (uint16_t)c->ds_sel;
	v->es = (uint16_t)c->es_sel; v->fs = (uint16_t)c->fs_sel; v->gs = (uint16_t)c->gs_sel;
	v->fs_base = c->fs_base; v->gs_base = c->gs_base;
}

/* Check and take the CPU_XSAVE record body. */
static int xsave_from_rec(const uint8_t *body, uint32_t blen, const struct hvm_hw_cpu *c,
                          struct pvm_vcpu *v, struct remus_err *err)
{
	size_t head = offsetof(struct hvm_hw_cpu_xsave, save_area);
	struct hvm_hw_cpu_xsave xh;

	if (blen < head + XSAVE_MIN || blen > head + PVM_XSAVE_MAX)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU_XSAVE length %u out of range", blen);
	memcpy(&xh, body, head);
	if (xh.xcr0_accum != xh.xcr0)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU_XSAVE xcr0 %#llx invalid",
		                     (unsigned long long)xh.xcr0);
	v->xcr0 = xh.xcr0;
	v->xsave_len = blen - (uint32_t)head;
	memcpy(v->xsave, body + head, v->xsave_len);
	if (memcmp(c->fpu_regs, v->xsave, sizeof(c->fpu_regs)) != 0)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU fpu_regs disagree with CPU_XSAVE");
	return 0;
}

int pvm_cpu_decode(const uint8_t *buf, size_t len, struct pvm_vcpu *v,
                   struct remus_err *err)
{
	const uint8_t *body;
	uint32_t blen;
	size_t off = 0;
	struct hvm_save_header h;
	struct hvm_hw_cpu c;
	int rc;

	memset(v, 0, sizeof(*v));
	if ((rc = get_rec(buf, len, &off, HVM_SAVE_CODE(HEADER), &body, &blen, err)))
		return rc;
	if (blen != sizeof(h))
		return remus_err_set(err, HV_EBADBLOB, "hvm context: HEADER length %u, expected %zu", blen, sizeof(h));
	memcpy(&h, body, sizeof(h));
	if (h.magic != HVM_FILE_MAGIC || h.version != HVM_FILE_VERSION)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: HEADER magic %#x version %u",
		                     h.magic, h.version);
	if ((rc = get_rec(buf, len, &off, HVM_SAVE_CODE(CPU), &body, &blen, err)))
		return rc;
	if (blen != sizeof(c))
		return remus_err_set(err, HV_EBADBLOB, "hvm context: CPU length %u, expected %zu", blen, sizeof(c));
	memcpy(&c, body, sizeof(c));
	if ((rc = check_fixed(&c, err)))
		return rc;
	regs_from_cpu(&c, v);
	if ((rc = get_rec(buf, len, &off, CPU_XSAVE_CODE, &body, &blen, err)))
		return rc;
	if ((rc = xsave_from_rec(body, blen, &c, v, err)))
		return rc;
	if ((rc = pvm_vcpu_validate(v, err)))
		return rc;
	if ((rc = get_rec(buf, len, &off, HVM_SAVE_CODE(END), &body, &blen, err)))
		return rc;
	if (blen != 0)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: END with length %u", blen);
	if (off != len)
		return remus_err_set(err, HV_EBADBLOB, "hvm context: %zu trailing bytes after END", len - off);
	return 0;
}

int pvm_checkpoint_validate(const uint8_t *hvm, size_t hvm_len, const uint8_t *emu,
                            size_t emu_len, struct remus_err *err)
{
	struct pvm_vcpu *v = malloc(sizeof(*v));
	struct pvm_emu e = { 0 };
	int rc;

	if (v == NULL)
		return remus_err_sys(err, ENOMEM, "pvm: validate checkpoint");
	rc = pvm_cpu_decode(hvm, hvm_len, v, err);
	if (rc == 0)
		rc = pvm_emu_decode(emu, emu_len, &e, err);
	pvm_emu_free(&e);
	free(v);
	if (rc < 0) {
		remus_err_wrap(err, "checkpoint would not restore");
		return err ? (err->code = HV_EUNRESTORABLE) : HV_EUNRESTORABLE;
	}
	return 0;
}
