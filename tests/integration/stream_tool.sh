#!/bin/bash
# remus-stream dump/check on the golden fixtures and on broken copies of
# them: verdicts, exit codes (0 valid, 1 invalid, 2 usage/IO), stdin, JSON.
set -uo pipefail
BUILD=${BUILD:-build}
RS=$BUILD/bin/remus-stream
D=tests/data/stream
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0

# expect EXIT_CODE PATTERN CMD... : run, check exit code and output pattern
expect() {
	local want=$1 pat=$2 out rc
	shift 2
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" != "$want" ] || ! grep -qE -- "$pat" <<<"$out"; then
		echo "FAIL: $* -> exit $rc (want $want), output:"; sed 's/^/    /' <<<"$out"
		echo "    (wanted /$pat/)"
		fails=$((fails + 1))
	else
		echo "ok: $* -> $rc"
	fi
}

expect 0 'valid: plain libxl stream, END, 15 items' $RS check $D/plain.bin
expect 0 'valid: plain xl save file, END, 16 items' $RS check $D/xl-save.bin
expect 0 'valid: checkpointed libxl stream, 2 complete checkpoints, ends after CHECKPOINT_END \(failover point\)' \
	$RS check $D/two-checkpoints.bin
expect 0 'valid: checkpointed libxl stream, 3 complete checkpoints, clean END' \
	$RS check $D/remus-xenstore-clean-end.bin
expect 1 'invalid: record at offset [0-9]+ \(libxl REMUS_XENSTORE, length 104\): unknown libxl record type 0x524d5853' \
	$RS check --xen-only $D/remus-xenstore-clean-end.bin

# stdin
expect 0 '^-: valid: plain xl save file' $RS check - <$D/xl-save.bin
expect 0 '^-: valid: checkpointed' bash -c "cat $D/two-checkpoints.bin | $RS check -"

# dump: one line per item, offset layer type length summary
expect 0 '^ +218  libxc  PAGE_DATA +24640  7 pfns, 6 with data' $RS dump $D/xl-save.bin
n=$($RS dump $D/plain.bin | grep -c '^ *[0-9]')
[ "$n" = 15 ] && echo "ok: dump prints 15 lines" || { echo "FAIL: dump printed $n lines"; fails=$((fails + 1)); }
expect 0 'CHECKPOINT_END .* checkpoint 2 complete' $RS dump $D/two-checkpoints.bin
expect 0 'REMUS_XENSTORE .* full: 1 nodes, 1 watches' $RS dump $D/remus-xenstore-clean-end.bin
# a guest store's pending watch events (pvm's store in a checkpoint)
expect 0 'valid: checkpointed libxl stream, 2 complete checkpoints' $RS check $D/remus-store-events.bin
expect 0 'REMUS_XENSTORE .* full: 1 nodes, 1 watches, 0 removals, 1 pending events' \
	$RS dump $D/remus-store-events.bin

# JSON is parseable and says what check says
$RS dump --json $D/two-checkpoints.bin >"$tmp/d.json"
if python3 - "$tmp/d.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert d["valid"] and d["checkpointed"] and d["checkpoints"] == 2 and d["end"] == "checkpoint", d
r = d["records"]
assert r[0]["type"] == "HEADER" and r[0]["layer"] == "libxl" and r[0]["offset"] == 0
assert sum(1 for x in r if x["type"] == "CHECKPOINT_END") == 2
assert all(set(x) >= {"offset", "layer", "type", "length", "summary"} for x in r)
PY
then echo "ok: dump --json"; else echo "FAIL: dump --json"; fails=$((fails + 1)); fi

# truncations: inside a record, inside a checkpoint, at a checkpoint boundary
size=$(stat -c %s $D/two-checkpoints.bin)
head -c $((size - 3)) $D/two-checkpoints.bin >"$tmp/cut1"
expect 1 'invalid: record at offset [0-9]+ \(libxl CHECKPOINT_END, length 0\): stream ends|invalid: .*stream ends inside' \
	$RS check "$tmp/cut1"
head -c $((size - 8)) $D/two-checkpoints.bin >"$tmp/cut2"   # CHECKPOINT_END missing
expect 1 'stream ends inside checkpoint 2 \(after CHECKPOINT, before CHECKPOINT_END\)' $RS check "$tmp/cut2"
# the first checkpoint alone is a valid failover stream: cut after CHECKPOINT_END 1
off=$($RS dump $D/two-checkpoints.bin | awk '$3 == "CHECKPOINT_END" { print $1 + 8; exit }')
head -c "$off" $D/two-checkpoints.bin >"$tmp/cut3"
expect 0 '1 complete checkpoint, ends after CHECKPOINT_END' $RS check "$tmp/cut3"
expect 1 'invalid: .*stream ends before the final END' bash -c "head -c $(( $(stat -c %s $D/plain.bin) - 8 )) $D/plain.bin | $RS check -"

# a corrupted byte: non-zero padding of the EMULATOR_XENSTORE_DATA record
cp $D/plain.bin "$tmp/pad"
off=$($RS dump $D/plain.bin | awk '$3 == "EMULATOR_XENSTORE_DATA" { print $1 + 8 + $4; exit }')
printf '\x01' | dd of="$tmp/pad" bs=1 seek="$off" conv=notrunc status=none
expect 1 'invalid: record at offset [0-9]+ \(libxl EMULATOR_XENSTORE_DATA, length 38\): padding byte 0 is 0x01' \
	$RS check "$tmp/pad"
expect 1 'padding byte 0' $RS dump "$tmp/pad"

# bytes after END
{ cat $D/plain.bin; printf 'x'; } >"$tmp/tail"
expect 1 'offset 26088 \(after END\): data after the final END' $RS check "$tmp/tail"

# usage and I/O errors
expect 2 'usage' $RS
expect 2 'usage' $RS frobnicate $D/plain.bin
expect 2 'usage' $RS check --json $D/plain.bin
expect 2 'open .*no-such-file: No such file' $RS check "$tmp/no-such-file"
expect 2 'read .*Is a directory' $RS check "$tmp"

echo "stream_tool: $fails failure(s)"
[ $fails -eq 0 ]
