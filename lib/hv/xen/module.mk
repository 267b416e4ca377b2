# lib/hv/xen: the Xen 4.17 driver (libxenguest, libxenctrl, libxenstore).
LIB_SRCS += lib/hv/xen/xen_ops.c lib/hv/xen/xen_save.c lib/hv/xen/xen_restore.c \
	lib/hv/xen/xen_xs.c lib/hv/xen/xen_check.c
CPPFLAGS += -DHV_HAVE_XEN
DEPS_PKGS += libxen-dev

# hv.c's registry references xen_hv_ops, so every program that asks for a
# driver pulls the Xen libraries in: they go on the global link line
# (--as-needed drops them where unused).
XEN_LDLIBS := $(shell pkg-config --libs xenguest xencontrol xenstore 2>/dev/null)
LDLIBS_ALL += $(XEN_LDLIBS)

# Xen's public headers use anonymous unions (a GNU C extension).
XEN_GNU_OBJS := $(BUILD)/obj/lib/hv/xen/%.o $(BUILD)/asan/obj/lib/hv/xen/%.o \
	$(BUILD)/fuzz/obj/lib/hv/xen/%.o $(BUILD)/obj/tests/unit/test_xen%.o \
	$(BUILD)/asan/obj/tests/unit/test_xen%.o
$(XEN_GNU_OBJS): BASE_CFLAGS += -std=gnu11
