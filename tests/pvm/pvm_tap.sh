#!/bin/bash
# pvm's NIC on a real TAP device, inside a network namespace of its own:
# frames sent into the TAP reach the echo guest (NET_RX, NET_RECV) and its
# answers (NET_SEND) come back out of the TAP with the guest's MAC.
set -uo pipefail
BUILD=${BUILD:-build}
PVM=$(realpath $BUILD/bin/pvm)
G=$(realpath $BUILD/tests/pvm)
ns=pvmtap$$
tmp=$(mktemp -d)
export REMUS_RUNDIR=$tmp/run
cleanup() { [ -n "${p:-}" ] && kill "$p" 2>/dev/null; wait 2>/dev/null; ip netns del $ns 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
command -v python3 >/dev/null || { echo "python3 missing"; exit 77; }
ip netns add $ns || { echo "cannot create a network namespace"; exit 77; }
ip -n $ns tuntap add dev tap0 mode tap || fail "tuntap add"
ip -n $ns link set tap0 up || fail "link up"

ip netns exec $ns $PVM run --name echo$$ --mem 16M --tap tap0 $G/echo.elf >"$tmp/out" 2>&1 & p=$!
for _ in $(seq 200); do grep -q "echo up" "$tmp/out" && break; sleep 0.05; done
grep -q "echo up" "$tmp/out" || fail "echo guest did not start: $(cat "$tmp/out")"

ip netns exec $ns python3 - <<'PY' || fail "echo exchange"
import socket, sys
ETH = 0x88b5
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH))
s.bind(("tap0", ETH))
s.settimeout(10)
me = bytes.fromhex("020000aa0001")
for i in range(20):
    payload = b"pvm-echo-%03d" % i + bytes(40)
    s.send(b"\xff" * 6 + me + ETH.to_bytes(2, "big") + payload)
    while True:
        data, addr = s.recvfrom(2048)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        break
    if data[:6] != me or data[14:] != payload:
        sys.exit("frame %d: bad echo %r" % (i, data[:30]))
    if data[6:12] == me or data[6] & 1:
        sys.exit("frame %d: bad source MAC %s" % (i, data[6:12].hex()))
print("20 frames echoed by the guest")
PY
echo "pvm_tap: ok"
