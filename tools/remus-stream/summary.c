/* One-line human summaries of stream items for `remus-stream dump`. */
#include "tools/remus-stream/remus-stream.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Append to a bounded string. */
static void add(char *s, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add(char *s, size_t n, const char *fmt, ...)
{
	size_t l = strlen(s);
	va_list ap;

	if (l + 1 >= n)
		return;
	va_start(ap, fmt);
	vsnprintf(s + l, n - l, fmt, ap);
	va_end(ap);
}

static const char *emu_name(uint32_t id)
{
	switch (id) {
	case STREAM_EMU_UNKNOWN:       return "unknown";
	case STREAM_EMU_QEMU_TRAD:     return "qemu-traditional";
	case STREAM_EMU_QEMU_UPSTREAM: return "qemu-upstream";
	}
	return "?";
}

/* Names of the HVM save typecodes of xen/arch-x86/hvm/save.h. */
static const char *hvm_code_name(uint16_t c)
{
	static const char *const n[] = {
		"END", "HEADER", "CPU", "PIC", "IOAPIC", "LAPIC", "LAPIC_REGS", "PCI_IRQ",
		"ISA_IRQ", "PCI_LINK", "PIT", "RTC", "HPET", "PMTIMER", "MTRR",
		"VIRIDIAN_DOMAIN", "CPU_XSAVE", "VIRIDIAN_VCPU", "VMCE_VCPU", "TSC_ADJUST",
		"CPU_MSR",
	};
	return c < sizeof(n) / sizeof(n[0]) ? n[c] : "?";
}

static void sum_page_data(char *s, size_t n, const struct stream_page_data *pd)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (uint32_t i = 0; i < pd->count; i++) {
		uint64_t p = stream_pd_pfn(pd, i) & STREAM_PFN_MASK;
		lo = p < lo ? p : lo;
		hi = p > hi ? p : hi;
	}
	add(s, n, "%" PRIu32 " pfns, %" PRIu32 " with data, pfn 0x%" PRIx64 "-0x%" PRIx64,
	    pd->count, pd->npages, lo, hi);
}

static void sum_hvm_context(char *s, size_t n, const struct stream_rec *r)
{
	struct stream_hvm_iter it;
	struct stream_hvm_entry e;
	unsigned count = 0;

	stream_hvm_iter_init(&it, r->body, r->length);
	while (stream_hvm_next(&it, &e, NULL) > 0) {
		if (count < 8)
			add(s, n, "%s%s#%u", count ? " " : "", hvm_code_name(e.typecode), e.instance);
		count++;
	}
	if (count > 8)
		add(s, n, " ... (%u entries)", count);
}

static void sum_xenstore(char *s, size_t n, const struct stream_rec *r)
{
	struct stream_xs_iter it;
	struct stream_xs_entry e;
	unsigned k[8] = { 0 };

	if (stream_xs_iter_init(&it, r->body, r->length, NULL) < 0)
		return;
	while (stream_xs_next(&it, &e, NULL) > 0)
		k[e.kind & 7]++;
	add(s, n, "%s%u nodes, %u watches, %u removals", (it.flags & STREAM_XS_FULL) ? "full: " : "",
	    k[STREAM_XS_NODE], k[STREAM_XS_WATCH], k[STREAM_XS_RM]);
	if (k[STREAM_XS_EVENT])
		add(s, n, ", %u pending events", k[STREAM_XS_EVENT]);
}

void rs_summary(const struct stream_reader *rd, const struct stream_rec *r, char *s, size_t n)
{
	s[0] = '\0';
	switch (r->item) {
	case STREAM_ITEM_XL_HEADER:
		add(s, n, "xl save file, mandatory flags 0x%x, optional 0x%x, config %u bytes",
		    r->u.xl.mandatory, r->u.xl.optional, r->u.xl.config_len);
		return;
	case STREAM_ITEM_LIBXL_HEADER:
		add(s, n, "version %u, options 0x%x", r->u.libxl_hdr.version, r->u.libxl_hdr.options);
		return;
	case STREAM_ITEM_LIBXC_IMAGE_HEADER:
		add(s, n, "version %u, options 0x%x", r->u.ihdr.version, r->u.ihdr.options);
		return;
	case STREAM_ITEM_LIBXC_DOMAIN_HEADER:
		add(s, n, "%s, page shift %u, Xen %u.%u",
		    r->u.dhdr.type == STREAM_DOM_X86_HVM ? "x86 HVM" : "x86 PV",
		    r->u.dhdr.page_shift, r->u.dhdr.xen_major, r->u.dhdr.xen_minor);
		return;
	case STREAM_ITEM_LIBXL_RECORD:
		switch (r->type) {
		case STREAM_XL_EMULATOR_XENSTORE_DATA:
		case STREAM_XL_EMULATOR_CONTEXT:
			add(s, n, "emulator %s (%u), index %u, %u bytes", emu_name(r->u.emu.id),
			    r->u.emu.id, r->u.emu.index, r->u.emu.len);
			return;
		case STREAM_XL_CHECKPOINT_STATE:
			add(s, n, "control %u", r->u.checkpoint_state);
			return;
		case STREAM_XL_CHECKPOINT_END:
			add(s, n, "checkpoint %" PRIu64 " complete", rd->checkpoints);
			return;
		case STREAM_XL_REMUS_XENSTORE:
			sum_xenstore(s, n, r);
			return;
		}
		return;
	case STREAM_ITEM_LIBXC_RECORD:
		switch (r->type) {
		case STREAM_XC_PAGE_DATA:
			sum_page_data(s, n, &r->u.page_data);
			return;
		case STREAM_XC_X86_TSC_INFO:
			add(s, n, "mode %u, %u kHz, %" PRIu64 " ns, incarnation %u", r->u.tsc.mode,
			    r->u.tsc.khz, r->u.tsc.nsec, r->u.tsc.incarnation);
			return;
		case STREAM_XC_HVM_CONTEXT:
			sum_hvm_context(s, n, r);
			return;
		case STREAM_XC_HVM_PARAMS:
			add(s, n, "%u params:", r->u.hvm_params.count);
			for (uint32_t i = 0; i < r->u.hvm_params.count && i < 6; i++) {
				struct stream_hvm_param p = stream_hvm_param_at(r, i);
				add(s, n, " %" PRIu64 "=0x%" PRIx64, p.index, p.value);
			}
			if (r->u.hvm_params.count > 6)
				add(s, n, " ...");
			return;
		case STREAM_XC_X86_CPUID_POLICY:
			add(s, n, "%u leaves", r->u.policy.count);
			return;
		case STREAM_XC_X86_MSR_POLICY:
			add(s, n, "%u MSRs", r->u.policy.count);
			return;
		case STREAM_XC_CHECKPOINT:
			add(s, n, "end of checkpoint %" PRIu64 "'s libxc records", r->checkpoint);
			return;
		case STREAM_XC_X86_PV_VCPU_BASIC:
		case STREAM_XC_X86_PV_VCPU_EXTENDED:
		case STREAM_XC_X86_PV_VCPU_XSAVE:
		case STREAM_XC_X86_PV_VCPU_MSRS:
			add(s, n, "vcpu %u, %u bytes", r->u.pv_vcpu.vcpu_id, r->u.pv_vcpu.len);
			return;
		}
		return;
	}
}
