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
#  4. remusd restarted on B, A protects to B again.
#  5. `evacuate` A -> B with role reversal: B runs the guest and protects
#     it back to A with no RAM resync (A kept the final checkpoint: pages
#     skipped, bytes far below the first protection's).
#  6. `evacuate` again brings it home (A primary, B its backup).
#  7. `evacuate --no-reprotect`: B runs it alone, A is left free.
#  8. B protects to A again (A's evacuated session becomes the backup); B
#     dies: A takes over.
#  9. A's disk alone (cold boot, the guest replays its log): every
#     acknowledged PUT is there.
# The client never reconnects (TCP rides every switch).
# At every step at most one host runs the guest (status guest_state, and
# the pvm guest processes under each daemon).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-lc$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

# window FROM TO: ms from the last "evacuated to" in FROM's log to the
# last "protected again" in TO's (the hand-over to reverse protection)
window() {
	python3 - "$TMPD/remusd-$1.log" "$TMPD/remusd-$2.log" <<'PY'
import datetime, sys
def last(path, what):
    t = None
    for line in open(path):
        if what in line:
            t = datetime.datetime.strptime(line.split()[0], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t
a, b = last(sys.argv[1], "evacuated to"), last(sys.argv[2], "protected again")
print("%.0f" % ((b - a).total_seconds() * 1000) if a and b else "?")
PY
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

# 4. B's daemon restarts; A protects the guest to B again
restart_daemon b
ctl a protect $G --peer "$IP_B:7575" --wait 60 >"$TMPD/protect4.out" ||
	fail "protect A -> B: $(cat "$TMPD/protect4.out") / $(jfield a $G message)"
first_sync=$(jfield a $G sync_bytes)
wait_field b $G state replica-ready 20
wait_ge b $G checkpoints 5
step "4. A protected to B"

# 5. evacuate A -> B with role reversal: B runs the guest and protects it
#    back to A, which kept the final checkpoint: no RAM resync
rev_before=$(grep -c "role reversal after a hand-over" "$TMPD/remusd-b.log")
before=$(acked)
ctl a evacuate $G || fail "evacuate A -> B: $(jfield a $G message)"
[ "$(jfield b $G role)" = primary ] || fail "host b after evacuation: role $(jfield b $G role)"
[ "$(children "$PID_a")" = 0 ] || fail "host a still has a guest process after evacuating"
wait_field b $G state protected 20
wait_field a $G state replica-ready 20
[ "$(jfield a $G role)" = backup ] || fail "host a after the reversal: role $(jfield a $G role)"
rev_sync=$(jfield b $G sync_bytes)
rev_skipped=$(jfield b $G precopy_skipped)
rev_pages=$(jfield b $G precopy_pages)
echo "   reverse protection B -> A: $rev_sync stream bytes ($rev_pages pages sent," \
	"$rev_skipped skipped: A held them), first protection A -> B: $first_sync bytes"
[ "$rev_skipped" -gt 0 ] || fail "reverse protection: no page skipped"
[ $(( rev_sync * 8 )) -lt "$first_sync" ] ||
	fail "reverse protection sent $rev_sync bytes, not far less than a full copy ($first_sync)"
echo "   unprotected window: $(window a b) ms from the hand-over to B protected again" \
	"($(grep "protected again" "$TMPD/remusd-b.log" | tail -n 1 | sed 's/.*(//')"
wait_acked $(( before + 200 )) 30
step "5. evacuated A -> B, protected back to A"
one_copy b

# 6. evacuate again: home to A, protected back to B
before=$(acked)
ctl b evacuate $G || fail "evacuate B -> A: $(jfield b $G message)"
wait_field a $G state protected 20
wait_field b $G state replica-ready 20
echo "   reverse protection A -> B: $(jfield a $G sync_bytes) stream bytes," \
	"$(jfield a $G precopy_skipped) pages skipped"
[ "$(jfield a $G precopy_skipped)" -gt 0 ] || fail "second reversal: no page skipped"
echo "   unprotected window: $(window b a) ms from the hand-over to A protected again"
wait_acked $(( before + 200 )) 30
step "6. evacuated B -> A (home), protected back to B"
one_copy a

# 7. evacuate --no-reprotect: B runs the guest alone, A is left free
rev_before=$(grep -c "role reversal after a hand-over" "$TMPD/remusd-b.log")
ctl a evacuate $G --no-reprotect || fail "evacuate --no-reprotect: $(jfield a $G message)"
[ "$(jfield a $G state)" = evacuated ] || fail "host a: $(jfield a $G state)"
[ "$(jfield b $G state)" = active ] || fail "host b: $(jfield b $G state)"
[ "$(grep -c "role reversal after a hand-over" "$TMPD/remusd-b.log")" = "$rev_before" ] ||
	fail "host b protects back after --no-reprotect"
wait_acked $(( $(acked) + 200 )) 30
step "7. evacuated A -> B without reverse protection"
one_copy b

# 8. B protects to A (left free by 7: its evacuated session becomes the
#    backup), B dies, A takes over; then A's disk alone: every
#    acknowledged PUT must be on it (the guest's log replayed at a cold boot)
ctl b protect $G --peer "$IP_A:7575" --wait 60 >"$TMPD/protect8.out" ||
	fail "protect B -> A after --no-reprotect: $(cat "$TMPD/protect8.out")"
wait_field a $G state replica-ready 20
wait_ge a $G checkpoints 5
[ "$(jfield a $G disk.consistent)" = True ] || fail "host a: disk not consistent"
step "8. B protected to A again"
before=$(acked)
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_field a $G state active 20
wait_acked $(( before + 200 )) 30
one_copy a
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
cat "$TMPD/client.log"
grep -q ", 0 reconnects" "$TMPD/client.log" || fail "the client saw a gap (reconnected)"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost after the last failover"
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
restart_daemon a
ctl a start $G || fail "cold start on host a"
echo "== 9. cold boot of the guest from host a's disk alone"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost"
echo PASS
