#!/bin/bash
# diskrep crash-consistency trials: the primary (a separate process) is
# killed at random points; the backup must equal the reference image of its
# last committed epoch byte for byte.  DISKREP_TRIALS / DISKREP_SEED override.
set -euo pipefail
BUILD=${BUILD:-build}
trials=${DISKREP_TRIALS:-120}
seed=${DISKREP_SEED:-$(( (RANDOM << 15) | RANDOM ))}
dir=$(mktemp -d "${TMPDIR:-/tmp}/diskrep-crash.$$.XXXXXX")
trap 'rm -rf "$dir"' EXIT
echo "seed $seed (rerun: DISKREP_SEED=$seed $0)"
"$BUILD/tests/diskrep-trial" crash "$trials" "$seed" "$dir/t"
