# remusd: daemon configuration (remus.conf) and the control-socket codec.
# The daemon and remusctl programs themselves come with the engine; their
# *_SRCS should include $(REMUSD_CONF_SRCS) and $(REMUSD_CTL_SRCS).
REMUSD_CONF_SRCS := remusd/config.c remusd/config_values.c remusd/config_files.c
UNIT_TESTS += test_config
test_config_SRCS := tests/unit/test_config.c $(REMUSD_CONF_SRCS)
UNIT_TESTS += test_config_files
test_config_files_SRCS := tests/unit/test_config_files.c $(REMUSD_CONF_SRCS)
REMUSD_CTL_SRCS := remusd/ctl_proto.c remusd/ctl_sock.c remusd/ctl_server.c
UNIT_TESTS += test_ctl
test_ctl_SRCS := tests/unit/test_ctl.c $(REMUSD_CTL_SRCS)
FUZZ_TARGETS += config_parse ctl_parse
config_parse_SRCS := tests/fuzz/config_parse.c $(REMUSD_CONF_SRCS)
config_parse_SMOKE := 15
config_parse_CORPUS := tests/fuzz/corpus/config_parse
ctl_parse_SRCS := tests/fuzz/ctl_parse.c $(REMUSD_CTL_SRCS)
ctl_parse_SMOKE := 10
ctl_parse_CORPUS := tests/fuzz/corpus/ctl_parse
UNIT_TESTS += test_ctl_defer
test_ctl_defer_SRCS := tests/unit/test_ctl_defer.c $(REMUSD_CTL_SRCS)
# remusctl check's peer contact: the backup's answer on a check-only link
FUZZ_TARGETS += check_answer
check_answer_SRCS := tests/fuzz/check_answer.c remusd/check_proto.c
check_answer_SMOKE := 10
check_answer_CORPUS := tests/fuzz/corpus/check_answer
UNIT_TESTS += test_ctl_refuse
test_ctl_refuse_SRCS := tests/unit/test_ctl_refuse.c $(REMUSD_CTL_SRCS)
# Quorum (quorum.h): the view and the verdicts on a lost peer, one file per
# backend (none; corosync: votequorum + a CPG group of the daemons).  The
# unit test drives the verdicts and the sessions' gates with a fake backend.
REMUSD_QUORUM_SRCS := remusd/quorum_view.c remusd/quorum_none.c remusd/quorum_corosync.c \
	remusd/generation.c
REMUSD_QUORUM_LDLIBS := -lvotequorum -lcpg -lcorosync_common
DEPS_PKGS += libvotequorum-dev libcpg-dev libcorosync-common-dev corosync
# the two-host witness (docs/cluster.md, tests/fault/remusd_qdevice.sh)
DEPS_PKGS += corosync-qdevice corosync-qnetd
UNIT_TESTS += test_quorum
test_quorum_SRCS := tests/unit/test_quorum.c $(REMUSD_QUORUM_SRCS)
test_quorum_LDLIBS := $(REMUSD_QUORUM_LDLIBS)
# The per-guest sessions: one state machine (session_fsm.c, the table), what
# both roles share, each role's side, and one engine file per "who drives
# the checkpoint loop" (session_step.c: the engine's own loop, pvm;
# session_driver.c: the driver's loop, Xen).  remusd_SRCS takes them.
REMUSD_SESSION_SRCS := remusd/session_fsm.c remusd/session.c remusd/session_disk.c remusd/session_primary.c \
	remusd/session_backup.c remusd/session_step.c remusd/session_driver.c \
	remusd/session_quorum.c $(REMUSD_QUORUM_SRCS) \
	remusd/session_upgrade.c
UNIT_TESTS += test_session_fsm
test_session_fsm_SRCS := tests/unit/test_session_fsm.c remusd/session_fsm.c
# The session machine with the driver's own loop (Xen) over the fake Xen.
UNIT_TESTS += test_session_driver
test_session_driver_SRCS := tests/unit/test_session_driver.c $(REMUSD_SESSION_SRCS) \
	$(REMUSD_CONF_SRCS) tests/unit/test_xen_common.c tests/unit/test_xen_fake.c \
	tests/unit/test_xen_fake_rename.c tests/unit/test_net_util.c tests/unit/test_xen_fake_config.c
test_session_driver_WRAP = $(XEN_TEST_WRAP) libxl_retrieve_domain_configuration
test_session_driver_LDLIBS += $(REMUSD_QUORUM_LDLIBS)
# A Xen guest's disk served over NBD by the sessions (libnbd as dom0's client)
UNIT_TESTS += test_session_nbd
test_session_nbd_SRCS := tests/unit/test_session_nbd.c $(REMUSD_SESSION_SRCS) \
	$(REMUSD_CONF_SRCS) tests/unit/test_xen_common.c tests/unit/test_xen_fake.c \
	tests/unit/test_xen_fake_rename.c tests/unit/test_xen_fake_pages.c tests/unit/test_net_util.c \
	tests/unit/stream_trial.c tests/unit/test_xen_fake_config.c
test_session_nbd_WRAP = $(XEN_TEST_WRAP) libxl_retrieve_domain_configuration
test_session_nbd_LDLIBS += $(REMUSD_QUORUM_LDLIBS) -lnbd
# ownership generations: the state file and the group message (hostile input)
FUZZ_TARGETS += generation_parse
generation_parse_SRCS := tests/fuzz/generation_parse.c remusd/generation.c
generation_parse_SMOKE := 10
generation_parse_CORPUS := tests/fuzz/corpus/generation_parse
UNIT_TESTS += test_generation
test_generation_SRCS := tests/unit/test_generation.c remusd/generation.c
# The OCF resource agent (etc/ocf/remus, installed by `make install`):
# ocf-tester and the failover = cluster promotion against real daemons.
DEPS_PKGS += resource-agents libxml2-utils
INTEG_TESTS += tests/integration/ocf_agent.sh
# The fence agent for namespace hosts (etc/fence/fence_remusns, installed
# by `make install`; the stonith device of make cluster-check)
INTEG_TESTS += tests/integration/fence_agent.sh
# make cluster-check: Pacemaker + corosync in three namespace hosts, the
# promotable clone of ocf:remus:remus (tests/cluster/cluster_check.sh)
DEPS_PKGS += pacemaker pacemaker-cli-utils
.PHONY: cluster-check
cluster-check: deps
	@$(MAKE) --no-print-directory all
	BUILD=$(BUILD) tests/cluster/cluster_check.sh kill
	BUILD=$(BUILD) tests/cluster/cluster_check.sh partition
# Live update (issue 18): the hand-over stream an old daemon passes to the
# new binary, its decoder and its descriptor transport (SCM_RIGHTS).
REMUSD_UPGRADE_SRCS := remusd/upgrade_stream.c remusd/upgrade_parse.c remusd/upgrade_fds.c
UNIT_TESTS += test_upgrade_stream
test_upgrade_stream_SRCS := tests/unit/test_upgrade_stream.c $(REMUSD_UPGRADE_SRCS) remusd/session_fsm.c
FUZZ_TARGETS += upgrade_stream
upgrade_stream_SRCS := tests/fuzz/upgrade_stream.c $(REMUSD_UPGRADE_SRCS)
upgrade_stream_SMOKE := 10
upgrade_stream_CORPUS := tests/fuzz/corpus/upgrade_stream
# The daemon's live update: the old daemon's side and the new one's.
remusd_SRCS += remusd/upgrade.c remusd/upgrade_resume.c $(REMUSD_UPGRADE_SRCS)
# Xen guests' disks served to dom0's kernel over NBD (diskrep = builtin)
remusd_SRCS += remusd/disk_export.c
INTEG_TESTS += tests/integration/remusd_upgrade.sh tests/integration/remusd_upgrade_kvstore.sh \
	tests/integration/remusd_upgrade_faults.sh tests/integration/remusd_upgrade_fault_new.sh
