#!/bin/bash
# The OCF resource agent ocf:remus:remus (etc/ocf/remus, docs/cluster.md):
#  1. ocf-tester (resource-agents) on it against a real remusd with the
#     counter guest: meta-data against the DTD, validate-all, probe,
#     start/monitor, promote/demote cycles (a lone copy: start, halt),
#     stop, idempotence of each;
#  2. failover = cluster on two hosts: host-a's remusd SIGKILLed, host-b
#     only reports it (waiting-for-quorum, no failover of its own); the
#     agent's monitor there says unpromoted (0), its promote fails over
#     (remusctl failover --force) and monitor then says promoted (8).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ocf$$}
. tests/integration/remusd_lib.sh
AGENT=$PWD/etc/ocf/remus
command -v ocf-tester >/dev/null || skip "ocf-tester not installed (resource-agents)"
[ -f /usr/lib/ocf/lib/heartbeat/ocf-shellfuncs ] || skip "ocf-shellfuncs not installed (resource-agents)"

hosts_setup
counter_guest
write_conf a "failover = cluster" "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "failover = cluster" "${GUEST[@]}" "peer = $IP_A:7575"
start_daemon a
start_daemon b
export HA_RSCTMP=$TMPD/rsctmp
mkdir -p "$HA_RSCTMP"

# 1. ocf-tester, on host-a's daemon, the guest a lone copy (protect=false)
ocf-tester -n remus-test -o guest=$G -o socket="$TMPD/a.sock" \
	-o remusctl="$PWD/$BUILD/bin/remusctl" -o protect=false "$AGENT" >"$TMPD/ocf-tester.out" 2>&1 ||
	{ cat "$TMPD/ocf-tester.out"; fail "ocf-tester"; }
grep -q "passed all tests" "$TMPD/ocf-tester.out" || { cat "$TMPD/ocf-tester.out"; fail "ocf-tester verdict"; }
cat "$TMPD/ocf-tester.out"
[ "$(jfield a $G state)" = stopped ] || fail "after ocf-tester the guest is $(jfield a $G state) on host-a"
echo "ocf-tester: $(tail -n1 "$TMPD/ocf-tester.out")"

# 2. failover = cluster: remusd reports, the agent promotes
ra() {   # ra HOST ACTION: the agent as Pacemaker runs it
	OCF_ROOT=/usr/lib/ocf OCF_RESOURCE_INSTANCE=remus-$1 OCF_RESKEY_guest=$G \
	OCF_RESKEY_socket="$TMPD/$1.sock" OCF_RESKEY_remusctl="$PWD/$BUILD/bin/remusctl" \
	OCF_RESKEY_CRM_meta_interval=10000 __OCF_ACTION=$2 "$AGENT" "$2"
}
ra a start || fail "start on host-a"
ra b start || fail "start on host-b"
ra a promote >"$TMPD/promote-a.out" 2>&1 || fail "promote on host-a: $(cat "$TMPD/promote-a.out")"
ra a monitor; rc=$?
[ $rc = 8 ] || fail "monitor on the promoted host-a: $rc"
wait_field a $G state protected 30
wait_ge b $G checkpoints 3
ra b monitor; rc=$?
[ $rc = 0 ] || fail "monitor on host-b holding the replica: $rc (want 0, unpromoted)"
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state waiting-for-quorum 20
grep -q "failover = cluster, waiting for the cluster" "$TMPD/remusd-b.log" || fail "host-b does not say it waits for the cluster"
ra b monitor; rc=$?
[ $rc = 0 ] || fail "monitor on host-b waiting for the cluster: $rc (want 0)"
ra b promote >"$TMPD/promote-b.out" 2>&1 || fail "promote on host-b: $(cat "$TMPD/promote-b.out")"
[ "$(jfield b $G state)" = active ] || fail "host-b after promote: $(jfield b $G state)"
ra b monitor; rc=$?
[ $rc = 8 ] || fail "monitor on the promoted host-b: $rc"
grep -q "failover FORCED by the operator" "$TMPD/remusd-b.log" || fail "host-b's log does not say the failover was forced"
echo "failover = cluster: host-b waited, the agent promoted it (checkpoint $(jfield b $G failover.checkpoint))"
echo PASS
