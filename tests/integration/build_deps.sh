#!/bin/bash
# scripts/deps.sh: a no-op when every package is present, and a clear
# message (exit 1, nothing installed) when something is missing and the
# caller is not root.
set -euo pipefail
out=$(scripts/deps.sh coreutils dpkg 2>&1)
[ -z "$out" ] || { echo "FAIL: deps printed output although all packages are present: $out"; exit 1; }

command -v setpriv >/dev/null || { echo "setpriv not available"; exit 77; }
set +e
out=$(setpriv --reuid=65534 --regid=65534 --clear-groups scripts/deps.sh remus-no-such-package-xyz 2>&1)
rc=$?
set -e
[ $rc -eq 1 ] || { echo "FAIL: non-root run with a missing package exited $rc"; exit 1; }
grep -q 'missing Debian packages: remus-no-such-package-xyz' <<<"$out" || { echo "FAIL: no list of missing packages: $out"; exit 1; }
grep -q 'not root' <<<"$out" || { echo "FAIL: no 'not root' advice: $out"; exit 1; }
echo "deps: no-op when satisfied, clear refusal when not root"
