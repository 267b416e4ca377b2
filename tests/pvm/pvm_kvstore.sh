#!/bin/bash
# The guest kit's kvstore under pvm, moved with `pvm save` + `pvm restore`
# like a migration: keys written before the save read back after the
# restore (from the restored RAM: the guest does not reboot or replay its
# log), and the restored guest announces itself with a gratuitous ARP.
# Uses the guest kit's namespaces and clients (tests/guest/lib.sh).
set -u
cd "$(dirname "$0")/../.." || exit 1
TAG=pkv$$
. tests/guest/lib.sh
[ -x "$BUILD/bin/pvm" ] && [ -f "$BUILD/guest/kvstore.elf" ] || skip "pvm or the kvstore guest not built"
net_setup
export REMUS_RUNDIR=$TMPD/run
DISK=$TMPD/disk.img
truncate -s 64M "$DISK"
KV="in_client python3 tests/guest/kvclient.py"
name=kv$$
GUEST_LOG=$TMPD/a.log

ip netns exec "$LAN" "$BUILD/bin/pvm" run --name $name --tap tap0 --ip "$GUEST_IP/24" \
	--disk "$DISK" --mem 64M "$BUILD/guest/kvstore.elf" >"$GUEST_LOG" 2>&1 &
GUEST_PID=$!
for _ in $(seq 100); do grep -q ready "$GUEST_LOG" && break; sleep 0.1; done
grep -q ready "$GUEST_LOG" || fail "kvstore not ready"
in_client ping -c 2 -i 0.2 -W 2 "$GUEST_IP" >/dev/null || fail "ping"
GUEST_MAC=$(in_client ip neigh show "$GUEST_IP" | awk '/lladdr/ {print $5}')
$KV fill "$GUEST_IP" 300 "$TMPD/keys.json" || fail "fill"
"$BUILD/bin/pvm" save $name "$TMPD/kv.img" || fail "pvm save"
wait "$GUEST_PID" || fail "pvm run exited $? after save"
GUEST_PID=
"$BUILD/bin/remus-stream" check "$TMPD/kv.img" >/dev/null || fail "saved stream invalid"

in_client python3 tests/guest/garp.py vc "$GUEST_MAC" "$GUEST_IP" 10 >"$TMPD/garp" &
gpid=$!
for _ in $(seq 100); do grep -q listening "$TMPD/garp" && break; sleep 0.1; done
GUEST_LOG=$TMPD/b.log
ip netns exec "$LAN" "$BUILD/bin/pvm" restore --name ${name}b --tap tap0 --disk "$DISK" \
	"$TMPD/kv.img" >"$GUEST_LOG" 2>&1 &
GUEST_PID=$!
wait "$gpid" || fail "no gratuitous ARP from the restored guest: $(cat "$TMPD/garp")"
$KV verify "$GUEST_IP" "$TMPD/keys.json" || fail "keys after restore"
grep -q "replayed" "$GUEST_LOG" && fail "restored guest rebooted and replayed its log"
$KV stats "$GUEST_IP"
echo "pvm_kvstore: all passed"
