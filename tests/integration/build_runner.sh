#!/bin/bash
# Regression: scripts/run-tests.sh must never hide a failure.  A fuzz target
# that crashes exits like libFuzzer (77 unless -error_exitcode is given),
# which the runner once reported as "skipped".
set -euo pipefail
fake=$(mktemp -d)
trap 'rm -rf "$fake"' EXIT
mkdir -p "$fake/fuzz" "$fake/tests" "$fake/asan/tests"
cat > "$fake/fuzz/crashy" <<'SH'
#!/bin/bash
code=77
for a in "$@"; do case $a in -error_exitcode=*) code=${a#*=} ;; esac; done
echo "==1==ERROR: AddressSanitizer: heap-buffer-overflow (simulated)"
exit "$code"
SH
printf '#!/bin/bash\nexit 0\n' > "$fake/tests/ok"
printf '#!/bin/bash\necho "[  FAILED  ] 1 test(s)"; exit 1\n' > "$fake/tests/bad"
cp "$fake/tests/ok" "$fake/asan/tests/ok"; cp "$fake/tests/bad" "$fake/asan/tests/bad"
chmod +x "$fake"/fuzz/* "$fake"/tests/* "$fake"/asan/tests/*

set +e
out=$(BUILD=$fake scripts/run-tests.sh --fuzz "crashy:1:" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] || { echo "FAIL: a crashing fuzz target did not fail the run"; echo "$out"; exit 1; }
grep -q '^FAIL  fuzz/crashy' <<<"$out" || { echo "FAIL: crash not reported as FAIL:"; echo "$out"; exit 1; }
[ "$(tail -n1 <<<"$out")" = "check: 0 passed, 1 failed, 0 skipped" ] || { echo "FAIL: bad summary: $(tail -n1 <<<"$out")"; exit 1; }

set +e
out=$(BUILD=$fake scripts/run-tests.sh --unit "ok bad" 2>&1); rc=$?
set -e
[ $rc -ne 0 ] || { echo "FAIL: a failing unit suite did not fail the run"; exit 1; }
[ "$(tail -n1 <<<"$out")" = "check: 2 passed, 2 failed, 0 skipped" ] || { echo "FAIL: bad summary: $(tail -n1 <<<"$out")"; exit 1; }
echo "runner: crashes and failures are counted as failures, summary last"
