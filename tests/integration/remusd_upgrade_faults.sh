#!/bin/bash
# A live update of remusd with a protected guest, SIGKILL of the old
# daemon at the worst moment for it (hold point upgrade-sent: the new
# daemon has the stream and every descriptor, the old one has not heard
# its answer): the new daemon takes over anyway — the same guest process,
# traced by it, protected again — and after SIGKILL of the new daemon the
# backup fails over.  Never two copies: the old daemon's own copy was
# handed off before it died.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-uf$$}
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
mkdir "$TMPD/hold"
REMUSD_HOLD="upgrade-sent:$TMPD/hold" start_daemon a
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
wait_file "$TMPD/hold/upgrade-sent.reached" 20
NEW=$(pgrep -f -- "-c $TMPD/a.conf -s") || fail "no new remusd started"
PIDS+=("$NEW")
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait "$UPC" && fail "remusctl upgrade succeeded although its daemon was killed: $(cat "$TMPD/up.out")"
echo "old remusd $PID_a killed before the answer; remusctl: $(cat "$TMPD/up.out")"

wait_field a $G state protected 30
[ "$(guest_pid "$NEW")" = "$GPID" ] || fail "guest $GPID not traced by the new remusd $NEW"
b0=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( b0 + 10 )) 20
echo "the new remusd $NEW took over: guest $GPID protected again"

kill -9 "$NEW"
wait_field b $G state active 20
[ -d "/proc/$GPID" ] && [ "$(awk '{ print $3 }' "/proc/$GPID/stat")" != Z ] &&
	fail "guest $GPID on host-a outlived its daemon: two copies"
echo "new remusd killed: the backup took over, host-a's copy is gone"
echo PASS
