# lib/hv/xen: the Xen 4.17 driver (libxenguest, libxenctrl, libxenstore).
LIB_SRCS += lib/hv/xen/xen_ops.c lib/hv/xen/xen_save.c lib/hv/xen/xen_restore.c \
	lib/hv/xen/xen_xs.c lib/hv/xen/xen_check.c lib/hv/xen/xen_probe.c \
	lib/hv/xen/xen_libxl.c lib/hv/xen/xen_xlproto.c lib/hv/xen/xen_config.c \
	lib/hv/xen/xen_qmp.c lib/hv/xen/xen_emu.c lib/hv/xen/xen_destroy.c \
	lib/hv/xen/xen_restore_dm.c lib/hv/xen/xen_daemon.c
CPPFLAGS += -DHV_HAVE_XEN
DEPS_PKGS += libxen-dev libjson-c-dev

# hv.c's registry references xen_hv_ops, so every program that asks for a
# driver pulls the Xen libraries in: they go on the global link line
# (--as-needed drops them where unused).
XEN_LDLIBS := $(shell pkg-config --libs xenlight xentoollog xenguest xencontrol xenstore 2>/dev/null)
LDLIBS_ALL += $(XEN_LDLIBS)

# Xen's public headers use anonymous unions (a GNU C extension).
XEN_GNU_OBJS := $(BUILD)/obj/lib/hv/xen/%.o $(BUILD)/asan/obj/lib/hv/xen/%.o \
	$(BUILD)/fuzz/obj/lib/hv/xen/%.o $(BUILD)/obj/tests/unit/test_xen%.o \
	$(BUILD)/asan/obj/tests/unit/test_xen%.o
$(XEN_GNU_OBJS): BASE_CFLAGS += -std=gnu11

# Unit tests: libxc/libxenguest/libxenstore replaced by a fake Xen host.
XEN_TEST_WRAP := xc_interface_open xc_interface_close xc_domain_getinfo \
	xc_domain_shutdown xc_domain_resume xc_domain_pause xc_domain_unpause \
	xc_domain_create xc_domain_destroy xc_domain_setmaxmem xc_evtchn_alloc_unbound \
	xc_domain_save xc_domain_restore xc_physinfo xs_open xs_close xs_directory xs_read \
	xs_get_permissions xs_write xs_set_permissions xs_transaction_start \
	xs_transaction_end xs_introduce_domain xs_resume_domain xc_domain_max_vcpus xc_set_paging_mempool_size \
	libxl_ctx_alloc libxl_ctx_free libxl_domain_config_from_json libxl_userdata_store \
	libxl_device_disk_add libxl_device_nic_add libxl_domain_destroy libxl_domain_config_to_json \
	libxl_domain_create_restore libxl_domain_unpause libxl_domain_rename xs_watch xs_unwatch \
	xs_fileno xs_check_watch
UNIT_TESTS += test_xen test_xen_restore test_xen_emu
test_xen_SRCS := tests/unit/test_xen.c tests/unit/test_xen_common.c tests/unit/test_xen_fake.c \
	tests/unit/test_xen_fake_rename.c
test_xen_WRAP := $(XEN_TEST_WRAP)
test_xen_restore_SRCS := tests/unit/test_xen_restore.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c
test_xen_restore_WRAP := $(XEN_TEST_WRAP)
# The device model: a fake QEMU on a real QMP socket, the save loop's fake Xen.
test_xen_emu_SRCS := tests/unit/test_xen_emu.c tests/unit/test_xen_common.c \
	tests/unit/test_xen_fake.c tests/unit/test_xen_fake_rename.c
test_xen_emu_WRAP := $(XEN_TEST_WRAP)

# xl's migration header from the peer (remus-xl-receive): hostile input.
FUZZ_TARGETS += xen_xl_header
xen_xl_header_SRCS := tests/fuzz/xen_xl_header.c
xen_xl_header_SMOKE := 10
xen_xl_header_CORPUS := tests/fuzz/corpus/xen_xl_header

# QEMU's QMP messages on the device model's socket: hostile input.
FUZZ_TARGETS += xen_qmp_reply
xen_qmp_reply_SRCS := tests/fuzz/xen_qmp_reply.c
xen_qmp_reply_SMOKE := 10
xen_qmp_reply_CORPUS := tests/fuzz/corpus/xen_qmp_reply
