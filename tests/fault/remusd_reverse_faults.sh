#!/bin/bash
# Fault at a role reversal step (issue 17): the old primary's remusd is
# SIGKILLed at "keep-final" (REMUSD_FAULT, remusd/fault.h): the backup
# confirmed it runs the guest, the old primary has not kept its paused
# copy as the reverse replica yet.  Under kvstore PUTs:
#   - the new primary runs the guest (one copy: the old host's process is
#     gone with its daemon), serves on, and retries the protection back
#     by itself (logged) while the old host is down;
#   - the old host's remusd restarts: the guest is protected back to it
#     with no command (a full RAM copy: the kept replica died with it);
#   - the new primary is SIGKILLed: the old host takes over with every
#     acknowledged PUT.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rvf$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

hosts_setup
trap demo_cleanup EXIT
lan_setup
kvstore_conf
REMUSD_FAULT="keep-final@1" start_daemon a
start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >/dev/null || fail "protect"
ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 200 30

# the evacuation: A dies right after B confirmed
ctl a evacuate $G >"$TMPD/evacuate.out" 2>&1 && fail "evacuate returned ok from a dying daemon"
wait "$PID_a" 2>/dev/null
grep -q "fault injection: keep-final" "$TMPD/remusd-a.log" || fail "A did not die at keep-final"
wait_field b $G state active 20
[ "$(jfield b $G role)" = primary ] || fail "host b: role $(jfield b $G role)"
[ "$(jfield b $G guest_state)" = running ] || fail "host b: guest $(jfield b $G guest_state)"
wait_acked $(( $(acked) + 200 )) 30
for i in $(seq 100); do
	grep -q "protecting it again to $IP_A:7575 failed" "$TMPD/remusd-b.log" && break
	sleep 0.1
done
grep -q "protecting it again to $IP_A:7575 failed" "$TMPD/remusd-b.log" ||
	fail "host b did not try to protect the guest back: $(tail -3 "$TMPD/remusd-b.log")"
echo "A killed at keep-final: B active, serving, retrying the reverse protection"

# A's daemon returns: protected back to it by itself
rm -f "$TMPD/a.sock"
start_daemon a
wait_field b $G state protected 60
wait_field a $G state replica-ready 30
echo "   reverse protection B -> A after A's restart: $(jfield b $G sync_bytes) bytes," \
	"$(jfield b $G precopy_skipped) pages skipped (A kept nothing)"
grep "protecting it again\|protected again\|gave up" "$TMPD/remusd-b.log" | sed 's/^[^ ]* [^ ]* /   /'
wait_ge a $G checkpoints 5
wait_acked $(( $(acked) + 200 )) 30

# B dies: A takes over with every acknowledged PUT
before=$(acked)
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_field a $G state active 20
wait_acked $(( before + 200 )) 30
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
cat "$TMPD/client.log"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost"
echo PASS
