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
# The per-guest sessions: one state machine (session_fsm.c, the table), what
# both roles share, each role's side, and one engine file per "who drives
# the checkpoint loop" (session_step.c: the engine's own loop, pvm;
# session_driver.c: the driver's loop, Xen).  remusd_SRCS takes them.
REMUSD_SESSION_SRCS := remusd/session_fsm.c remusd/session.c remusd/session_primary.c \
	remusd/session_backup.c remusd/session_step.c remusd/session_driver.c \
	remusd/session_upgrade.c
UNIT_TESTS += test_session_fsm
test_session_fsm_SRCS := tests/unit/test_session_fsm.c remusd/session_fsm.c
# The session machine with the driver's own loop (Xen) over the fake Xen.
UNIT_TESTS += test_session_driver
test_session_driver_SRCS := tests/unit/test_session_driver.c $(REMUSD_SESSION_SRCS) \
	$(REMUSD_CONF_SRCS) tests/unit/test_xen_common.c tests/unit/test_xen_fake.c \
	tests/unit/test_xen_fake_rename.c tests/unit/test_net_util.c
test_session_driver_WRAP = $(XEN_TEST_WRAP) libxl_retrieve_domain_configuration
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
INTEG_TESTS += tests/integration/remusd_upgrade.sh tests/integration/remusd_upgrade_kvstore.sh \
	tests/integration/remusd_upgrade_faults.sh tests/integration/remusd_upgrade_fault_new.sh
