#!/bin/bash
# netbuf plug backend (sch_plug) in network namespaces.  Kernels without
# sch_plug (like the CI one) skip; the netlink messages are covered by the
# unit test test_netbuf_plug with libnl mocked.
. "$(dirname "$0")/../netbuf/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
ip netns add "$H" || fail "netns add"
inH ip link add nbprobe type ifb 2>/dev/null || skip "ifb not available"
inH tc qdisc add dev nbprobe root plug 2>/dev/null || skip "sch_plug not available"
inH ip link del nbprobe
ip netns del "$H"
run_scenario plug
