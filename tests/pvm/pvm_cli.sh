#!/bin/bash
# End to end test of the `pvm` command: run, list, save (plain v2 stream
# checked by remus-stream and Xen's verify-stream-v2), restore in a fresh
# process and save again (the counter guest exits 11..14 if a restore broke
# its registers or RAM), refusal of truncated and corrupted images, and the
# exit codes of guests that exit or crash, the block device on an image.
set -uo pipefail
BUILD=${BUILD:-build}
PVM=$BUILD/bin/pvm
G=$BUILD/tests/pvm
XEN=$BUILD/tools/xen-utils-4.17/root/usr/lib/xen-4.17
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export REMUS_RUNDIR=$tmp/run
name=cli$$
fail() { echo "FAIL: $*"; exit 1; }

# wait (bounded) until `pvm list` shows guest $1 running
wait_running() {
	for _ in $(seq 200); do
		$PVM list 2>/dev/null | grep -q "^$1 .*running" && return 0
		sleep 0.05
	done
	fail "guest $1 never showed up running in pvm list"
}

# save guest $1 into $2; its pvm process $3 must then exit 0
save_and_reap() {
	$PVM save "$1" "$2" || fail "pvm save $1"
	wait "$3"; local rc=$?
	[ $rc -eq 0 ] || fail "pvm process of $1 exited $rc after save"
	$BUILD/bin/remus-stream check "$2" >/dev/null || fail "remus-stream check $2"
	if [ -x $XEN/bin/verify-stream-v2 ]; then
		PYTHONPATH=$XEN/lib/python python3 $XEN/bin/verify-stream-v2 -f libxl -i "$2" \
			>/dev/null || fail "verify-stream-v2 rejects $2"
	else
		echo "note: verify-stream-v2 not available, only remus-stream checked"
	fi
}

$PVM run --name $name --mem 16M $G/counter.elf >"$tmp/run.out" 2>&1 & p=$!; pids+=($p)
wait_running $name
save_and_reap $name "$tmp/a.img" $p
$PVM list | grep -q "^$name " && fail "saved guest still listed"

$PVM restore --name ${name}r "$tmp/a.img" >"$tmp/r.out" 2>&1 & p=$!; pids+=($p)
wait_running ${name}r
save_and_reap ${name}r "$tmp/b.img" $p
$PVM restore --name ${name}s "$tmp/b.img" >"$tmp/s.out" 2>&1 & p=$!; pids+=($p)
wait_running ${name}s
kill $p; wait $p

size=$(stat -c %s "$tmp/a.img")
head -c $((size / 2)) "$tmp/a.img" >"$tmp/trunc.img"
out=$($PVM restore --name ${name}t "$tmp/trunc.img" 2>&1) && fail "truncated image accepted"
grep -q "refused: .*stream ends inside" <<<"$out" || fail "truncated: unexpected error: $out"

# EMULATOR_CONTEXT body: the record before the final libxl END (8 bytes)
cp "$tmp/a.img" "$tmp/bad.img"
emu_len=$(od -An -tu4 -j $((size - 8 - 136 + 4)) -N4 "$tmp/a.img" | tr -d ' ')
emu_off=$((size - 8 - ((emu_len + 7) / 8 * 8) + 8))
printf 'XXXX' | dd of="$tmp/bad.img" bs=1 seek=$emu_off conv=notrunc status=none
out=$($PVM restore --name ${name}c "$tmp/bad.img" 2>&1) && fail "corrupted image accepted"
grep -q "refused: .*emulator context: bad magic" <<<"$out" || fail "corrupted: unexpected error: $out"

$PVM run --name ${name}w --mem 16M $G/waiter.elf >"$tmp/w.out" 2>&1 & p=$!; pids+=($p)
wait_running ${name}w
grep -q "^waiter up$" "$tmp/w.out" || fail "console output missing"
kill $p; wait $p

$PVM run --name ${name}e --mem 16M $G/bad_wildptr.elf >/dev/null 2>&1 || fail "bad_wildptr: exit $?"
$PVM run --name ${name}f --mem 16M $G/bad_segv.elf >/dev/null 2>"$tmp/f.err"; rc=$?
[ $rc -eq 2 ] && grep -q "crashed: guest fault: Segmentation fault" "$tmp/f.err" || fail "bad_segv: exit $rc"
truncate -s 1M "$tmp/disk.img"
$PVM run --name ${name}d --mem 16M --disk "$tmp/disk.img" $G/disk.elf >"$tmp/d.out" 2>&1 || fail "disk guest: exit $? $(cat "$tmp/d.out")"
grep -q "^disk ok$" "$tmp/d.out" || fail "disk guest console"
[ "$(dd if="$tmp/disk.img" bs=512 skip=3 count=1 status=none | tr -d D | wc -c)" = 0 ] || fail "sector 3 not written"
echo "pvm_cli: ok"
