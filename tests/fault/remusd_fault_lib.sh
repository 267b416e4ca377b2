# Shared by the namespace fault scripts (sourced after remusd_lib.sh and
# remusd_lan.sh): the udpseq guest's remus.conf, the UDP probe on the
# client, JSON status in one call, process-state polls.  Every wait is a
# bounded poll of a condition.  A script may define fault_fail to add
# context to failures (default: remusd_lib's fail).
G=udpseq
PORT=7001
PROBE=$BUILD/tests/udp-probe
declare -F fault_fail >/dev/null || fault_fail() { fail "$@"; }

[ -x "$PROBE" ] || skip "udp-probe not built"
[ -f "$BUILD/guest/udpseq.elf" ] || skip "udpseq guest not built"

# guest_conf NETBUF HB-TIMEOUT-A HB-TIMEOUT-B: both hosts' remus.conf with
# the udpseq guest on the LAN, no disk, each host's heartbeat timeout.
guest_conf() {
	local lines=("[guest $G]" "type = pvm" "image = $PWD/$BUILD/guest/udpseq.elf" "mem = 16M"
		"tap = tap0" "mac = 02:77:00:00:00:11" "ip = $GUEST_IP/24" "interval = ${INTERVAL:-20}"
		"compression = delta" "netbuf = $1" "diskrep = none")
	[ "$1" = none ] && lines+=("unsafe = no-netbuf")
	HB_TIMEOUT=$2 write_conf a "${lines[@]}" "peer = $IP_B:7575"
	HB_TIMEOUT=$3 write_conf b "${lines[@]}" "peer = $IP_A:7575"
}

# proc_state PID: R/S/T/Z... of a process, "" once it is gone.
proc_state() {
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	echo "${s%% *}"
}

# wait_state PID STATES SECS: until the process is in one of STATES
# ("gone" = no such process).
wait_state() {
	local i st
	for i in $(seq $(( $3 * 100 ))); do
		st=$(proc_state "$1")
		[[ " $2 " == *" ${st:-gone} "* ]] && return 0
		sleep 0.01
	done
	fault_fail "pid $1 is '$st', waited $3 s for one of: $2"
}

# wait_ns_empty NS SECS: no process left in the namespace (a pvm guest
# dies with its remusd).
wait_ns_empty() {
	local i
	for i in $(seq $(( $2 * 100 ))); do
		[ -z "$(ip netns pids "$1" 2>/dev/null)" ] && return 0
		sleep 0.01
	done
	fault_fail "processes left in $1: $(ip netns pids "$1" | tr '\n' ' ')"
}

# jfields HOST FIELD...: fields of the guest's JSON status in one call
# ("-" for a missing one).
jfields() {
	local host=$1; shift
	ctl "$host" status $G --json 2>/dev/null | python3 -c '
import json, sys
try:
    g = json.load(sys.stdin)["guests"][0]
except Exception:
    g = {}
out = []
for f in sys.argv[1:]:
    v = g
    for k in f.split("."):
        v = v.get(k, "") if isinstance(v, dict) else ""
    out.append(str(v) if v != "" else "-")
print(" ".join(out))' "$@"
}

# start_probe: udp-probe in the client namespace, subscribed to the guest.
start_probe() {
	rm -f "$TMPD"/probe.*
	ip netns exec "$CLI" "$PROBE" "$GUEST_IP" $PORT "$TMPD/probe.state" "$TMPD/probe.rec" \
		>"$TMPD/probe.out" 2>&1 &
	PROBE_PID=$!
	PIDS+=($PROBE_PID)
}

# stop_probe: its verdict in $TMPD/probe.out; returns its exit code.
stop_probe() {
	kill -TERM "$PROBE_PID"
	wait "$PROBE_PID"
}

# probe_state: PROBE_TOTAL PROBE_BOOT PROBE_BOOTN PROBE_VIOL from its state file.
probe_state() {
	local line=""
	[ -f "$TMPD/probe.state" ] && read -r line <"$TMPD/probe.state"
	[[ $line =~ total=([0-9]+)\ boot=([0-9]+)\ boot_datagrams=([0-9]+)\ violations=([0-9]+) ]] ||
		{ PROBE_TOTAL=0 PROBE_BOOT=0 PROBE_BOOTN=0 PROBE_VIOL=0; return; }
	PROBE_TOTAL=${BASH_REMATCH[1]} PROBE_BOOT=${BASH_REMATCH[2]}
	PROBE_BOOTN=${BASH_REMATCH[3]} PROBE_VIOL=${BASH_REMATCH[4]}
}

# wait_probe BOOT N SECS: until the probe got N datagrams of that boot.
wait_probe() {
	local i
	for i in $(seq $(( $3 * 100 ))); do
		probe_state
		[ "$PROBE_BOOT" -eq "$1" ] && [ "$PROBE_BOOTN" -ge "$2" ] && return 0
		kill -0 "$PROBE_PID" 2>/dev/null || fault_fail "probe exited"
		sleep 0.01
	done
	fault_fail "probe: $PROBE_BOOTN datagrams of boot $PROBE_BOOT, waited $3 s for $2 of boot $1"
}
