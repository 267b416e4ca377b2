#!/bin/bash
# make cluster-check: Pacemaker + corosync on three namespace hosts
# (network, mount and UTS namespaces, each with its own /etc/corosync,
# /var/lib/corosync, /var/lib/pacemaker, /var/log/pacemaker, /run and
# /dev/shm), remusd on host-a and host-b (quorum = corosync, failover =
# cluster), the promotable clone of ocf:remus:remus protecting the kvstore
# guest (never on the witness; builtin disk replication), a client on the
# LAN recording every acknowledged PUT:
#   1. Pacemaker promotes one host: the agent starts the guest there and
#      protects it to the other;
#   2. (argument `kill`) the promoted host is killed (every process of
#      its namespaces): Pacemaker promotes the other, whose remusd only
#      reported the loss (failover = cluster);
#      (argument `partition`) the promoted host loses the cluster and the
#      replication link, its processes alive and the LAN still reaching
#      the client: its remusd fences the guest (no quorum: paused, output
#      held), its Pacemaker (no quorum) demotes it, and the quorate side
#      promotes the other host;
#   either way every acknowledged PUT reads back from the survivor (0
#   lost), and only one copy is ever promoted (the cut-off host fenced,
#   never unprotected).
# Fencing: fence_remusns (etc/fence, a fence agent for namespace hosts:
# it takes every link of the host's network namespace down and SIGKILLs
# every process in it), a stonith resource in the CIB, stonith-enabled=true
# and stonith-action=off: the quorate side fences the lost host before it
# promotes the other (asserted from the DC's log), and the fenced host is
# empty afterwards.  Diskless SBD is not used: it needs a watchdog device
# and softdog is not loadable on these machines (docs/cluster.md).
cd "$(dirname "$0")/../.." || exit 1
SCENARIO=${1:-kill}
case $SCENARIO in kill | partition) ;; *) echo "usage: $0 kill|partition" >&2; exit 2 ;; esac
TAG=${TAG:-rcc$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
G=kvstore
HB=1000
CSUB=10.79.$(( $$ % 200 + 20 ))
. tests/cluster/corosync_lib.sh
command -v pacemakerd >/dev/null || skip "pacemaker not installed"
command -v corosync >/dev/null || skip "corosync not installed"
getent passwd hacluster >/dev/null || skip "no hacluster user (pacemaker)"

fault_fail() {
	[ -f "$TMPD/client.log" ] && { echo "== client ($(acked) acknowledged)"; tail -n 5 "$TMPD/client.log"; }
	for h in a b w; do
		[ -f "$TMPD/pcmk-$h.log" ] && { echo "== pacemaker $h"; tail -n 15 "$TMPD/pcmk-$h.log"; }
	done
	on w crm_mon -1 2>&1 | head -30
	fail "$@"
}

cluster_cleanup() {
	local ns p i left
	# pacemakerd's children may be forked while it is being killed: kill
	# until each host is empty (bounded)
	for i in $(seq 50); do
		left=
		for ns in "$NS_A" "$NS_B" "$NS_W"; do
			for p in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$p" 2>/dev/null; left=1; done
		done
		[ -z "$left" ] && break
		sleep 0.1
	done
	# and whatever of ours outlived its namespace's listing (pacemakerd's
	# late children): marked in their environment
	for p in $(grep -l -s -a "^REMUS_CLUSTER_CHECK=$TAG\$" --null-data /proc/[0-9]*/environ |
	           cut -d/ -f3); do
		kill -9 "$p" 2>/dev/null
	done
	demo_cleanup
	corosync_net_cleanup
}

# Each host's folders beyond corosync's: Pacemaker's (owned by hacluster),
# the OCF agent, the fence agent (oncmd mounts them when present).
cluster_setup() {
	local h d
	corosync_net_setup
	for h in a b w; do
		d=$TMPD/node-$h
		mkdir -p "$d"/{run/remus,pcmklog,ocf/remus,fence} "$d"/pcmk/{blackbox,cib,cores,pengine}
		chown -R hacluster:haclient "$d/pcmk" "$d/pcmklog"
		chmod 750 "$d/pcmk" "$d"/pcmk/*
		install -m 0755 etc/ocf/remus "$d/ocf/remus/remus"
		# pacemaker-fenced runs fence agents from /usr/sbin: the host's
		# view of it has ours on top (an overlay, the machine's untouched)
		install -m 0755 etc/fence/fence_remusns "$d/fence/fence_remusns"
	done
	corosync_conf remuscc 1000 corosync
}

start_node() {
	local h=$1
	oncmd $h
	"${ONC[@]}" corosync -f >"$TMPD/corosync-$h.log" 2>&1 &
	PIDS+=($!)
	disown $!       # ended by cluster_cleanup: no "Killed" notice
}

start_pacemaker() {
	local h=$1
	oncmd $h
	REMUS_CLUSTER_CHECK=$TAG PCMK_logfile=/var/log/pacemaker/pacemaker.log PCMK_debug=no \
		"${ONC[@]}" pacemakerd -f >"$TMPD/pcmk-$h.log" 2>&1 &
	PIDS+=($!)
	disown $!       # ended by cluster_cleanup: no "Killed" notice
}

# wait_on HOST SECS CMD...: until CMD (run as HOST) succeeds.
wait_on() {
	local h=$1 s=$2 i
	shift 2
	for i in $(seq $(( s * 5 ))); do
		on "$h" "$@" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	fault_fail "host-$h: '$*' did not succeed within $s s"
}

start_remusd() {
	local h=$1
	oncmd $h
	"${ONC[@]}" "$BUILD/bin/remusd" -c "$TMPD/$h.conf" >"$TMPD/remusd-$h.log" 2>&1 &
	PIDS+=($!)
	disown $!
	eval "PID_$h=$!"
	wait_on $h 10 test -S /run/remus/remusd.sock
}

# rctl HOST ARGS: remusctl as that host (its /run holds the socket).
rctl() { local h=$1; shift; on "$h" "$BUILD/bin/remusctl" -s /run/remus/remusd.sock "$@"; }
state_of() {
	rctl "$1" status $G --json 2>/dev/null | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["guests"][0]["state"])
except Exception:
    print("-")'
}
wait_state_on() {
	local i st
	for i in $(seq $(( $3 * 10 ))); do
		st=$(state_of "$1")
		[ "$st" = "$2" ] && return 0
		sleep 0.1
	done
	fault_fail "host-$1: guest is '$st', waited $3 s for '$2'"
}

hosts_setup
lan_setup
trap cluster_cleanup EXIT       # after lan_setup's own trap
cluster_setup
t0=$(date +%s)
for h in a b w; do start_node $h; done
wait_on a 30 sh -c 'corosync-quorumtool -s | grep -q "^Quorate: *Yes"'
for h in a b w; do start_pacemaker $h; done
wait_on w 90 sh -c 'crm_mon -1 | grep -q "Online: \[ host-a host-b host-w \]"'
echo "cluster: 3 nodes online in $(( $(date +%s) - t0 )) s"

lines=("quorum = corosync" "failover = cluster" "quorum_settle_ms = 4000"
	"[guest $G]" "type = pvm" "image = $PWD/$BUILD/guest/kvstore.elf" "mem = 32M"
	"tap = tap0" "mac = 02:77:00:00:00:11" "ip = $GUEST_IP/24" "interval = 25"
	"compression = delta" "netbuf = inline" "diskrep = builtin" "unsafe = none")
# each host its own disk image, both blank at the start
truncate -s 16M "$TMPD/a.img" "$TMPD/b.img"
HB_TIMEOUT=$HB write_conf a "state_dir = $TMPD/state-a" "${lines[@]}" "disk = $TMPD/a.img" "peer = $IP_B:7575"
HB_TIMEOUT=$HB write_conf b "state_dir = $TMPD/state-b" "${lines[@]}" "disk = $TMPD/b.img" "peer = $IP_A:7575"
sed -i 's|^control_socket = .*|control_socket = /run/remus/remusd.sock|' "$TMPD/a.conf" "$TMPD/b.conf"
start_remusd a
start_remusd b

# fencing: each host named by its network namespace's inode
host_netns=
for h in a b w; do host_netns+=${host_netns:+,}host-$h:$(stat -L -c %i "/run/netns/$(nsof $h)"); done
on w crm_attribute -t crm_config -n stonith-enabled -v true || fault_fail "stonith-enabled"
on w crm_attribute -t crm_config -n stonith-action -v off || fault_fail "stonith-action"
on w cibadmin -C -o resources -X "<primitive id=\"fence-ns\" class=\"stonith\" type=\"fence_remusns\">
 <instance_attributes id=\"fence-ns-ia\">
  <nvpair id=\"fence-ns-map\" name=\"host_netns\" value=\"$host_netns\"/>
  <nvpair id=\"fence-ns-list\" name=\"pcmk_host_list\" value=\"host-a host-b host-w\"/>
 </instance_attributes>
 <operations>
  <op id=\"fence-ns-mon\" name=\"monitor\" interval=\"60s\"/>
 </operations>
</primitive>" || fault_fail "cibadmin: the fence device"
on w crm_attribute -t crm_config -n no-quorum-policy -v stop || fault_fail "no-quorum-policy"
on w cibadmin -C -o resources -X "<clone id=\"g-clone\">
 <meta_attributes id=\"g-clone-meta\">
  <nvpair id=\"g-promotable\" name=\"promotable\" value=\"true\"/>
  <nvpair id=\"g-pmax\" name=\"promoted-max\" value=\"1\"/>
  <nvpair id=\"g-cmax\" name=\"clone-max\" value=\"2\"/>
  <nvpair id=\"g-cnmax\" name=\"clone-node-max\" value=\"1\"/>
  <nvpair id=\"g-notify\" name=\"notify\" value=\"true\"/>
 </meta_attributes>
 <primitive id=\"g\" class=\"ocf\" provider=\"remus\" type=\"remus\">
  <instance_attributes id=\"g-ia\">
   <nvpair id=\"g-guest\" name=\"guest\" value=\"$G\"/>
   <nvpair id=\"g-ctl\" name=\"remusctl\" value=\"$PWD/$BUILD/bin/remusctl\"/>
   <nvpair id=\"g-pw\" name=\"protect_wait\" value=\"60\"/>
  </instance_attributes>
  <operations>
   <op id=\"g-mon-p\" name=\"monitor\" interval=\"2s\" role=\"Promoted\" timeout=\"20s\"/>
   <op id=\"g-mon-u\" name=\"monitor\" interval=\"3s\" role=\"Unpromoted\" timeout=\"20s\"/>
   <op id=\"g-promote\" name=\"promote\" interval=\"0s\" timeout=\"120s\"/>
   <op id=\"g-demote\" name=\"demote\" interval=\"0s\" timeout=\"60s\"/>
  </operations>
 </primitive>
</clone>" || fault_fail "cibadmin: the clone"
on w cibadmin -C -o constraints -X '<rsc_location id="g-not-w" rsc="g-clone" node="host-w" score="-INFINITY"/>' ||
	fault_fail "cibadmin: the witness constraint"

# 1. one host promoted, protected to the other
for i in $(seq 600); do
	sa=$(state_of a) sb=$(state_of b)
	[ "$sa" = protected ] && { P=a; S=b; break; }
	[ "$sb" = protected ] && { P=b; S=a; break; }
	sleep 0.1
done
[ -n "${P:-}" ] || fault_fail "no host protected the guest within 60 s (a: $sa, b: $sb)"
wait_state_on $S replica-ready 30
ip netns exec "$CLI" python3 tests/integration/demo_client.py put "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/client.log" 2>&1 &
CLIENT_PID=$!
PIDS+=($CLIENT_PID)
wait_acked 200 30
echo "promoted: host-$P runs the guest, protected to host-$S ($(( $(date +%s) - t0 )) s)"

if [ "$SCENARIO" = kill ]; then
	# 2. the promoted host dies: every process of its namespace
	for p in $(ip netns pids "$(nsof $P)"); do kill -9 "$p" 2>/dev/null; done
else
	# 2. the promoted host is cut off the cluster and the backup, alive
	ip -n "$(nsof $P)" link set cl0 down
	ip -n "$(nsof $P)" link set rep0 down
fi
before=$(acked)
wait_state_on $S active 90
# the client goes on writing to the promoted copy, then every
# acknowledged PUT (before and after the loss) must read back from it
wait_acked $(( before + 100 )) 60
kill -TERM "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null
cat "$TMPD/client.log"
ip netns exec "$CLI" python3 tests/integration/demo_client.py verify "$GUEST_IP" "$TMPD/acked" \
	>"$TMPD/verify.out" 2>&1
rc=$?
cat "$TMPD/verify.out"
[ "$rc" = 0 ] || fault_fail "acknowledged writes lost after the $SCENARIO of host-$P"
grep -q "acknowledged writes: [0-9]* checked, 0 lost" "$TMPD/verify.out" || fault_fail "no verdict from the client"
grep -q "failover FORCED" "$TMPD/remusd-$S.log" || fault_fail "host-$S failed over without the cluster's promotion"
# fenced before the promotion: the DC that promoted host-$S logged the
# lost host's fencing first; the host is off (nothing left in it)
dc_log=
for h in a b w; do
	grep -q "Initiating promote operation .* on host-$S" "$TMPD/node-$h/pcmklog/pacemaker.log" 2>/dev/null &&
		dc_log=$TMPD/node-$h/pcmklog/pacemaker.log
done
[ -n "$dc_log" ] || fault_fail "no DC log says it promoted host-$S"
fenced_at=$(grep -n "host-$P was terminated (off)\|Peer host-$P was terminated" "$dc_log" | head -1 | cut -d: -f1)
promoted_at=$(grep -n "Initiating promote operation .* on host-$S" "$dc_log" | tail -1 | cut -d: -f1)
[ -n "$fenced_at" ] || fault_fail "the DC did not fence host-$P: $(grep -i "fenc\|stonith" "$dc_log" | tail -n 5)"
[ "$fenced_at" -lt "$promoted_at" ] || fault_fail "host-$S promoted (log line $promoted_at) before host-$P was fenced (line $fenced_at)"
[ -z "$(ip netns pids "$(nsof $P)")" ] || fault_fail "host-$P fenced but processes are left: $(ip netns pids "$(nsof $P)")"
echo "host-$P fenced (off) before host-$S was promoted: $(on $S stonith_admin --history host-$P 2>&1 | head -1)"
if [ "$SCENARIO" = partition ]; then
	# the cut-off host never ran the guest unprotected: fenced, then its
	# own Pacemaker (without quorum) demoted it (the copy destroyed)
	# the cut-off host never ran the guest unprotected: its remusd (no
	# quorum) held the output until the quorate side powered it off
	grep -q -- "-> unprotected" "$TMPD/remusd-$P.log" && fault_fail "host-$P ran the guest unprotected"
	echo "host-$P cut off: $(grep -c "protected -> fenced" "$TMPD/remusd-$P.log") self-fence(s) logged before it was powered off; Pacemaker promoted host-$S ($(( $(date +%s) - t0 )) s in all)"
else
	echo "host-$P killed: Pacemaker promoted host-$S ($(( $(date +%s) - t0 )) s in all)"
fi
echo PASS
