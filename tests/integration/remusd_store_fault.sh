#!/bin/bash
# The guest's store at a fault point between its quiesce and CHECKPOINT_END
# (issue 24), with real daemons in namespaces: the storewatch guest
# (guest/apps/storewatch.c) runs on host A, protected to B (inline
# netbuf); `remusctl store write` on A writes w1, w2, ... to the node it
# watches, without pause, until A's remusd kills itself by its fault hook
# at `store-saved` of checkpoint STORE_FAULT_EPOCH (the guest paused, its
# store just saved, nothing of that checkpoint sent).  B fails over to the
# last complete checkpoint; a last write there fires the replica's watch.
# Checked: the client saw reports 1..N, each once and in order (nothing
# the primary sent after the last acknowledged checkpoint, nothing lost);
# their values follow the order of the writes; the value the replica's
# store held at failover is the last value reported before the final
# write (store and guest RAM restored from the same checkpoint: an event
# the guest had read is not delivered again, one it had not is), and no
# later than the last write sent; the final report comes from the
# replica.  (The exact equality of the replica's store with the last
# complete checkpoint's is test_ckpt_store's, in process.)
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rsf$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
. tests/integration/remusd_store_lib.sh
G=storewatch
EPOCH=${STORE_FAULT_EPOCH:-100}
[ -f "$BUILD/guest/storewatch.elf" ] || skip "storewatch guest not built"

hosts_setup
trap demo_cleanup EXIT
lan_setup
store_guest_conf 02:77:00:00:00:13
REMUSD_FAULT=store-saved@$EPOCH start_daemon a
start_daemon b
ctl a start $G || fail "start"
ctl a protect $G --wait 60 >"$TMPD/protect.out" || fail "protect: $(cat "$TMPD/protect.out")"

start_store_client

# writes until A is gone; the last one A acknowledged is in $TMPD/last_ok
i=0
while [ $i -lt 5000 ]; do
	i=$((i + 1))
	ctl a store $G write control/value w$i >/dev/null 2>&1 || break
	echo $i >"$TMPD/last_ok"
done
wait "$PID_a" 2>/dev/null
kill -0 "$PID_a" 2>/dev/null && fail "A still runs after $i writes (fault point never reached)"
grep -q "fault injection: store-saved at epoch" "$TMPD/remusd-a.log" || fail "A did not die at store-saved"
last_ok=$(cat "$TMPD/last_ok" 2>/dev/null)
[ -n "$last_ok" ] || fail "no write acknowledged before the fault"
wait_field b $G state active 20
wait_field b $G guest_state running
held=$(ctl b store $G read control/value) || fail "the replica has no control/value"
# the replica reports an event it restored pending before the final write
# fires (else that report could read the final value already)
for t in $(seq 100); do
	tail -n 1 "$TMPD/reports" 2>/dev/null | grep -q "value=$held\$" && break
	sleep 0.1
done
tail -n 1 "$TMPD/reports" | grep -q "value=$held\$" ||
	fail "the last report does not show the value the replica holds ($held): $(tail -n 3 "$TMPD/reports")"
ctl b store $G write control/value final || fail "store write on the new active host"
for t in $(seq 200); do
	grep -q "value=final" "$TMPD/reports" 2>/dev/null && break
	sleep 0.1
done
grep -q "value=final" "$TMPD/reports" || fail "no report of the final write; reports: $(tail -5 "$TMPD/reports")"
sleep 0.5       # anything reported twice would arrive meanwhile

python3 - "$TMPD/reports" "$held" "$last_ok" <<'PY' || fail "reports (held $held, last acknowledged write w$last_ok): $(tail -5 "$TMPD/reports")"
import re, sys
held, last_ok = sys.argv[2], int(sys.argv[3])
order = lambda v: -1 if v == "-" else 10**9 if v == "final" else int(v[1:])
got = []
for l in open(sys.argv[1]).read().splitlines():
    m = re.fullmatch(r"storewatch seq=(\d+) boot=(\d+) path=control/value token=cv value=(\S+)", l)
    if not m:
        sys.exit("bad report: " + l)
    got.append((int(m.group(1)), int(m.group(2)), m.group(3)))
seqs = [s for s, b, v in got]
if seqs != list(range(1, len(got) + 1)):
    sys.exit("reports not 1..%d once each: %s" % (len(got), seqs))
vals = [order(v) for s, b, v in got]
if vals != sorted(vals):
    sys.exit("values out of write order: %s" % [v for s, b, v in got])
if got[-1][2] != "final" or got[-1][1] != 1:
    sys.exit("the last report is not the replica's final write: %s" % (got[-1],))
before = [v for s, b, v in got if v != "final"]
if not before or before[-1] != held:
    sys.exit("the replica held %s at failover, the last report before the final write says %s"
             % (held, before[-1] if before else None))
if order(held) > last_ok + 1:
    sys.exit("the replica holds w%d, never sent (the last sent w%d)" % (order(held), last_ok + 1))
print("%d reports; replica held %s, A had acknowledged up to w%d" % (len(got), held, last_ok))
PY
echo "failover to checkpoint $(jfield b $G failover.checkpoint) after the fault at store-saved of $EPOCH"
echo "PASS"
