# remusd: daemon configuration (remus.conf) and the control-socket codec.
# The daemon and remusctl programs themselves come with the engine; their
# *_SRCS should include $(REMUSD_CONF_SRCS) and $(REMUSD_CTL_SRCS).
REMUSD_CONF_SRCS := remusd/config.c remusd/config_values.c
UNIT_TESTS += test_config
test_config_SRCS := tests/unit/test_config.c $(REMUSD_CONF_SRCS)
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
