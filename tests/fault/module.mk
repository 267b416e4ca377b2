# tests/fault: namespace fault trials of remusd (real processes, a real
# SIGKILL, a UDP probe on the client): remusd_trials.sh, 50 in
# `make check`, 500 in `make soak`; remusd_partition.sh, backup loss
# (kill, link cut) seen from the client.  The in-process engine trials
# (ckpt_trials) are registered with the engine in lib/ckpt/module.mk.
UDP_PROBE_BIN := $(BUILD)/tests/udp-probe
$(UDP_PROBE_BIN): $(BUILD)/obj/tests/fault/udp_probe.o
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^
CHECK_PREREQS += $(UDP_PROBE_BIN)
INTEG_TESTS += tests/fault/remusd_trials.sh tests/fault/remusd_partition.sh
# quorum-gated failover with a real corosync (three nodes in namespaces)
INTEG_TESTS += tests/fault/remusd_quorum.sh
# the two-host witness: corosync-qdevice (ffsplit) on both hosts, qnetd in
# a witness namespace (remusd_quorum.sh with WITNESS=qnetd)
INTEG_TESTS += tests/fault/remusd_qdevice.sh
.PHONY: soak-remusd
soak-remusd: all $(UDP_PROBE_BIN)
	BUILD=$(BUILD) REMUSD_TRIALS=500 tests/fault/remusd_trials.sh
soak: soak-remusd
# remusd's REMUSD_FAULT hook itself (parsing; kill/stop in a forked child).
UNIT_TESTS += test_remusd_fault
test_remusd_fault_SRCS := tests/unit/test_remusd_fault.c remusd/fault.c
# Role reversal (issue 17): the old primary killed at keep-final.
INTEG_TESTS += tests/fault/remusd_reverse_faults.sh
