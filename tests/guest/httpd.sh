#!/bin/bash
# httpd guest: curl status page, 10 MiB download and upload with checksums
# (also under 3% packet loss, to exercise retransmission), six concurrent
# transfers, connection churn through TIME_WAIT, and an aborted (RST) transfer.
set -u
cd "$(dirname "$0")/../.." || exit 1
TAG=ght$$
. tests/guest/lib.sh
net_setup
HC="in_client python3 tests/guest/httpclient.py"
MIB10=$((10 * 1024 * 1024))

guest_start httpd
echo "backend: $(guest_backend)"
out=$(in_client curl -sS --max-time 10 "http://$GUEST_IP/") || fail "curl"
echo "$out"
grep -q "^requests 1$" <<<"$out" || fail "status page"
$HC download "$GUEST_IP" $MIB10 || fail "10 MiB download"
$HC upload "$GUEST_IP" $MIB10 || fail "10 MiB upload"
$HC parallel "$GUEST_IP" 6 $((2 * 1024 * 1024)) || fail "parallel transfers"
$HC churn "$GUEST_IP" 300 || fail "connection churn"
$HC reset "$GUEST_IP" || fail "reset mid-transfer"
# 3% random loss both ways (in the client namespace only)
if in_client iptables -A INPUT -p tcp --sport 80 -m statistic --mode random \
	--probability 0.03 -j DROP 2>/dev/null &&
   in_client iptables -A OUTPUT -p tcp --dport 80 -m statistic --mode random \
	--probability 0.03 -j DROP; then
	$HC download "$GUEST_IP" $MIB10 || fail "download with loss"
	$HC upload "$GUEST_IP" $MIB10 || fail "upload with loss"
	dropped=$(in_client iptables -L -v -n -x | awk '/statistic/ {s += $1} END {print s + 0}')
	echo "segments dropped by the loss rules: $dropped"
	[ "$dropped" -gt 0 ] || fail "loss rules dropped nothing"
	in_client iptables -F
	out=$(in_client curl -sS --max-time 10 "http://$GUEST_IP/") || fail "curl after loss"
else
	skip "iptables statistic match not available: lossy transfers not run"
fi
echo "httpd: all passed"
