# Shared shell helpers of the netbuf integration tests (sourced).
# Topology, all in namespaces private to this run:
#   host ns H: TAP "nbtap" (the guest's interface; the fake guest is
#   nb_drive) 10.77.1.1/24 fd77:1::1/64, forwarding on, veth "nbv0"
#   10.77.2.1/24 fd77:2::1/64  <->  client ns C: "nbv1" 10.77.2.2 fd77:2::2
#   running nb_recv on UDP 7777.
set -uo pipefail
BUILD=${BUILD:-build}
DRIVE=$BUILD/tests/netbuf/nb_drive
RECV=$BUILD/tests/netbuf/nb_recv
RUN=$(basename "$0" .sh)-$$
H=nbH-$RUN
C=nbC-$RUN
TMP=$(mktemp -d)
CMAC=02:00:00:77:02:02
DRV_PID=""

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "$*"; exit 77; }

cleanup() {
	[ -n "$DRV_PID" ] && kill -9 "$DRV_PID" 2>/dev/null
	[ -n "${RECV_PIDS:-}" ] && kill $RECV_PIDS 2>/dev/null
	ip netns del "$H" 2>/dev/null
	ip netns del "$C" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

inH() { ip netns exec "$H" "$@"; }
inC() { ip netns exec "$C" "$@"; }

# Build the two namespaces and the routed path between them.
topology() {
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	[ -x "$DRIVE" ] && [ -x "$RECV" ] || fail "helpers not built ($DRIVE)"
	ip netns add "$H" && ip netns add "$C" || fail "netns add"
	inH ip link set lo up
	inC ip link set lo up
	inH ip tuntap add dev nbtap mode tap || fail "tuntap"
	inH ip link set nbtap up
	inH ip addr add 10.77.1.1/24 dev nbtap
	inH ip -6 addr add fd77:1::1/64 dev nbtap nodad
	inH ip link add nbv0 type veth peer name nbv1 netns "$C" || fail "veth"
	inC ip link set nbv1 address $CMAC
	inH ip link set nbv0 up
	inC ip link set nbv1 up
	inH ip addr add 10.77.2.1/24 dev nbv0
	inH ip -6 addr add fd77:2::1/64 dev nbv0 nodad
	inC ip addr add 10.77.2.2/24 dev nbv1
	inC ip -6 addr add fd77:2::2/64 dev nbv1 nodad
	inC ip route add default via 10.77.2.1
	inC ip -6 route add default via fd77:2::1
	inH ip neigh add 10.77.2.2 lladdr $CMAC dev nbv0 nud permanent
	inH ip -6 neigh add fd77:2::2 lladdr $CMAC dev nbv0 nud permanent
	inH sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.nbtap.rp_filter=0 || fail "sysctl"
}

# Wait (bounded) until FILE has a line matching the regex.
wait_line() {  # file regex
	local i
	for i in $(seq 1 200); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	fail "timed out waiting for '$2' in $(basename "$1")"
}

start_receivers() {  # with_arp(0/1)
	inC "$RECV" 7777 >"$TMP/c.out" 2>"$TMP/c.err" &
	RECV_PIDS=$!
	wait_line "$TMP/c.out" '^ready$'
	: >"$TMP/arp.out"
	if [ "$1" = 1 ]; then
		inH "$RECV" 7778 --arp nbtap >"$TMP/arp.out" 2>"$TMP/arp.err" &
		RECV_PIDS="$RECV_PIDS $!"
		wait_line "$TMP/arp.out" '^ready$'
	fi
}

# The buffering process as a coprocess; cmd sends a line, checks the answer.
start_drive() {  # backend tag queue [max_held_packets]
	# exec twice over (bash, ip netns exec): DRV_PID is nb_drive itself
	coproc DRV { exec ip netns exec "$H" "$DRIVE" "$1" nbtap "$2" "$3" ${4:-} 2>&1; }
	local line
	read -r -t 10 line <&"${DRV[0]}" || fail "nb_drive did not start"
	[ "$line" = ready ] || fail "nb_drive: $line"
}
cmd() {
	local line
	echo "$*" >&"${DRV[1]}"
	read -r -t 15 line <&"${DRV[0]}" || fail "no answer to '$*'"
	REPLY_LINE=$line
	case "$1" in stats) return 0 ;; esac
	[ "$line" = ok ] || fail "'$*' answered: $line"
}
stop_drive() {
	echo quit >&"${DRV[1]}"
	wait "$DRV_PID" || fail "nb_drive exited with $?"
	DRV_PID=""
}

# Barrier: a datagram from H itself (not from the guest) reaches C's
# receiver; anything the guest had let out before it arrives first.
MARKS=0
barrier() {
	MARKS=$((MARKS + 1))
	inH bash -c "echo 'MARK $MARKS' >/dev/udp/10.77.2.2/7777; echo 'MARK $MARKS' >/dev/udp/fd77:2::2/7777"
	wait_line "$TMP/c.out" "^mark $MARKS\$"
}

# The sequence numbers of KIND the client saw, one per line, in order.
seen() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/c.out" "$TMP/arp.out"; }

expect_none() {  # kind first last
	local s
	for s in $(seen "$1"); do
		[ "$s" -ge "$2" ] && [ "$s" -le "$3" ] && fail "$1 $s left the host while held"
	done
	return 0
}
# Exactly seqs first..last of KIND, in order, no duplicates.
expect_seq() {  # kind first last
	local want got
	want=$(seq "$2" "$3" | tr '\n' ' ')
	got=$(seen "$1" | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "$1: expected [$want] got [$got]"
}
wait_seq() {  # kind last
	wait_line "$TMP/$([ "$1" = arp ] && echo arp || echo c).out" "^$1 $2\$"
}

# Nothing of the backend may be left in H: rules, chains, queues, qdiscs,
# devices other than the test's own.
expect_clean() {
	local left
	left=$(inH iptables-save 2>/dev/null | grep -c RNB-; inH ip6tables-save 2>/dev/null | grep -c RNB-)
	[ "$(echo $left)" = "0 0" ] || fail "rules left behind: $(inH iptables-save | grep RNB-)"
	[ -z "$(inH cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null)" ] || fail "queue left bound"
	left=$(inH ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')
	[ "$left" = "lo nbtap nbv0 " ] || fail "devices left: $left"
	inH tc qdisc show | grep -qE 'ingress|plug' && fail "qdiscs left: $(inH tc qdisc show)"
	return 0
}

# After a release: wait for the last seqs, then exactly v4 1..$1, v6
# 101..$2 (and ARP 201..$3 where ARP is held) have arrived, in order.
expect_released() {  # v4_last v6_last arp_last
	wait_seq v4 "$1"; wait_seq v6 "$2"
	[ "$arp_held" = 1 ] && wait_seq arp "$3"
	barrier
	expect_seq v4 1 "$1"; expect_seq v6 101 "$2"
	[ "$arp_held" = 1 ] && expect_seq arp 201 "$3"
	return 0
}

# The whole scenario against one backend.
run_scenario() {  # backend
	local b=$1 tag=t$$ q=$(( $$ % 60000 + 1000 )) arp_held=1 nfq=0 plug=0
	[ "$b" = nfqueue ] && arp_held=0
	[ "$b" = plug ] && plug=1   # sch_plug: one closed epoch at a time
	[ "$b" = nfqueue ] && nfq=1
	topology
	start_receivers 1
	start_drive "$b" "$tag" "$q"
	echo "epochs 1 and 2 held until their release"
	cmd send v4 1 5; cmd send v6 101 5
	[ $arp_held = 1 ] && cmd send arp 201 3
	[ $nfq = 1 ] && cmd wait_stat held_packets 10
	cmd close 1
	cmd send v4 6 3; cmd send v6 106 3
	[ $arp_held = 1 ] && cmd send arp 204 2
	[ $nfq = 1 ] && cmd wait_stat held_packets 16
	[ $plug = 0 ] && cmd close 2
	barrier
	expect_none v4 1 8; expect_none v6 101 108; expect_none arp 201 205
	cmd release 1
	expect_released 5 105 203
	[ $plug = 1 ] && cmd close 2
	cmd release 2
	expect_released 8 108 205
	if [ $nfq = 1 ]; then
		echo "ARP is not queueable: it passes at once"
		cmd send arp 301 1
		wait_seq arp 301
	fi
	echo "discard drops"
	cmd send v4 9 2; cmd send v6 109 1
	[ $nfq = 1 ] && cmd wait_stat held_packets 3
	cmd close 3; cmd discard; cmd release 3
	barrier
	expect_seq v4 1 8; expect_seq v6 101 108
	cmd stats
	if [ $plug = 1 ]; then   # the kernel holds the packets: no counts
		echo "$REPLY_LINE" | grep -q '"counts_exact":false' || fail "stats: $REPLY_LINE"
	else
		echo "$REPLY_LINE" | grep -q '"dropped_packets":3,' || fail "stats: $REPLY_LINE"
	fi
	echo "killing the buffering process leaks nothing"
	cmd send v4 11 2; cmd send v6 111 2
	[ $arp_held = 1 ] && cmd send arp 206 1
	[ $nfq = 1 ] && cmd wait_stat held_packets 4
	cmd close 4
	kill -9 "$DRV_PID"
	wait "$DRV_PID" 2>/dev/null
	DRV_PID=""
	barrier
	expect_seq v4 1 8; expect_seq v6 101 108
	[ $arp_held = 1 ] && expect_seq arp 201 205
	if [ $nfq = 1 ]; then
		inH iptables -t mangle -S "RNB-$tag" >/dev/null 2>&1 ||
			fail "rules should stay (dropping) after a crash"
	fi
	if [ "$b" != inline ]; then
		echo "teardown by a fresh process, twice"
		inH "$DRIVE" teardown "$b" nbtap "$tag" || fail "teardown"
		inH "$DRIVE" teardown "$b" nbtap "$tag" || fail "second teardown"
		expect_clean
	fi
	echo "release_all: held packets leave, later ones pass at once"
	start_drive "$b" "$tag" "$q"
	cmd send v4 20 1; cmd send v6 120 1
	[ $nfq = 1 ] && cmd wait_stat held_packets 2
	cmd close 1
	barrier
	expect_none v4 20 20; expect_none v6 120 120
	cmd release_all
	wait_seq v4 20; wait_seq v6 120
	cmd send v4 21 1; cmd send v6 121 1
	wait_seq v4 21; wait_seq v6 121
	[ "$(seen v4 | tr '\n' ' ')" = "$(seq 1 8 | tr '\n' ' ')20 21 " ] ||
		fail "v4 after release_all: $(seen v4 | tr '\n' ' ')"
	stop_drive
	echo "setup and teardown twice leave nothing behind"
	start_drive "$b" "$tag" "$q"; stop_drive
	start_drive "$b" "$tag" "$q"; stop_drive
	expect_clean
	if [ $plug = 0 ]; then
		echo "hold limit (queue full) drops and counts, lets nothing out early"
		start_drive "$b" "$tag" "$q" 4
		cmd send v4 30 6
		cmd wait_stat full_drops 2
		cmd wait_stat held_packets 4
		barrier
		expect_none v4 30 35
		cmd close 1; cmd release 1
		wait_seq v4 33
		barrier
		expect_none v4 34 35
		cmd stats
		echo "$REPLY_LINE" | grep -q '"full_drops":2,' || fail "stats: $REPLY_LINE"
		stop_drive
		expect_clean
	fi
	echo "PASS"
}
