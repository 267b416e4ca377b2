# tests/pvm: pvm's own freestanding test guests (until the guest kit lands)
# and its integration scripts.
PVM_TEST_GUESTS := counter dirtier waiter hcloop echo disk bad_wildptr bad_syscall bad_segv bad_spin \
	compat chatty bad_int80 bad_vsyscall bad_compat_int80 bad_vdso bad_compat_syscall storer
PVM_TEST_ELFS := $(addprefix $(BUILD)/tests/pvm/,$(addsuffix .elf,$(PVM_TEST_GUESTS)))
PVM_GUEST_CFLAGS := -O2 -std=gnu11 -Wall -Wextra -Werror -ffreestanding -nostdlib -static \
	-fno-pic -no-pie -fno-stack-protector -fcf-protection=none -mavx2 \
	-fno-asynchronous-unwind-tables -Wl,--build-id=none -Wl,--no-warn-rwx-segments -Wl,-T,tests/pvm/guests/guest.ld

$(BUILD)/tests/pvm/%.elf: tests/pvm/guests/%.c tests/pvm/guests/rt.h tests/pvm/guests/guest.ld guest/abi/pvm_hypercall.h
	@mkdir -p $(@D)
	$(CC) -I. $(PVM_GUEST_CFLAGS) -o $@ $<

CHECK_PREREQS += $(PVM_TEST_ELFS)
ALL_EXTRA += $(PVM_TEST_ELFS)

UNIT_TESTS += test_pvm
test_pvm_SRCS := tests/unit/test_pvm.c tests/unit/pvm_testlib.c
UNIT_TESTS += test_pvm_dirty
test_pvm_dirty_SRCS := tests/unit/test_pvm_dirty.c tests/unit/pvm_testlib.c
UNIT_TESTS += test_pvm_cow
test_pvm_cow_SRCS := tests/unit/test_pvm_cow.c tests/unit/pvm_testlib.c
UNIT_TESTS += test_pvm_ckpt
test_pvm_ckpt_SRCS := tests/unit/test_pvm_ckpt.c tests/unit/pvm_testlib.c
UNIT_TESTS += test_pvm_net
test_pvm_net_SRCS := tests/unit/test_pvm_net.c tests/unit/pvm_testlib.c

INTEG_TESTS += tests/pvm/pvm_cli.sh
CHECK_PREREQS += $(BUILD)/bin/pvm $(BUILD)/bin/remus-stream
UNIT_TESTS += test_pvm_codec
test_pvm_codec_SRCS := tests/unit/test_pvm_codec.c tools/pvm/pvm_ctl.c
INTEG_TESTS += tests/pvm/pvm_tap.sh
INTEG_TESTS += tests/pvm/pvm_kvstore.sh
UNIT_TESTS += test_pvm_valid
test_pvm_valid_SRCS := tests/unit/test_pvm_valid.c tests/unit/pvm_testlib.c
# remusd: a checkpoint restore would refuse ends protection (state failed).
INTEG_TESTS += tests/integration/remusd_unrestorable.sh
UNIT_TESTS += test_pvm_console
test_pvm_console_SRCS := tests/unit/test_pvm_console.c tests/unit/pvm_testlib.c
INTEG_TESTS += tests/pvm/pvm_console.sh
UNIT_TESTS += test_pvm_sandbox
test_pvm_sandbox_SRCS := tests/unit/test_pvm_sandbox.c tests/unit/pvm_testlib.c
# the store (a xenstore for pvm guests): semantics and its checkpoint record
UNIT_TESTS += test_pvm_store
test_pvm_store_SRCS := tests/unit/test_pvm_store.c
# the store across a failover: a watch fires on the replica, no event twice or lost
INTEG_TESTS += tests/integration/remusd_store.sh
UNIT_TESTS += test_pvm_store_guest
test_pvm_store_guest_SRCS := tests/unit/test_pvm_store_guest.c tests/unit/pvm_testlib.c
INTEG_TESTS += tests/integration/remusd_store_fault.sh
# Live update: a guest handed off by one process and adopted by another.
UNIT_TESTS += test_pvm_handoff
test_pvm_handoff_SRCS := tests/unit/test_pvm_handoff.c tests/unit/pvm_testlib.c
