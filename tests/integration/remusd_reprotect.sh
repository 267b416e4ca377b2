#!/bin/bash
# Re-protection of a guest with a disk (the kvstore guest, like the demo),
# under a PUT load the whole time:
#   protect -> SIGKILL the backup daemon -> the primary goes unprotected and
#   keeps serving -> a new backup daemon -> protect again -> protected;
#   then the link is cut (veth down; the backup is frozen first so that it
#   cannot fail over by itself and steal the guest's address) -> unprotected,
#   still serving -> link up, a new backup daemon -> protect again;
#   then SIGKILL the primary -> the backup fails over: every acknowledged
#   PUT reads back (RAM), and after a cold boot of the guest from the
#   backup's disk image alone (its log replayed) they all read back again
#   (disk consistent with what was acknowledged).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rp$$}
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
tail -n 1 "$TMPD/protect1.out"

ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 200 30

# new_backup: a fresh remusd on host-b (the old one is gone).
new_backup() {
	rm -f "$TMPD/b.sock"
	start_daemon b
}

# reprotect N: protect again, then the backup must apply checkpoints and
# the client must keep getting acknowledgements.
reprotect() {
	ctl a protect $G --wait 60 >"$TMPD/protect$1.out" ||
		fail "re-protect $1: $(cat "$TMPD/protect$1.out") / $(jfield a $G message)"
	tail -n 1 "$TMPD/protect$1.out"
	[ "$(jfield a $G state)" = protected ] || fail "re-protect $1: not protected"
	wait_ge b $G checkpoints 5
	wait_acked $(( $(acked) + 200 )) 30
}

# 1. the backup daemon dies
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_field a $G state unprotected 10
echo "unprotected after backup loss: $(jfield a $G message)"
wait_acked $(( $(acked) + 200 )) 30
new_backup
reprotect 2

# 2. the link is cut
kill -STOP "$PID_b"
ip -n "$NS_A" link set rep0 down
wait_field a $G state unprotected 10
echo "unprotected after link cut: $(jfield a $G message)"
wait_acked $(( $(acked) + 200 )) 30
kill -9 "$PID_b"
kill -CONT "$PID_b" 2>/dev/null
wait "$PID_b" 2>/dev/null
ip -n "$NS_A" link set rep0 up
new_backup
reprotect 3
[ "$(jfield b $G disk.consistent)" = True ] || fail "backup disk not consistent"

# 3. the primary dies: failover, nothing acknowledged lost
before=$(acked)
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
wait_acked $(( before + 200 )) 30
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
cat "$TMPD/client.log"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost after the failover"

# 4. the backup's disk alone: cold boot the guest from it, read back again
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
new_backup
ctl b start $G || fail "cold start on host-b"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes missing from the backup's disk"
echo PASS
