# lib/util: errors, logging, checked arithmetic shared by all modules.
LIB_SRCS += lib/util/err.c lib/util/log.c lib/util/io.c
UNIT_TESTS += test_util
test_util_SRCS := tests/unit/test_util.c
LIB_SRCS += lib/util/relay.c
UNIT_TESTS += test_relay
test_relay_SRCS := tests/unit/test_relay.c
# One error space: every module's codes in its own range (lib/util/err.h).
UNIT_TESTS += test_errspace
test_errspace_SRCS := tests/unit/test_errspace.c
# libremus exports only its documented API; installed headers compile alone.
INTEG_TESTS += tests/integration/lib_api.sh
