#!/bin/bash
# Many guests on one daemon pair: 1, 4 and 16 small pvm guests (the guest
# kit's counter guest, 8 MiB, which prints a line every 100 ms and sleeps
# between) protected at 40 Hz (25 ms interval) from host-a's remusd to
# host-b's, in the namespaces of the remusd tests (tests/integration/
# remusd_lib.sh).  Over a window once all are protected:
#   rate held   checkpoints per second per guest (mean over the guests), as
#               a ratio to the same run's one-guest figure; goal >= 0.9
#   CPU         each daemon's own CPU (utime + stime of the remusd process,
#               /proc/PID/stat, all its threads; the guests are processes
#               of their own and not counted) per guest, in % of one core,
#               beside the one-guest figure
# BENCH_QUICK=1: a 3 s window, else MANY_GUESTS_WINDOW (10 s).  Rows in
# bench/rows.h's format to $BENCH_ROWS.  Needs root (network namespaces):
# prints a skip line and exits 0 otherwise.
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "many_guests: skipped (needs root for network namespaces)"
	exit 0
fi
TAG=${TAG:-mgb$$}
WINDOW=${MANY_GUESTS_WINDOW:-10}
[ -n "${BENCH_QUICK:-}" ] && [ "$BENCH_QUICK" != 0 ] && WINDOW=3
COUNTS="1 4 16"
. tests/integration/remusd_lib.sh
. bench/sys_lib.sh
[ -f "$BUILD/guest/counter.elf" ] || skip "guest kit counter guest not built"


# guests_conf N: both hosts' remus.conf with guests g1..gN.
guests_conf() {
	local a=() b=() i
	for i in $(seq "$1"); do
		local g=("[guest g$i]" "type = pvm" "image = $PWD/$BUILD/guest/counter.elf" "mem = 8M"
			"interval = 25" "netbuf = none" "diskrep = none" "unsafe = no-netbuf,no-diskrep")
		a+=("${g[@]}" "peer = $IP_B:7575")
		b+=("${g[@]}" "peer = $IP_A:7575")
	done
	write_conf a "${a[@]}"
	write_conf b "${b[@]}"
}

# snapshot: "MONO_NS CHECKPOINTS-SUM NGUESTS-PROTECTED CPU-TICKS-A CPU-TICKS-B"
snapshot() {
	ctl a status --json 2>/dev/null | python3 -c '
import json, sys, time
t = time.monotonic_ns()
try:
    gs = json.load(sys.stdin)["guests"]
except Exception:
    gs = []
def ticks(pid):
    with open("/proc/%s/stat" % pid) as f:
        s = f.read()
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])     # utime, stime (fields 14, 15)
print(t, sum(g.get("checkpoints", 0) for g in gs),
      sum(1 for g in gs if g.get("state") == "protected"), ticks(sys.argv[1]), ticks(sys.argv[2]))
' "$PID_a" "$PID_b"
}

hosts_setup
HZ=$(getconf CLK_TCK)
echo "many guests: counter guests of 8 MiB at 25 ms, one remusd pair, a ${WINDOW} s window each"
rate1='' cpua1='' cpub1=''
for n in $COUNTS; do
	rm -f "$TMPD"/{a,b}.sock
	guests_conf "$n"
	start_daemon a
	start_daemon b
	for i in $(seq "$n"); do ctl a start "g$i" >/dev/null || fail "start g$i"; done
	for i in $(seq "$n"); do
		ctl a protect "g$i" --wait 60 >"$TMPD/protect.out" 2>&1 ||
			fail "protect g$i of $n: $(cat "$TMPD/protect.out")"
	done
	read -r t0 c0 np a0 b0 < <(snapshot)
	[ "$np" = "$n" ] || fail "$np of $n guests protected"
	sleep "$WINDOW"    # the measurement window itself, not a wait for a condition
	read -r t1 c1 np a1 b1 < <(snapshot)
	[ "$np" = "$n" ] || fail "$np of $n guests still protected at the end of the window"
	kill -9 "$PID_a" "$PID_b" 2>/dev/null
	wait "$PID_a" "$PID_b" 2>/dev/null
	PIDS=()
	read -r rate cpua cpub < <(python3 -c "
dt = ($t1 - $t0) / 1e9
print('%.2f %.2f %.2f' % (($c1 - $c0) / dt / $n, ($a1 - $a0) / $HZ / dt / $n * 100,
                          ($b1 - $b0) / $HZ / dt / $n * 100))")
	[ -n "$rate1" ] || { rate1=$rate cpua1=$cpua cpub1=$cpub; }
	rr=$(ratio "$rate" "$rate1")
	met=$(calc "$rr >= 0.9")
	echo "$n guest(s): $rate checkpoints/s per guest = ${rr}x one guest's;" \
		"daemon CPU per guest: primary $cpua %, backup $cpub % of a core (one guest: $cpua1 %, $cpub1 %)"
	row "many_guests_rate: checkpoints/s per guest @ $n" "$rate" 1/s "$rate1" "$rr" '"ratio >= 0.9"' "$met"
	row "many_guests_cpu: primary remusd @ $n" "$cpua" "% of a core per guest" "$cpua1" \
		"$(ratio "$cpua" "$cpua1")" null null
	row "many_guests_cpu: backup remusd @ $n" "$cpub" "% of a core per guest" "$cpub1" \
		"$(ratio "$cpub" "$cpub1")" null null
done
