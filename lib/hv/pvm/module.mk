# lib/hv/pvm: the embedded process-VM hypervisor driver (pvm_hv_ops).
CPPFLAGS += -DHV_HAVE_PVM
LIB_SRCS += lib/hv/pvm/pvm_ops.c lib/hv/pvm/pvm_monitor.c lib/hv/pvm/pvm_stub.c \
	lib/hv/pvm/pvm_hcall.c lib/hv/pvm/pvm_dirty.c lib/hv/pvm/pvm_cpu.c lib/hv/pvm/pvm_console.c \
	lib/hv/pvm/pvm_emu.c lib/hv/pvm/pvm_elf.c lib/hv/pvm/pvm_cow.c \
	lib/hv/pvm/pvm_store.c lib/hv/pvm/pvm_store_watch.c lib/hv/pvm/pvm_store_rec.c \
	lib/hv/pvm/pvm_store_dev.c \
	lib/hv/pvm/pvm_handoff.c
DEPS_PKGS += libxen-dev libxxhash-dev

FUZZ_TARGETS += pvm_blobs
pvm_blobs_SRCS := tests/fuzz/pvm_blobs.c tools/pvm/pvm_ctl.c
pvm_blobs_SMOKE := 15
pvm_blobs_CORPUS := tests/fuzz/corpus/pvm_blobs

BENCHES += pvm_bench
pvm_bench_SRCS := bench/pvm.c

# the store's parsers: a checkpoint's REMUS_XENSTORE record, a guest's PVM_HC_STORE arguments
FUZZ_TARGETS += pvm_store
pvm_store_SRCS := tests/fuzz/pvm_store.c
pvm_store_SMOKE := 15
pvm_store_CORPUS := tests/fuzz/corpus/pvm_store

FUZZ_TARGETS += pvm_handoff
pvm_handoff_SRCS := tests/fuzz/pvm_handoff.c
pvm_handoff_SMOKE := 10
pvm_handoff_CORPUS := tests/fuzz/corpus/pvm_handoff
