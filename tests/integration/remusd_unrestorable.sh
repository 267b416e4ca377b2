#!/bin/bash
# "Protected" must mean restorable: the compat guest runs 1.5 s in 64-bit
# mode, then switches itself to 32-bit compatibility mode, a vCPU pvm's
# restore refuses.  Host A protects it to B; once it switches, no
# checkpoint of it is acknowledged any more: A's session goes `failed`
# with the restore's reason in status and log, the guest keeps running
# there, and B keeps its last good checkpoint without failing over
# (the primary said BYE).  Before the fix A stayed `protected` and every
# checkpoint after the switch was unrestorable.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ur$$}
. tests/integration/remusd_lib.sh
REASON="checkpoint would not restore: hvm context: CPU: cs=0x23 ss=0x2b, not 64-bit user selectors"

hosts_setup
[ -f "$BUILD/tests/pvm/compat.elf" ] || skip "compat guest not built"
G=compat
GUEST=(
	"[guest $G]" "type = pvm" "image = $PWD/$BUILD/tests/pvm/compat.elf" "mem = 16M"
	"interval = 20" "netbuf = none" "diskrep = none" "unsafe = no-netbuf,no-diskrep"
)
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
start_daemon a
start_daemon b
ctl a start $G || fail "start"
# protect may finish before the switch (then it fails later) or meet it
# during the initial sync (then protect itself reports it): both end failed
ctl a protect $G --wait 30 >"$TMPD/protect.out" 2>&1
echo "protect: $(tail -n 1 "$TMPD/protect.out")"
wait_field a $G state failed 30
MSG=$(jfield a $G message)
echo "host-a: failed: $MSG"
case "$MSG" in *"$REASON"*) ;; *) fail "status message: '$MSG'" ;; esac
grep -q "guest $G: .* -> failed: .*$REASON" "$TMPD/remusd-a.log" ||
	fail "no log line with the reason on host-a"
# the guest itself runs on, unprotected, on A
[ "$(ctl a list | awk -v g=$G '$1 == g { print $2 }')" = primary ] || fail "host-a lost the guest"
# B: never acknowledged an unrestorable checkpoint, did not fail over
wait_field b $G state unprotected 10
B_MSG=$(jfield b $G message)
[ "$B_MSG" = "primary ended protection" ] || fail "host-b: '$B_MSG'"
acked=$(jfield b $G checkpoints)
echo "host-b: holds checkpoint $acked, state unprotected ($B_MSG)"
echo PASS
