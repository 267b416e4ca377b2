#!/bin/bash
# Stream bytes on the wire per compression kind on the kvstore workload:
# `make demo`'s scenario (a kvstore guest under a PUT load, protected
# across two namespaced hosts, then its primary killed) once per kind, the
# same run for all.  Prints and records (bench/rows.h's row format, to
# $BENCH_ROWS) the wire/stream byte ratio, the mean pause and the rate of
# each kind.  Needs root (network namespaces); prints a skip line otherwise.
# BENCH_QUICK=1: none, zstd and delta+zstd only.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
if [ "$(id -u)" != 0 ]; then
	echo "kvstore_compress: skipped (needs root for network namespaces)"
	exit 0
fi
row() {  # name value unit baseline ratio goal met  (baseline/ratio/goal/met: JSON)
	[ -n "${BENCH_ROWS:-}" ] || return 0
	printf '{"name": "%s", "value": %s, "unit": "%s", "baseline": %s, "ratio": %s, "goal": %s, "met": %s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" >>"$BENCH_ROWS"
}
none_pause=
kinds="none zlib zstd delta delta+zstd"
[ -n "${BENCH_QUICK:-}" ] && [ "$BENCH_QUICK" != 0 ] && kinds="none zstd delta+zstd"
for kind in $kinds; do
	out=$(COMPRESSION=$kind TAG=kvc$$ tests/integration/demo.sh 2>&1)
	rc=$?
	line=$(grep -E '^  bytes \(stream / wire\) ' <<<"$out")
	pause=$(grep -E '^  epoch length ' <<<"$out" | sed -E 's/.*pause avg ([0-9]+) us.*/\1/')
	rate=$(grep -E '^  checkpoint rate ' <<<"$out" | sed -E 's/.*: ([0-9.]+) .*/\1/')
	if [ $rc -ne 0 ] || [ -z "$line" ] || [ -z "$pause" ] || [ -z "$rate" ]; then
		echo "kvstore_compress: $kind: the demo failed (exit $rc):"
		tail -n 15 <<<"$out" | sed 's/^/  | /'
		exit 1
	fi
	read -r stream wire < <(sed -E 's/.*: ([0-9]+) \/ ([0-9]+) =.*/\1 \2/' <<<"$line")
	ratio=$(python3 -c "print('%.4f' % ($wire / $stream))")
	echo "compression $kind, kvstore: $stream stream bytes, $wire on the wire = ${ratio}x;" \
		"pause avg $pause us, $rate checkpoints/s"
	if [ "$kind" = none ]; then
		none_pause=$pause
		row "stream_bytes: kvstore none" "$ratio" x 1 "$ratio" null null
	else
		met=$(python3 -c "print('true' if $ratio <= 0.5 else 'false')")
		row "stream_bytes: kvstore $kind" "$ratio" x 1 "$ratio" '"ratio <= 0.5"' "$met"
	fi
	row "ckpt pause with $kind, kvstore demo, 25 ms tick" "$pause" us "$none_pause" \
		"$(python3 -c "print('%.4f' % ($pause / $none_pause))")" null null
	row "ckpt rate with $kind, kvstore demo, 25 ms tick" "$rate" 1/s 40 \
		"$(python3 -c "print('%.4f' % ($rate / 40))")" null null
done
