# Shared set-up for the remusd integration tests (sourced): two "hosts"
# (network namespaces A and B joined by a veth replication link), a key,
# a remus.conf per host, helpers to run remusd/remusctl and wait on JSON
# status with a bounded timeout.  Everything is removed on exit.
BUILD=${BUILD:-build}
TAG=${TAG:-rd$$}
NS_A=${TAG}-a
NS_B=${TAG}-b
SUB=${SUBNET:-10.77.$(( $$ % 200 + 20 ))}
IP_A=$SUB.1
IP_B=$SUB.2
TMPD=$(mktemp -d "${TMPDIR:-/tmp}/${TAG}.XXXXXX")
PIDS=()

skip() { echo "$*"; exit 77; }
fail() { echo "FAIL: $*"; for f in "$TMPD"/*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 15 "$f"; }; done; exit 1; }

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	rm -rf "$TMPD"
}

# hosts_setup: namespaces, veth, key.
hosts_setup() {
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	[ -x "$BUILD/bin/remusd" ] || skip "remusd not built"
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	ip netns add "$NS_A" && ip netns add "$NS_B" || fail "cannot create namespaces"
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
	ip -n "$NS_A" link add rep0 type veth peer name rep0 netns "$NS_B" || fail "veth"
	ip -n "$NS_A" addr add "$IP_A/24" dev rep0
	ip -n "$NS_B" addr add "$IP_B/24" dev rep0
	ip -n "$NS_A" link set rep0 up
	ip -n "$NS_B" link set rep0 up
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMPD/remus.key"
	chmod 600 "$TMPD/remus.key"
}

# write_conf HOST GUEST-SECTION-LINES...: remus.conf of host A, B (or C).
write_conf() {
	local host=$1; shift
	{
		echo "[global]"
		echo "listen_address = *"
		echo "listen_port = 7575"
		echo "key_file = $TMPD/remus.key"
		echo "control_socket = $TMPD/$host.sock"
		echo "heartbeat_interval_ms = 20"
		echo "heartbeat_timeout_ms = ${HB_TIMEOUT:-500}"
		printf '%s\n' "$@"
	} >"$TMPD/$host.conf"
}

# start_daemon HOST: remusd in that host's namespace, wait for its socket.
start_daemon() {
	local host=$1 ns i
	case $host in
	a) ns=$NS_A ;;
	c) ns=${NS_C:-$NS_B} ;;  # the third host (remusd_lan.sh host_c_setup), else on B
	*) ns=$NS_B ;;
	esac
	ip netns exec "$ns" "$BUILD/bin/remusd" -c "$TMPD/$host.conf" >"$TMPD/remusd-$host.log" 2>&1 &
	PIDS+=($!)
	eval "PID_$host=$!"
	for i in $(seq 100); do
		[ -S "$TMPD/$host.sock" ] && return 0
		kill -0 "$!" 2>/dev/null || fail "remusd on $host exited at start"
		sleep 0.1
	done
	fail "remusd on $host: no control socket within 10 s"
}

ctl() { local host=$1; shift; "$BUILD/bin/remusctl" -s "$TMPD/$host.sock" "$@"; }

# jfield HOST GUEST FIELD: one field of the guest's JSON status.
jfield() {
	ctl "$1" status "$2" --json 2>/dev/null | python3 -c '
import json, sys
try:
    g = json.load(sys.stdin)["guests"][0]
    v = g
    for k in sys.argv[1].split("."):
        v = v[k]
    print(v)
except Exception:
    print("")' "$3"
}

# wait_field HOST GUEST FIELD VALUE [SECS]: poll until equal (bounded).
wait_field() {
	local i v
	for i in $(seq $(( ${5:-20} * 10 ))); do
		v=$(jfield "$1" "$2" "$3")
		[ "$v" = "$4" ] && return 0
		sleep 0.1
	done
	fail "host $1 guest $2: $3 is '$v', waited ${5:-20} s for '$4'"
}

# wait_ge HOST GUEST FIELD MIN [SECS]: poll until the number >= MIN.
wait_ge() {
	local i v
	for i in $(seq $(( ${5:-20} * 10 ))); do
		v=$(jfield "$1" "$2" "$3")
		[ -n "$v" ] && [ "$v" -ge "$4" ] && return 0
		sleep 0.1
	done
	fail "host $1 guest $2: $3 is '$v', waited ${5:-20} s for >= $4"
}

# wait_file PATH SECS: bounded poll for a file to appear.
wait_file() {
	local i
	for i in $(seq $(( $2 * 20 ))); do
		[ -e "$1" ] && return 0
		sleep 0.05
	done
	fail "$1 did not appear within $2 s"
}

# send_garbage: from host A, an HTTP request and random bytes to B's
# replication port, reading until B closes the connection.
send_garbage() {
	ip netns exec "$NS_A" python3 - "$IP_B" <<'PY' || fail "could not reach the replication port"
import os, socket, sys
s = socket.create_connection((sys.argv[1], 7575), timeout=5)
s.sendall(b"GET / HTTP/1.0\r\n\r\n" + os.urandom(4096))
s.settimeout(10)
try:
    while s.recv(4096):
        pass
except OSError:
    pass
PY
}

# counter_guest [EXTRA-LINES...]: GUEST=( conf lines of pvm's counter guest,
# no NIC, no disk ); skips when the guest is not built.
counter_guest() {
	[ -f "$BUILD/tests/pvm/counter.elf" ] || skip "counter guest not built"
	G=counter
	GUEST=(
		"[guest $G]" "type = pvm" "image = $PWD/$BUILD/tests/pvm/counter.elf" "mem = 16M"
		"interval = 20" "netbuf = none" "diskrep = none" "unsafe = no-netbuf,no-diskrep" "$@"
	)
}

# counter_hosts: both hosts configured with the counter guest (peers of
# each other), both daemons started.
counter_hosts() {
	counter_guest
	write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
	write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
	start_daemon a
	start_daemon b
}

# children PID: the processes a daemon forked (a pvm guest runs in one).
children() { ps -o pid= --ppid "$1" 2>/dev/null | wc -l; }

# one_copy WHERE: the guest $G runs on host WHERE only: its status there
# says running (or paused: between a checkpoint's suspend and resume) and
# its daemon has the guest's process; every other live daemon (a, b, c)
# has none and does not say its copy runs.
one_copy() {
	local h p
	for h in a b c; do
		eval "p=\${PID_$h:-}"
		if [ "$h" = "$1" ]; then
			case "$(jfield $h $G guest_state)" in
			running|paused) ;;
			*) fail "guest not running on $h: $(ctl $h status $G)" ;;
			esac
			[ "$(children "$p")" -ge 1 ] || fail "no guest process on $h"
		elif [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			[ "$(children "$p")" = 0 ] || fail "host $h runs a second copy"
			[ "$(jfield $h $G guest_state)" != running ] || fail "host $h says its copy runs"
		fi
	done
}
