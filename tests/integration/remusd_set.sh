#!/bin/bash
# remusctl set on a protected guest: interval=N takes effect from the next
# epoch (status shows it; the checkpoint rate is bounded by the new epoch
# length), compression may change within what the link negotiated (zlib
# here: none and back to zlib; delta refused, naming the negotiated
# kind) while the backup keeps applying checkpoints; unprotected, any
# kind is kept for the next protect (delta then negotiated and enforced);
# the backup's daemon refuses set; bad values never reach the daemon.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-st$$}
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest "compression = zlib"
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
start_daemon a
start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 30 >/dev/null || fail "protect"
wait_ge a $G checkpoints 5

# rate_bound MS SECS: over SECS, no more checkpoints than one per MS (+2)
rate_bound() {
	local c0 c1 t0 t1 max
	c0=$(jfield a $G checkpoints); t0=$(date +%s%N)
	sleep "$2"
	c1=$(jfield a $G checkpoints); t1=$(date +%s%N)
	max=$(( (t1 - t0) / 1000000 / $1 + 2 ))
	echo "interval $1 ms: $(( c1 - c0 )) checkpoints in $(( (t1 - t0) / 1000000 )) ms (at most $max)"
	[ $(( c1 - c0 )) -le "$max" ] || fail "interval $1 ms not applied: $(( c1 - c0 )) > $max"
	[ $(( c1 - c0 )) -ge 1 ] || fail "no checkpoint at all in $2 s"
}

# 1. interval
out=$(ctl a set $G interval=250) || fail "set interval: $out"
echo "$out" | grep -q "$G: interval = 250 ms from the next epoch" || fail "set interval said: $out"
[ "$(jfield a $G interval_ms)" = 250 ] || fail "status interval_ms $(jfield a $G interval_ms)"
sleep 0.3   # the epoch scheduled before the set ends
rate_bound 250 2
ctl a set $G interval=20 >/dev/null || fail "set interval back"
[ "$(jfield a $G state)" = protected ] || fail "state $(jfield a $G state)"

# 2. compression within the negotiated zlib
out=$(ctl a set $G compression=none) || fail "set compression=none: $out"
echo "$out" | grep -q "compression = none from the next epoch" || fail "said: $out"
applied=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( applied + 10 ))   # the backup takes plain frames
out=$(ctl a set $G compression=delta 2>&1) && fail "compression=delta accepted on a zlib link"
echo "$out" | grep -q "compression delta: the link to the backup negotiated zlib" ||
	fail "delta refused without the reason: $out"
ctl a set $G compression=zlib >/dev/null || fail "set compression=zlib"
applied=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( applied + 10 ))
[ "$(jfield a $G state)" = protected ] || fail "state $(jfield a $G state) after compression changes"

# 3. unprotected: kept for the next protect, which negotiates it
ctl a unprotect $G || fail "unprotect"
wait_field a $G state unprotected 10
out=$(ctl a set $G compression=delta) || fail "set while unprotected: $out"
echo "$out" | grep -q "compression = delta from its next protect" || fail "said: $out"
ctl a protect $G --wait 30 >/dev/null || fail "protect again"
out=$(ctl a set $G compression=zlib 2>&1) && fail "zlib accepted on a delta link"
echo "$out" | grep -q "negotiated delta" || fail "zlib refused without the reason: $out"

# 4. the backup refuses; bad values never leave remusctl
out=$(ctl b set $G interval=40 2>&1) && fail "set accepted on the backup"
echo "$out" | grep -q "set acts on the primary" || fail "backup refusal: $out"
ctl a set $G interval=0 2>/dev/null; [ $? = 2 ] || fail "interval=0 not refused as usage"
ctl a set $G compression=lz4 2>/dev/null; [ $? = 2 ] || fail "compression=lz4 not refused"
ctl a set $G mem=1G 2>/dev/null; [ $? = 2 ] || fail "mem=1G not refused"
ctl a list >/dev/null || fail "daemon stopped answering"
echo PASS
