# lib/ckpt: the checkpoint engine (sender epoch loop, receiver staging+commit,
# failover).  Also registers remusd/remusctl and the engine's tests.
LIB_SRCS += lib/ckpt/sender.c lib/ckpt/sender_sync.c lib/ckpt/sender_io.c lib/ckpt/receiver.c lib/ckpt/receiver_replica.c lib/ckpt/disk.c \
	lib/ckpt/stream_link.c lib/ckpt/stream_sender.c lib/ckpt/stream_sender_pump.c lib/ckpt/stream_delta.c lib/ckpt/stream_receiver.c lib/ckpt/stream_receiver_pump.c \
	lib/ckpt/delta.c lib/ckpt/handover.c lib/ckpt/pagehash.c lib/ckpt/stats.c lib/ckpt/fault.c lib/ckpt/replica.c

UNIT_TESTS += test_ckpt test_stream_link test_stream_handover test_stream_dm test_stream_delta test_stream_fault test_stream_diskrep
# driver-owned loops with the Xen driver over the fake Xen (lib/hv/xen/module.mk)
test_stream_link_SRCS := tests/unit/test_stream_link.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c tests/unit/test_net_util.c
test_stream_link_WRAP = $(XEN_TEST_WRAP)
# delta compression of the Xen driver's stream (a fake guest with real pages)
test_stream_delta_SRCS := tests/unit/test_stream_delta.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c tests/unit/test_xen_fake_pages.c \
	tests/unit/test_net_util.c
test_stream_delta_WRAP = $(XEN_TEST_WRAP)
# the engine's fault points on the Xen path (the same guest)
test_stream_fault_SRCS := tests/unit/test_stream_fault.c tests/unit/stream_trial.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c tests/unit/test_xen_fake_pages.c \
	tests/unit/test_net_util.c
test_stream_fault_WRAP = $(XEN_TEST_WRAP)
# the builtin diskrep's frames on the Xen path (the same guest, real disk images)
test_stream_diskrep_SRCS := tests/unit/test_stream_diskrep.c tests/unit/stream_trial.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c tests/unit/test_xen_fake_pages.c \
	tests/unit/test_net_util.c
test_stream_diskrep_WRAP = $(XEN_TEST_WRAP)
test_stream_handover_SRCS := tests/unit/test_stream_handover.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c tests/unit/test_net_util.c
test_stream_handover_WRAP = $(XEN_TEST_WRAP)
# whole checkpoints into the fake libxl restore (a guest with a device model)
test_stream_dm_SRCS := tests/unit/test_stream_dm.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c tests/unit/test_net_util.c tests/unit/stream_sample.c
test_stream_dm_WRAP = $(XEN_TEST_WRAP)
test_ckpt_SRCS := tests/unit/test_ckpt.c tests/unit/ckpt_testlib.c tests/unit/pvm_testlib.c tests/unit/test_net_util.c
# the initial sync's copies: pre-copy frames go straight from guest RAM (issue 15)
UNIT_TESTS += test_ckpt_sync
test_ckpt_sync_SRCS := tests/unit/test_ckpt_sync.c tests/unit/pvm_testlib.c tests/unit/test_net_util.c

# remusd (the daemon) and remusctl (the CLI).
PROGRAMS += remusd remusctl
remusd_SRCS = remusd/main.c remusd/control.c remusd/ownership.c $(REMUSD_SESSION_SRCS) remusd/status.c remusd/hold.c remusd/fault.c remusd/guest_op.c \
	remusd/metrics.c remusd/metrics_text.c \
	remusd/check_peer.c remusd/check_proto.c remusd/guest_set.c remusd/guest_store.c \
	$(REMUSD_CONF_SRCS) $(REMUSD_CTL_SRCS)
remusd_LDLIBS := -lsystemd -lmicrohttpd -lvotequorum -lcpg -lcorosync_common
# protection the daemon restarts by itself (role reversal, reprotect = auto)
remusd_SRCS += remusd/reprotect.c remusd/in_doubt.c
# remusctl evacuate --to: prepare, perform, finish, confirm
remusd_SRCS += remusd/evacuate_to.c
# the metrics endpoint (libmicrohttpd) and its test's promtool (Debian: prometheus)
DEPS_PKGS += libmicrohttpd-dev prometheus
remusctl_SRCS = remusd/remusctl.c remusd/remusctl_status.c $(REMUSD_CTL_SRCS)

# End to end: two daemons in namespaces, failover of the counter guest;
# the demo scenario (kvstore, SIGKILL mid-load, no acknowledged write lost).
INTEG_TESTS += tests/integration/remusd_failover.sh tests/integration/remusd_refuse.sh \
	tests/integration/remusd_backup_loss.sh tests/integration/remusd_reprotect.sh \
	tests/integration/remusd_resync_ram.sh tests/integration/remusd_two_replicas.sh \
	tests/integration/remusd_evacuate.sh tests/integration/remusd_in_doubt.sh \
	tests/integration/remusd_handshake.sh tests/integration/remusd_ctl_async.sh \
	tests/integration/remusd_loop.sh \
	tests/integration/metrics.sh tests/integration/remusd_check.sh \
	tests/integration/remusd_nfqueue.sh tests/integration/remusd_set.sh \
	tests/integration/remusd_blackhole.sh \
	tests/integration/demo.sh tests/integration/remusd_bigguest.sh

# Real-size guests: 256 MiB in check (above), 1 GiB (pvm's largest) in soak.
.PHONY: soak-bigguest
soak-bigguest: all $(CHECK_PREREQS)
	BUILD=$(BUILD) BIG_MEM=1G tests/integration/remusd_bigguest.sh
soak: soak-bigguest

# Fault trials: kill the primary at random moments (50 in check, 500 in soak).
CKPT_TRIALS_BIN := $(BUILD)/tests/ckpt-trials
CKPT_TRIALS_SRCS := tests/fault/ckpt_trials.c tests/unit/ckpt_testlib.c \
	tests/unit/pvm_testlib.c tests/unit/test_net_util.c
$(CKPT_TRIALS_BIN): $(patsubst %.c,$(BUILD)/obj/%.o,$(CKPT_TRIALS_SRCS)) $(BUILD)/lib/libremus.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ -lcmocka $(LDLIBS_ALL)
CHECK_PREREQS += $(CKPT_TRIALS_BIN)
INTEG_TESTS += tests/fault/ckpt_trials.sh
.PHONY: soak-ckpt
soak-ckpt: $(CKPT_TRIALS_BIN)
	BUILD=$(BUILD) CKPT_TRIALS=500 tests/fault/ckpt_trials.sh
soak: soak-ckpt

BENCHES += ckpt_bench size_bench
ckpt_bench_SRCS := bench/ckpt_bench.c
size_bench_SRCS := bench/size_bench.c

FUZZ_TARGETS += ckpt_recv
ckpt_recv_SRCS := tests/fuzz/ckpt_recv.c
ckpt_recv_SMOKE := 15
ckpt_recv_CORPUS := tests/fuzz/corpus/ckpt_recv

FUZZ_TARGETS += ckpt_pagehash
ckpt_pagehash_SRCS := tests/fuzz/ckpt_pagehash.c
ckpt_pagehash_SMOKE := 10
ckpt_pagehash_CORPUS := tests/fuzz/corpus/ckpt_pagehash

# Delta compression of a driver's stream (encoder round trip) and the
# backup's mirror (container bytes from the primary): hostile input.
FUZZ_TARGETS += ckpt_stream_delta
ckpt_stream_delta_SRCS := tests/fuzz/ckpt_stream_delta.c
ckpt_stream_delta_SMOKE := 10
ckpt_stream_delta_CORPUS := tests/fuzz/corpus/ckpt_stream_delta
# the guest's store in every checkpoint, fault points between its quiesce and CHECKPOINT_END
UNIT_TESTS += test_ckpt_store
test_ckpt_store_SRCS := tests/unit/test_ckpt_store.c tests/unit/pvm_testlib.c tests/unit/test_net_util.c
# a run carried on over a new link (live update of the primary's daemon)
UNIT_TESTS += test_ckpt_resume
test_ckpt_resume_SRCS := tests/unit/test_ckpt_resume.c tests/unit/ckpt_testlib.c tests/unit/pvm_testlib.c tests/unit/test_net_util.c
# the replica state a backup daemon's live update hands over: hostile input
FUZZ_TARGETS += ckpt_replica
ckpt_replica_SRCS := tests/fuzz/ckpt_replica.c
ckpt_replica_SMOKE := 10
ckpt_replica_CORPUS := tests/fuzz/corpus/ckpt_replica
