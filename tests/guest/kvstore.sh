#!/bin/bash
# kvstore guest over a real TAP from a client namespace: ping, TCP and UDP
# round trips, malformed/fuzzed frames, 50 concurrent clients x 1000 PUT/GET, and log replay after a
# restart from the same disk image.
set -u
cd "$(dirname "$0")/../.." || exit 1
TAG=gkv$$
. tests/guest/lib.sh
net_setup
DISK=$TMPD/disk.img
truncate -s 64M "$DISK"
KV="in_client python3 tests/guest/kvclient.py"

guest_start kvstore "$DISK"
echo "backend: $(guest_backend)"
in_client ping -c 3 -i 0.2 -W 2 "$GUEST_IP" || fail "ping"
$KV roundtrip "$GUEST_IP" || fail "round trips"
in_client python3 tests/guest/badframes.py vc "$GUEST_MAC" "$GUEST_IP" 3000 || fail "bad frames"
$KV load "$GUEST_IP" "${KV_CLIENTS:-50}" "${KV_OPS:-1000}" || fail "concurrent load"
$KV fill "$GUEST_IP" 1000 "$TMPD/keys.json" || fail "fill"
guest_stop
guest_start kvstore "$DISK"
grep -q "replayed" "$GUEST_LOG" || fail "no replay report"
grep "replayed" "$GUEST_LOG"
$KV verify "$GUEST_IP" "$TMPD/keys.json" || fail "values after restart"
$KV stats "$GUEST_IP"
echo "kvstore: all passed"
