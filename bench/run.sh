#!/bin/bash
# make bench: run every benchmark (each prints its same-run ratios), keep
# their rows in bench/results/latest.json and regenerate docs/performance.md
# with its plots (docs/perf/*.png).  Besides the programs, the benches of
# whole daemons in network namespaces: the kvstore compression sweep
# (bench/kvstore_compress.sh, make demo once per kind), failover time and
# the client gap (bench/failover.sh), many guests on one daemon pair
# (bench/many_guests.sh), remusctl evacuate's pause against QEMU's
# live-migration downtime (bench/evacuate.sh), the guest pause of a live
# update of remusd (bench/upgrade.sh).
# Usage: BUILD=build [BENCH_QUICK=1] bench/run.sh BENCH...
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
rows=$(mktemp "${TMPDIR:-/tmp}/remus-bench-rows.XXXXXX")
trap 'rm -f "$rows"' EXIT
export BENCH_ROWS=$rows
# A bench that fails is reported at the end; the others' rows are kept.
failed=()
for b in "$@"; do
	echo "== bench/$b"
	"$BUILD/bench/$b" || failed+=("$b")
done
# The system benches (shell, namespaces): exit 77 is a skip (remusd_lib's
# skip: a guest or tool not built), anything else non-zero a failure.
for s in kvstore_compress.sh failover.sh many_guests.sh evacuate.sh upgrade.sh; do
	echo "== bench/$s"
	rc=0
	bench/$s || rc=$?
	[ $rc = 0 ] || [ $rc = 77 ] || failed+=("$s")
done
unset BENCH_ROWS
mkdir -p bench/results docs/perf
python3 bench/collect.py "$rows" bench/results/latest.json
python3 bench/report.py bench/results/latest.json docs/performance.md docs/perf
if [ ${#failed[@]} -gt 0 ]; then
	echo "bench: FAILED: ${failed[*]} (their rows are missing from latest.json)" >&2
	exit 1
fi
