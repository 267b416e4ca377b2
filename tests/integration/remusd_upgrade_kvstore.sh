#!/bin/bash
# Issue 18's scenario with the kvstore guest (NIC on the LAN, inline
# netbuf, builtin disk replication), a client recording acknowledged PUTs
# the whole time: upgrade the primary's remusd mid-load (remusctl upgrade
# --exec), then try the backup's (it holds the replica: refused, not
# carried over yet — the backup keeps receiving), then SIGKILL the
# primary: the backup takes over and every acknowledged PUT reads back;
# the guest process is the same one across the upgrade.  The primary's run
# is carried on, not redone: its final checkpoint N acknowledged before the
# hand-off, the new daemon resumes at N + 1 (no pre-copy, nothing resynced),
# status never shows `syncing`, and the checkpoint numbers of both hosts go
# on from where they were.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-uk$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

kvstore_protected
# the guest process: the one traced by a thread of remusd on host a
guest_pid() {
	local p t
	for p in $(ps -e -o pid=); do
		t=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$t" ] && [ "$t" != 0 ] && [ -d "/proc/$1/task/$t" ] && { echo "$p"; return 0; }
	done
	return 1
}
GPID=$(guest_pid "$PID_a") || fail "no guest process traced by remusd $PID_a"

ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 200 30

a0=$(jfield a $G acked)
b0=$(jfield b $G checkpoints)
ctl a upgrade --exec "$PWD/$BUILD/bin/remusd" >"$TMPD/up.out" 2>&1 || fail "upgrade: $(cat "$TMPD/up.out")"
NEW=$(sed -n 's/^upgraded: remusd \([0-9]*\) .*/\1/p' "$TMPD/up.out")
[ -n "$NEW" ] || fail "upgrade said: $(cat "$TMPD/up.out")"
PIDS+=("$NEW")
wait "$PID_a" 2>/dev/null
echo "primary upgraded: $(cat "$TMPD/up.out")"
# carried on: protected (never syncing) with numbers from the old run's on,
# until the new daemon's first checkpoints are acknowledged
for i in $(seq 300); do
	st=$(jfield a $G state)
	n=$(jfield a $G acked)
	nb=$(jfield b $G checkpoints)
	case "$st" in protected|"") ;; *) fail "primary state '$st' after the upgrade" ;; esac
	[ -z "$n" ] || [ "$n" -ge "$a0" ] || fail "primary acked $n after the upgrade, was $a0"
	[ -z "$nb" ] || [ "$nb" -ge "$b0" ] || fail "backup checkpoints $nb after the upgrade, was $b0"
	[ -n "$n" ] && [ "$n" -ge $(( a0 + 10 )) ] && break
	sleep 0.1
done
[ "$n" -ge $(( a0 + 10 )) ] || fail "primary acked $n, 30 s after the upgrade from $a0"
[ "$(jfield a $G precopy_rounds)" = 0 ] && [ "$(jfield a $G sync_bytes)" = 0 ] ||
	fail "the primary's run was redone: $(jfield a $G precopy_rounds) pre-copy rounds," \
		"$(jfield a $G sync_bytes) bytes"
[ "$(guest_pid "$NEW")" = "$GPID" ] || fail "the guest process changed (was $GPID)"
echo "carried on by remusd $NEW: acked $a0 before, $n now; nothing resynced;" \
	"guest process $GPID kept"
wait_acked $(( $(acked) + 100 )) 30

if ctl b upgrade --exec "$PWD/$BUILD/bin/remusd" >"$TMPD/upb.out" 2>&1; then
	fail "the backup's upgrade succeeded: $(cat "$TMPD/upb.out")"
fi
echo "backup: $(cat "$TMPD/upb.out")"
[ "$(jfield b $G state)" = replica-ready ] || fail "backup state $(jfield b $G state)"

b0=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( b0 + 5 )) 20
before=$(acked)
kill -9 "$NEW"
wait_field b $G state active 20
wait_acked $(( before + 100 )) 30
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost after the upgrade and failover"
echo PASS
