#!/bin/bash
# Live update of remusd (issue 18) with a running pvm guest (the counter
# guest, unprotected): `remusctl upgrade --exec` hands the guest to a new
# remusd, which then answers on the same control socket; the guest process
# is the same one, traced by the new daemon and running on.  Then the
# failure paths, each of which must leave every guest with the daemon that
# had it, running, and make `remusctl upgrade` exit 1 with the reason: a
# new binary that exits at once, one that refuses the stream's version,
# one that never answers (the bound, REMUSD_UPGRADE_TIMEOUT_MS).  SIGUSR2
# upgrades to the installed binary.  Last, a protected guest: its run
# stops at an epoch boundary with the guest paused, the new daemon
# carries the run on (nothing resent, numbers go on), and after SIGKILL of
# the primary the backup takes over; a backup daemon holding a replica
# refuses (not carried over yet).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-up$$}
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
export REMUSD_UPGRADE_TIMEOUT_MS=2000
# systemd's notify socket, played by a datagram listener: each message a line
python3 - "$TMPD/notify.sock" "$TMPD/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", " ") + "\n")
PY
PIDS+=($!)
wait_file "$TMPD/notify.sock" 10
NOTIFY_SOCKET="$TMPD/notify.sock" start_daemon a
ctl a start $G >/dev/null || fail "start $G"

# guest_pid DAEMON-PID: the guest process the daemon traces.
guest_pid() {
	local p t
	for p in $(ps -e -o pid=); do
		t=$(awk '/^TracerPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null)
		[ -n "$t" ] && [ "$t" != 0 ] && [ -d "/proc/$1/task/$t" ] && { echo "$p"; return 0; }
	done
	return 1
}

# cpu_ticks PID: user + system time of a process (grows while it runs).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# expect_running GUEST-PID DAEMON-PID: traced by that daemon and running.
expect_running() {
	local t0 i
	[ -d "/proc/$1" ] || fail "guest process $1 is gone"
	[ -d "/proc/$2/task/$(awk '/^TracerPid:/ { print $2 }' /proc/$1/status)" ] ||
		fail "guest $1 not traced by remusd $2"
	t0=$(cpu_ticks "$1")
	for i in $(seq 100); do
		[ "$(cpu_ticks "$1")" -gt "$t0" ] && return 0
		sleep 0.05
	done
	fail "guest $1 does not run (cpu time stays $t0)"
}

GPID=$(guest_pid "$PID_a") || fail "no guest process traced by remusd $PID_a"
expect_running "$GPID" "$PID_a"
state=$(jfield a $G state)

# 1. the upgrade itself
ctl a upgrade --exec "$PWD/$BUILD/bin/remusd" >"$TMPD/up1.out" 2>&1 || fail "upgrade: $(cat "$TMPD/up1.out")"
NEW=$(sed -n 's/^upgraded: remusd \([0-9]*\) .*/\1/p' "$TMPD/up1.out")
[ -n "$NEW" ] || fail "upgrade said: $(cat "$TMPD/up1.out")"
PIDS+=("$NEW")
wait "$PID_a" 2>/dev/null
kill -0 "$PID_a" 2>/dev/null && fail "the old remusd $PID_a still runs"
expect_running "$GPID" "$NEW"
[ "$(guest_pid "$NEW")" = "$GPID" ] || fail "the guest process changed"
[ "$(jfield a $G state)" = "$state" ] || fail "state $(jfield a $G state), was $state"
# systemd heard the new main pid from the old daemon and READY from the new
for i in $(seq 50); do [ "$(grep -c "MAINPID=$NEW" "$TMPD/notify.log")" -ge 2 ] && break; sleep 0.1; done
grep -q "^MAINPID=$NEW\$\|^MAINPID=$NEW \$" "$TMPD/notify.log" || fail "no MAINPID=$NEW from the old daemon: $(cat "$TMPD/notify.log")"
grep -q "MAINPID=$NEW READY=1" "$TMPD/notify.log" || fail "no READY with MAINPID=$NEW: $(cat "$TMPD/notify.log")"
echo "upgrade: remusd $PID_a -> $NEW, guest process $GPID kept, state $state"

# 2. failure paths: the guest stays with remusd $NEW, running
refused() {     # WHAT EXPECTED-REASON remusctl-upgrade-args...
	local what=$1 why=$2; shift 2
	if ctl a upgrade "$@" >"$TMPD/up.out" 2>&1; then
		fail "$what: upgrade succeeded: $(cat "$TMPD/up.out")"
	fi
	grep -q -- "$why" "$TMPD/up.out" || fail "$what: reason '$(cat "$TMPD/up.out")', want '$why'"
	kill -0 "$NEW" || fail "$what: remusd $NEW is gone"
	expect_running "$GPID" "$NEW"
	echo "$what: refused ($(cat "$TMPD/up.out"))"
}
refused "exits at once" "exited with status 1 before confirming" --exec /bin/false
printf '#!/bin/bash\neval "fd=\\${$#}"\necho "NO hand-over stream version 2 not understood" >&$fd\nexit 1\n' \
	>"$TMPD/refuses"
chmod +x "$TMPD/refuses"
refused "refuses the version" "refused: hand-over stream version 2 not understood" --exec "$TMPD/refuses"
printf '#!/bin/sh\nexec sleep 30\n' >"$TMPD/hangs"
chmod +x "$TMPD/hangs"
refused "never answers" "did not confirm within 2000 ms" --exec "$TMPD/hangs"

# 3. SIGUSR2: the binary remusd was started from
kill -USR2 "$NEW"
wait_gone() { local i; for i in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
wait_gone "$NEW" || fail "SIGUSR2: remusd $NEW still runs ($(tail -n 3 "$TMPD/remusd-a.log"))"
NEW=$(pgrep -f -- "-c $TMPD/a.conf -s") || fail "SIGUSR2: no new remusd"
PIDS+=("$NEW")
expect_running "$GPID" "$NEW"
ctl a status $G >/dev/null || fail "status after SIGUSR2"
echo "SIGUSR2: new remusd $NEW, guest process $GPID kept"

# 4. a protected guest: its run stops at an epoch boundary with the guest
# paused (the final checkpoint acknowledged), the new daemon carries the
# run on from there (nothing resent: no pre-copy, numbers go on), and the
# backup fails over from the carried-on run
start_daemon b
ctl a protect $G --wait 30 >"$TMPD/protect.out" 2>&1 || fail "protect: $(cat "$TMPD/protect.out")"
wait_ge b $G checkpoints 20 20
first_bytes=$(jfield a $G sync_bytes)
# the backup's daemon holds a replica: not carried over yet, refused
if ctl b upgrade --exec "$PWD/$BUILD/bin/remusd" >"$TMPD/upb.out" 2>&1; then
	fail "backup upgrade succeeded: $(cat "$TMPD/upb.out")"
fi
grep -q "carrying a replica over a live update is not implemented yet" "$TMPD/upb.out" ||
	fail "backup upgrade: $(cat "$TMPD/upb.out")"
echo "backup with a replica: refused ($(cat "$TMPD/upb.out"))"
# a failed upgrade of the protected guest: the old daemon protects it again
a0=$(jfield a $G acked)
refused "protected, new binary exits at once" "exited with status 1 before confirming" --exec /bin/false
wait_field a $G state protected 30
# taken back: the old daemon carried its own run on, numbered on from a0
wait_ge a $G acked $(( a0 + 5 )) 20
[ "$(jfield a $G precopy_rounds)" = 0 ] || fail "the run was redone after the failed upgrade"
bpre=$(jfield b $G checkpoints)
ctl a upgrade --exec "$PWD/$BUILD/bin/remusd" >"$TMPD/up2.out" 2>&1 || fail "protected upgrade: $(cat "$TMPD/up2.out")"
OLD=$NEW
NEW=$(sed -n 's/^upgraded: remusd \([0-9]*\) .*/\1/p' "$TMPD/up2.out")
[ -n "$NEW" ] || fail "protected upgrade said: $(cat "$TMPD/up2.out")"
PIDS+=("$NEW")
wait_gone "$OLD" || fail "the old remusd $OLD still runs"
wait_field a $G state protected 30
expect_running "$GPID" "$NEW"
b0=$(jfield b $G checkpoints)
wait_ge b $G checkpoints $(( b0 + 20 )) 20
re_bytes=$(jfield a $G sync_bytes)
re_rounds=$(jfield a $G precopy_rounds)
echo "protected upgrade: $(cat "$TMPD/up2.out"); carried on, $re_bytes stream bytes" \
	"to resync ($first_bytes the first time), $re_rounds pre-copy rounds"
[ "$re_bytes" = 0 ] && [ "$re_rounds" = 0 ] || fail "the run was redone, not carried on"
[ "$b0" -ge "$bpre" ] || fail "the backup's checkpoint numbers went back ($bpre, then $b0)"
kill -9 "$NEW"
wait_field b $G state active 20
echo "primary killed after the upgrade: the backup took over"
echo PASS
