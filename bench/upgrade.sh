#!/bin/bash
# Live update of remusd (issue 18): how long a 32 MiB pvm guest (the
# counter guest, which writes memory without end) is paused while
# `remusctl upgrade` hands it to a new remusd — from the first guest's
# pause to the new daemon's confirmation, after which it resumes the
# guests (remusd reports the figure in its reply) — against a plain
# checkpoint pause of the same guest in the same run (avg_pause_us while
# it is protected to host-b at 20 ms).  The pause includes the new
# binary's fork, exec and start-up (configuration, key), which a
# checkpoint never pays.  Goal: pause <= 100 ms.  Then the same guest
# protected: its run is carried on by the new daemon (no pre-copy), and
# "time to the next acknowledged checkpoint" is the pause until the new
# daemon's answer plus its resume -> ACK(N + 1) (the run's sync_ms).
# BENCH_QUICK=1: 3 upgrades, else UPGRADE_TRIALS (9); the median is the row.
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "upgrade: skipped (needs root for network namespaces)"
	exit 0
fi
TAG=${TAG:-upb$$}
TRIALS=${UPGRADE_TRIALS:-9}
[ -n "${BENCH_QUICK:-}" ] && [ "$BENCH_QUICK" != 0 ] && TRIALS=3
. tests/integration/remusd_lib.sh
. bench/sys_lib.sh

hosts_setup
[ -f "$BUILD/tests/pvm/counter.elf" ] || skip "counter guest not built"
G=counter
GUEST=("[guest $G]" "type = pvm" "image = $PWD/$BUILD/tests/pvm/counter.elf" "mem = 32M"
	"interval = 20" "netbuf = none" "diskrep = none" "unsafe = no-netbuf,no-diskrep")
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
start_daemon a
start_daemon b
ctl a start $G >/dev/null || fail "start"
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_ge a $G checkpoints 100 30
base_us=$(jfield a $G avg_pause_us)
[ -n "$base_us" ] || base_us=$(jfield a $G stats.avg_pause_us)
ctl a unprotect $G >/dev/null || fail "unprotect"
wait_field a $G state unprotected 10

pauses=()
for i in $(seq "$TRIALS"); do
	out=$(ctl a upgrade --exec "$PWD/$BUILD/bin/remusd") || fail "upgrade $i: $out"
	p=$(sed -n 's/.*guests paused \([0-9.]*\) ms.*/\1/p' <<<"$out")
	new=$(sed -n 's/^upgraded: remusd \([0-9]*\) .*/\1/p' <<<"$out")
	[ -n "$p" ] && [ -n "$new" ] || fail "upgrade $i said: $out"
	PIDS+=("$new")
	pauses+=("$p")
done
med=$(median "${pauses[@]}")
base_ms=$(calc "$base_us / 1000.0")
echo "upgrade: guest pause (32 MiB pvm) median $med ms of ${pauses[*]} | checkpoint pause $base_ms ms | ratio $(ratio "$med" "$base_ms")x | goal <= 100 ms"
row "live update: guest pause, 32 MiB pvm guest" "$med" ms "$base_ms" "$(ratio "$med" "$base_ms")" \
	'"value <= 100 ms"' "$(calc "$med <= 100")"

# protected: confirmation + the carried-on run's resume -> ACK(N + 1)
ctl a protect $G --wait 60 >/dev/null || fail "protect again"
gaps=()
rounds=()
for i in $(seq "$TRIALS"); do
	wait_ge a $G checkpoints 20 30
	out=$(ctl a upgrade --exec "$PWD/$BUILD/bin/remusd") || fail "protected upgrade $i: $out"
	p=$(sed -n 's/.*guests paused \([0-9.]*\) ms.*/\1/p' <<<"$out")
	new=$(sed -n 's/^upgraded: remusd \([0-9]*\) .*/\1/p' <<<"$out")
	[ -n "$p" ] && [ -n "$new" ] || fail "protected upgrade $i said: $out"
	PIDS+=("$new")
	wait_field a $G state protected 60
	wait_ge a $G sync_ms 1 30        # set once ACK(N + 1) came
	s=$(jfield a $G sync_ms)
	gaps+=("$(calc "$p + $s")")
	rounds+=("$(jfield a $G precopy_rounds)")
done
gmed=$(median "${gaps[@]}")
echo "upgrade, protected: confirmation + resumed run to ACK(N+1) median $gmed ms of ${gaps[*]} (pre-copy rounds: ${rounds[*]}) | checkpoint pause $base_ms ms | ratio $(ratio "$gmed" "$base_ms")x"
row "live update: time to the next acknowledged checkpoint, protected 32 MiB pvm guest" "$gmed" ms \
	"$base_ms" "$(ratio "$gmed" "$base_ms")" null null
exit 0
