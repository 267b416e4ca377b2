# netbuf: network output buffering (inline, nfqueue, plug backends).
LIB_SRCS += netbuf/netbuf.c netbuf/held.c netbuf/inline.c netbuf/nfqueue.c \
	netbuf/nfq_rules.c netbuf/plug.c
DEPS_PKGS += libnl-3-dev libnl-route-3-dev libnetfilter-queue-dev iptables iproute2
UNIT_TESTS += test_netbuf
test_netbuf_SRCS := tests/unit/test_netbuf.c
UNIT_TESTS += test_netbuf_plug
test_netbuf_plug_SRCS := tests/unit/test_netbuf_plug.c
test_netbuf_plug_WRAP := nl_connect rtnl_link_get_kernel rtnl_link_add rtnl_link_delete \
	rtnl_qdisc_add rtnl_qdisc_delete rtnl_cls_add

# Test helpers (not installed): the buffering process + fake guest, the client.
NETBUF_HELPERS := $(BUILD)/tests/netbuf/nb_drive $(BUILD)/tests/netbuf/nb_recv
CHECK_PREREQS += $(NETBUF_HELPERS)
$(BUILD)/tests/netbuf/%: $(BUILD)/obj/tests/netbuf/%.o $(BUILD)/obj/tests/netbuf/nb_frame.o \
		$(BUILD)/lib/libremus.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS_ALL)
.PRECIOUS: $(BUILD)/obj/tests/netbuf/%.o
INTEG_TESTS += tests/integration/netbuf_inline.sh tests/integration/netbuf_nfqueue.sh \
	tests/integration/netbuf_plug.sh
BENCHES += netbuf_bench
netbuf_bench_SRCS := bench/netbuf_bench.c tests/netbuf/nb_frame.c
FUZZ_TARGETS += netbuf_frame
netbuf_frame_SRCS := tests/fuzz/netbuf_frame.c tests/netbuf/nb_frame.c
netbuf_frame_SMOKE := 10
netbuf_frame_CORPUS := tests/fuzz/corpus/netbuf_frame
