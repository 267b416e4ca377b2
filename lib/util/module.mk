# lib/util: errors, logging, checked arithmetic shared by all modules.
LIB_SRCS += lib/util/err.c lib/util/log.c lib/util/io.c lib/util/version.c
UNIT_TESTS += test_util
test_util_SRCS := tests/unit/test_util.c
LIB_SRCS += lib/util/relay.c lib/util/ratelim.c
UNIT_TESTS += test_relay
test_relay_SRCS := tests/unit/test_relay.c
# One error space: every module's codes in its own range (lib/util/err.h).
UNIT_TESTS += test_errspace
test_errspace_SRCS := tests/unit/test_errspace.c
# libremus exports only its documented API; installed headers compile alone.
INTEG_TESTS += tests/integration/lib_api.sh
# The version string is compiled into one object only; it is rebuilt when
# the Makefile (where REMUS_VERSION is set) changes.
REMUS_VERSION_OBJS := $(BUILD)/obj/lib/util/version.o $(BUILD)/asan/obj/lib/util/version.o \
	$(BUILD)/fuzz/obj/lib/util/version.o
$(REMUS_VERSION_OBJS): CPPFLAGS += -DREMUS_VERSION='"$(REMUS_VERSION)"'
$(REMUS_VERSION_OBJS): Makefile
UNIT_TESTS += test_ratelim
test_ratelim_SRCS := tests/unit/test_ratelim.c
