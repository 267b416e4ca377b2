#!/bin/bash
# remusd's loop never blocks: while the backup's failover on command is in
# progress (held at "failover-restore", remusd/hold.h: the receiver has
# stopped, nothing is restored yet), the backup's control socket answers
# `status` and `list` within 100 ms each, a second operation on the guest
# is refused naming the failover; released, the failover completes (its
# reply deferred until then) and the guest runs on host-b.  Before the
# loop handed the failover to a worker, status waited for the whole
# restore (here: the hold).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-lp$$}
HB_TIMEOUT=${HB_TIMEOUT:-2000}
. tests/integration/remusd_lib.sh

# quick HOST ARGS...: remusctl bounded well below the daemon's hold (60 s)
quick() { local host=$1; shift; timeout 5 "$BUILD/bin/remusctl" -s "$TMPD/$host.sock" "$@"; }

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
start_daemon a
REMUSD_HOLD="failover-restore:$TMPD" start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_field b $G state replica-ready 30

# --force: the primary still answers, a plain failover is refused now
ctl b failover $G --force >"$TMPD/failover.out" 2>&1 &
OP_PID=$!
wait_file "$TMPD/failover-restore.reached" 30
worst=0
for i in 1 2 3 4 5; do
	t0=$(date +%s%N)
	out=$(quick b status $G --json) || fail "status did not answer during the failover"
	t1=$(date +%s%N)
	ms=$(( (t1 - t0) / 1000000 ))
	echo "$out" | grep -q "\"name\":\"$G\"" || fail "status: $out"
	[ "$ms" -gt "$worst" ] && worst=$ms
	[ "$ms" -lt 100 ] || fail "status took $ms ms during the failover (limit 100 ms)"
	t0=$(date +%s%N)
	quick b list | grep -q "^$G " || fail "list did not answer during the failover"
	t1=$(date +%s%N)
	ms=$(( (t1 - t0) / 1000000 ))
	[ "$ms" -gt "$worst" ] && worst=$ms
	[ "$ms" -lt 100 ] || fail "list took $ms ms during the failover (limit 100 ms)"
done
echo "status/list answered in <= $worst ms each (10 requests) while the failover is held"
out=$(quick b unprotect $G 2>&1) && fail "unprotect accepted during the failover"
echo "$out" | grep -q "guest $G: failover in progress" || fail "unclear refusal: $out"
kill -0 "$OP_PID" 2>/dev/null || fail "the failover answered before its restore: $(cat "$TMPD/failover.out")"
[ -e "$TMPD/failover-restore.go" ] && fail "hold released early"

touch "$TMPD/failover-restore.go"
wait "$OP_PID" || fail "failover after the hold: $(cat "$TMPD/failover.out")"
[ "$(jfield b $G state)" = active ] || fail "host-b state after the failover: $(jfield b $G state)"
[ "$(jfield b $G failover.checkpoint)" -ge 1 ] || fail "no checkpoint restored"
echo "failover: completed after the hold, host-b runs the guest (checkpoint $(jfield b $G failover.checkpoint))"
echo PASS
