#!/bin/bash
# Re-protection re-sends only what changed: the kvstore guest (with its
# disk) is protected, unprotected (the backup keeps its replica), runs on
# under a PUT load, and is protected again: the backup offers its
# replica's page hashes and the first pre-copy round skips the pages it
# holds.  Asserts, as byte counts, that the re-protection put far fewer
# bytes on the link than the first protection, then kills the primary:
# the backup fails over from the re-protected replica and every
# acknowledged PUT reads back.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rr$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

hosts_setup
trap demo_cleanup EXIT
lan_setup
kvstore_conf
start_daemon a
start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >"$TMPD/protect1.out" || fail "protect: $(cat "$TMPD/protect1.out")"
first_bytes=$(jfield a $G sync_bytes)
first_pages=$(jfield a $G precopy_pages)
first_disk=$(jfield a $G disk.resync_bytes_sent)

ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 200 30

ctl a unprotect $G || fail "unprotect"
wait_field a $G state unprotected 10
wait_field b $G state unprotected 10
wait_acked $(( $(acked) + 100 )) 30          # changes the replica does not have

ctl a protect $G --wait 60 >"$TMPD/protect2.out" || fail "re-protect: $(cat "$TMPD/protect2.out")"
re_bytes=$(jfield a $G sync_bytes)
re_pages=$(jfield a $G precopy_pages)
re_skipped=$(jfield a $G precopy_skipped)
re_disk=$(jfield a $G disk.resync_bytes_sent)
echo "first protection: $first_bytes stream bytes on the link, $first_pages pages pre-copied"
echo "re-protection   : $re_bytes stream bytes on the link, $re_pages pages pre-copied," \
	"$re_skipped pages skipped (the backup held them)"
echo "disk resync     : $first_disk bytes, then $re_disk bytes (cumulative)"
[ -n "$first_bytes" ] && [ -n "$re_bytes" ] && [ "$re_bytes" -gt 0 ] || fail "no byte counts"
[ "$re_skipped" -gt 0 ] || fail "re-protection skipped no page"
[ $(( re_bytes * 8 )) -lt "$first_bytes" ] ||
	fail "re-protection sent $re_bytes bytes, not far less than the first $first_bytes"

wait_ge b $G checkpoints 5
before=$(acked)
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
wait_acked $(( before + 100 )) 30
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost after failover from the re-protected replica"
echo PASS
