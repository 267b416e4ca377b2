#!/bin/bash
# Switchover pause of `remusctl evacuate` against QEMU's live-migration
# downtime for a guest with the same RAM, same machine, same run:
#   QEMU     qemu-system-x86_64 7.2, TCG, `-m 32M`, booting a boot sector
#            that writes 128 pages of low memory without end
#            (bench/qemu_dirtier.s), migrated over loopback TCP to a
#            second QEMU started with -incoming (bandwidth cap lifted,
#            default downtime-limit); the downtime is QEMU's own figure
#            (QMP query-migrate "downtime", ms: source stop -> done; the
#            destination's start is not in it)
#   remus    the udpseq guest (32 MiB) protected at 25 ms from host-a to
#            host-b in the fault trials' namespaces, streaming a datagram
#            every 2 ms to the UDP probe on the client; `remusctl evacuate`
#            hands it over; the pause is the gap the client saw: the last
#            datagram from host-a -> the first from host-b (within the
#            2 ms of the guest's send period).  Without netbuf (unsafe =
#            no-netbuf): with it, host-a's last epoch of output leaves only
#            when the hand-over is confirmed, sometimes after host-b's
#            guest has spoken, and the gap says nothing about the pause
# Goal (issue 21): remus's pause <= 0.5x QEMU's downtime.
# BENCH_QUICK=1: one hand-over and one migration, else EVACUATE_TRIALS (3)
# of each; the medians are the rows (bench/rows.h's format, to
# $BENCH_ROWS).  Needs root (network namespaces) and QEMU: prints a skip
# line and exits 0 without them.
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "evacuate: skipped (needs root for network namespaces)"
	exit 0
fi
if ! command -v qemu-system-x86_64 >/dev/null || [ ! -f "${BUILD:-build}/bench/qemu-dirtier.img" ]; then
	echo "evacuate: skipped (no qemu-system-x86_64 (Debian: qemu-system-x86) or no bench/qemu-dirtier.img built)"
	exit 0
fi
TAG=${TAG:-evb$$}
MEM_MB=32
TRIALS=${EVACUATE_TRIALS:-3}
[ -n "${BENCH_QUICK:-}" ] && [ "$BENCH_QUICK" != 0 ] && TRIALS=1
. tests/integration/remusd_lib.sh
. bench/sys_lib.sh
. tests/integration/remusd_lan.sh
. tests/fault/remusd_fault_lib.sh

# qemu_migrate N: a source and a destination QEMU, the source migrated
# once; sets QEMU_MS (QEMU's downtime, ms).
qemu_migrate() {
	local port=$(( 40000 + ($$ + $1) % 20000 )) src dst
	local disk=(-drive "file=$BUILD/bench/qemu-dirtier.img,format=raw,if=ide,snapshot=on")
	qemu-system-x86_64 -accel tcg -machine pc -m ${MEM_MB}M -display none -nodefaults "${disk[@]}" \
		-qmp "unix:$TMPD/dst.qmp,server=on,wait=off" -incoming "tcp:127.0.0.1:$port" \
		>"$TMPD/qemu-dst.log" 2>&1 &
	dst=$!
	qemu-system-x86_64 -accel tcg -machine pc -m ${MEM_MB}M -display none -nodefaults "${disk[@]}" \
		-qmp "unix:$TMPD/src.qmp,server=on,wait=off" >"$TMPD/qemu-src.log" 2>&1 &
	src=$!
	PIDS+=("$dst" "$src")
	wait_file "$TMPD/dst.qmp" 10
	wait_file "$TMPD/src.qmp" 10
	sleep 0.5    # SeaBIOS boots the writer; migrating the BIOS itself would measure nothing
	QEMU_MS=$(python3 - "$TMPD/src.qmp" "$port" <<'PY'
import json, socket, sys, time

s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
f = s.makefile("rw")
json.loads(f.readline())                      # the greeting


def cmd(name, **args):
    f.write(json.dumps({"execute": name, "arguments": args} if args else {"execute": name}) + "\n")
    f.flush()
    while True:
        r = json.loads(f.readline())
        if "error" in r:
            sys.exit("qemu: %s: %s" % (name, r["error"].get("desc")))
        if "return" in r:
            return r["return"]


cmd("qmp_capabilities")
cmd("migrate-set-parameters", **{"max-bandwidth": 10 ** 10})
cmd("migrate", uri="tcp:127.0.0.1:" + sys.argv[2])
deadline = time.monotonic() + 60
while True:
    r = cmd("query-migrate")
    if r.get("status") == "completed":
        break
    if r.get("status") in ("failed", "cancelled") or time.monotonic() > deadline:
        sys.exit("qemu: migration %s" % r.get("status", "timed out"))
    time.sleep(0.01)
print(r["downtime"])
PY
	) || fail "QEMU migration: $QEMU_MS"
	kill -9 "$src" "$dst" 2>/dev/null
	wait "$src" "$dst" 2>/dev/null
	PIDS=()
	rm -f "$TMPD"/{src,dst}.qmp
}

# evacuate_once: the udpseq guest protected and evacuated; sets GAP_MS
# (the client's gap) and TOTAL_MS (host-b: hand-over received -> running).
evacuate_once() {
	local lines=("[guest $G]" "type = pvm" "image = $PWD/$BUILD/guest/udpseq.elf" "mem = ${MEM_MB}M"
		"tap = tap0" "mac = 02:77:00:00:00:11" "ip = $GUEST_IP/24" "interval = 25"
		"compression = delta" "netbuf = none" "unsafe = no-netbuf" "diskrep = none")
	rm -f "$TMPD"/{a,b}.sock
	ip -n "$LAN" link set br0 type bridge fdb_flush
	HB_TIMEOUT=3000 write_conf a "${lines[@]}" "peer = $IP_B:7575"
	HB_TIMEOUT=3000 write_conf b "${lines[@]}" "peer = $IP_A:7575"
	start_daemon a
	start_daemon b
	ctl a start $G >/dev/null || fail "start: $(jfields a message)"
	start_probe
	wait_probe 0 3 10
	ctl a protect $G --wait 30 --unsafe no-netbuf >"$TMPD/protect.out" 2>&1 ||
		fail "protect: $(cat "$TMPD/protect.out")"
	wait_ge a $G acked 20 20
	# the switchover alone, as QEMU's migration: no protection back to host-a
	ctl a evacuate $G --no-reprotect >"$TMPD/evacuate.out" 2>&1 ||
		fail "evacuate: $(cat "$TMPD/evacuate.out")"
	wait_field b $G state active 20
	wait_probe 1 5 10
	stop_probe
	read -r TOTAL_US _ < <(jfields b failover.total_us)
	TOTAL_MS=$(( TOTAL_US / 1000 ))
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
	GAP_MS=$(python3 bench/probe_gap.py "$TMPD/probe.rec"
	) || fail "no switchover figure from the probe's record"
}

hosts_setup
trap demo_cleanup EXIT
lan_setup
echo "evacuate vs QEMU migration: ${MEM_MB} MiB guests, $TRIALS trial(s) each"
qd=() gaps=() totals=()
for i in $(seq "$TRIALS"); do
	qemu_migrate "$i"
	qd+=("$QEMU_MS")
	evacuate_once 2> >(grep -v ' Killed ' >&2)
	gaps+=("$GAP_MS") totals+=("$TOTAL_MS")
	echo "  QEMU downtime ${qd[-1]} ms; remus evacuate: client gap $GAP_MS ms, host-b hand-over -> running $TOTAL_MS ms"
done
q=$(median "${qd[@]}") g=$(median "${gaps[@]}") t=$(median "${totals[@]}")
r=$(ratio "$g" "$q")
echo "evacuate: switchover pause $g ms (client gap) = ${r}x QEMU 7.2 TCG migration downtime $q ms (goal <= 0.5x)"
row "evacuate: remus evacuate pause" "$g" ms "$q" "$r" '"ratio <= 0.5"' \
	"$([ "$r" = null ] && echo false || calc "$r <= 0.5")"
row "evacuate: QEMU 7.2 TCG downtime" "$q" ms null null null null
row "evacuate host-b: hand-over -> guest running" "$t" ms null null null null
