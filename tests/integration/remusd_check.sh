#!/bin/bash
# remusctl check contacts the peer: each documented reason is set when it
# applies, with the particulars on the lines after it, and nothing else.
#  - a guest the daemon does not know: no such guest;
#  - configured, not started, the peer could hold it: only "not running";
#  - started, peer fine: "can be protected", exit 0 (the backup logs the
#    check, starts nothing);
#  - no peer = : no peer configured;  nothing listening: peer unreachable;
#  - a peer daemon with another key: peer refused the handshake;
#  - the peer has no such guest, or another mem: the peer cannot hold it;
#  - after protect, the backup's own check: the guest runs on its peer;
#  - key file removed: no usable key file (the peer still answers);
#  - a peer that never answers ARP: the control socket keeps answering
#    while the check waits on its worker.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-ck$$}
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest
# other guests of host A, same image, each with one thing wrong
guest_lines() {   # NAME [PEER-LINE] [MEM]
	printf '%s\n' "[guest $1]" "type = pvm" "image = $PWD/$BUILD/tests/pvm/counter.elf" \
		"mem = ${3:-16M}" "netbuf = none" "diskrep = none" "unsafe = no-netbuf,no-diskrep"
	[ -n "$2" ] && echo "$2"
	return 0
}
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
{
	guest_lines nopeer ""
	guest_lines far "peer = $IP_B:7599"
	guest_lines wrongkey "peer = $IP_B:7576"
	guest_lines ghost "peer = $IP_B:7575"
	guest_lines memdiff "peer = $IP_B:7575"
	guest_lines silent "peer = $SUB.9:7575"
} >>"$TMPD/a.conf"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
guest_lines memdiff "" 32M >>"$TMPD/b.conf"
# host B runs a second daemon on port 7576 with another key
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMPD/other.key"
chmod 600 "$TMPD/other.key"
write_conf c "${GUEST[@]}"
guest_lines wrongkey "" >>"$TMPD/c.conf"
sed -i -e "s|^listen_port = .*|listen_port = 7576|" -e "s|^key_file = .*|key_file = $TMPD/other.key|" "$TMPD/c.conf"
start_daemon a
start_daemon b
start_daemon c

# check_out GUEST EXPECT-RC: run check on A, its output in $OUT.
check_out() {
	OUT=$(ctl a check "$1" 2>&1); local rc=$?
	echo "== check $1 (exit $rc)"; echo "$OUT"
	[ "$rc" = "$2" ] || fail "check $1 exited $rc, expected $2: $OUT"
}
has() { echo "$OUT" | grep -q -- "$1" || fail "check: no '$1' in: $OUT"; }
lacks() { echo "$OUT" | grep -q -- "$1" && fail "check: unexpected '$1' in: $OUT"; return 0; }
nreasons() { [ "$(echo "$OUT" | grep -c "^[a-z]*: ")" = "$1" ] || fail "expected $1 reason(s): $OUT"; }

check_out nosuch 1; has "nosuch: no such guest"; nreasons 1
check_out $G 1; has "$G: guest not running"; nreasons 1
ctl a start $G || fail "start"
check_out $G 0; has "$G: can be protected"; nreasons 1
grep -q "check of guest $G from $IP_A:[0-9]*: can hold it" "$TMPD/remusd-b.log" ||
	fail "the backup did not log the check"
[ "$(jfield b $G name)" = "" ] || fail "the check started a session on the backup"

check_out nopeer 1; has "nopeer: no peer configured"; has "  no peer = in \[guest nopeer\]"
lacks "unreachable"; lacks "refused"
check_out far 1; has "far: peer unreachable"; has "  peer $IP_B:7599: .*[Cc]onnection refused"; lacks "refused the handshake"
check_out wrongkey 1; has "wrongkey: peer refused the handshake"; has "  peer $IP_B:7576: .*auth"
lacks "unreachable"
check_out ghost 1; has "ghost: the peer cannot hold this guest"; has "  peer $IP_B: no \[guest ghost\] in its configuration"
check_out memdiff 1; has "memdiff: the peer cannot hold this guest"; has "mem = 32 MiB there, 16 MiB here"

# a peer that never answers: the loop keeps serving while the worker waits
ctl a check silent >"$TMPD/silent.out" 2>&1 &
CK=$!
sleep 0.3   # let the check reach its worker (a slow check only makes this weaker)
t0=$(date +%s%N)
timeout 2 "$BUILD/bin/remusctl" -s "$TMPD/a.sock" status $G --json >/dev/null ||
	fail "status did not answer while a check waited on its peer"
echo "status answered in $(( ($(date +%s%N) - t0) / 1000000 )) ms during a check"
wait $CK
OUT=$(cat "$TMPD/silent.out"); echo "$OUT"; has "silent: peer unreachable"

# protected: the primary says so; the backup's check finds the guest
# running on its peer
ctl a protect $G --wait 30 >/dev/null || fail "protect"
check_out $G 1; has "$G: already protected"; nreasons 1
OUT=$(ctl b check $G 2>&1) && fail "check on the backup succeeded: $OUT"
echo "== check on b"; echo "$OUT"
has "$G: the peer cannot hold this guest"; has "guest $G runs there (state protected)"

# the key file gone: named, and the peer is still asked (with the key in memory)
mv "$TMPD/remus.key" "$TMPD/remus.key.gone"
check_out ghost 1; has "ghost: no usable key file"; has "  key file .*remus.key: No such file"; has "no \[guest ghost\]"
mv "$TMPD/remus.key.gone" "$TMPD/remus.key"
echo PASS
