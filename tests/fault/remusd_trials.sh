#!/bin/bash
# Namespace fault trials: real remusd processes, a real SIGKILL of the
# primary, a UDP probe on the client (docs/testing.md).
#
#   client ns (udp-probe) --+                 +-- host-a: remusd, udpseq guest
#                           +-- lan ns: br0 --+
#                                             +-- host-b: remusd (replica)
#
# Per trial: remusd on both hosts, the udpseq guest on host-a streaming
# numbered datagrams to the probe, protected to host-b (inline netbuf);
# then host-a's remusd (and with it the guest) dies at one of the moments
#   paused           SIGKILL by its own fault hook, guest suspended for N
#   sent-checkpoint  ... CHECKPOINT of N on the wire, CHECKPOINT_END not
#   sent             ... all of N sent, not yet acknowledged
#   applying         host-b freezes (SIGSTOP) about to apply N; this script
#                    SIGKILLs host-a, then SIGCONTs host-b (K >= N)
#   random           this script SIGKILLs host-a at a random time
# and host-b must fail over.  Checked: the replica restored checkpoint K
# with K in the range the moment allows and all K checkpoints applied
# whole; the probe saw no violation (nothing the old primary sent reached
# the client unless its checkpoint was committed: every number received
# from it is below the restored guest's resume point, which is the number
# checkpoint K holds; the guest's redundant copies agree); the restored
# guest's datagrams reach the client.
#
# REMUSD_TRIALS (default 50; make soak 500), REMUSD_TRIALS_SEED (base seed,
# trial i uses seed+i; a trial is reproduced by passing its seed with
# REMUSD_TRIALS=1), REMUSD_TRIALS_MOMENT (only that moment).
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-rft$$}
. tests/integration/remusd_lib.sh
. tests/integration/remusd_lan.sh
. tests/fault/remusd_fault_lib.sh
TRIALS=${REMUSD_TRIALS:-50}
SEED=${REMUSD_TRIALS_SEED:-$(( $(od -An -N2 -tu2 /dev/urandom) ))}
MOMENTS=(paused sent-checkpoint sent applying random)

[ -z "${REMUSD_TRIALS_MOMENT:-}" ] || [[ " ${MOMENTS[*]} " == *" $REMUSD_TRIALS_MOMENT "* ]] ||
	{ echo "REMUSD_TRIALS_MOMENT: one of ${MOMENTS[*]}"; exit 2; }

# fault_fail MSG: fail naming the trial and how to reproduce it.
fault_fail() {
	[ -f "$TMPD/probe.out" ] && { echo "== probe"; cat "$TMPD/probe.out"; }
	fail "trial $TRIAL ($MOMENT, seed $TSEED; rerun: REMUSD_TRIALS=1 REMUSD_TRIALS_SEED=$TSEED" \
		"${REMUSD_TRIALS_MOMENT:+REMUSD_TRIALS_MOMENT=$MOMENT }$0): $*"
}

# Everything a trial started is gone before the next one starts.
end_trial() {
	local p
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; kill -CONT "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	PIDS=()
}

# trial I SEED [control]: one kill-the-primary trial; appends to the result
# arrays.  "control": the same without netbuf, where the probe must see
# output escape (proves that the check can fail).
trial() {
	TRIAL=$1 TSEED=$2
	RANDOM=$TSEED
	MOMENT=${REMUSD_TRIALS_MOMENT:-${MOMENTS[TSEED % ${#MOMENTS[@]}]}}
	local control=${3:-}
	local epoch=$(( 3 + RANDOM % 20 )) delay=$(( RANDOM % 400 )) fa="" fb="" n="" acked=0 v
	[ -n "$control" ] && MOMENT=paused && epoch=$(( 3 + epoch % 3 ))
	local k applied epoch_b discarded total_us state rc out gap resume old_max bound deadline
	case $MOMENT in
	applying) fb="applying@$epoch" ;;
	random) ;;
	*) fa="$MOMENT@$epoch" ;;
	esac
	rm -f "$TMPD"/{a,b}.sock
	# the LAN bridge still sends the guest's MAC to host-b, where the last
	# trial's restored guest ran, until the new guest's boot announcement
	# passes; once in a soak run it did not (probably sent while the TAP
	# port came up) and the probe's SUBSCRIBE never reached the guest
	ip -n "$LAN" link set br0 type bridge fdb_flush
	# heartbeat timeouts: host-a waits long for a silent backup (the frozen
	# one of "applying" must not make it go unprotected before this script
	# kills it); host-b must not take a primary that is only slow on a
	# loaded machine for a dead one.  A killed primary is noticed at once
	# anyway: its TCP connection closes.
	# The control's epochs are long (200 ms) so that the guest surely sends
	# between the last checkpoint and the kill, however loaded the machine.
	if [ -n "$control" ]; then INTERVAL=200 guest_conf none 3000 2000
	else guest_conf inline 3000 2000; fi
	REMUSD_FAULT=$fa start_daemon a
	REMUSD_FAULT=$fb start_daemon b
	ctl a start $G >/dev/null || fault_fail "start: $(jfields a message)"
	start_probe
	wait_probe 0 3 10
	# host-a's own fault point may fire before --wait sees "protected";
	# remusctl's own polling may give up on a loaded machine while the
	# daemon is fine: what counts is the daemon's state
	ctl a protect $G --wait 30 ${control:+--unsafe no-netbuf} >"$TMPD/protect.out" 2>&1 ||
		{ [ -n "$fa" ] && grep -q "fault injection: $MOMENT at" "$TMPD/remusd-a.log"; } ||
		{ [ "$(jfields a state)" = protected ] &&
			echo "note: trial $TRIAL: remusctl protect said '$(tail -n 1 "$TMPD/protect.out")', host-a protected all the same"; } ||
		fault_fail "protect: $(cat "$TMPD/protect.out"); host-a: $(jfields a state message)"

	case $MOMENT in
	random)
		wait_ge a $G acked 2 10
		sleep "$(printf '0.%03d' $delay)"   # the random moment itself, not a wait
		read -r v2 _ < <(jfields a acked)
		[[ $v2 =~ ^[0-9]+$ ]] && acked=$v2
		kill -9 "$PID_a"
		;;
	applying)
		# host-b stops itself at the fault point; host-a must die before
		# its heartbeat timeout would make it release output unprotected
		deadline=$(( SECONDS + 20 ))
		for (( v = 0; SECONDS < deadline; v++ )); do
			[ "$(proc_state "$PID_b")" = T ] && break
			[ $(( v % 10 )) = 0 ] && { read -r v2 _ < <(jfields a acked); [[ $v2 =~ ^[0-9]+$ ]] && acked=$v2; }
			sleep 0.01
		done
		wait_state "$PID_b" T 1
		kill -9 "$PID_a"
		;;
	*)
		# host-a kills itself at the fault point; remember what it had
		# seen acknowledged until then
		deadline=$(( SECONDS + 20 ))
		while [ $SECONDS -lt $deadline ]; do
			state=$(proc_state "$PID_a")
			[ "${state:-Z}" = Z ] && break
			read -r v2 _ < <(jfields a acked)
			[[ $v2 =~ ^[0-9]+$ ]] && acked=$v2
		done
		;;
	esac
	wait_state "$PID_a" "Z gone" 20
	wait "$PID_a" 2>/dev/null
	wait_ns_empty "$NS_A" 5
	[ "$MOMENT" = applying ] && kill -CONT "$PID_b"
	wait_field b $G state active 20
	wait_probe 1 5 10
	stop_probe
	rc=$?
	read -r k applied epoch_b discarded total_us < <(jfields b failover.checkpoint checkpoints epoch discarded failover.total_us)
	end_trial

	# the fault point really fired, at epoch N
	if [ -n "$fa$fb" ]; then
		n=$(sed -n "s/.*fault injection: $MOMENT at epoch \([0-9]*\): SIG.*/\1/p" \
			"$TMPD/remusd-${fa:+a}${fb:+b}.log" | head -n 1)
		[ -n "$n" ] || fault_fail "the fault point $MOMENT@$epoch did not fire"
	fi
	out=$(cat "$TMPD/probe.out")
	if [ -n "$control" ]; then
		[ $rc = 1 ] && [[ $out == *"VIOLATION escaped output"* ]] ||
			fault_fail "control without netbuf: the probe did not see output escape"
		echo "control (no netbuf, $MOMENT@$n): the probe caught escaped output: ${out#*VIOLATION }"
		return 0
	fi
	[ $rc = 0 ] || fault_fail "probe found violations"
	[[ $k =~ ^[0-9]+$ ]] && [ "$k" -ge 1 ] || fault_fail "no failover checkpoint in host-b's status ('$k')"
	# every checkpoint up to K applied whole, in order, nothing beyond
	[ "$applied" = "$k" ] && [ "$epoch_b" = "$k" ] ||
		fault_fail "host-b applied $applied checkpoints (epoch $epoch_b) but restored $k"
	[ "$k" -ge "$acked" ] || fault_fail "restored checkpoint $k < $acked acknowledged to host-a"
	case $MOMENT in
	paused | sent-checkpoint) bound=$(( n - 1 )) ;;
	sent) bound=$n ;;
	applying)
		# N was complete when host-b froze; checkpoints completed in its
		# socket meanwhile are applied too (whole: CHECKPOINT_END arrived)
		[ "$k" -ge "$n" ] || fault_fail "host-b froze applying $n but restored $k"
		bound=$k ;;
	random) bound=$k ;;
	esac
	[ "$k" -le "$bound" ] || fault_fail "restored checkpoint $k, but host-a died at $MOMENT of $n"
	[[ $out =~ boot0:\ n=([0-9]+)\ seq=[0-9]+\.\.([0-9]+) ]] || fault_fail "probe saw nothing of boot 0"
	old_max=${BASH_REMATCH[2]}
	[[ $out =~ boot1:\ n=([0-9]+)\ seq=[0-9]+\.\.[0-9]+\ resume=([0-9]+)\ gap_ms=([0-9.]+) ]] ||
		fault_fail "probe saw nothing of the restored guest"
	resume=${BASH_REMATCH[2]} gap=${BASH_REMATCH[3]}
	[ "$old_max" -lt "$resume" ] || fault_fail "received $old_max, restored guest resumes at $resume"
	printf 'trial %3d %-15s seed=%-6d fault=%-5s acked>=%-3s restored=%-3s partial-dropped=%s received<=%s resume=%s client-gap=%sms failover=%sms\n' \
		"$TRIAL" "$MOMENT" "$TSEED" "${n:--}" "$acked" "$k" "$discarded" "$old_max" "$resume" "$gap" \
		"$(( total_us / 1000 ))"
	RES_MOMENT+=("$MOMENT") RES_GAP+=("$gap") RES_FO+=("$total_us") RES_DROP+=("$discarded")
}

hosts_setup
trap demo_cleanup EXIT
lan_setup
RES_MOMENT=() RES_GAP=() RES_FO=() RES_DROP=()
echo "remusd fault trials: $TRIALS, seed $SEED"
START=$SECONDS
# bash reports each SIGKILLed daemon ("Killed"): expected here, not noise
# worth reading
[ -n "${REMUSD_TRIALS_SEED:-}" ] || trial 0 "$SEED" control 2> >(grep -v ' Killed ' >&2)
for i in $(seq 1 "$TRIALS"); do
	trial "$i" $(( SEED + i - 1 )) 2> >(grep -v ' Killed ' >&2)
done

python3 - "$TRIALS" "$(( SECONDS - START ))" "${RES_MOMENT[*]}" "${RES_GAP[*]}" "${RES_FO[*]}" "${RES_DROP[*]}" <<'PY'
import sys
n, secs = int(sys.argv[1]), int(sys.argv[2])
moments, gaps = sys.argv[3].split(), [float(x) for x in sys.argv[4].split()]
fo = [int(x) / 1000.0 for x in sys.argv[5].split()]
drop = [int(x) for x in sys.argv[6].split()]
print("summary: %d trials in %d s, violations 0" % (n, secs))
for m in sorted(set(moments)):
    idx = [i for i, x in enumerate(moments) if x == m]
    print("  %-15s %3d trials, partial checkpoints dropped in %d" % (m, len(idx), sum(1 for i in idx if drop[i])))
for name, v in (("failover (host-b, detect->running)", fo), ("client gap (last old -> first restored datagram)", gaps)):
    print("  %s: min %.1f ms, avg %.1f ms, max %.1f ms" % (name, min(v), sum(v) / len(v), max(v)))
PY
echo PASS
