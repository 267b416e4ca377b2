#!/bin/bash
# make demo: protect a kvstore guest, kill its host mid-load, lose nothing.
#
#   client ns --+                      +-- host-a ns: remusd, guest (tap0)
#               +-- lan ns: bridge ----+
#                                      +-- host-b ns: remusd, replica (tap0)
#   host-a <== replication link (veth, authenticated TCP) ==> host-b
#
# A client PUTs numbered keys and records the acknowledged ones; host-a's
# remusd (and with it the guest) is killed with SIGKILL mid-load; host-b
# fails over; the client carries on, then reads back every acknowledged
# key.  Exits non-zero if any acknowledged write was lost.  Everything it
# creates is removed on exit, also on Ctrl-C.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-demo$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

START=$(date +%s.%N)
hosts_setup
trap demo_cleanup EXIT
lan_setup
kvstore_conf
say "starting remusd on host-a and host-b"
start_daemon a
start_daemon b
say "host-a: remusctl start $G"
ctl a start $G || fail "start"
say "host-a: remusctl protect $G --peer $IP_B:7575"
# on a terminal remusctl redraws one progress line; into a pipe (logs,
# make check) it prints a line per RAM round / disk quarter, no \r
if [ -t 1 ]; then
	ctl a protect $G --peer "$IP_B:7575" --wait 60 ${NETBUF:+--unsafe no-netbuf} || fail "protect"
else
	ctl a protect $G --peer "$IP_B:7575" --wait 60 ${NETBUF:+--unsafe no-netbuf} \
		| tee "$TMPD/protect.out"
	[ "${PIPESTATUS[0]}" = 0 ] || fail "protect"
	grep -q $'\r' "$TMPD/protect.out" && fail "carriage returns in the protect output"
	grep -Eq "^$G: protected: synchronised in [0-9.]+ s, [0-9]+ RAM rounds \([0-9]+ pages\), [0-9.]+ MiB sent, disk [0-9]+ MiB compared, [0-9]+ blocks sent$" \
		"$TMPD/protect.out" || fail "no sync summary in the protect output"
fi

say "client: PUT numbered keys to $GUEST_IP:7000"
ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 300 30
ctl a status $G --json >"$TMPD/a-status.json" || fail "status on host-a"
before=$(acked)
say "SIGKILL host-a's remusd and guest after $before acknowledged PUTs"
kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
say "host-b: guest active; client continues"
wait_acked $(( before + 300 )) 30
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID"
cat "$TMPD/client.log"
ctl b status $G --json >"$TMPD/b-status.json"

python3 - "$TMPD/a-status.json" "$TMPD/b-status.json" "${COMPRESSION:-delta}" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["guests"][0]
b = json.load(open(sys.argv[2]))["guests"][0]
fo = b.get("failover", {})
print("summary:")
print("  initial sync               : %.2f s, %d RAM rounds, %.1f MiB on the wire" % (a["sync_ms"] / 1000.0, a["precopy_rounds"], a["sync_bytes"] / 1048576.0))
print("  checkpoints sent by host-a : %d (acked %d, stretched epochs %d)" % (a["checkpoints"], a["acked"], a["stretched"]))
print("  epoch length               : %d ms interval, pause avg %d us, max %d us" % (a["interval_ms"], a["avg_pause_us"], a["max_pause_us"]))
print("  checkpoint rate            : %.1f /s" % (a["checkpoints"] * 1000.0 / max(a["uptime_ms"], 1)))
print("  stream bytes               : %.1f MiB, %.1f MiB on the wire (%s)" % (a["bytes"] / 1048576.0, a["wire_bytes"] / 1048576.0, sys.argv[3]))
print("  bytes (stream / wire)      : %d / %d = %.3fx" % (a["bytes"], a["wire_bytes"], a["wire_bytes"] / max(a["bytes"], 1)))
print("  checkpoints applied on B   : %d, partial dropped %d" % (b["checkpoints"], b["discarded"]))
d = b.get("disk", {})
print("  disk on B                  : %d staged writes, committed up to epoch %d" % (d.get("staged_writes", 0), d.get("committed_epoch", 0)))
print("  failover                   : restored checkpoint %d, restore %.1f ms, total %.1f ms" % (fo.get("checkpoint", 0), fo.get("restore_us", 0) / 1000.0, fo.get("total_us", 0) / 1000.0))
PY
echo "  demo time                  : $(printf '%.1f' "$(echo "$(date +%s.%N) - $START" | bc)") s"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked"
