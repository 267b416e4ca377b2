# Shared by the demo and the kvstore remusd tests (sourced after
# remusd_lib.sh): a LAN namespace with a bridge, a client namespace, each
# host's guest TAP bridged to the LAN, and the client's acknowledged-keys
# bookkeeping.  demo_cleanup removes the extra namespaces too.
LAN=${TAG}-lan
CLI=${TAG}-client
GSUB=10.77.$(( $$ % 200 + 21 ))
[ "$GSUB" = "$SUB" ] && GSUB=10.77.$(( $$ % 200 + 22 ))
GUEST_IP=$GSUB.10
CLIENT_IP=$GSUB.1
# A third host (host_c_setup): C, with replication links of its own to
# A (A's end: IP_AC, C's: IP_C) and to B (B's end: IP_BC, C's: IP_CB),
# and its guest TAP on the LAN.
NS_C=${TAG}-c
SUB_C=10.78.$(( $$ % 200 + 20 ))
IP_AC=$SUB_C.1
IP_C=$SUB_C.2
SUB_BC=10.79.$(( $$ % 200 + 20 ))
IP_BC=$SUB_BC.1
IP_CB=$SUB_BC.2
demo_cleanup() {
	cleanup
	ip netns del "$LAN" 2>/dev/null
	ip netns del "$CLI" 2>/dev/null
	ip netns del "$NS_C" 2>/dev/null
}

# A bridge without netfilter (frames must pass untouched).
bridge() {
	ip -n "$1" link add "$2" type bridge forward_delay 0 nf_call_iptables 0 \
		nf_call_ip6tables 0 nf_call_arptables 0 2>/dev/null ||
		ip -n "$1" link add "$2" type bridge || fail "bridge $2"
	ip -n "$1" link set "$2" up
}

# lan_host H NS: host H's guest TAP bridged to the LAN.
lan_host() {
	local h=$1 ns=$2 i
	ip -n "$ns" tuntap add dev tap0 mode tap || fail "tap on host-$h"
	bridge "$ns" brh
	ip -n "$ns" link add up0 type veth peer name up-$h netns "$LAN" || fail "uplink $h"
	ip -n "$ns" link set tap0 master brh
	ip -n "$ns" link set up0 master brh
	ip -n "$LAN" link set up-$h master br0
	for i in tap0 up0; do ip -n "$ns" link set $i up; done
	ip -n "$LAN" link set up-$h up
}

lan_setup() {
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	[ -f "$BUILD/guest/kvstore.elf" ] || skip "kvstore guest not built"
	trap demo_cleanup EXIT
	ip netns add "$LAN" && ip netns add "$CLI" || fail "cannot create namespaces"
	ip -n "$LAN" link set lo up
	ip -n "$CLI" link set lo up
	bridge "$LAN" br0
	lan_host a "$NS_A"
	lan_host b "$NS_B"
	ip -n "$CLI" link add vc type veth peer name vcl netns "$LAN" || fail "client link"
	ip -n "$LAN" link set vcl master br0
	ip -n "$LAN" link set vcl up
	ip -n "$CLI" addr add "$CLIENT_IP/24" dev vc
	ip -n "$CLI" link set vc up
}

# Lines in the client's acknowledged-keys file.
acked() { [ -f "$TMPD/acked" ] && wc -l <"$TMPD/acked" || echo 0; }

# wait_acked MIN SECS: until the client has MIN acknowledged PUTs.
wait_acked() {
	local i
	for i in $(seq $(( $2 * 10 ))); do
		[ "$(acked)" -ge "$1" ] && return 0
		kill -0 "$CLIENT_PID" 2>/dev/null || fail "client exited: $(cat "$TMPD/client.log")"
		sleep 0.1
	done
	fail "client: $(acked) PUTs acknowledged, waited $2 s for $1"
}


# kvstore_protected: the LAN, both daemons, the kvstore guest started on
# host A and protected to B (remusctl's protect output in protect1.out).
kvstore_protected() {
	hosts_setup
	trap demo_cleanup EXIT
	lan_setup
	kvstore_conf
	start_daemon a
	start_daemon b
	ctl a start $G || fail "start"
	ctl a protect $G --wait 60 >"$TMPD/protect1.out" || fail "protect: $(cat "$TMPD/protect1.out")"
}

# kvstore_conf: both hosts' remus.conf with the kvstore guest (NIC on the
# LAN, its own blank disk image per host, builtin disk replication).
kvstore_conf() {
	GUESTCONF=(
		"[guest $G]"
		"type = pvm"
		"image = $PWD/$BUILD/guest/kvstore.elf"
		"mem = ${MEM:-32M}"
		"tap = tap0"
		"mac = 02:77:00:00:00:10"
		"ip = $GUEST_IP/24"
		"interval = ${INTERVAL:-25}"
		"compression = ${COMPRESSION:-delta}"
		"netbuf = ${NETBUF:-inline}"
		"diskrep = builtin"
		"unsafe = ${NETBUF:+no-netbuf}${NETBUF:-none}"
	)
	# each host has its own disk image; both start out identical (blank)
	truncate -s 16M "$TMPD/a.img" "$TMPD/b.img"
	write_conf a "${GUESTCONF[@]}" "disk = $TMPD/a.img" "peer = $IP_B:7575"
	write_conf b "${GUESTCONF[@]}" "disk = $TMPD/b.img" "peer = $IP_A:7575"
}

# host_c_setup: the third host C (after hosts_setup and lan_setup): its
# namespace, a replication link to A (rep1 on A: IP_AC; C: IP_C) and one
# to B (rep1 on B: IP_BC; rep1 on C: IP_CB), its guest TAP on the LAN.
# It shares the hosts' key.
host_c_setup() {
	ip netns add "$NS_C" || fail "cannot create host-c's namespace"
	ip -n "$NS_C" link set lo up
	ip -n "$NS_A" link add rep1 type veth peer name rep0 netns "$NS_C" || fail "veth a-c"
	ip -n "$NS_A" addr add "$IP_AC/24" dev rep1
	ip -n "$NS_C" addr add "$IP_C/24" dev rep0
	ip -n "$NS_A" link set rep1 up
	ip -n "$NS_C" link set rep0 up
	ip -n "$NS_B" link add rep1 type veth peer name rep1 netns "$NS_C" || fail "veth b-c"
	ip -n "$NS_B" addr add "$IP_BC/24" dev rep1
	ip -n "$NS_C" addr add "$IP_CB/24" dev rep1
	ip -n "$NS_B" link set rep1 up
	ip -n "$NS_C" link set rep1 up
	lan_host c "$NS_C"
}
