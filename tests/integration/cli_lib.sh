# Shared by the tests that read the build's own surface (cli_help.sh,
# man_pages.sh; sourced): the checkout as cwd, `mk VAR` prints a Makefile
# variable, a temporary folder removed on exit, and fail() that counts
# failures so one run reports them all.
set -euo pipefail
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.."
mk() { make -s --no-print-directory BUILD="$BUILD" "print-$1"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
