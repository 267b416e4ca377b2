#!/bin/bash
# Quorum-gated failover with a real corosync (docs/cluster.md): three
# corosync nodes (knet) in namespaces — host-a, host-b and a witness — on a
# cluster network of their own, the two remusd daemons with
# `quorum = corosync`, the udpseq guest on host-a protected to host-b over
# the replication link, and the UDP probe on the LAN, which every host
# keeps reaching (the worst case: an isolated host's output would reach
# the client).  Each scenario starts afresh:
#   cut-link   only the replication link: host-a carries on (quorate, the
#              backup's daemon still in its partition), host-b does not
#              fail over (peer-alive);
#   isolate-a  host-a loses the replication link and the cluster: host-b
#              (quorate with the witness) fails over, host-a stays fenced
#              (paused, output held);
#   isolate-b  the same for host-b: host-a carries on, host-b waits for
#              quorum and never runs the guest;
#   kill-a     host-a's remusd SIGKILLed: its daemon leaves the cluster at
#              once, host-b fails over;
#   control    quorum = none, replication link cut: both copies run, and
#              the probe sees it (proof that it would).
#   isolate-w  the witness loses the cluster: both hosts stay quorate (2
#              votes of 3), the guest stays protected;
#   freeze-a   host-a's remusd stopped (SIGSTOP): its daemon is still a
#              member, host-b does not fail over (no copy serves while it
#              is frozen); continued, host-a carries on unprotected.
# WITNESS=qnetd (tests/fault/remusd_qdevice.sh): the witness is not a
# corosync node but corosync-qnetd, with corosync-qdevice (model net,
# algorithm ffsplit) on both hosts; SCENARIOS picks the scenarios run.
# TLS between qdevice and qnetd is off (`tls: off`, `qnetd -s off`): the
# cluster network here is a private bridge between namespaces, and the
# NSS enrolment (corosync-qdevice-net-certutil on three nodes) would test
# NSS, not the quorum logic; docs/cluster.md keeps the TLS recipe for
# real machines.
# After each: the probe saw no output of two copies interleaved (no old
# boot after a new one, no number at or past the restored checkpoint from
# the old copy), the old copy's numbers arrived without a hole (nothing it
# sent before was lost), and the right copy runs.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rq$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
. tests/fault/remusd_fault_lib.sh
HB=${HB_TIMEOUT:-1000}
# corosync: token 1000 ms (+ consensus 1200 ms) to notice a partition;
# remusd waits longer than that before trusting a quorate answer
TOKEN_MS=1000
SETTLE_MS=${SETTLE_MS:-4000}
# each scenario this many times, the fault at a random moment (the
# control once); make check runs one round
ROUNDS=${QUORUM_ROUNDS:-1}
WITNESS=${WITNESS:-corosync}
SCENARIOS=${SCENARIOS:-cut_link isolate_a isolate_b kill_a isolate_w freeze_a}
CSUB=10.78.$(( $$ % 200 + 20 ))
. tests/cluster/corosync_lib.sh
COROSYNC=$(command -v corosync || echo /usr/sbin/corosync)
[ -x "$COROSYNC" ] || skip "corosync not installed"
command -v corosync-quorumtool >/dev/null || skip "corosync-quorumtool not installed"
if [ "$WITNESS" = qnetd ]; then
	command -v corosync-qnetd >/dev/null || skip "corosync-qnetd not installed"
	command -v corosync-qdevice >/dev/null || skip "corosync-qdevice not installed"
fi

fault_fail() {
	[ -f "$TMPD/probe.out" ] && { stop_probe; echo "== probe"; cat "$TMPD/probe.out"; }
	for f in "$TMPD"/corosync-*.log; do [ -f "$f" ] && { echo "== $f"; tail -n 8 "$f"; }; done
	for h in a b; do echo "== corosync-quorumtool on host-$h"; on $h corosync-quorumtool -s 2>&1 | tail -n 12; done
	fail "$@"
}

quorum_cleanup() {
	demo_cleanup
	corosync_net_cleanup
}

start_corosync() {
	local h
	for h in a b w; do
		rm -rf "$TMPD/node-$h"/{lib,run,shm}/*
		oncmd $h
		if [ "$WITNESS" = qnetd ] && [ $h = w ]; then
			mkdir -p "$TMPD/node-w/run/corosync-qnetd"
			"${ONC[@]}" corosync-qnetd -f -s off -l "$CSUB.3" >"$TMPD/corosync-$h.log" 2>&1 &
		else
			"${ONC[@]}" "$COROSYNC" -f >"$TMPD/corosync-$h.log" 2>&1 &
		fi
		PIDS+=($!)
		disown $!
		eval "CPID_$h=$!"
	done
	if [ "$WITNESS" = qnetd ]; then
		# qdevice needs corosync's cmap at start: both hosts quorate
		# first (2 of 3 votes), then the device
		for h in a b; do wait_quorate $h Yes 30; done
		for h in a b; do
			mkdir -p "$TMPD/node-$h/run/corosync-qdevice"
			oncmd $h
			"${ONC[@]}" corosync-qdevice -f >"$TMPD/corosync-qdevice-$h.log" 2>&1 &
			PIDS+=($!)
			disown $!
			eval "QPID_$h=$!"
		done
	else
		for h in a b w; do wait_quorate $h Yes 30; done
	fi
}

stop_corosync() {
	local h p
	for h in a b w; do
		eval "p=\${QPID_$h:-} q=\${CPID_$h:-}"
		[ -n "$p" ] && kill -9 "$p" 2>/dev/null
		[ -n "$q" ] && kill -9 "$q" 2>/dev/null
	done
	return 0
}

# wait_quorate HOST Yes|No SECS
wait_quorate() {
	local i
	for i in $(seq $(( $3 * 10 ))); do
		on "$1" corosync-quorumtool -s 2>/dev/null | grep -q "^Quorate: *$2" && return 0
		sleep 0.1
	done
	fault_fail "host-$1: not 'Quorate: $2' within $3 s: $(on "$1" corosync-quorumtool -s 2>&1 | tr '\n' ' ')"
}

# start_remusd HOST: as remusd_lib's start_daemon, inside the node's view.
start_remusd() {
	local h=$1 i
	rm -f "$TMPD/$h.sock"
	oncmd $h
	"${ONC[@]}" "$BUILD/bin/remusd" -c "$TMPD/$h.conf" >"$TMPD/remusd-$h.log" 2>&1 &
	PIDS+=($!)
	eval "PID_$h=$!"
	for i in $(seq 100); do
		[ -S "$TMPD/$h.sock" ] && return 0
		kill -0 "$!" 2>/dev/null || fault_fail "remusd on $h exited at start"
		sleep 0.1
	done
	fault_fail "remusd on $h: no control socket within 10 s"
}

# qfield HOST FIELD: a field of the daemon's "quorum" status object.
qfield() {
	ctl "$1" status --json 2>/dev/null | python3 -c '
import json, sys
try:
    print(json.load(sys.stdin)["quorum"].get(sys.argv[1], "-"))
except Exception:
    print("-")' "$2"
}

# wait_qfield HOST FIELD VALUE SECS
wait_qfield() {
	local i v
	for i in $(seq $(( $4 * 10 ))); do
		v=$(qfield "$1" "$2")
		[ "$v" = "$3" ] && return 0
		sleep 0.1
	done
	fault_fail "host-$1: quorum.$2 is '$v', waited $4 s for '$3'"
}

# wait_gstate HOST STATE SECS: the guest's session state.
wait_gstate() {
	local i st
	for i in $(seq $(( $3 * 20 ))); do
		st=$(jfields "$1" state)
		[ "$st" = "$2" ] && return 0
		sleep 0.05
	done
	fault_fail "host-$1: guest is '$st', waited $3 s for '$2' ($(jfields "$1" message))"
}

# quorum_conf QUORUM: both hosts' remus.conf (remusd_fault_lib's guest_conf
# with the quorum keys in [global]).
quorum_conf() {
	local lines=("quorum = $1" "quorum_settle_ms = $SETTLE_MS"
		"[guest $G]" "type = pvm" "image = $PWD/$BUILD/guest/udpseq.elf" "mem = 16M"
		"tap = tap0" "mac = 02:77:00:00:00:11" "ip = $GUEST_IP/24" "interval = ${INTERVAL:-20}"
		"compression = delta" "netbuf = inline" "diskrep = none")
	rm -rf "$TMPD/state-a" "$TMPD/state-b"
	HB_TIMEOUT=$HB write_conf a "state_dir = $TMPD/state-a" "${lines[@]}" "peer = $IP_B:7575"
	HB_TIMEOUT=$HB write_conf b "state_dir = $TMPD/state-b" "${lines[@]}" "peer = $IP_A:7575"
}

# wait_message HOST PREFIX SECS: the guest's status message starts so.
wait_message() {
	local i m
	for i in $(seq $(( $3 * 20 ))); do
		m=$(jfields "$1" message)
		[[ "$m" == "$2"* ]] && return 0
		sleep 0.05
	done
	fault_fail "host-$1: message '$m', waited $3 s for '$2...'"
}

# wait_log HOST PATTERN SECS: the daemon's log says so (grep pattern).
wait_log() {
	local i
	for i in $(seq $(( $3 * 20 ))); do
		grep -q "$2" "$TMPD/remusd-$1.log" && return 0
		sleep 0.05
	done
	fault_fail "host-$1's log does not say '$2' within $3 s"
}

# setup QUORUM: fresh corosync (if asked), daemons, guest, probe, protection.
setup() {
	local q=$1
	quorum_conf "$q"
	[ "$q" = corosync ] && start_corosync
	start_remusd a
	start_remusd b
	if [ "$q" = corosync ]; then
		wait_qfield a peer_present True 20
		wait_qfield b peer_present True 20
	fi
	if [ "$q" = corosync ] && [ "$WITNESS" = qnetd ]; then
		# the witness's vote counted: 3 of 3, in the text status too
		wait_qfield a witness alive 20
		wait_qfield b witness alive 20
		wait_qfield a votes 3 10
		ctl a status | grep -q "quorum (corosync): quorate, 3/3 votes.*witness alive" ||
			fault_fail "host-a's status: $(ctl a status | grep quorum)"
	fi
	ctl a start $G >/dev/null || fault_fail "start: $(jfields a message)"
	start_probe
	wait_probe 0 3 10
	ctl a protect $G --wait 30 >/dev/null || fault_fail "protect: $(jfields a message)"
	wait_ge a $G acked 5 10
	wait_ge b $G checkpoints 5 10
}

# teardown: everything of the scenario goes, links healed.
teardown() {
	local p h
	for p in "${PID_a:-}" "${PID_b:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	stop_corosync
	wait_ns_empty "$NS_A" 5
	wait_ns_empty "$NS_B" 5
	wait_ns_empty "$NS_W" 5
	for h in a b; do
		ns=$NS_A; [ $h = b ] && ns=$NS_B
		ip -n "$ns" link set rep0 up
		ip -n "$ns" link set cl0 up
	done
	ip -n "$NS_W" link set cl0 up
	rm -f "$TMPD"/*.sock
}

# probe_verdict: the probe stopped, its verdict in PROBE_OUT, its exit in PROBE_RC.
probe_verdict() {
	stop_probe
	PROBE_RC=$?
	PROBE_OUT=$(cat "$TMPD/probe.out")
}

# no_hole BOOT: every number that boot sent from its first on reached the client.
no_hole() {
	[[ $PROBE_OUT =~ boot$1:\ n=([0-9]+)\ seq=([0-9]+)\.\.([0-9]+) ]] ||
		fault_fail "probe saw nothing of boot $1: $PROBE_OUT"
	[ $(( BASH_REMATCH[3] - BASH_REMATCH[2] + 1 )) = "${BASH_REMATCH[1]}" ] ||
		fault_fail "the client misses $(( BASH_REMATCH[3] - BASH_REMATCH[2] + 1 - BASH_REMATCH[1] )) datagrams of boot $1: $PROBE_OUT"
}

# cut HOST what...: take down that host's rep (replication) / cl (cluster) link.
cut() {
	local h=$1 ns=$NS_A; shift
	[ "$h" = b ] && ns=$NS_B
	for l in "$@"; do ip -n "$ns" link set ${l}0 down; done
}

hosts_setup
lan_setup
trap quorum_cleanup EXIT        # after lan_setup's own trap
corosync_net_setup
corosync_conf remusq "$TOKEN_MS" "$WITNESS"
t_start=$(date +%s)

scenario_cut_link() {
	echo "== cut-link: only the replication link"
	setup corosync
	jitter
	cut a rep
	wait_gstate b unprotected $(( HB / 1000 + SETTLE_MS / 1000 + 10 ))
	wait_gstate a unprotected $(( HB / 1000 + SETTLE_MS / 1000 + 10 ))
	probe_state
	wait_probe 0 $(( PROBE_BOOTN + 50 )) 10
	[ "$(jfields b state)" != active ] || fault_fail "host-b failed over with the primary alive"
	grep -q "carries on" "$TMPD/remusd-b.log" || fault_fail "host-b's log does not say why it did not fail over"
	probe_verdict
	[ "$PROBE_RC" = 0 ] || fault_fail "cut-link: probe violations: $PROBE_OUT"
	no_hole 0
	echo "host-a: $(jfields a message)"
	echo "host-b: $(jfields b message)"
	teardown
}

scenario_isolate_a() {
	echo "== isolate-a: host-a loses the replication link and the cluster"
	setup corosync
	jitter
	cut a rep cl
	wait_gstate b active $(( HB / 1000 + SETTLE_MS / 1000 + 15 ))
	wait_gstate a fenced 10
	wait_probe 1 30 10
	# host-a's settle time passes: its verdict is final, nothing leaves it
	wait_message a "fenced: backup lost" $(( SETTLE_MS / 1000 + 10 ))
	[ "$(jfields a guest_state)" = paused ] || fault_fail "fenced host-a's guest is $(jfields a guest_state)"
	echo "host-b active from checkpoint $(jfields b failover.checkpoint); host-a fenced, its guest $(jfields a guest_state)"
	# the promotion's generation is on host-b's disk before its copy ran
	grep -qx "remus-generation v1 $G 1" "$TMPD/state-b/$G.generation" ||
		fault_fail "host-b's generation file: $(cat "$TMPD/state-b/$G.generation" 2>&1)"
	# healed: the two copies meet, the older (host-a's, fenced) destroys itself
	ip -n "$NS_A" link set cl0 up
	ip -n "$NS_A" link set rep0 up
	wait_gstate a evacuated $(( TOKEN_MS * 10 / 1000 + 10 ))
	wait_message a "yielded:" 5
	wait_log b "holds an older copy (generation 0, fenced)\|destroyed its older copy" 5
	grep -qx "remus-generation v1 $G 1" "$TMPD/state-a/$G.generation" ||
		fault_fail "host-a did not keep the newer generation: $(cat "$TMPD/state-a/$G.generation" 2>&1)"
	[ "$(jfields b state)" = active ] || fault_fail "host-b after the heal: $(jfields b state)"
	probe_state
	wait_probe 1 $(( PROBE_BOOTN + 30 )) 10
	probe_verdict
	[ "$PROBE_RC" = 0 ] || fault_fail "isolate-a: probe violations: $PROBE_OUT"
	no_hole 1
	m=$(jfields a message)
	echo "healed: host-a $(jfields a state): ${m:0:160}..."
	teardown
}

scenario_isolate_b() {
	echo "== isolate-b: host-b loses the replication link and the cluster"
	setup corosync
	jitter
	cut b rep cl
	wait_gstate b waiting-for-quorum $(( HB / 1000 + 10 ))
	wait_gstate a unprotected $(( HB / 1000 + SETTLE_MS / 1000 + 10 ))
	probe_state
	wait_probe 0 $(( PROBE_BOOTN + 50 )) 10
	[ "$(jfields b state)" = waiting-for-quorum ] || fault_fail "host-b: $(jfields b state)"
	probe_verdict
	[ "$PROBE_RC" = 0 ] || fault_fail "isolate-b: probe violations: $PROBE_OUT"
	no_hole 0
	echo "host-a: $(jfields a message)"
	echo "host-b: $(jfields b state): $(jfields b message)"
	teardown
}

scenario_kill_a() {
	echo "== kill-a: host-a's remusd SIGKILLed"
	setup corosync
	jitter
	kill -9 "$PID_a"
	wait "$PID_a" 2>/dev/null
	wait_gstate b active $(( HB / 1000 + 10 ))
	wait_probe 1 30 10
	probe_verdict
	[ "$PROBE_RC" = 0 ] || fault_fail "kill-a: probe violations: $PROBE_OUT"
	no_hole 1
	echo "host-b active from checkpoint $(jfields b failover.checkpoint) in $(( $(jfields b failover.total_us) / 1000 )) ms"
	teardown
}

scenario_control() {
	echo "== control: quorum = none, replication link cut"
	setup none
	jitter
	cut a rep
	wait_gstate b active $(( HB / 1000 + 10 ))
	wait_gstate a unprotected $(( HB / 1000 + 10 ))
	wait_probe 1 20 10
	# both copies send: the probe must notice
	for i in $(seq 1000); do
		probe_state
		[ "$PROBE_VIOL" -gt 0 ] && break
		sleep 0.01
	done
	probe_verdict
	[ "$PROBE_RC" != 0 ] || fault_fail "control: two copies ran but the probe saw nothing: $PROBE_OUT"
	echo "$PROBE_OUT" | grep -q "arrived after boot\|old primary" ||
		fault_fail "control: the probe's violations are not about two copies: $PROBE_OUT"
	echo "control: the probe saw both copies ($(echo "$PROBE_OUT" | grep -c "arrived after") reported lines)"
	teardown
}

scenario_isolate_w() {
	echo "== isolate-w: the witness loses the cluster"
	setup corosync
	local acked
	jitter
	ip -n "$NS_W" link set cl0 down
	wait_qfield a votes 2 $(( TOKEN_MS * 10 / 1000 + 10 ))
	wait_qfield b votes 2 5
	[ "$WITNESS" = qnetd ] && { wait_qfield a witness lost 10; wait_qfield b witness lost 10; }
	[ "$(qfield a quorate)" = True ] && [ "$(qfield b quorate)" = True ] ||
		fault_fail "two hosts of three lost quorum with the witness gone"
	acked=$(jfields a acked)
	wait_ge a $G acked $(( acked + 20 )) 10
	[ "$(jfields a state)" = protected ] || fault_fail "host-a: $(jfields a state)"
	probe_verdict
	[ "$PROBE_RC" = 0 ] || fault_fail "isolate-w: probe violations: $PROBE_OUT"
	no_hole 0
	echo "witness gone: both hosts quorate with 2 votes, host-a protected on (acked $(jfields a acked))"
	teardown
}

scenario_freeze_a() {
	echo "== freeze-a: host-a's remusd stopped (SIGSTOP), then continued"
	setup corosync
	jitter
	kill -STOP "$PID_a"
	# its daemon is still a member: host-b must not fail over
	wait_gstate b unprotected $(( HB / 1000 + SETTLE_MS / 1000 + 10 ))
	grep -q "carries on" "$TMPD/remusd-b.log" || fault_fail "host-b's log does not say why it did not fail over"
	kill -CONT "$PID_a"
	wait_gstate a unprotected $(( HB * 10 / 1000 + SETTLE_MS / 1000 + 10 ))
	probe_state
	wait_probe 0 $(( PROBE_BOOTN + 50 )) 10
	[ "$(jfields b state)" != active ] || fault_fail "host-b failed over from a frozen primary"
	probe_verdict
	[ "$PROBE_RC" = 0 ] || fault_fail "freeze-a: probe violations: $PROBE_OUT"
	no_hole 0
	echo "host-a continued: $(jfields a state); host-b: $(jfields b state)"
	teardown
}

# jitter: a random moment of the epoch cycle for the fault (0-499 ms)
jitter() {
	sleep "0.$(printf '%03d' $(( RANDOM % 500 )))"
}

for round in $(seq "$ROUNDS"); do
	[ "$ROUNDS" -gt 1 ] && echo "=== round $round of $ROUNDS"
	for sc in $SCENARIOS; do "scenario_$sc"; done
done
[ "$WITNESS" = corosync ] && scenario_control
echo "all scenarios in $(( $(date +%s) - t_start )) s"
echo PASS
