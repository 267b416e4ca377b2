#!/bin/bash
# Long guest operations do not block remusd's control socket.  The
# primary's daemon holds (remusd/hold.h) inside an operation, so it is
# provably in progress while the test asks:
#  1. protect, held at "protect-connect" (before the connect + handshake);
#  2. evacuate, held at "handover-prepare" (the hand-over has begun);
# meanwhile `status` and `list` answer at once, a second operation on the
# same guest is refused naming the one in progress; released, the first
# operation ends with its normal reply.
#  3. the evacuating client disconnects while held: the daemon carries on
#     (hand-over done, no crash), and answers the next client.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ca$$}
# three protections on a loaded machine: no heartbeat loss during a sync
HB_TIMEOUT=${HB_TIMEOUT:-2000}
. tests/integration/remusd_lib.sh

# quick HOST ARGS...: remusctl, which must answer well before any hold
# would end (the daemon's hold bound is 60 s, remusctl's own 10 s).
quick() { local host=$1; shift; timeout 5 "$BUILD/bin/remusctl" -s "$TMPD/$host.sock" "$@"; }

# pair HOLD-POINT: fresh daemons, host a holding at that point.
pair() {
	local p
	for p in ${PID_a:-} ${PID_b:-}; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -f "$TMPD"/[ab].sock "$TMPD"/*.reached "$TMPD"/*.go
	REMUSD_HOLD="$1:$TMPD" start_daemon a
	start_daemon b
	ctl a start $G || fail "start"
}

# busy_checks OP: while OP of $G is held, the loop still serves everyone.
busy_checks() {
	local t0 t1 out
	t0=$(date +%s%N)
	out=$(quick a status $G --json) || fail "status did not answer while $1 is in progress"
	t1=$(date +%s%N)
	echo "status answered in $(( (t1 - t0) / 1000000 )) ms while $1 is held"
	echo "$out" | grep -q "\"name\":\"$G\"" || fail "status: $out"
	quick a status >/dev/null || fail "status of all did not answer"
	out=$(quick a list) || fail "list did not answer while $1 is in progress"
	echo "$out" | grep -q "^$G " || fail "list: $out"
	for op in protect evacuate failover start unprotect check; do
		out=$(quick a $op $G --wait 1 2>&1) && fail "second $op accepted during $1"
		echo "$out" | grep -q "guest $G: $1 in progress" || fail "second $op: unclear refusal: $out"
	done
	echo "second operations refused: $out"
	[ -e "$TMPD/$2.go" ] && fail "hold released early"
	return 0
}

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"

# 1. protect held before its connect
pair protect-connect
ctl a protect $G --wait 60 >"$TMPD/protect.out" 2>&1 &
OP_PID=$!
wait_file "$TMPD/protect-connect.reached" 30
[ "$(jfield a $G state)" = idle ] || fail "state while protect is held: $(jfield a $G state)"
busy_checks protect protect-connect
touch "$TMPD/protect-connect.go"
wait "$OP_PID" || fail "protect after the hold: $(cat "$TMPD/protect.out")"
[ "$(jfield a $G state)" = protected ] || fail "state after protect: $(jfield a $G state)"
echo "protect: completed after the hold"

# 2. evacuate held once the hand-over began
pair handover-prepare
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_field b $G state replica-ready
ctl a evacuate $G --no-reprotect >"$TMPD/evacuate.out" 2>&1 &
OP_PID=$!
wait_file "$TMPD/handover-prepare.reached" 30
busy_checks evacuate handover-prepare
touch "$TMPD/handover-prepare.go"
wait "$OP_PID" || fail "evacuate after the hold: $(cat "$TMPD/evacuate.out")"
[ "$(jfield a $G state)" = evacuated ] || fail "host-a state $(jfield a $G state)"
wait_field b $G state active 20
echo "evacuate: completed after the hold, host-b runs the guest"

# 3. the client leaves while its evacuation is held
pair handover-prepare
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_field b $G state replica-ready
"$BUILD/bin/remusctl" -s "$TMPD/a.sock" evacuate $G --no-reprotect >/dev/null 2>&1 &
OP_PID=$!
wait_file "$TMPD/handover-prepare.reached" 30
kill -9 "$OP_PID"
wait "$OP_PID" 2>/dev/null
touch "$TMPD/handover-prepare.go"
wait_field a $G state evacuated 30
kill -0 "$PID_a" 2>/dev/null || fail "remusd on host-a died"
for i in $(seq 100); do
	grep -q "its client left meanwhile" "$TMPD/remusd-a.log" && break
	sleep 0.1
done
grep -q "its client left meanwhile" "$TMPD/remusd-a.log" || fail "no log of the lost client"
quick a list | grep -q "^$G .*evacuated" || fail "list after the lost client"
echo "client gone during evacuate: daemon carried on"
echo PASS
