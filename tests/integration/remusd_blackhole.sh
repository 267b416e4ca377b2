#!/bin/bash
# unsafe = blackhole: protection with no backup (like `xl remus -b`).  One
# host, no peer daemon: `protect --unsafe blackhole` checkpoints the
# counter guest, every checkpoint counts as acknowledged at once (acked
# follows epoch), the stream is counted and dropped; evacuate is refused
# (nothing to hand over to); unprotect ends it.  A guest configured with
# `unsafe = blackhole` runs blackhole without the flag; without either,
# protect still needs a peer.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-bh$$}
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest
write_conf a "${GUEST[@]}"
sed -e "s/^\[guest $G\]/[guest dry]/" -e "s/^unsafe = .*/unsafe = no-netbuf,no-diskrep,blackhole/" \
	<(printf '%s\n' "${GUEST[@]}") >>"$TMPD/a.conf"
start_daemon a

ctl a start $G || fail "start"
out=$(ctl a protect $G --wait 5 2>&1) && fail "protect without a peer succeeded: $out"
echo "$out" | grep -q "no peer given or configured" || fail "protect without a peer: $out"
ctl a protect $G --unsafe blackhole --wait 30 >"$TMPD/protect.out" 2>&1 ||
	fail "blackhole protect: $(cat "$TMPD/protect.out")"
wait_ge a $G checkpoints 20
[ "$(jfield a $G state)" = protected ] || fail "state $(jfield a $G state)"
[ "$(jfield a $G peer)" = "(blackhole)" ] || fail "peer $(jfield a $G peer)"
read -r e k b < <(ctl a status $G --json | python3 -c '
import json, sys
g = json.load(sys.stdin)["guests"][0]
print(g["epoch"], g["acked"], g["bytes"])')   # one status: one moment
[ $(( e - k )) -le 1 ] || fail "acked $k lags epoch $e"
[ "$b" -gt $(( 8 << 20 )) ] || fail "stream bytes $b: the RAM was not encoded"
echo "blackhole: epoch $e acked $k, $b stream bytes dropped"
grep -q "guest $G: blackhole run" "$TMPD/remusd-a.log" || fail "no warning in the log"
out=$(ctl a evacuate $G 2>&1) && fail "evacuate of a blackhole run succeeded"
echo "$out" | grep -q "no backup to hand over to" || fail "evacuate refusal: $out"
[ "$(jfield a $G state)" = protected ] || fail "state after the refused evacuate: $(jfield a $G state)"
ctl a unprotect $G || fail "unprotect"
wait_field a $G state unprotected 10

# configured: protect alone runs blackhole
ctl a start dry || fail "start dry"
ctl a protect dry --wait 30 >/dev/null || fail "protect of the blackhole-configured guest"
wait_ge a dry checkpoints 5
[ "$(jfield a dry peer)" = "(blackhole)" ] || fail "dry peer $(jfield a dry peer)"
echo PASS
