# lib/hv/pvm: the embedded process-VM hypervisor driver (pvm_hv_ops).
CPPFLAGS += -DHV_HAVE_PVM
LIB_SRCS += lib/hv/pvm/pvm_ops.c lib/hv/pvm/pvm_monitor.c lib/hv/pvm/pvm_stub.c \
	lib/hv/pvm/pvm_hcall.c lib/hv/pvm/pvm_dirty.c lib/hv/pvm/pvm_cpu.c \
	lib/hv/pvm/pvm_emu.c lib/hv/pvm/pvm_elf.c
DEPS_PKGS += libxen-dev libxxhash-dev
