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
