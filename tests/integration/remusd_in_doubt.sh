#!/bin/bash
# Evacuation left in doubt: exactly one copy of the guest runs.
# Host B's remusd holds at its "handover-started" point (it has
# BYE(HANDOVER) and the final checkpoint, nothing restored yet; see
# remusd/hold.h), and the test acts right there:
#  1. the replication link is cut: B restores and runs the guest, its
#     confirmation never arrives; A must not resume its copy — the guest
#     stays paused, state in-doubt, evacuate says what to check; then the
#     operator resolves with `remusctl destroy` on A.
#  2. B's remusd dies: nothing runs on B; A is in doubt as well (it cannot
#     tell a dead backup from a cut link); `resume` without --force is
#     refused, `resume --force` runs the guest on A again.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-id$$}
. tests/integration/remusd_lib.sh

. tests/integration/remusd_in_doubt_lib.sh

# expect_in_doubt: evacuate failed saying so, A's copy is paused.
expect_in_doubt() {
	wait "$EVAC_PID" && fail "evacuate succeeded: $(cat "$TMPD/evacuate.out")"
	echo "evacuate: $(cat "$TMPD/evacuate.out")"
	grep -q "in doubt" "$TMPD/evacuate.out" || fail "evacuate does not say in doubt"
	grep -q "remusctl destroy $G" "$TMPD/evacuate.out" && grep -q "resume $G --force" \
		"$TMPD/evacuate.out" || fail "evacuate does not say how to resolve"
	[ "$(jfield a $G state)" = in-doubt ] || fail "host-a state $(jfield a $G state)"
	[ "$(jfield a $G guest_state)" = paused ] || fail "host-a resumed its copy: $(jfield a $G guest_state)"
	grep -q "in doubt" "$TMPD/remusd-a.log" || fail "host-a did not log the doubt"
	ctl a start $G 2>/dev/null && fail "start accepted while in doubt"
	ctl a protect $G --wait 5 >/dev/null 2>&1 && fail "protect accepted while in doubt"
	ctl a resume $G >"$TMPD/resume.out" 2>&1 && fail "resume without --force accepted"
	grep -q -- "--force" "$TMPD/resume.out" || fail "resume refusal unclear: $(cat "$TMPD/resume.out")"
	[ "$(jfield a $G guest_state)" = paused ] || fail "host-a copy no longer paused"
}

hosts_setup
counter_guest

# 1. the link dies right after B got the hand-over
pair
ip -n "$NS_B" link set rep0 down
touch "$TMPD/handover-started.go"
expect_in_doubt
wait_field b $G state active 20
[ "$(jfield b $G guest_state)" = running ] || fail "host-b guest $(jfield b $G guest_state)"
# exactly one copy runs: B's (A's stays paused however long the link is down)
[ "$(jfield a $G guest_state)" = paused ] || fail "two copies run"
echo "link cut: host-b runs the guest (checkpoint $(jfield b $G failover.checkpoint)), host-a in doubt, paused"
ctl a destroy $G || fail "destroy"
[ "$(jfield a $G state)" = evacuated ] || fail "host-a state after destroy: $(jfield a $G state)"
[ "$(children "$PID_a")" = 0 ] || fail "host-a still has a guest process"
ctl a start $G 2>/dev/null && fail "host-a started a second copy after destroy"
ctl a resume $G --force 2>/dev/null && fail "resume accepted after destroy"
[ "$(jfield b $G guest_state)" = running ] || fail "host-b guest stopped"
echo "resolved by destroy: host-a evacuated"

# 2. B's daemon dies right after it got the hand-over: nothing runs there
pair
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
expect_in_doubt
ctl a resume $G --force || fail "resume --force"
[ "$(jfield a $G state)" = unprotected ] || fail "host-a state after resume: $(jfield a $G state)"
wait_field a $G guest_state running 10
echo "resolved by resume --force: host-a runs the guest"
echo PASS
