/* Deterministic sample streams (see stream_sample.h). */
#include "tests/unit/stream_sample.h"

#include <stdlib.h>
#include <string.h>

#include "stream/xen_hvm.h"

#define TRY(x) do { int rc_ = (x); if (rc_ < 0) return rc_; } while (0)

void sample_page(uint8_t *page, uint64_t pfn, unsigned gen)
{
	for (unsigned i = 0; i < STREAM_PAGE_SIZE; i++)
		page[i] = (uint8_t)(pfn * 31 + gen * 7 + i);
}

int sample_hvm_blob(struct stream_buf *b, unsigned gen)
{
	struct hvm_save_header h = {
		.magic = HVM_FILE_MAGIC, .version = HVM_FILE_VERSION,
		.changeset = 0, .cpuid = 0x000806ec, .gtsc_khz = 2400000,
	};
	struct hvm_hw_cpu cpu;

	memset(&cpu, 0, sizeof(cpu));
	cpu.rip = 0x100000 + gen;
	cpu.rsp = 0x8000;
	cpu.cr0 = 0x80000011;
	cpu.cr4 = 0x20;
	cpu.msr_efer = 0x500;
	TRY(STREAM_HVM_PUT(b, HEADER, 0, &h));
	TRY(STREAM_HVM_PUT(b, CPU, 0, &cpu));
	return stream_hvm_put_end(b);
}

int sample_stream_start(struct stream_buf *b)
{
	static const struct stream_cpuid_leaf cpuid[] = {
		{ 0, ~0u, 0xd, 0x756e6547, 0x6c65746e, 0x49656e69 },
		{ 1, ~0u, 0x806ec, 0x800, 0xfeda3203, 0x178bfbff },
	};
	static const struct stream_msr_entry msr[] = { { 0xce, 0, 0x80000000ULL } };

	TRY(stream_put_libxl_header(b));
	TRY(stream_put_libxc_context(b));
	TRY(stream_put_libxc_image_header(b));
	TRY(stream_put_libxc_domain_header(b, STREAM_DOM_X86_HVM, 4, 17));
	TRY(stream_put_cpuid_policy(b, cpuid, 2));
	TRY(stream_put_msr_policy(b, msr, 1));
	return stream_put_static_data_end(b);
}

int sample_checkpoint_body(struct stream_buf *b, unsigned gen)
{
	uint8_t pages[SAMPLE_PAGES][STREAM_PAGE_SIZE];
	const void *ptr[SAMPLE_PAGES + 1];
	uint64_t pfns[SAMPLE_PAGES + 1];
	struct stream_tsc_info tsc = { 0, 2400000, 1000000ULL * (gen + 1), 0 };
	struct stream_hvm_param params[] = {
		{ HVM_PARAM_STORE_PFN, 0xfeffc }, { HVM_PARAM_CONSOLE_PFN, 0xfefff },
	};
	uint32_t n = 0;
	struct stream_buf blob;
	int rc;

	/* gen 0 sends every page and a hole (XTAB); later gens pages gen%6, gen%6+1 */
	for (uint64_t pfn = 0; pfn < SAMPLE_PAGES; pfn++) {
		if (gen > 0 && pfn != gen % SAMPLE_PAGES && pfn != (gen + 1) % SAMPLE_PAGES)
			continue;
		sample_page(pages[n], pfn, gen);
		ptr[n] = pages[n];
		pfns[n++] = pfn;
	}
	if (gen == 0) {
		ptr[n] = NULL;
		pfns[n++] = 0x10 | ((uint64_t)STREAM_PFN_XTAB << STREAM_PFN_TYPE_SHIFT);
	}
	TRY(stream_put_page_data(b, pfns, ptr, n, 0));
	TRY(stream_put_tsc_info(b, &tsc));
	stream_buf_init(&blob);
	rc = sample_hvm_blob(&blob, gen);
	if (rc == 0)
		rc = stream_put_hvm_context(b, stream_buf_flat(&blob), stream_buf_size(&blob), 0);
	stream_buf_free(&blob);
	TRY(rc);
	return stream_put_hvm_params(b, params, 2);
}

int sample_libxl_records(struct stream_buf *b, unsigned gen, int with_xenstore)
{
	static const struct stream_kv kv[] = { { "physmap/1/start_addr", "f0000000" } };
	uint8_t state[40];

	for (unsigned i = 0; i < sizeof(state); i++)
		state[i] = (uint8_t)(i + gen);
	TRY(stream_put_emulator_xenstore_data(b, STREAM_EMU_UNKNOWN, 0, kv, 1));
	TRY(stream_put_emulator_context(b, STREAM_EMU_UNKNOWN, 0, state, sizeof(state), 0));
	if (with_xenstore) {
		static const struct stream_xs_perm perms[] = { { 7, STREAM_XS_PERM_NONE }, { 0, STREAM_XS_PERM_READ } };
		struct stream_xs_entry e[3] = {
			{ .kind = STREAM_XS_NODE, .path_kind = STREAM_XS_RELATIVE,
			  .path = "data/counter", .path_len = 12,
			  .value = (const uint8_t *)"\x01\x00\x02", .value_len = 3,
			  .perms = perms, .nperms = 2 },
			{ .kind = STREAM_XS_WATCH, .path_kind = STREAM_XS_SPECIAL,
			  .path = "@releaseDomain", .path_len = 14,
			  .value = (const uint8_t *)"tok", .value_len = 3 },
			/* with_xenstore 2: a pending watch event too */
			{ .kind = STREAM_XS_EVENT, .path_kind = STREAM_XS_RELATIVE,
			  .path = "data/counter", .path_len = 12,
			  .value = (const uint8_t *)"tok", .value_len = 3 },
		};
		TRY(stream_put_xenstore(b, STREAM_XS_FULL, e, with_xenstore == 2 ? 3 : 2));
	}
	return 0;
}

int sample_plain_stream(struct stream_buf *b)
{
	TRY(sample_stream_start(b));
	TRY(sample_checkpoint_body(b, 0));
	TRY(stream_put_libxc_end(b));
	TRY(sample_libxl_records(b, 0, 0));
	return stream_put_libxl_end(b);
}

int sample_checkpointed_stream(struct stream_buf *b, unsigned n, int clean_end, int with_xenstore)
{
	TRY(sample_stream_start(b));
	for (unsigned gen = 0; gen < n; gen++) {
		TRY(sample_checkpoint_body(b, gen));
		TRY(stream_put_checkpoint(b));
		TRY(sample_libxl_records(b, gen, with_xenstore));
		TRY(stream_put_checkpoint_end(b));
	}
	if (clean_end) {
		TRY(stream_put_libxc_end(b));
		TRY(stream_put_libxl_end(b));
	}
	return 0;
}

uint8_t *sample_flatten(const struct stream_buf *b, size_t *len)
{
	uint8_t *p = malloc(stream_buf_pending(b) + 1);

	if (p == NULL)
		abort();
	stream_buf_copy_out(b, p);
	*len = stream_buf_pending(b);
	return p;
}
