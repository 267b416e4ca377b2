# diskrep: disk replication tied to checkpoint epochs (builtin + drbd backends).
LIB_SRCS += diskrep/diskrep.c diskrep/wire.c diskrep/stage.c diskrep/journal.c \
	diskrep/commit.c diskrep/bitmap.c diskrep/builtin.c diskrep/builtin_backup.c \
	diskrep/resync.c diskrep/drbd.c diskrep/drbd_show.c diskrep/drbd_status.c \
	diskrep/nbd_proto.c diskrep/nbd_serve.c diskrep/nbd_device.c
DEPS_PKGS += libxxhash-dev
# libnbd: the NBD project's client library, the independent client test_nbd
# drives the server with.
DEPS_PKGS += libnbd-dev

# Crash-consistency trial driver (used by the integration scripts and soak).
DISKREP_TRIAL := $(BUILD)/tests/diskrep-trial
$(DISKREP_TRIAL): $(BUILD)/obj/tests/diskrep/trial.o $(BUILD)/lib/libremus.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)
CHECK_PREREQS += $(DISKREP_TRIAL)
INTEG_TESTS += tests/integration/diskrep_crash.sh tests/integration/diskrep_commit_crash.sh

# `make soak-diskrep`: many more primary-kill trials and commit-crash seeds.
SOAK_DISKREP_TRIALS ?= 3000
.PHONY: soak-diskrep
soak-diskrep: $(DISKREP_TRIAL)
	BUILD=$(BUILD) DISKREP_TRIALS=$(SOAK_DISKREP_TRIALS) tests/integration/diskrep_crash.sh
	for s in 1 2 3 4 5 6 7 8; do BUILD=$(BUILD) DISKREP_SEED=$$s tests/integration/diskrep_commit_crash.sh || exit 1; done

UNIT_TESTS += test_diskrep test_diskrep_resync test_nbd test_nbd_device
test_nbd_device_SRCS := tests/unit/test_nbd_device.c
test_nbd_device_LDLIBS := -lnbd
test_nbd_SRCS := tests/unit/test_nbd.c
test_nbd_LDLIBS := -lnbd
test_diskrep_SRCS := tests/unit/test_diskrep.c
test_diskrep_resync_SRCS := tests/unit/test_diskrep_resync.c

FUZZ_TARGETS += diskrep_wire diskrep_journal diskrep_drbd_show diskrep_nbd
diskrep_nbd_SRCS := tests/fuzz/diskrep_nbd.c
diskrep_nbd_SMOKE := 15
diskrep_nbd_CORPUS := tests/fuzz/corpus/diskrep_nbd
diskrep_drbd_show_SRCS := tests/fuzz/diskrep_drbd_show.c
diskrep_drbd_show_SMOKE := 15
diskrep_drbd_show_CORPUS := tests/fuzz/corpus/diskrep_drbd_show
diskrep_wire_SRCS := tests/fuzz/diskrep_wire.c
diskrep_wire_SMOKE := 15
diskrep_wire_CORPUS := tests/fuzz/corpus/diskrep_wire
diskrep_journal_SRCS := tests/fuzz/diskrep_journal.c
diskrep_journal_SMOKE := 15
diskrep_journal_CORPUS := tests/fuzz/corpus/diskrep_journal

# drbd backend driver, run against fake drbd-utils by diskrep_drbd.sh.
DISKREP_DRBD_DRIVER := $(BUILD)/tests/diskrep-drbd-driver
$(DISKREP_DRBD_DRIVER): $(BUILD)/obj/tests/diskrep/drbd_driver.o $(BUILD)/lib/libremus.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)
CHECK_PREREQS += $(DISKREP_DRBD_DRIVER)
INTEG_TESTS += tests/integration/diskrep_drbd.sh

BENCHES += diskrep
diskrep_SRCS := bench/diskrep.c
