#!/bin/bash
# remusd refuses bad input and keeps serving: a primary with the wrong key,
# garbage on the replication port, an oversized control message and a
# malformed configuration are each refused with a clear message, and the
# daemon still answers afterwards.
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/remusd_lib.sh

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
# host A uses a different key
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TMPD/wrong.key"
chmod 600 "$TMPD/wrong.key"
sed -i "s|^key_file = .*|key_file = $TMPD/wrong.key|" "$TMPD/a.conf"
start_daemon a
start_daemon b

# 1. wrong key: refused on both sides, named as an authentication failure
ctl a start $G || fail "start"
ctl a protect $G --peer "$IP_B:7575" --wait 10 >"$TMPD/protect.out" 2>&1 &&
	fail "protect with the wrong key succeeded"
grep -qi "auth" "$TMPD/protect.out" || fail "wrong key not reported as such: $(cat "$TMPD/protect.out")"
grep -qi "refused.*auth\|auth.*fail" "$TMPD/remusd-b.log" || fail "backup did not log the refused peer"
[ "$(jfield a $G guest_state)" = running ] || fail "the guest on A was disturbed"

# 2. garbage on the replication port
send_garbage
ctl b list >/dev/null || fail "backup stopped answering after garbage"
grep -q "replication peer $IP_A:[0-9]* refused: .*unknown frame type" "$TMPD/remusd-b.log" ||
	fail "garbage not refused with a clear log line"

# 3. an oversized control message: refused, the daemon keeps serving
python3 - "$TMPD/b.sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
# magic "RCTL", version 1, type STATUS, body length far over the bound, seq
s.sendall(struct.pack(">IHHII", 0x5243544c, 1, 2, 1 << 30, 1))
s.settimeout(5)
try:
    s.recv(4096)
except OSError:
    pass
PY
ctl b list >/dev/null || fail "backup stopped answering after an oversized control message"

# 4. a malformed configuration is refused at start, naming file and line
printf '[global]\nlisten_port = 99999\n' >"$TMPD/bad.conf"
"$BUILD/bin/remusd" -c "$TMPD/bad.conf" >"$TMPD/bad.out" 2>&1 && fail "bad config accepted"
grep -q "bad.conf:2" "$TMPD/bad.out" || fail "bad config error lacks file:line: $(cat "$TMPD/bad.out")"
echo PASS
