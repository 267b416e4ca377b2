#!/bin/bash
# Backup loss on the primary: SIGKILL the backup's remusd -> the primary
# goes unprotected within the heartbeat timeout and its guest keeps
# running; a new backup daemon comes up and `remusctl protect` protects the
# guest again.  Then the replication link is cut (veth down): the primary
# again goes unprotected and keeps running.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/remusd_lib.sh

hosts_setup
counter_hosts
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_ge a $G acked 3

# 1. the backup dies
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
wait_field a $G state unprotected 10
[ "$(jfield a $G guest_state)" = running ] || fail "guest stopped with the backup"
echo "unprotected after backup loss: $(jfield a $G message)"

# 2. a new backup, protect again
rm -f "$TMPD/b.sock"
start_daemon b
ctl a protect $G --wait 60 >/dev/null || fail "re-protect: $(jfield a $G message)"
before=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( before + 3 ))
[ "$(jfield a $G state)" = protected ] || fail "not protected again"

# 3. the link is cut
ip -n "$NS_A" link set rep0 down
wait_field a $G state unprotected 10
[ "$(jfield a $G guest_state)" = running ] || fail "guest stopped with the link"
echo "unprotected after link cut: $(jfield a $G message)"
echo PASS
