#!/bin/bash
# remusd runs replication handshakes off its main loop: while the counter
# guest is protected from A to B,
#  1. silent TCP peers (connect, send nothing) hold connections to B's
#     replication port: `remusctl status` and `list` on B answer while all
#     of them are still open (B accepted every one: its handshakes are
#     pending, not blocking); one more beyond the bound of 4 pending
#     handshakes per source address makes the oldest of them go at once
#     (evicted, not the newcomer refused), and the silent ones are dropped
#     at the HELLO deadline, each with a log line;
#  2. garbage on the replication port is refused with a log line naming
#     the peer and what was wrong;
# and the protected guest keeps being checkpointed throughout.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-hs$$}
. tests/integration/remusd_lib.sh
MAX_PENDING=4    # per source address (REMUSD_PENDING_PER_SRC)

# remusd_conns: established connections on B's replication port that B's
# remusd has accepted (queued ones have no owner yet).
remusd_conns() {
	ip netns exec "$NS_B" ss -Htnp state established '( sport = :7575 )' | grep -c '"remusd"'
}

# still_protected: checkpoints keep being acknowledged.
still_protected() {
	local acked
	acked=$(jfield a $G acked)
	[ "$(jfield a $G state)" = protected ] || fail "host-a: $(jfield a $G state): $(jfield a $G message)"
	wait_ge a $G acked $(( acked + 10 )) 10
	[ "$(jfield b $G state)" = replica-ready ] || fail "host-b: $(jfield b $G state)"
}

hosts_setup
command -v ss >/dev/null || skip "ss (iproute2) not installed"
counter_hosts
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >/dev/null || fail "protect"
wait_field b $G state replica-ready

# 1. silent peers
ip netns exec "$NS_A" python3 - "$IP_B" "$TMPD" "$MAX_PENDING" >"$TMPD/silent.log" 2>&1 <<'PY' &
import os, socket, sys, time
host, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])

def wait_path(p, secs):
    end = time.monotonic() + secs
    while not os.path.exists(p):
        if time.monotonic() > end:
            sys.exit("timed out waiting for " + p)
        time.sleep(0.02)

def is_open(s):
    s.setblocking(False)
    try:
        return s.recv(1) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False

def closed_within(s, secs):
    s.setblocking(True)
    s.settimeout(secs)
    try:
        while s.recv(4096):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False

socks = [socket.create_connection((host, 7575), timeout=5) for _ in range(n)]
open(d + "/silent.open", "w").close()
wait_path(d + "/silent.check", 60)
shut = [i for i, s in enumerate(socks) if not is_open(s)]
if shut:
    sys.exit("silent connections %s were closed before status returned" % shut)
print("all %d silent connections still open after status" % n)
extra = socket.create_connection((host, 7575), timeout=5)
if not closed_within(socks[0], 5):
    sys.exit("connection beyond %d pending handshakes did not evict the oldest" % n)
if not is_open(extra):
    sys.exit("the newest connection was refused instead of the oldest evicted")
print("connection %d evicted the oldest at once" % (n + 1))
if not all(closed_within(s, 20) for s in socks[1:] + [extra]):
    sys.exit("silent connections were not dropped at the HELLO deadline")
print("silent connections dropped at the HELLO deadline")
PY
SILENT=$!
PIDS+=($SILENT)
wait_file "$TMPD/silent.open" 10
# B accepted every silent peer (+ the protected link): none blocks its loop
for i in $(seq 200); do
	[ "$(remusd_conns)" -ge $(( MAX_PENDING + 1 )) ] && break
	sleep 0.05
done
[ "$(remusd_conns)" -ge $(( MAX_PENDING + 1 )) ] ||
	fail "host-b accepted $(remusd_conns) connections, want $(( MAX_PENDING + 1 ))"
ctl b status $G >"$TMPD/status.out" || fail "status on host-b failed"
grep -q replica-ready "$TMPD/status.out" || fail "status: $(cat "$TMPD/status.out")"
ctl b list >/dev/null || fail "list on host-b failed"
touch "$TMPD/silent.check"
wait "$SILENT" || fail "silent peers: $(cat "$TMPD/silent.log")"
cat "$TMPD/silent.log"
grep -q "replication peer $IP_A:[0-9]* dropped: handshake pending for [0-9]* ms, making room for $IP_A:" \
	"$TMPD/remusd-b.log" || fail "no log line for the evicted oldest peer"
grep -q "replication peer $IP_A:[0-9]* refused: handshake timed out: no HELLO within" "$TMPD/remusd-b.log" ||
	fail "no log line for the timed-out silent peers"
still_protected

# 2. garbage on the replication port
send_garbage
grep "replication peer $IP_A:[0-9]* refused: " "$TMPD/remusd-b.log" | grep -v "timed out" \
	>"$TMPD/garbage.log" || fail "garbage was not refused with a log line"
echo "garbage: $(tail -n 1 "$TMPD/garbage.log")"
ctl b list >/dev/null || fail "host-b stopped answering after garbage"
still_protected
echo PASS
