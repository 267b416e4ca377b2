#!/bin/bash
# `pvm run` with its console (stdout) on a pipe nobody reads: the chatty
# guest fills the pipe, yet `pvm save` completes (the monitor thread never
# blocks on the console) and `pvm list` counts the dropped console bytes.
# Before, the console hypercall blocked the monitor and save hung.
set -uo pipefail
BUILD=${BUILD:-build}
PVM=$BUILD/bin/pvm
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
export REMUS_RUNDIR=$tmp/run
name=con$$
fail() { echo "FAIL: $*"; exit 1; }
[ -f $BUILD/tests/pvm/chatty.elf ] || { echo "chatty guest not built"; exit 77; }

# a pipe whose reader never reads (it only holds the read end open)
mkfifo "$tmp/console"
sleep 600 <"$tmp/console" & pids+=($!)
$PVM run --name $name --mem 16M $BUILD/tests/pvm/chatty.elf >"$tmp/console" 2>"$tmp/run.err" &
p=$!; pids+=($p)

# bounded wait until the console has dropped bytes (pipe and buffer full)
dropped=0
for _ in $(seq 200); do
	dropped=$($PVM list 2>/dev/null | awk -v n=$name '$1 == n { print $4 }')
	[ -n "$dropped" ] && [ "$dropped" -gt 0 ] && break
	sleep 0.05
done
[ -n "$dropped" ] && [ "$dropped" -gt 0 ] || fail "no dropped console bytes counted: $($PVM list)"
echo "console bytes dropped so far: $dropped"
timeout 30 $PVM save $name "$tmp/a.img" || fail "pvm save with an unread console (rc $?)"
wait $p; rc=$?
[ $rc -eq 0 ] || fail "pvm run exited $rc after save: $(cat "$tmp/run.err")"
$BUILD/bin/remus-stream check "$tmp/a.img" >/dev/null || fail "saved image invalid"
echo PASS
