#!/bin/bash
# Protection that lasts, the daemon's own part (issue 17), with pvm's
# counter guest (it exits 11..14 if any state was lost or torn):
#  1. refusal: A and B each run a copy of the guest; `protect --peer B` on
#     A is refused saying B runs a copy (two copies), nothing changes.
#  2. reprotect = auto: protect A -> B; SIGKILL A: B takes over, is the
#     primary, and tries to protect the guest back to A by itself, backing
#     off while A's remusd is down (each try logged); A's remusd restarts:
#     B protects to it with no command.  SIGKILL B: A takes over.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ra$$}
. tests/integration/remusd_lib.sh

hosts_setup

# 1. two copies: refused with the reason, nothing changed
counter_hosts
ctl a start $G || fail "start on a"
ctl b start $G || fail "start on b"
if ctl a protect $G --peer "$IP_B:7575" --wait 10 >"$TMPD/refuse.out" 2>&1; then
	fail "protect to a host running a copy succeeded: $(cat "$TMPD/refuse.out")"
fi
echo "refused: $(cat "$TMPD/refuse.out")"
grep -q "runs a copy of $G" "$TMPD/refuse.out" || fail "refusal does not say why"
for h in a b; do
	[ "$(jfield $h $G role)" = primary ] || fail "host $h: role $(jfield $h $G role)"
	[ "$(jfield $h $G state)" = idle ] || fail "host $h: state $(jfield $h $G state)"
	[ "$(jfield $h $G guest_state)" = running ] || fail "host $h: guest $(jfield $h $G guest_state)"
done
for h in a b; do
	eval "kill -9 \$PID_$h; wait \$PID_$h 2>/dev/null"
	rm -f "$TMPD/$h.sock"
done

# 2. reprotect = auto
counter_guest "reprotect = auto"
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
start_daemon a
start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_field b $G state replica-ready
wait_ge b $G checkpoints 5
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
[ "$(jfield b $G role)" = primary ] || fail "host b after failover: role $(jfield b $G role)"
# B tries by itself while A's daemon is down: a failed try is logged
for i in $(seq 100); do
	grep -q "protecting it again to $IP_A:7575 failed (try 1)" "$TMPD/remusd-b.log" && break
	sleep 0.1
done
grep -q "protecting it again to $IP_A:7575 failed (try 1)" "$TMPD/remusd-b.log" ||
	fail "host b did not try to protect the guest again: $(tail -5 "$TMPD/remusd-b.log")"
[ "$(jfield b $G state)" = active ] || fail "host b: $(jfield b $G state)"
[ "$(jfield b $G reprotect.peer)" = "$IP_A:7575" ] ||
	fail "host b status: no reprotect.peer: $(ctl b status $G --json)"
wait_ge b $G reprotect.tries 1 10
echo "host b status while A is down: reprotect to $(jfield b $G reprotect.peer)," \
	"$(jfield b $G reprotect.tries) tries ($(jfield b $G reprotect.why))"
rm -f "$TMPD/a.sock"
start_daemon a
# the back-off is at most 4 s by now (1, 2, 4 s)
wait_field b $G state protected 30
wait_field a $G state replica-ready 20
wait_ge a $G checkpoints 5
grep "protecting it again\|protected again" "$TMPD/remusd-b.log" | sed 's/^[^ ]* [^ ]* /   /'
grep -q "protected again to $IP_A:7575" "$TMPD/remusd-b.log" || fail "no 'protected again' in b's log"
[ "$(jfield b $G reprotect)" = "" ] || fail "host b still re-protecting: $(jfield b $G reprotect)"

kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_field a $G state active 20
wait_field a $G guest_state running
echo "host a took over again from checkpoint $(jfield a $G failover.checkpoint)"
for i in 1 2 3; do
	sleep 0.1
	[ "$(jfield a $G guest_state)" = running ] || fail "restored guest stopped: $(ctl a status $G)"
done
echo PASS
