#!/bin/bash
# Evacuation to any host (issue 17 item 4): `remusctl evacuate GUEST --to
# HOST` moves the kvstore guest from host A (protected to B) to a third
# host C, under a client that records every acknowledged PUT.
#  1. refusals at prepare, nothing changed (A still protected to B):
#     C's remusd knows no such guest; C's remusd has another key.
#  2. evacuate --to C: C runs the guest and protects it back to A (role
#     reversal), B is left unprotected with its replica; at every step at
#     most one host runs the guest; every acknowledged PUT is on C.
#  3. fault in perform: A holds once C acknowledged checkpoint 1 and is
#     SIGKILLed: C fails over with every acknowledged PUT, B stays
#     unprotected (one copy).
#  4. fault in perform: C is SIGKILLed at the same point: evacuate exits 1
#     with the reason, the guest runs on at A, protected to B again.
#  5. fault in finish: C is SIGKILLed when the hand-over arrived, nothing
#     restored: A is in doubt (paused, output held), resumed by the
#     operator with every acknowledged PUT.
#  6. fault in confirm: A dies (REMUSD_FAULT keep-final) once C confirmed:
#     C runs the guest with every acknowledged PUT.
#  7. C protected by the old backup B instead of A: C's configuration
#     names B as its peer with reprotect = auto, and `evacuate --to C
#     --no-reprotect` leaves A free; B's kept replica is offered (pages
#     skipped), A evacuated, every acknowledged PUT on C.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-et$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

# children of a daemon (the pvm guest runs in a forked stub process)
children() { ps -o pid= --ppid "$1" 2>/dev/null | wc -l; }

# one_copy WHERE: the guest runs on host WHERE only (status, processes)
one_copy() {
	local h p
	for h in a b c; do
		eval "p=\${PID_$h:-}"
		if [ "$h" = "$1" ]; then
			case "$(jfield $h $G guest_state)" in
			running|paused) ;;
			*) fail "guest not running on $h: $(ctl $h status $G)" ;;
			esac
			[ "$(children "$p")" -ge 1 ] || fail "no guest process on $h"
		elif [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			[ "$(children "$p")" = 0 ] || fail "host $h runs a second copy"
		fi
	done
}

# conf_c [LINES...]: host C's remus.conf, the kvstore guest (its own disk,
# peer A over the A-C link) unless told otherwise
conf_c() {
	truncate -s 16M "$TMPD/c.img"
	if [ $# -gt 0 ]; then
		write_conf c "$@"
	else
		write_conf c "${GUESTCONF[@]}" "disk = $TMPD/c.img" "peer = $IP_AC:7575"
	fi
}

# start_with HOST HOLD FAULT: remusd on HOST with a hold point or a fault
start_with() {
	if [ -n "$2" ]; then
		REMUSD_HOLD="$2:$TMPD" start_daemon "$1"
	elif [ -n "$3" ]; then
		REMUSD_FAULT=$3 start_daemon "$1"
	else
		start_daemon "$1"
	fi
}

# fresh [HOLD_A] [HOLD_C] [FAULT_A]: fresh disks and daemons on A, B, C
# (C's configuration rewritten unless KEEP_C), the guest started on A and
# protected to B, a client PUTting keys
fresh() {
	local p
	for p in ${PID_a:-} ${PID_b:-} ${PID_c:-} ${CLIENT_PID:-}; do
		kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null
	done
	rm -rf "$TMPD"/[abc].img* "$TMPD"/[abc].sock "$TMPD/acked" "$TMPD"/*.reached \
		"$TMPD"/*.go
	kvstore_conf
	if [ -n "${KEEP_C:-}" ]; then
		truncate -s 16M "$TMPD/c.img"
	else
		conf_c
	fi
	start_with a "${1:-}" "${3:-}"
	start_daemon b
	start_with c "${2:-}" ""
	ctl a start $G || fail "start"
	ctl a protect $G --wait 60 >/dev/null || fail "protect"
	ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" \
		"$TMPD/acked" >"$TMPD/client.log" 2>&1 &
	CLIENT_PID=$!
	PIDS+=($CLIENT_PID)
	wait_acked 50 20
}

# verify WHAT [fresh]: the client's connection carries on (fresh: after a
# failover, where its retransmissions wait for the LAN bridge to learn the
# guest's new port, only a new connection is used), then every
# acknowledged PUT answers (from whichever host runs the guest)
verify() {
	local n
	n=$(acked)
	[ "${2:-}" = fresh ] || wait_acked $(( n + 30 )) 30
	kill -TERM "$CLIENT_PID"
	wait "$CLIENT_PID"
	ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" \
		"$TMPD/acked" || fail "$1: acknowledged writes lost"
}

# still_protected_to_b WHY: A runs the guest protected to B, nothing moved
still_protected_to_b() {
	[ "$(jfield a $G state)" = protected ] || fail "$1: host a is $(jfield a $G state)"
	[ "$(jfield a $G peer)" = "$IP_B:7575" ] || fail "$1: host a protects to $(jfield a $G peer)"
	[ "$(jfield b $G state)" = replica-ready ] || fail "$1: host b is $(jfield b $G state)"
	one_copy a
}

T0=$SECONDS
# took: seconds since the script began, for the case lines
took() { echo "[$(( SECONDS - T0 )) s]"; }

hosts_setup
trap demo_cleanup EXIT
lan_setup
host_c_setup
TO="$IP_C:7575"

# 1. refusals at prepare
kvstore_conf
write_conf c "[guest other]" "${GUESTCONF[@]:1}" "disk = $TMPD/c.img"
KEEP_C=1 fresh
ctl c list >/dev/null || fail "host c's remusd does not answer"
for t in "unknown guest" "wrong key"; do
	if [ "$t" = "wrong key" ]; then
		kill -9 "$PID_c"; wait "$PID_c" 2>/dev/null
		rm -f "$TMPD/c.sock"
		conf_c
		head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMPD/other.key"
		chmod 600 "$TMPD/other.key"
		sed -i "s|^key_file = .*|key_file = $TMPD/other.key|" "$TMPD/c.conf"
		start_daemon c
	fi
	if ctl a evacuate $G --to "$TO" >"$TMPD/refuse.out" 2>&1; then
		fail "$t: evacuate --to succeeded: $(cat "$TMPD/refuse.out")"
	fi
	echo "$(took) 1. $t: $(cat "$TMPD/refuse.out")"
	grep -q "prepare" "$TMPD/refuse.out" || fail "$t: no reason named"
	grep -q "nothing changed" "$TMPD/refuse.out" || fail "$t: does not say nothing changed"
	still_protected_to_b "$t"
done
grep -q "no \[guest $G\]" "$TMPD/remusd-c.log" "$TMPD/remusd-a.log" ||
	fail "unknown guest: the reason is not in the logs"

# 2. evacuate --to C, protected back to A
fresh
before=$(acked)
start_ms=$(date +%s%3N)
ctl a evacuate $G --to "$TO" >"$TMPD/evac.out" 2>&1 ||
	fail "evacuate --to C: $(cat "$TMPD/evac.out") / $(jfield a $G message)"
evac_ms=$(( $(date +%s%3N) - start_ms ))
[ "$(jfield c $G role)" = primary ] || fail "host c: role $(jfield c $G role)"
one_copy c
wait_field c $G state protected 30
wait_field a $G state replica-ready 20
[ "$(jfield a $G role)" = backup ] || fail "host a: role $(jfield a $G role)"
[ "$(jfield c $G peer)" = "$IP_AC:7575" ] || fail "host c protects to $(jfield c $G peer)"
[ "$(jfield b $G state)" = unprotected ] || fail "host b: $(jfield b $G state)"
echo "$(took) 2. evacuated A -> C in $evac_ms ms (C restored checkpoint $(jfield c $G failover.checkpoint)," \
	"total $(jfield c $G failover.total_us) us); C protects to A: $(jfield c $G sync_bytes)" \
	"stream bytes, $(jfield c $G precopy_skipped) pages skipped; B $(jfield b $G state):" \
	"$(jfield b $G message)"
[ "$(jfield c $G precopy_skipped)" -gt 0 ] || fail "reverse protection C -> A: full resync"
one_copy c
verify "evacuate --to"
grep -q ", 0 reconnects" "$TMPD/client.log" || fail "the client reconnected: $(cat "$TMPD/client.log")"

# 3. perform: A dies once C holds checkpoint 1
fresh evacto-synced
ctl a evacuate $G --to "$TO" >"$TMPD/evac.out" 2>&1 &
EVPID=$!
wait_file "$TMPD/evacto-synced.reached" 60
[ "$(jfield c $G state)" = replica-ready ] || fail "3: host c is $(jfield c $G state)"
kill -9 "$PID_a"; wait "$PID_a" 2>/dev/null
wait "$EVPID" && fail "3: evacuate succeeded with its daemon killed"
wait_field c $G state active 20
[ "$(jfield b $G state)" = unprotected ] || fail "3: host b is $(jfield b $G state)"
one_copy c
echo "$(took) 3. A killed in perform: C $(jfield c $G state), B $(jfield b $G state)"
verify "A killed in perform" fresh

# 4. perform: C dies at the same point
fresh evacto-synced
ctl a evacuate $G --to "$TO" >"$TMPD/evac.out" 2>&1 &
EVPID=$!
wait_file "$TMPD/evacto-synced.reached" 60
kill -9 "$PID_c"; wait "$PID_c" 2>/dev/null
wait_field a $G state unprotected 20
touch "$TMPD/evacto-synced.go"
wait "$EVPID" && fail "4: evacuate succeeded with the destination killed"
echo "$(took) 4. C killed in perform: $(cat "$TMPD/evac.out")"
grep -q "being protected again to $IP_B:7575" "$TMPD/evac.out" || fail "4: no clear outcome"
wait_field a $G state protected 60
[ "$(jfield a $G peer)" = "$IP_B:7575" ] || fail "4: host a protects to $(jfield a $G peer)"
one_copy a
verify "C killed in perform"

# 5. finish: C dies when the hand-over arrived: A in doubt, resumed
fresh "" handover-started
ctl a evacuate $G --to "$TO" >"$TMPD/evac.out" 2>&1 &
EVPID=$!
wait_file "$TMPD/handover-started.reached" 60
kill -9 "$PID_c"; wait "$PID_c" 2>/dev/null
wait "$EVPID" && fail "5: evacuate succeeded with the destination killed"
echo "$(took) 5. C killed in finish: $(cat "$TMPD/evac.out")"
wait_field a $G state in-doubt 20
[ "$(jfield a $G guest_state)" = paused ] || fail "5: host a's copy is $(jfield a $G guest_state)"
ctl a resume $G --force || fail "5: resume --force"
wait_field a $G state unprotected 10
one_copy a
verify "C killed in finish"

# 6. confirm: A dies once C confirmed it runs the guest
fresh "" "" keep-final@1
ctl a evacuate $G --to "$TO" >"$TMPD/evac.out" 2>&1 &
EVPID=$!
wait "$EVPID" && fail "6: evacuate answered from a daemon that died"
kill -0 "$PID_a" 2>/dev/null && fail "6: host a's remusd did not die at keep-final"
wait_field c $G role primary 20
one_copy c
echo "$(took) 6. A killed in confirm: C $(jfield c $G state): $(jfield c $G message)"
verify "A killed in confirm"

# 7. C protected by B: C's peer is B (reprotect = auto), A left free
conf_c "${GUESTCONF[@]}" "disk = $TMPD/c.img" "peer = $IP_BC:7575" "reprotect = auto"
KEEP_C=1 fresh
ctl a evacuate $G --to "$TO" --no-reprotect >"$TMPD/evac.out" 2>&1 ||
	fail "7: evacuate --to C --no-reprotect: $(cat "$TMPD/evac.out")"
[ "$(jfield a $G state)" = evacuated ] || fail "7: host a is $(jfield a $G state)"
wait_field c $G state protected 30
[ "$(jfield c $G peer)" = "$IP_BC:7575" ] || fail "7: host c protects to $(jfield c $G peer)"
wait_field b $G state replica-ready 20
[ "$(jfield c $G precopy_skipped)" -gt 0 ] || fail "7: B's replica was not offered"
one_copy c
echo "$(took) 7. evacuated A -> C, C protected by B: $(jfield c $G sync_bytes) stream" \
	"bytes, $(jfield c $G precopy_skipped) pages skipped (B's replica), A $(jfield a $G state)"
verify "evacuate --to C, protected by B"
echo PASS
