# lib/util: errors, logging, checked arithmetic shared by all modules.
LIB_SRCS += lib/util/err.c lib/util/log.c lib/util/io.c lib/util/version.c
UNIT_TESTS += test_util
test_util_SRCS := tests/unit/test_util.c
LIB_SRCS += lib/util/relay.c
UNIT_TESTS += test_relay
test_relay_SRCS := tests/unit/test_relay.c
# The version string is compiled into one object only; it is rebuilt when
# the Makefile (where REMUS_VERSION is set) changes.
REMUS_VERSION_OBJS := $(BUILD)/obj/lib/util/version.o $(BUILD)/asan/obj/lib/util/version.o \
	$(BUILD)/fuzz/obj/lib/util/version.o
$(REMUS_VERSION_OBJS): CPPFLAGS += -DREMUS_VERSION='"$(REMUS_VERSION)"'
$(REMUS_VERSION_OBJS): Makefile
