# lib/util: errors, logging, checked arithmetic shared by all modules.
LIB_SRCS += lib/util/err.c lib/util/log.c lib/util/io.c
UNIT_TESTS += test_util
test_util_SRCS := tests/unit/test_util.c
LIB_SRCS += lib/util/relay.c lib/util/ratelim.c
UNIT_TESTS += test_relay
test_relay_SRCS := tests/unit/test_relay.c
UNIT_TESTS += test_ratelim
test_ratelim_SRCS := tests/unit/test_ratelim.c
