#!/bin/bash
# Test runner for `make check` / `make fuzz`.  Runs every suite, never stops
# at the first failure, and prints one line per suite and the totals last:
#   check: N passed, N failed
# Options: --unit "names" --integ "scripts" --fuzz "name:seconds:corpus ..."
set -uo pipefail
BUILD=${BUILD:-build}
unit="" integ="" fuzz=""
while [ $# -gt 0 ]; do
	case "$1" in
	--unit) unit=$2; shift 2 ;;
	--integ) integ=$2; shift 2 ;;
	--fuzz) fuzz=$2; shift 2 ;;
	*) echo "run-tests: unknown option $1" >&2; exit 2 ;;
	esac
done
logdir=$BUILD/test-logs
mkdir -p "$logdir"
passed=0 failed=0 skipped=0 failures=()

run_suite() {  # name, command...
	local name=$1; shift
	local log=$logdir/${name//\//_}.log start=$SECONDS rc
	"$@" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1)); printf 'PASS  %-44s %4ds\n' "$name" $((SECONDS - start))
	elif [ $rc -eq 77 ]; then
		skipped=$((skipped + 1)); printf 'SKIP  %-44s %s\n' "$name" "$(tail -n1 "$log")"
	else
		failed=$((failed + 1)); failures+=("$name")
		printf 'FAIL  %-44s (exit %d, log: %s)\n' "$name" $rc "$log"
		tail -n 30 "$log" | sed 's/^/      | /'
	fi
}

for t in $unit; do
	run_suite "unit/$t" "$BUILD/tests/$t"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		run_suite "asan/$t" "$BUILD/asan/tests/$t"
done
for s in $integ; do
	BUILD=$BUILD run_suite "${s#tests/}" "$s"
done
for spec in $fuzz; do
	IFS=: read -r name secs corpus <<<"$spec"
	work=$BUILD/fuzz/corpus-$name
	mkdir -p "$work"
	# libFuzzer exits 77 on a crash by default, which would read as "skipped".
	run_suite "fuzz/$name(${secs}s)" "$BUILD/fuzz/$name" -max_total_time="$secs" -error_exitcode=1 \
		-print_final_stats=1 "$work" ${corpus:+$corpus}
done

[ ${#failures[@]} -gt 0 ] && printf 'failed suites: %s\n' "${failures[*]}"
echo "check: $passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
