#!/bin/bash
# `make xenlab-check`: boot the lab built by build.sh under QEMU TCG, run the
# scenarios in dom0, collect their results from the I/O disk, print a results
# table and check the captured streams on the host.  Exit 0 only when every
# scenario passed.  QEMU runs under `timeout` and is stopped by its PID; the
# full serial log is kept at $BUILD/xenlab/serial.log.
# Environment: XENLAB_TIMEOUT (seconds for the whole boot, default 1140),
# XENLAB_SCENARIOS (glob of scenario names to run, default all), XENLAB_SMP
# (emulated CPUs, default 2: dom0 and the guests get one each), XENLAB_HVM
# (1: the image has QEMU for scenario 60, which gets 600 s instead of 420).
# Opt-in scenarios (OPT_IN below) run only when XENLAB_SCENARIOS names them:
# the default run's 15-minute budget is spent.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin
BUILD=${BUILD:-build}
SRC=$(cd "$(dirname "$0")" && pwd)
LAB=$(cd "$BUILD/xenlab" && pwd)
RUN=$LAB/run
TIMEOUT=${XENLAB_TIMEOUT:-1140}
PICK=${XENLAB_SCENARIOS:-*}
OPT_IN=" 55-remusd-xen-nbd "
SMP=${XENLAB_SMP:-2}
for f in xen.elf vmlinuz dom0.cpio; do
	[ -s "$LAB/$f" ] || { echo "xenlab-check: $LAB/$f missing: run 'make xenlab' first" >&2; exit 2; }
done

rm -rf "$RUN"; mkdir -p "$RUN/stage/in/scenarios" "$RUN/stage/out"
cp "$SRC/scenarios/lib.sh" "$RUN/stage/in/scenarios/"
n=0
for s in "$SRC"/scenarios/[0-9]*.sh; do
	name=$(basename "$s" .sh)
	# shellcheck disable=SC2053
	[[ $name == $PICK ]] || continue
	[[ -z ${XENLAB_SCENARIOS:-} && $OPT_IN == *" $name "* ]] && continue
	cp "$s" "$RUN/stage/in/scenarios/"; n=$((n + 1))
done
[ "$n" -gt 0 ] || { echo "xenlab-check: no scenario matches '$PICK'" >&2; exit 2; }
# Each scenario gets what is left of the budget after boot, at most 420 s;
# 600 s in the opt-in HVM run (XENLAB_HVM=1): scenario 60's HVM boot alone
# takes 84-189 s under TCG, its phases A and B ~200 s more.
scenario_timeout=420
[ "${XENLAB_HVM:-0}" = 1 ] && scenario_timeout=600
echo "$scenario_timeout" >"$RUN/stage/in/scenario-timeout"
truncate -s 2G "$RUN/io.img"
mke2fs -q -F -t ext4 -L xenlab -d "$RUN/stage" "$RUN/io.img"

qemu_pid=
stop_qemu() {
	local pid
	pid=$(cat "$RUN/qemu.pid" 2>/dev/null || true)
	if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill "$pid"; fi
	[ -z "$qemu_pid" ] || wait "$qemu_pid" 2>/dev/null || true
}
trap stop_qemu EXIT INT TERM

echo "xenlab-check: booting Xen 4.17 + dom0 under QEMU TCG ($n scenario(s), timeout ${TIMEOUT}s); serial log: $LAB/serial.log"
t0=$SECONDS
# The serial console goes through a stamper: every line gets the host's
# elapsed seconds; XENLAB progress lines are echoed to the terminal.
(
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -machine q35 -accel tcg -cpu qemu64,+svm,+npt \
		-m 3072 -smp "$SMP" -display none -monitor none -serial stdio -no-reboot \
		-pidfile "$RUN/qemu.pid" \
		-drive "file=$RUN/io.img,format=raw,if=virtio,cache=unsafe" \
		-kernel "$LAB/xen.elf" \
		-append "console=com1 com1=115200,8n1 dom0_mem=1200M,max:1200M dom0_max_vcpus=1 noreboot" \
		-initrd "$LAB/vmlinuz console=hvc0 earlyprintk=xen loglevel=5,$LAB/dom0.cpio" </dev/null
	echo "XENLAB-QEMU-EXIT rc=$?"
) 2>&1 | while IFS= read -r line; do
	line=${line//$'\r'/}
	printf '[%4ds] %s\n' $((SECONDS - t0)) "$line"
	case $line in *XENLAB*) printf '  [%4ds] %s\n' $((SECONDS - t0)) "$line" >&2 ;; esac
done >"$LAB/serial.log" &
qemu_pid=$!
wait "$qemu_pid" || true
qemu_pid=
total=$((SECONDS - t0))

boot=$(sed -n 's/^\[ *\([0-9]*\)s\].*XENLAB-READY.*/\1/p' "$LAB/serial.log" | head -n1)
if debugfs -R "rdump /out $RUN" "$RUN/io.img" >"$RUN/debugfs.log" 2>&1 && [ -d "$RUN/out" ]; then
	rm -f "$RUN/io.img"
else
	echo "xenlab-check: could not read the results from $RUN/io.img (see $RUN/debugfs.log)" >&2
	mkdir -p "$RUN/out"
fi
"$SRC/report.sh" "$RUN" "$LAB" "${boot:-none}" "$total"
