#!/bin/bash
# Kill the diskrep backup at every step of a commit (fault-injection points):
# after restart its image must be exactly epoch N-1 or exactly epoch N.
set -euo pipefail
BUILD=${BUILD:-build}
seed=${DISKREP_SEED:-$(( (RANDOM << 15) | RANDOM ))}
dir=$(mktemp -d "${TMPDIR:-/tmp}/diskrep-commit.$$.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "seed $seed (rerun: DISKREP_SEED=$seed $0)"
"$BUILD/tests/diskrep-trial" commit-crash "$seed" "$dir/t"
