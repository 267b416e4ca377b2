#!/bin/bash
# The guest's store across a failover (issue 24), over the real transport
# between two namespaces and a LAN with a client:
#   the storewatch guest (guest/apps/storewatch.c) runs on host A,
#   protected to B with inline netbuf, and watches control/value; a client
#   subscribes to its reports (one UDP datagram per watch event, numbered);
#   `remusctl store write` on A changes the node and the guest reports it;
#   A's remusd is SIGKILLed (the guest with it); B fails over; the replica's
#   store holds the value, and `remusctl store write` on B fires the
#   replica's watch, which the guest never registered again.
# Checked: the reports are seq 1, 2, 3, each exactly once and in order,
# with the values "-", v1, v2 (no event reported twice or lost), the last
# from the restored guest (boot=1); read/ls/rm through remusctl; the
# backup refuses store requests while it only holds the replica.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rst$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
. tests/integration/remusd_store_lib.sh
G=storewatch
[ -f "$BUILD/guest/storewatch.elf" ] || skip "storewatch guest not built"

hosts_setup
trap demo_cleanup EXIT
lan_setup
store_guest_conf 02:77:00:00:00:12
start_daemon a
start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >"$TMPD/protect.out" || fail "protect: $(cat "$TMPD/protect.out")"
wait_field b $G state replica-ready

start_store_client

# wait_report SEQ SECS: until the client has report number SEQ.
wait_report() {
	local i
	for i in $(seq $(( $2 * 10 ))); do
		grep -q "seq=$1 " "$TMPD/reports" 2>/dev/null && return 0
		kill -0 "$CLIENT_PID" 2>/dev/null || fail "client exited: $(cat "$TMPD/client.log")"
		sleep 0.1
	done
	fail "no report $1 within $2 s; reports: $(cat "$TMPD/reports" 2>/dev/null)"
}

wait_report 1 20        # the watch's first fire, at registration
ctl a store $G write control/value v1 || fail "store write on the primary"
wait_report 2 20
[ "$(ctl a store $G read control/value)" = v1 ] || fail "store read on the primary"
[ "$(ctl a store $G ls control)" = value ] || fail "store ls: $(ctl a store $G ls control)"
ctl a store $G write /local/domain/1/scratch x || fail "store write of an absolute path"
ctl a store $G rm scratch || fail "store rm"
ctl a store $G read scratch 2>"$TMPD/rm.err" && fail "a removed node still reads"
grep -q "no node /local/domain/1/scratch" "$TMPD/rm.err" || fail "rm: $(cat "$TMPD/rm.err")"
ctl a store $G write 'bad//path' x 2>"$TMPD/bad.err" && fail "a malformed path was taken"
grep -q "empty path component" "$TMPD/bad.err" || fail "bad path: $(cat "$TMPD/bad.err")"
ctl b store $G read control/value 2>"$TMPD/b.err" && fail "the backup answered for its replica"
grep -q "holds its replica" "$TMPD/b.err" || fail "backup: $(cat "$TMPD/b.err")"
# a few checkpoints after the report, so the kill is not part of the test's luck
n=$(jfield a $G acked)
wait_ge a $G acked $(( n + 3 ))

kill -9 "$PID_a"
wait "$PID_a" 2>/dev/null
wait_field b $G state active 20
wait_field b $G guest_state running
[ "$(ctl b store $G read control/value)" = v1 ] || fail "the replica's store lost control/value"
ctl b store $G write control/value v2 || fail "store write on the new active host"
wait_report 3 20
sleep 0.5       # anything reported twice would arrive meanwhile

python3 - "$TMPD/reports" <<'PY' || fail "reports: $(cat "$TMPD/reports")"
import re, sys
reps = [l for l in open(sys.argv[1]).read().splitlines() if l]
want = [(1, "-"), (2, "v1"), (3, "v2")]
got = []
for l in reps:
    m = re.fullmatch(r"storewatch seq=(\d+) boot=(\d+) path=(\S+) token=(\S+) value=(\S+)", l)
    if not m:
        sys.exit("bad report: " + l)
    if m.group(3) != "control/value" or m.group(4) != "cv":
        sys.exit("wrong path or token: " + l)
    got.append((int(m.group(1)), m.group(5), int(m.group(2))))
if [(s, v) for s, v, b in got] != want:
    sys.exit("reports %s, expected %s" % (got, want))
if got[2][2] != 1 or got[1][2] != 0:
    sys.exit("boot counts %s: report 3 must come from the restored guest" % got)
PY
echo "3 watch events reported once each across the failover (checkpoint $(jfield b $G failover.checkpoint))"
echo "PASS"
