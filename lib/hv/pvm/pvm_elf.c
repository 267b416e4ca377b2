/*
 * Guest image parser: a static x86-64 ELF executable whose loadable
 * segments all lie inside [PVM_RAM_BASE, PVM_RAM_BASE + ram_bytes).
 * The file is hostile input: every offset and size is checked.
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "guest/abi/pvm_hypercall.h"
#include "hv/pvm/pvm.h"
#include "util/checked.h"

/* Check the ELF header says: 64-bit LE x86-64 executable, sane tables. */
static int elf_check_header(const Elf64_Ehdr *eh, size_t len, struct remus_err *err)
{
	size_t phend;

	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0)
		return remus_err_set(err, -EINVAL, "guest image: not an ELF file");
	if (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_ident[EI_DATA] != ELFDATA2LSB)
		return remus_err_set(err, -EINVAL, "guest image: not a 64-bit little-endian ELF");
	if (eh->e_machine != EM_X86_64)
		return remus_err_set(err, -EINVAL, "guest image: machine %u is not x86-64", eh->e_machine);
	if (eh->e_type != ET_EXEC)
		return remus_err_set(err, -EINVAL, "guest image: type %u is not a static executable (ET_EXEC)",
		                     eh->e_type);
	if (eh->e_phentsize != sizeof(Elf64_Phdr))
		return remus_err_set(err, -EINVAL, "guest image: program header size %u", eh->e_phentsize);
	if (!ck_mul_size(eh->e_phnum, sizeof(Elf64_Phdr), &phend) ||
	    !ck_add_size(phend, eh->e_phoff, &phend) || phend > len)
		return remus_err_set(err, -EINVAL, "guest image: program headers (offset %llu, %u entries) overrun the file",
		                     (unsigned long long)eh->e_phoff, eh->e_phnum);
	return 0;
}

/* Check one PT_LOAD segment: inside the file and inside guest RAM. */
static int elf_check_seg(const Elf64_Phdr *ph, unsigned idx, size_t len,
                         uint64_t ram_bytes, struct remus_err *err)
{
	uint64_t fend, mend;

	if (ph->p_filesz > ph->p_memsz)
		return remus_err_set(err, -EINVAL, "guest image: segment %u filesz > memsz", idx);
	if (!ck_add_u64(ph->p_offset, ph->p_filesz, &fend) || fend > len)
		return remus_err_set(err, -EINVAL, "guest image: segment %u data overruns the file", idx);
	if (!ck_add_u64(ph->p_vaddr, ph->p_memsz, &mend) || ph->p_vaddr < PVM_RAM_BASE ||
	    mend > PVM_RAM_BASE + ram_bytes)
		return remus_err_set(err, -EINVAL,
		                     "guest image: segment %u [%#llx, +%#llx) lies outside guest RAM [%#llx, +%#llx); link at PVM_RAM_BASE",
		                     idx, (unsigned long long)ph->p_vaddr, (unsigned long long)ph->p_memsz,
		                     (unsigned long long)PVM_RAM_BASE, (unsigned long long)ram_bytes);
	return 0;
}

int pvm_elf_parse(const uint8_t *img, size_t len, uint64_t ram_bytes,
                  struct pvm_elf *out, struct remus_err *err)
{
	Elf64_Ehdr eh;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len < sizeof(eh))
		return remus_err_set(err, -EINVAL, "guest image: %zu bytes, too short for an ELF header", len);
	memcpy(&eh, img, sizeof(eh));
	if ((rc = elf_check_header(&eh, len, err)))
		return rc;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + (size_t)i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
			return remus_err_set(err, -EINVAL, "guest image: dynamic linking (segment %u) not allowed", i);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if ((rc = elf_check_seg(&ph, i, len, ram_bytes, err)))
			return rc;
		if (out->nsegs == PVM_ELF_MAX_SEGS)
			return remus_err_set(err, -EINVAL, "guest image: more than %d loadable segments", PVM_ELF_MAX_SEGS);
		out->segs[out->nsegs++] = (struct pvm_elf_seg){ ph.p_vaddr, ph.p_filesz, ph.p_memsz, ph.p_offset };
	}
	if (out->nsegs == 0)
		return remus_err_set(err, -EINVAL, "guest image: no loadable segment");
	if (eh.e_entry < PVM_RAM_BASE || eh.e_entry >= PVM_RAM_BASE + ram_bytes)
		return remus_err_set(err, -EINVAL, "guest image: entry %#llx outside guest RAM",
		                     (unsigned long long)eh.e_entry);
	out->entry = eh.e_entry;
	return 0;
}
