# Shared set-up for the guest kit's integration tests (sourced).
# Topology, all inside namespaces this test creates and deletes:
#   client netns  [vc 10.77.0.1/24] ==veth== [vl] -- br0 -- tap (guest NIC)   lan netns
# The guest runs in the lan netns, either as a real pvm guest
# (`pvm run --tap`, when $BUILD/bin/pvm exists) or as the hosted build of
# the same code (GUEST_BACKEND=hosted|pvm overrides the choice).
BUILD=${BUILD:-build}
GUEST_IP=10.77.0.2
CLIENT_IP=10.77.0.1
GUEST_MAC=02:77:00:00:00:02
TAG=${TAG:-g$$}
LAN=${TAG}-lan
CLI=${TAG}-cli
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/${TAG}.XXXXXX")
GUEST_PID=

skip() { echo "$*"; exit 77; }
fail() { echo "FAIL: $*"; [ -n "${GUEST_LOG:-}" ] && tail -n 20 "$GUEST_LOG"; exit 1; }

cleanup() {
	guest_stop
	ip netns del "$CLI" 2>/dev/null
	ip netns del "$LAN" 2>/dev/null
	rm -rf "$TMPD"
}

# Build the namespaces, bridge, veth and TAP.
net_setup() {
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	[ -c /dev/net/tun ] || skip "no /dev/net/tun"
	trap cleanup EXIT
	ip netns add "$LAN" && ip netns add "$CLI" || fail "cannot create namespaces"
	ip -n "$LAN" link set lo up
	ip -n "$CLI" link set lo up
	ip -n "$LAN" link add br0 type bridge
	# no netfilter on the bridge: malformed test frames must reach the guest
	ip -n "$LAN" link set br0 type bridge forward_delay 0 nf_call_iptables 0 \
		nf_call_ip6tables 0 nf_call_arptables 0
	for f in iptables ip6tables arptables; do
		ip netns exec "$LAN" sh -c "echo 0 > /proc/sys/net/bridge/bridge-nf-call-$f" 2>/dev/null
	done
	ip -n "$LAN" tuntap add dev tap0 mode tap
	ip -n "$LAN" link add vl type veth peer name vc netns "$CLI"
	ip -n "$LAN" link set tap0 master br0
	ip -n "$LAN" link set vl master br0
	for i in br0 tap0 vl; do ip -n "$LAN" link set "$i" up; done
	ip -n "$CLI" addr add "$CLIENT_IP/24" dev vc
	ip -n "$CLI" link set vc up
}

# Does `pvm run --help` offer option $1 (exactly that word)?
pvm_has_option() {
	"$BUILD/bin/pvm" run --help 2>&1 | grep -qE -- "(^|[^-[:alnum:]])$1([^-[:alnum:]]|\$)"
}

# pvm is used when its `run` offers the TAP, IPv4 and disk options we pass.
guest_backend() {
	if [ -n "${GUEST_BACKEND:-}" ]; then echo "$GUEST_BACKEND"; return; fi
	if [ -x "$BUILD/bin/pvm" ] && pvm_has_option --tap && pvm_has_option --ip &&
	   pvm_has_option --disk; then
		echo pvm
	else
		echo hosted
	fi
}

# guest_start NAME [DISK]: run a guest on tap0 and wait for its "ready" line.
guest_start() {
	local name=$1 disk=${2:-} i
	GUEST_LOG=$TMPD/$name.log
	: >"$GUEST_LOG"
	if [ "$(guest_backend)" = pvm ]; then
		local args=(run --tap tap0 --ip "$GUEST_IP/24")
		pvm_has_option --mac && args+=(--mac "$GUEST_MAC")
		ip netns exec "$LAN" "$BUILD/bin/pvm" "${args[@]}" ${disk:+--disk "$disk"} \
			"$BUILD/guest/$name.elf" >"$GUEST_LOG" 2>&1 &
	else
		ip netns exec "$LAN" env GUEST_TAP=tap0 GUEST_MAC=$GUEST_MAC \
			GUEST_IPV4=$GUEST_IP/24 GUEST_DISK="$disk" GUEST_NAME="$name" \
			"$BUILD/guest/hosted/$name" >"$GUEST_LOG" 2>&1 &
	fi
	GUEST_PID=$!
	for i in $(seq 100); do
		grep -q "ready" "$GUEST_LOG" && return 0
		kill -0 "$GUEST_PID" 2>/dev/null || fail "guest $name exited at start"
		sleep 0.1
	done
	fail "guest $name not ready within 10 s"
}

# Stop the guest started last (only that process).
guest_stop() {
	if [ -n "$GUEST_PID" ]; then
		kill "$GUEST_PID" 2>/dev/null
		wait "$GUEST_PID" 2>/dev/null
		GUEST_PID=
	fi
}

in_client() { ip netns exec "$CLI" "$@"; }
