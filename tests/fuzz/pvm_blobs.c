/*
 * libFuzzer target for pvm's hostile-input parsers, selected by the first
 * byte: 0 HVM_CONTEXT (vCPU), 1 EMULATOR_CONTEXT (devices), 2 guest ELF,
 * 3 a `pvm` control-socket message.
 * A blob that decodes must re-encode to something that decodes the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hv/pvm/pvm.h"
#include "tools/pvm/pvm_tool.h"

/* vCPU: decode, encode, decode again: same registers and XSAVE area. */
static void fuzz_cpu(const uint8_t *d, size_t n)
{
	static struct pvm_vcpu a, b;    /* large; fuzz targets run single-threaded */
	struct remus_err err = { 0 };
	struct hv_blob blob = { 0 };

	if (pvm_cpu_decode(d, n, &a, &err) < 0)
		return;
	if (pvm_cpu_encode(&a, &blob, &err) < 0 || pvm_cpu_decode(blob.data, blob.len, &b, &err) < 0)
		__builtin_trap();
	if (a.rip != b.rip || a.xsave_len != b.xsave_len || memcmp(a.xsave, b.xsave, a.xsave_len))
		__builtin_trap();
	hv_blob_free(&blob);
}

/* Devices: a blob that decodes re-encodes byte for byte. */
static void fuzz_emu(const uint8_t *d, size_t n)
{
	struct remus_err err = { 0 };
	struct hv_blob blob = { 0 };
	struct pvm_emu e;

	if (pvm_emu_decode(d, n, &e, &err) < 0)
		return;
	if (pvm_emu_encode(&e, &blob, &err) < 0 || blob.len != n || memcmp(blob.data, d, n))
		__builtin_trap();
	hv_blob_free(&blob);
	pvm_emu_free(&e);
}

/* ELF: every accepted segment lies inside the file and inside RAM. */
static void fuzz_elf(const uint8_t *d, size_t n)
{
	struct remus_err err = { 0 };
	struct pvm_elf elf;
	const uint64_t ram = 16ULL << 20;

	if (pvm_elf_parse(d, n, ram, &elf, &err) < 0)
		return;
	for (unsigned i = 0; i < elf.nsegs; i++)
		if (elf.segs[i].offset + elf.segs[i].filesz > n ||
		    elf.segs[i].vaddr + elf.segs[i].memsz > 0x40000000ULL + ram)
			__builtin_trap();
}

/* Control message: one that decodes re-encodes byte for byte. */
static void fuzz_ctl(const uint8_t *d, size_t n)
{
	struct remus_err err = { 0 };
	struct pvm_ctl_msg m;
	uint8_t buf[PVM_CTL_HDR_SIZE + PVM_CTL_REPLY_SIZE];

	if (pvm_ctl_decode(d, n, &m, &err) < 0)
		return;
	if (pvm_ctl_encode(&m, buf, sizeof(buf)) != n || memcmp(buf, d, n))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 4) {
	case 0: fuzz_cpu(data + 1, size - 1); break;
	case 1: fuzz_emu(data + 1, size - 1); break;
	case 2: fuzz_elf(data + 1, size - 1); break;
	default: fuzz_ctl(data + 1, size - 1); break;
	}
	return 0;
}
