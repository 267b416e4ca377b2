#!/bin/bash
# kvstore guest over a real TAP from a client namespace: ping, TCP and UDP
# round trips, malformed/fuzzed frames, 50 concurrent clients x 1000 PUT/GET, and log replay after a
# restart from the same disk image, gratuitous ARP on announce.
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
# the MAC the guest really uses (the monitor may assign its own)
GUEST_MAC=$(in_client ip neigh show "$GUEST_IP" | awk '/lladdr/ {print $5}')
[ -n "$GUEST_MAC" ] || fail "no ARP entry for the guest"
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
# PVM_EV_ANNOUNCE -> gratuitous ARP (the hosted backend maps SIGUSR1 to it)
if [ "$(guest_backend)" = hosted ]; then
	in_client python3 tests/guest/garp.py vc "$GUEST_MAC" "$GUEST_IP" 10 >"$TMPD/garp" &
	gpid=$!
	for i in $(seq 100); do grep -q listening "$TMPD/garp" && break; sleep 0.1; done
	kill -USR1 "$GUEST_PID"
	wait "$gpid" || fail "no gratuitous ARP after the announce event: $(cat "$TMPD/garp")"
	cat "$TMPD/garp"
fi
echo "kvstore: all passed"
