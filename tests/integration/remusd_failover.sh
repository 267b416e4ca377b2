#!/bin/bash
# remusd end to end over the real transport (TCP between two namespaces,
# HMAC-authenticated): start pvm's counter guest on host A, protect it to
# host B, SIGKILL A's daemon (and with it the guest), and check B fails
# over to the last complete checkpoint and the guest runs on (the counter
# guest exits with 11..14 if any state was lost or torn).
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/remusd_lib.sh

hosts_setup
counter_hosts

ctl a start $G || fail "start"
ctl a check $G >"$TMPD/check.out" || fail "check: $(cat "$TMPD/check.out")"
ctl a protect $G --peer "$IP_B:7575" --wait 60 >"$TMPD/protect.out" || { cat "$TMPD/protect.out"; fail "protect"; }
grep -q "protected" "$TMPD/protect.out" || fail "protect did not report protected"
wait_ge a $G acked 5
wait_field b $G state replica-ready
wait_ge b $G checkpoints 5
[ "$(jfield b $G discarded)" = 0 ] || fail "backup dropped a checkpoint while the primary was alive"

kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
wait_field b $G guest_state running
applied=$(jfield b $G failover.checkpoint)
[ "$applied" -ge 5 ] || fail "failover restored checkpoint '$applied'"
# the restored counter keeps running and consistent for a while
for i in 1 2 3; do
	sleep 0.1
	[ "$(jfield b $G guest_state)" = running ] || fail "restored guest stopped: $(ctl b status $G)"
done
echo "failover to checkpoint $applied in $(jfield b $G failover.total_us) us"
echo "PASS"
