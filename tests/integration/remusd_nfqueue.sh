#!/bin/bash
# netbuf = nfqueue wired into remusd for a pvm guest: the kvstore guest's
# TAP is routed on host A, remusd installs the NFQUEUE rule for it at
# protect and gives the verdicts on its pump thread.  Pings from host A
# to the guest are answered through the kernel's queue while protected
# (metrics: frames released); with the backup's daemon stopped (no ACK)
# the answers are held, not sent (metrics: frames held); once it runs
# again they flow; after unprotect they pass at once.  A killed daemon's
# rule stays: packets are dropped, never sent early (the backend's rule).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-nq$$}
HB_TIMEOUT=${HB_TIMEOUT:-6000}   # the stopped backup is not declared lost meanwhile
. tests/integration/remusd_lib.sh

command -v iptables >/dev/null || skip "iptables missing (make deps)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
[ -f "$BUILD/guest/kvstore.elf" ] || skip "kvstore guest not built"
G=kvstore
GSUB=10.78.$(( $$ % 200 + 20 ))
GUEST_IP=$GSUB.10
MPORT=9476

hosts_setup
for ns in "$NS_A" "$NS_B"; do
	ip -n "$ns" tuntap add dev tap0 mode tap || fail "tap"
	ip -n "$ns" addr add "$GSUB.1/24" dev tap0
	ip -n "$ns" link set tap0 up
done
truncate -s 16M "$TMPD/a.img" "$TMPD/b.img"
GUESTCONF=("[guest $G]" "type = pvm" "image = $PWD/$BUILD/guest/kvstore.elf" "mem = 32M"
	"tap = tap0" "mac = 02:78:00:00:00:10" "ip = $GUEST_IP/24" "interval = 20"
	"netbuf = nfqueue" "diskrep = builtin")
write_conf a "${GUESTCONF[@]}" "disk = $TMPD/a.img" "peer = $IP_B:7575"
write_conf b "${GUESTCONF[@]}" "disk = $TMPD/b.img" "peer = $IP_A:7575"
sed -i "/^\[global\]/a metrics_listen = 127.0.0.1:$MPORT" "$TMPD/a.conf"
start_daemon a
start_daemon b

pings() { ip netns exec "$NS_A" ping -n -q -c "$1" -i 0.2 -W "${2:-2}" "$GUEST_IP" >"$TMPD/ping.out" 2>&1; }
metric() {
	ip netns exec "$NS_A" curl -sS --max-time 5 "http://127.0.0.1:$MPORT/metrics" |
		awk -v s="$1{guest=\"$G\"}" '$1 == s { print $2 }'
}

ctl a start $G || fail "start"
ctl a check $G >"$TMPD/check.out" 2>&1 || fail "check: $(cat "$TMPD/check.out")"
ctl a protect $G --wait 60 >"$TMPD/protect.out" 2>&1 || fail "protect: $(cat "$TMPD/protect.out")"
ip netns exec "$NS_A" iptables -w -t mangle -S PREROUTING | grep -q -- "-i tap0 .*-j" ||
	fail "no NFQUEUE jump for tap0: $(ip netns exec "$NS_A" iptables -t mangle -S)"
ip netns exec "$NS_A" iptables -w -t mangle -S | grep -q -- "--queue-num 7500" ||
	fail "no NFQUEUE 7500 rule: $(ip netns exec "$NS_A" iptables -t mangle -S)"

# 1. protected: answers come, through the queue
pings 5 || fail "no answer from the protected guest: $(cat "$TMPD/ping.out")"
rel=$(metric remus_netbuf_released_frames_total)
[ -n "$rel" ] && [ "$rel" -ge 5 ] || fail "netbuf released $rel frames, expected >= 5"
echo "protected: 5 pings answered, $rel frames released by the queue"

# 2. no ACK (backup daemon stopped): the answers are held
kill -STOP "$PID_b"
pings 3 1 && { kill -CONT "$PID_b"; fail "answers left while no checkpoint was acknowledged"; }
held=$(metric remus_netbuf_held_frames)
kill -CONT "$PID_b"
[ -n "$held" ] && [ "$held" -ge 1 ] || fail "netbuf held $held frames while unacknowledged"
echo "backup stopped: pings unanswered, $held frames held"

# 3. acknowledged again: answers flow
pings 3 || fail "no answer after the backup resumed: $(cat "$TMPD/ping.out")"
[ "$(jfield a $G state)" = protected ] || fail "state $(jfield a $G state)"

# 4. unprotected: the pump passes them at once
ctl a unprotect $G || fail "unprotect"
wait_field a $G state unprotected 10
pings 3 || fail "no answer once unprotected: $(cat "$TMPD/ping.out")"

# 5. the daemon stops: its rule goes with it
kill -TERM "$PID_a"; wait "$PID_a" 2>/dev/null
ip netns exec "$NS_A" iptables -w -t mangle -S | grep -q -- "--queue-num 7500" &&
	fail "the NFQUEUE rule outlived the daemon's clean stop"
echo PASS
