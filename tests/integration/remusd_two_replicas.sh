#!/bin/bash
# One backup daemon, two replicas: two counter guests run on host A and
# are both protected to the same remusd on host B (it picks each link's
# replica by the guest the primary names in its HELLO).  Both replicas
# receive checkpoints at once; a primary naming a guest B does not hold is
# refused with a clear mismatch; after SIGKILL of host A both guests fail
# over on host B and run.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-r2$$}
. tests/integration/remusd_lib.sh

hosts_setup
[ -f "$BUILD/tests/pvm/counter.elf" ] || skip "counter guest not built"
guest() {
	printf '%s\n' "[guest $1]" "type = pvm" "image = $PWD/$BUILD/tests/pvm/counter.elf" \
		"mem = 16M" "interval = 20" "netbuf = none" "diskrep = none" \
		"unsafe = no-netbuf,no-diskrep" "peer = $2:7575"
}
mapfile -t CONF_A < <(guest c1 "$IP_B"; guest c2 "$IP_B"; guest stranger "$IP_B")
mapfile -t CONF_B < <(guest c1 "$IP_A"; guest c2 "$IP_A")
write_conf a "${CONF_A[@]}"
write_conf b "${CONF_B[@]}"
start_daemon a
start_daemon b

for g in c1 c2 stranger; do ctl a start $g || fail "start $g"; done
ctl a protect c1 --wait 60 >"$TMPD/p1.out" || fail "protect c1: $(cat "$TMPD/p1.out")"
ctl a protect c2 --wait 60 >"$TMPD/p2.out" || fail "protect c2: $(cat "$TMPD/p2.out")"
for g in c1 c2; do
	wait_field b $g state replica-ready
	wait_ge b $g checkpoints 10
	[ "$(jfield a $g state)" = protected ] || fail "$g not protected"
done
# both replicas advance together
n1=$(jfield b c1 checkpoints)
n2=$(jfield b c2 checkpoints)
wait_ge b c1 checkpoints $(( n1 + 10 ))
wait_ge b c2 checkpoints $(( n2 + 10 ))

# a guest host B has no replica for: refused, the others undisturbed
ctl a protect stranger --wait 20 >"$TMPD/p3.out" 2>&1 && fail "protect of an unknown replica succeeded"
grep -q "guest identity mismatch" "$TMPD/p3.out" "$TMPD/remusd-a.log" ||
	fail "no clear refusal: $(cat "$TMPD/p3.out")"
[ "$(jfield a c1 state)" = protected ] && [ "$(jfield a c2 state)" = protected ] ||
	fail "a refused peer disturbed the protected guests"

kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
for g in c1 c2; do
	wait_field b $g state active 20
	wait_field b $g guest_state running
	echo "$g: failed over to checkpoint $(jfield b $g failover.checkpoint)"
done
echo PASS
