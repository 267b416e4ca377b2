#!/bin/bash
# A live update of remusd with a protected guest, the new daemon killed
# after adopting every guest but before answering (hold point
# upgrade-adopted): the guest, adopted but never run by it, is left
# stopped, not killed; the old daemon takes it back and protects it again,
# and remusctl upgrade exits 1 naming the signal.  Then SIGKILL of that
# daemon: the backup fails over.  (remusd_upgrade_faults.sh: the old
# daemon killed instead.)
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-un$$}
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
mkdir "$TMPD/hold"
REMUSD_HOLD="upgrade-adopted:$TMPD/hold" start_daemon a
start_daemon b
ctl a start $G >/dev/null || fail "start"
ctl a protect $G --wait 30 >"$TMPD/protect.out" 2>&1 || fail "protect: $(cat "$TMPD/protect.out")"
wait_ge b $G checkpoints 10 20

guest_pid() {
	local p t
	for p in $(ps -e -o pid=); do
		t=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$t" ] && [ "$t" != 0 ] && [ -d "/proc/$1/task/$t" ] && { echo "$p"; return 0; }
	done
	return 1
}
GPID=$(guest_pid "$PID_a") || fail "no guest process traced by remusd $PID_a"

ctl a upgrade --exec "$PWD/$BUILD/bin/remusd" >"$TMPD/up.out" 2>&1 &
UPC=$!
wait_file "$TMPD/hold/upgrade-adopted.reached" 20
NEW=$(pgrep -f -- "-c $TMPD/a.conf -s") || fail "no new remusd started"
[ "$(guest_pid "$NEW")" = "$GPID" ] || fail "the new remusd $NEW does not hold guest $GPID"
kill -9 "$NEW"
wait "$UPC" && fail "upgrade succeeded although the new daemon was killed: $(cat "$TMPD/up.out")"
grep -q "killed by signal 9 before confirming" "$TMPD/up.out" || fail "upgrade said: $(cat "$TMPD/up.out")"
echo "new remusd $NEW killed after adopting: $(cat "$TMPD/up.out")"
wait_field a $G state protected 30
[ "$(guest_pid "$PID_a")" = "$GPID" ] || fail "guest $GPID not back with remusd $PID_a"
b0=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( b0 + 10 )) 20
echo "guest $GPID taken back and protected again by remusd $PID_a"

kill -9 "$PID_a"
wait_field b $G state active 20
echo "old remusd killed: the backup took over"
echo PASS
