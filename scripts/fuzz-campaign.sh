#!/bin/bash
# `make fuzz-campaign`: run each libFuzzer target for a number of executions
# (FUZZ_RUNS, default 10 million) instead of a time, one target at a time,
# then merge what it found into the target's corpus in the tree (minimised:
# only inputs that add coverage), so `make check`'s smoke runs start from it.
# Prints one table row a target: executions, seconds, executions/s, coverage
# (edges) and features at the end, corpus files before and after, crashes.
# A crash stops that target; its input is kept in the build tree (the
# runner prints where) to be fixed and added to the corpus as a regression.
# Usage: BUILD=build scripts/fuzz-campaign.sh RUNS "name:corpus ..."
set -uo pipefail
BUILD=${BUILD:-build}
runs=${1:?usage: fuzz-campaign.sh RUNS \"name:corpus ...\"}
specs=${2:?usage: fuzz-campaign.sh RUNS \"name:corpus ...\"}
logdir=$BUILD/fuzz/campaign
mkdir -p "$logdir"
failed=0

printf '%-18s %12s %8s %9s %7s %8s %13s %s\n' target executions seconds "exec/s" cov features "corpus files" result
for spec in $specs; do
	IFS=: read -r name corpus <<<"$spec"
	bin=$BUILD/fuzz/$name
	work=$BUILD/fuzz/corpus-$name
	crashes=$logdir/crash-$name
	mkdir -p "$work" "$crashes"
	before=$(find "$corpus" -type f | wc -l)
	t0=$(date +%s)
	"$bin" -runs="$runs" -error_exitcode=1 -print_final_stats=1 -artifact_prefix="$crashes/" \
		"$work" "$corpus" >"$logdir/$name.log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - t0 ))
	execs=$(awk '/stat::number_of_executed_units/ { print $2 }' "$logdir/$name.log")
	# the last status line of libFuzzer: "#N ... cov: C ft: F corp: ..."
	cov=$(grep -o 'cov: [0-9]*' "$logdir/$name.log" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$logdir/$name.log" | tail -n 1 | cut -d' ' -f2)
	if [ "$rc" -eq 0 ]; then
		result=ok
		# keep only what adds coverage to the tree's corpus
		"$bin" -merge=1 "$corpus" "$work" >>"$logdir/$name.log" 2>&1 || result="merge failed"
	else
		result="CRASH (see $logdir/$name.log, input in $crashes)"
		failed=1
	fi
	after=$(find "$corpus" -type f | wc -l)
	printf '%-18s %12s %8s %9s %7s %8s %13s %s\n' "$name" "${execs:-?}" "$secs" \
		"$(awk -v n="${execs:-0}" -v s="$secs" 'BEGIN { printf "%.0f", s ? n / s : n }')" \
		"${cov:-?}" "${ft:-?}" "$before -> $after" "$result"
done
exit "$failed"
