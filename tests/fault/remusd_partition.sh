#!/bin/bash
# Backup loss seen from the client (docs/testing.md): the udpseq guest on
# host-a, protected to host-b, streams numbered datagrams to a UDP probe.
#  1. host-b's remusd is SIGKILLed: host-a goes unprotected within its
#     heartbeat timeout and the client keeps receiving (held output
#     released, new output no longer held); a new backup daemon, and
#     `remusctl protect` protects the guest again.
#  2. the replication link is cut (the veth deleted; host-b also loses its
#     LAN uplink, since a backup cannot tell a cut link from a dead primary
#     and fails over by itself — isolated, its copy cannot reach the
#     client): host-a goes unprotected within the timeout and keeps
#     serving; the link is re-created, host-b's daemon restarted, protect
#     again.
#  3. the re-protected guest survives its primary: host-a SIGKILLed,
#     host-b takes over, the probe sees the restored guest and no output
#     of an unacknowledged epoch (udp-probe's checks) in the whole run,
#     and every number the old primary sent before (none held and lost).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rfp$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
. tests/fault/remusd_fault_lib.sh
# heartbeat timeout of both hosts: long enough that a primary slowed down
# by a loaded machine is not taken for a lost one during the sync
HB=${HB_TIMEOUT:-1000}
# how late "within the timeout" may be on a loaded 2-core machine: the
# status poll and scheduling, not a performance figure
SLACK_MS=1500

fault_fail() {
	[ -f "$TMPD/probe.out" ] && { stop_probe; echo "== probe"; cat "$TMPD/probe.out"; }
	fail "$@"
}

now_ms() { date +%s%3N; }

# wait_unprotected T0 WHAT: host-a's guest unprotected, still running, and
# the transition no later than the heartbeat timeout (+ slack) after T0.
wait_unprotected() {
	local i st since guest took
	for i in $(seq 1000); do
		read -r st since guest < <(jfields a state state_ms guest_state)
		[ "$st" = unprotected ] && break
		sleep 0.01
	done
	[ "$st" = unprotected ] || fault_fail "$2: host-a is '$st', not unprotected"
	[ "$guest" = running ] || fault_fail "$2: host-a's guest is '$guest'"
	took=$(( $(now_ms) - since - $1 ))
	[ "$took" -le $(( HB + SLACK_MS )) ] ||
		fault_fail "$2: unprotected after $took ms (heartbeat timeout $HB ms)"
	TOOK=$took
}

# serving N: the client gets N more datagrams of the running guest (boot 0).
serving() {
	probe_state
	wait_probe 0 $(( PROBE_BOOTN + $1 )) 10
}

# protect_again: a fresh backup daemon on host-b, protect, checkpoints flow.
protect_again() {
	rm -f "$TMPD/b.sock"
	start_daemon b
	ctl a protect $G --wait 30 >/dev/null || fault_fail "protect again: $(jfields a message)"
	wait_ge b $G checkpoints 3 10
	[ "$(jfields a state)" = protected ] || fault_fail "not protected again: $(jfields a message)"
}

hosts_setup
trap demo_cleanup EXIT
lan_setup
guest_conf inline "$HB" "$HB"
start_daemon a
start_daemon b
ctl a start $G >/dev/null || fault_fail "start: $(jfields a message)"
start_probe
wait_probe 0 3 10
ctl a protect $G --wait 30 >/dev/null || fault_fail "protect: $(jfields a message)"
wait_ge a $G acked 3 10

# 1. the backup dies
t0=$(now_ms)
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_unprotected "$t0" "backup killed"
serving 100
echo "backup killed: host-a unprotected after $TOOK ms ($(jfields a message)); the client kept receiving"
protect_again
echo "re-protected to a new backup: host-b applied $(jfields b checkpoints) checkpoints"

# 2. the link is cut
ip -n "$NS_B" link set up0 down
t0=$(now_ms)
ip -n "$NS_A" link del rep0
wait_unprotected "$t0" "link cut"
serving 100
echo "link cut: host-a unprotected after $TOOK ms ($(jfields a message)); the client kept receiving;" \
	"isolated host-b: $(jfields b state)"
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_ns_empty "$NS_B" 5
ip -n "$NS_A" link add rep0 type veth peer name rep0 netns "$NS_B" || fault_fail "veth"
ip -n "$NS_A" addr add "$IP_A/24" dev rep0
ip -n "$NS_B" addr add "$IP_B/24" dev rep0
ip -n "$NS_A" link set rep0 up
ip -n "$NS_B" link set rep0 up
ip -n "$NS_B" link set up0 up
protect_again
echo "link restored, re-protected: host-b applied $(jfields b checkpoints) checkpoints"

# 3. the re-protected guest survives its primary
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_ns_empty "$NS_A" 5
wait_field b $G state active 20
wait_probe 1 5 10
read -r k total_us < <(jfields b failover.checkpoint failover.total_us)
stop_probe || { cat "$TMPD/probe.out"; fail "probe found violations"; }
cat "$TMPD/probe.out"
# held output is released when the backup is lost, never dropped: the old
# primary's numbers reached the client without a hole
out=$(cat "$TMPD/probe.out")
[[ $out =~ boot0:\ n=([0-9]+)\ seq=([0-9]+)\.\.([0-9]+) ]] || fail "probe saw nothing of boot 0"
[ $(( BASH_REMATCH[3] - BASH_REMATCH[2] + 1 )) = "${BASH_REMATCH[1]}" ] ||
	fail "the client misses $(( BASH_REMATCH[3] - BASH_REMATCH[2] + 1 - BASH_REMATCH[1] )) of the old primary's datagrams"
echo "host-a killed: host-b restored checkpoint $k in $(( total_us / 1000 )) ms; the client receives the restored guest"
echo PASS
