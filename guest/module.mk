# guest/: the pvm guest kit.  Guests are freestanding static ELFs linked at
# PVM_RAM_BASE ($(BUILD)/guest/*.elf, own compile rules: the top-level
# CFLAGS are for host code).  The same stack and services are also built as
# hosted Linux programs ($(BUILD)/guest/hosted/*) for tests and fuzzing.
GUEST_CC     ?= gcc
GUEST_CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -I. -Ilib \
	-ffreestanding -fno-pic -fno-pie -mcmodel=small -fno-stack-protector \
	-fno-asynchronous-unwind-tables -fno-builtin-printf -mno-red-zone
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none -T guest/rt/guest.ld

GUEST_RT_SRCS  := guest/rt/crt0.S guest/rt/start.c guest/rt/hc_pvm.c guest/rt/string.c \
	guest/rt/fmt.c guest/rt/heap.c guest/rt/util.c
GUEST_NET_SRCS := guest/net/net.c guest/net/arp.c guest/net/ip.c guest/net/udp.c \
	guest/net/tcp_in.c guest/net/tcp_out.c
GUEST_NETIF_SRCS := $(GUEST_NET_SRCS) guest/net/netif.c
# Sources of each guest besides the runtime.
guest_counter_SRCS := guest/apps/counter.c
guest_dirtier_SRCS := guest/apps/dirtier.c
guest_kvstore_SRCS := guest/apps/kvstore.c guest/apps/kvlog.c $(GUEST_NETIF_SRCS)
guest_httpd_SRCS   := guest/apps/httpd.c guest/apps/http_parse.c $(GUEST_NETIF_SRCS)
guest_udpseq_SRCS  := guest/apps/udpseq.c $(GUEST_NETIF_SRCS)
guest_compute_SRCS := guest/apps/compute.c
guest_storewatch_SRCS := guest/apps/storewatch.c guest/rt/store.c $(GUEST_NETIF_SRCS)
GUESTS := counter dirtier kvstore httpd udpseq compute storewatch
# Hosted builds: the runtime minus crt0/start/hc_pvm/string, plus the Linux backend.
GUEST_HOSTED_RT := guest/rt/hc_hosted.c guest/rt/mem_hosted.c guest/rt/fmt.c \
	guest/rt/heap.c guest/rt/util.c
GUEST_HOSTED := kvstore httpd

guest_obj = $(patsubst %,$(BUILD)/guest/obj/%.o,$(basename $(1)))
# Host objects (the top-level obj helper is defined after the fragments).
guest_host_obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

$(BUILD)/guest/obj/%.o: %.c
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/guest/obj/%.o: %.S
	@mkdir -p $(@D)
	$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

define GUEST_template
$(BUILD)/guest/$(1).elf: $(call guest_obj,$(GUEST_RT_SRCS) $(guest_$(1)_SRCS)) guest/rt/guest.ld
	@mkdir -p $$(@D)
	$(GUEST_CC) $(GUEST_LDFLAGS) -o $$@ $(call guest_obj,$(GUEST_RT_SRCS) $(guest_$(1)_SRCS)) -lgcc
$(BUILD)/guest/hosted/$(1): $(call guest_host_obj,$(GUEST_HOSTED_RT) $(guest_$(1)_SRCS))
	@mkdir -p $$(@D)
	$(CC) $(CFLAGS) -o $$@ $(call guest_host_obj,$(GUEST_HOSTED_RT) $(guest_$(1)_SRCS))
endef
$(foreach g,$(GUESTS),$(eval $(call GUEST_template,$(g))))

GUEST_ELFS := $(foreach g,$(GUESTS),$(BUILD)/guest/$(g).elf)
GUEST_HOSTED_BINS := $(foreach g,$(GUEST_HOSTED),$(BUILD)/guest/hosted/$(g))
ALL_EXTRA += $(GUEST_ELFS) $(GUEST_HOSTED_BINS)
CHECK_PREREQS += $(GUEST_ELFS) $(GUEST_HOSTED_BINS)
DEPS_PKGS += curl iputils-ping iptables python3
INTEG_TESTS += tests/guest/elf.sh tests/guest/kvstore.sh tests/guest/httpd.sh

# Fuzz targets: frames into the stack, the kvstore log replay, HTTP heads.
FUZZ_TARGETS += guest_frame guest_kvlog guest_http
guest_frame_SRCS := tests/fuzz/guest_frame.c $(GUEST_NET_SRCS) guest/rt/mem_hosted.c guest/rt/util.c
guest_frame_SMOKE := 20
guest_frame_CORPUS := tests/fuzz/corpus/guest_frame
guest_kvlog_SRCS := tests/fuzz/guest_kvlog.c guest/apps/kvlog.c guest/rt/util.c
guest_kvlog_SMOKE := 10
guest_kvlog_CORPUS := tests/fuzz/corpus/guest_kvlog
guest_http_SRCS := tests/fuzz/guest_http.c guest/apps/http_parse.c guest/rt/util.c
guest_http_SMOKE := 10
guest_http_CORPUS := tests/fuzz/corpus/guest_http

# Unit tests (host build, also under ASan/UBSan).
UNIT_TESTS += test_guest_rt
test_guest_rt_SRCS := tests/unit/test_guest_rt.c guest/rt/fmt.c guest/rt/heap.c guest/rt/util.c \
	guest/apps/kvlog.c guest/apps/http_parse.c
UNIT_TESTS += test_guest_tcp
test_guest_tcp_SRCS := tests/unit/test_guest_tcp.c $(GUEST_NET_SRCS) guest/rt/mem_hosted.c guest/rt/util.c

# Benchmarks (make bench): runtime and stack costs against same-run baselines.
BENCHES += bench_guest
bench_guest_SRCS := tests/guest/bench_guest.c $(GUEST_NET_SRCS) guest/rt/mem_hosted.c \
	guest/rt/util.c guest/rt/heap.c guest/rt/fmt.c guest/rt/hc_hosted.c
