#!/bin/bash
# drbd backend against fake drbdadm/drbdsetup placed first in PATH: checks
# the generated DRBD 8.4 resource file and the exact command sequence for
# the primary, the backup (with failover) and the refusal without unsafe.
# No DRBD kernel module is used: this tests what remus asks DRBD to do.
set -euo pipefail
BUILD=${BUILD:-build}
here=$(cd "$(dirname "$0")/.." && pwd)   # tests/
drv=$(cd "$BUILD" && pwd)/tests/diskrep-drbd-driver
dir=$(mktemp -d "${TMPDIR:-/tmp}/diskrep-drbd.$$.XXXXXX")
trap 'rm -rf "$dir"' EXIT
export PATH="$here/diskrep/fake-drbd:$PATH" FAKE_DRBD_LOG="$dir/log"
truncate -s 1M "$dir/drbd3"
fail() { echo "FAIL: $*"; echo "--- log:"; cat "$dir/log" 2>/dev/null; exit 1; }

"$drv" primary "$dir" "$dir/drbd3" | tee "$dir/out"
grep -q "consistent=1 peer_lost=0 writes=1 marked=1" "$dir/out" || fail "primary counters"
cat > "$dir/want" <<EOT
drbdadm -c $dir/remus-g1.res create-md --force remus-g1
drbdadm -c $dir/remus-g1.res up remus-g1
drbdadm -c $dir/remus-g1.res primary --force remus-g1
drbdsetup events2 --now remus-g1
drbdadm -c $dir/remus-g1.res down remus-g1
EOT
diff -u "$dir/want" "$dir/log" || fail "primary command sequence"
for want in "resource remus-g1 {" "protocol C;" "allow-two-primaries no;" "disk-flushes yes;" \
	"on hostA {" "address 10.0.0.1:7789;" "on hostB {" "address 10.0.0.2:7789;" \
	"device $dir/drbd3 minor 3;" "disk /dev/vg0/g1;" "meta-disk internal;"; do
	grep -qF -- "$want" "$dir/remus-g1.res" || fail "resource file lacks '$want'"
done
[ "$(od -An -tx1 -j1024 -N1 "$dir/drbd3" | tr -d ' ')" = 5c ] || fail "write did not reach the device"

: > "$dir/log"
"$drv" backup "$dir" "$dir/drbd3" >/dev/null
cat > "$dir/want" <<EOT
drbdadm -c $dir/remus-g1.res create-md --force remus-g1
drbdadm -c $dir/remus-g1.res up remus-g1
drbdadm -c $dir/remus-g1.res secondary remus-g1
drbdsetup events2 --now remus-g1
drbdadm -c $dir/remus-g1.res primary remus-g1
drbdsetup events2 --now remus-g1
drbdadm -c $dir/remus-g1.res down remus-g1
EOT
diff -u "$dir/want" "$dir/log" || fail "backup/failover command sequence"

: > "$dir/log"
FAKE_DRBD_FAIL=up "$drv" primary "$dir" "$dir/drbd3" > "$dir/out" && fail "a failing 'drbdadm up' was not reported"
grep -q "up remus-g1. failed (status 10)" "$dir/out" || fail "tool failure message: $(cat "$dir/out")"

: > "$dir/log"
"$drv" refuse "$dir" "$dir/drbd3" | grep -q "refused: drbd refused: stock DRBD" || fail "not refused without unsafe"
[ ! -s "$dir/log" ] || fail "a refused configuration still ran drbd tools"
# Adopting the operator's resource (remusd, Xen guests): no resource file,
# no create-md/up/down; the role is checked; promote is drbdsetup primary.
rm -f "$dir/remus-g1.res"; : > "$dir/log"
FAKE_DRBD_ROLE=Primary "$drv" adopt-primary "$dir" "$dir/drbd3" > "$dir/out" || fail "adopt primary: $(cat "$dir/out")"
grep -q "consistent=1 peer_lost=0 writes=1 marked=1" "$dir/out" || fail "adopt primary counters"
echo "drbdsetup events2 --now remus-g1" > "$dir/want"
diff -u "$dir/want" "$dir/log" || fail "adopt primary command sequence"
[ ! -e "$dir/remus-g1.res" ] || fail "adopting wrote a resource file"

: > "$dir/log"
"$drv" adopt-backup "$dir" "$dir/drbd3" > "$dir/out" || fail "adopt backup: $(cat "$dir/out")"
printf '%s\n' "drbdsetup events2 --now remus-g1" "drbdsetup primary $dir/drbd3" \
	"drbdsetup events2 --now remus-g1" > "$dir/want"
diff -u "$dir/want" "$dir/log" || fail "adopt backup/failover command sequence"

: > "$dir/log"
"$drv" adopt-primary "$dir" "$dir/drbd3" > "$dir/out" && fail "a Secondary resource was adopted as the primary"
grep -q "drbd resource remus-g1 is Secondary here: the protected guest's host must be its Primary" "$dir/out" ||
	fail "wrong-role message: $(cat "$dir/out")"
: > "$dir/log"
FAKE_DRBD_ROLE=Primary FAKE_DRBD_CONN=StandAlone "$drv" adopt-primary "$dir" "$dir/drbd3" > "$dir/out" &&
	fail "a disconnected resource was adopted"
grep -q "does not replicate (connection StandAlone, peer disk UpToDate)" "$dir/out" || fail "disconnected message: $(cat "$dir/out")"
: > "$dir/log"
FAKE_DRBD_FAIL=primary "$drv" adopt-backup "$dir" "$dir/drbd3" > "$dir/out" && fail "a failed promote was not reported"
grep -q "'drbdsetup primary $dir/drbd3' failed" "$dir/out" || fail "promote failure message: $(cat "$dir/out")"

# A planned hand-over's dual-primary window (DRBD 8.4 names the connection
# by the endpoints `drbdsetup show` gives): the primary opens it, demotes
# after its copy is gone and closes it; a refusing backup that promoted
# inside it demotes and closes it.
c="ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789"
: > "$dir/log"
FAKE_DRBD_ROLE=Primary "$drv" handover-primary "$dir" "$dir/drbd3" > "$dir/out" || fail "hand-over primary: $(cat "$dir/out")"
printf '%s\n' "drbdsetup events2 --now remus-g1" "drbdsetup show remus-g1" \
	"drbdsetup net-options $c --allow-two-primaries=yes" "drbdsetup secondary $dir/drbd3" \
	"drbdsetup events2 --now remus-g1" "drbdsetup net-options $c --allow-two-primaries=no" > "$dir/want"
diff -u "$dir/want" "$dir/log" || fail "hand-over primary command sequence"
: > "$dir/log"
"$drv" handover-refused "$dir" "$dir/drbd3" > "$dir/out" || fail "hand-over refused: $(cat "$dir/out")"
printf '%s\n' "drbdsetup events2 --now remus-g1" "drbdsetup show remus-g1" \
	"drbdsetup net-options $c --allow-two-primaries=yes" "drbdsetup primary $dir/drbd3" \
	"drbdsetup events2 --now remus-g1" "drbdsetup secondary $dir/drbd3" \
	"drbdsetup events2 --now remus-g1" "drbdsetup net-options $c --allow-two-primaries=no" > "$dir/want"
diff -u "$dir/want" "$dir/log" || fail "refused hand-over command sequence"
: > "$dir/log"
FAKE_DRBD_ROLE=Primary FAKE_DRBD_FAIL=net-options "$drv" handover-primary "$dir" "$dir/drbd3" > "$dir/out" &&
	fail "a failing net-options was not reported"
grep -q "'drbdsetup net-options $c --allow-two-primaries=yes' failed (status 10)" "$dir/out" ||
	fail "net-options failure message: $(cat "$dir/out")"
printf 'resource remus-g1 {\n    _this_host {\n        address ipv4 10.0.0.1:7789;\n    }\n}\n' > "$dir/show"
: > "$dir/log"
FAKE_DRBD_ROLE=Primary FAKE_DRBD_SHOW="$dir/show" "$drv" handover-primary "$dir" "$dir/drbd3" > "$dir/out" &&
	fail "a resource without a peer address opened a window"
grep -q "drbd resource remus-g1: drbdsetup show: no _remote_host address" "$dir/out" ||
	fail "no-peer message: $(cat "$dir/out")"
grep -q "net-options" "$dir/log" && fail "net-options ran without the peer's address"
# What remusd asks without a handle: status (the hand-over window too) and
# check, the resource named the generic way.
FAKE_DRBD_ROLE=Primary "$drv" report "$dir" "$dir/drbd3" > "$dir/out" || fail "report: $(cat "$dir/out")"
grep -qx "status rc=0 resource=remus-g1 device=$dir/drbd3 role=Primary connection=Connected disk=UpToDate peer_disk=UpToDate allow_two_primaries=1" "$dir/out" ||
	fail "status of a replicating Primary: $(cat "$dir/out")"
grep -qx "check rc=ready: drbd resource remus-g1: role Primary, connection Connected, disk UpToDate, peer disk UpToDate" "$dir/out" ||
	fail "check of a replicating Primary: $(cat "$dir/out")"
FAKE_DRBD_ROLE=Secondary "$drv" report "$dir" "$dir/drbd3" | grep -q "^check rc=not-ready: drbd resource remus-g1: role Secondary" ||
	fail "a Secondary passed the check"
FAKE_DRBD_ROLE=Primary FAKE_DRBD_CONN=StandAlone "$drv" report "$dir" "$dir/drbd3" | grep -q "^check rc=not-ready:" ||
	fail "a disconnected Primary passed the check"
FAKE_DRBD_FAIL=events2 "$drv" report "$dir" "$dir/drbd3" > "$dir/out"
grep -q "^status rc=-7009 resource=remus-g1 device=$dir/drbd3 error=" "$dir/out" ||
	fail "status with drbdsetup failing: $(cat "$dir/out")"
grep -q "^check rc=unknown: drbd resource remus-g1: " "$dir/out" || fail "check with drbdsetup failing: $(cat "$dir/out")"
echo "drbd backend: resource file and command sequences as expected (fake tools, no kernel module)"
