#!/bin/bash
# An evacuation in doubt resolves itself once the backup can be asked
# (issue 17, remusd/in_doubt.c).  As in remusd_in_doubt.sh, host B's
# remusd holds at "handover-started" (it has BYE(HANDOVER) and the final
# checkpoint, nothing restored yet) and the test acts right there:
#  1. the link is cut: B restores and runs the guest, its confirmation is
#     lost, A stays paused in doubt while the link is down; the link comes
#     back: A asks B, B says it runs the guest, A destroys its copy by
#     itself (evacuated): the late confirmation counts.
#  2. B's remusd dies: A is in doubt; B's remusd restarts (no session, no
#     copy): A asks, B says no copy runs there, A resumes the guest by
#     itself (unprotected, running).
# At every moment at most one copy runs.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ia$$}
. tests/integration/remusd_lib.sh

. tests/integration/remusd_in_doubt_lib.sh

in_doubt() {
	wait "$EVAC_PID" && fail "evacuate succeeded: $(cat "$TMPD/evacuate.out")"
	grep -q "in doubt" "$TMPD/evacuate.out" || fail "evacuate does not say in doubt"
	[ "$(jfield a $G state)" = in-doubt ] || fail "host-a state $(jfield a $G state)"
	[ "$(jfield a $G guest_state)" = paused ] || fail "host-a resumed its copy"
}

hosts_setup
counter_guest

# 1. link cut right after the hand-over: B runs it; the link returns
pair --no-reprotect
ip -n "$NS_B" link set rep0 down
touch "$TMPD/handover-started.go"
in_doubt
wait_field b $G state active 20
[ "$(jfield a $G guest_state)" = paused ] || fail "two copies run"
for i in $(seq 100); do   # bounded: the first probe fails within 1 s + 6 s
	grep -q "in doubt, the backup .* cannot be asked" "$TMPD/remusd-a.log" && break
	sleep 0.1
done
grep -q "in doubt, the backup .* cannot be asked" "$TMPD/remusd-a.log" ||
	fail "host-a did not try to ask the backup"
[ "$(jfield a $G state)" = in-doubt ] || fail "host-a resolved with the link down"
[ "$(jfield a $G guest_state)" = paused ] || fail "host-a resumed with the link down"
ip -n "$NS_B" link set rep0 up
wait_field a $G state evacuated 30
echo "link back: host-a: $(jfield a $G message)"
[ "$(children "$PID_a")" = 0 ] || fail "host-a still has a guest process"
[ "$(jfield b $G guest_state)" = running ] || fail "host-b guest $(jfield b $G guest_state)"

# 2. B's daemon dies right after the hand-over; it restarts with no copy
pair --no-reprotect
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
in_doubt
rm -f "$TMPD/b.sock"
start_daemon b
wait_field a $G state unprotected 30
wait_field a $G guest_state running 10
echo "backup restarted: host-a: $(jfield a $G message)"
[ "$(jfield b $G state)" = "" ] || fail "host-b has a session: $(ctl b status $G)"
echo PASS
