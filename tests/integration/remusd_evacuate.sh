#!/bin/bash
# Planned evacuation (remusctl evacuate): the kvstore guest is protected
# from host-a to host-b while a client PUTs numbered keys over TCP.
#  1. hand-over: `evacuate` completes; the guest answers from host-b on the
#     same TCP connection (a pause, no reconnect), every acknowledged key is
#     there, host-a's guest process is gone, status says evacuated / active.
#  2. cancel (fresh daemons and disks): host-b's remusd is killed, then
#     `evacuate` fails with a clear error and the guest keeps serving on
#     host-a.
#  3. cancel with a frozen backup (SIGSTOP): no ACK, no confirmation ->
#     `evacuate` fails, the guest is resumed and keeps serving on host-a.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ev$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

# children of a daemon (the pvm guest runs in a forked stub process)

# protected_pair: fresh disks and daemons, the guest started on host-a and
# protected to host-b, a client PUTting keys (100 acknowledged).
protected_pair() {
	local p
	for p in ${PID_a:-} ${PID_b:-} ${CLIENT_PID:-}; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -rf "$TMPD"/[ab].img* "$TMPD"/[ab].sock "$TMPD/acked"
	kvstore_conf
	start_daemon a
	start_daemon b
	ctl a start $G || fail "start"
	ctl a protect $G --wait 60 >/dev/null || fail "protect"
	ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
		>"$TMPD/client.log" 2>&1 &
	CLIENT_PID=$!
	PIDS+=($CLIENT_PID)
	wait_acked 100 20
}

hosts_setup
trap demo_cleanup EXIT
lan_setup

# 1. the hand-over, under load
protected_pair
[ "$(children "$PID_a")" -ge 1 ] || fail "no guest process under host-a's remusd"
before=$(acked)
# one way (no role reversal: remusd_lifecycle.sh covers that)
ctl a evacuate $G --no-reprotect || fail "evacuate: $(jfield a $G message)"
[ "$(jfield a $G state)" = evacuated ] || fail "host-a state $(jfield a $G state)"
[ "$(jfield b $G state)" = active ] || fail "host-b state $(jfield b $G state): $(jfield b $G message)"
[ "$(children "$PID_a")" = 0 ] || fail "host-a still has a guest process"
ctl a start $G 2>/dev/null && fail "host-a started a second copy of an evacuated guest"
wait_acked $(( before + 200 )) 20
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
cat "$TMPD/client.log"
grep -q ", 0 reconnects" "$TMPD/client.log" || fail "the client saw a gap (reconnected)"
echo "evacuated: host-b restored checkpoint $(jfield b $G failover.checkpoint)," \
	"total $(jfield b $G failover.total_us) us"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" ||
	fail "acknowledged writes lost"

# expect_cancel WHAT: evacuate fails clearly, the guest serves on host-a
expect_cancel() {
	if ctl a evacuate $G >"$TMPD/cancel.out" 2>&1; then
		fail "evacuate succeeded with $1: $(cat "$TMPD/cancel.out")"
	fi
	echo "$1: cancelled: $(cat "$TMPD/cancel.out")"
	grep -q "remusctl: .*$G" "$TMPD/cancel.out" || fail "no clear error: $(cat "$TMPD/cancel.out")"
	wait_field a $G state unprotected 10
	[ "$(jfield a $G guest_state)" = running ] || fail "guest not running on host-a after cancel"
	before=$(acked)
	wait_acked $(( before + 100 )) 20
	echo "$1: guest keeps serving on host-a ($(acked) PUTs acknowledged)"
}

# 2. cancel: the backup is gone when the evacuation starts
protected_pair
kill -9 "$PID_b"
wait "$PID_b" 2>/dev/null
expect_cancel "backup killed"

# 3. cancel: the backup is frozen during the evacuation
protected_pair
kill -STOP "$PID_b"
expect_cancel "backup frozen"
echo PASS
