# Shared by remusd_in_doubt.sh and remusd_in_doubt_auto.sh: an evacuation
# left at host B's "handover-started" hold point (remusd/hold.h).
# Sourced after remusd_lib.sh; the caller sets G and GUEST.

children() { ps -o pid= --ppid "$1" | wc -l; }

# pair [EVACUATE-OPTION...]: fresh daemons (B holding at handover-started),
# the counter guest protected from A to B, and an evacuation with the given
# options started in the background (EVAC_PID, its output in evacuate.out).
pair() {
	local p
	for p in ${PID_a:-} ${PID_b:-}; do kill -9 "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	rm -f "$TMPD"/[ab].sock "$TMPD"/handover-started.*
	ip -n "$NS_A" link set rep0 up
	ip -n "$NS_B" link set rep0 up
	# the link just came back up: wait (bounded) until A reaches B, or the
	# first connect can fail with "No route to host" while it settles
	for p in $(seq 20); do
		ip netns exec "$NS_A" ping -c 1 -W 1 "$IP_B" >/dev/null 2>&1 && break
	done
	write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
	write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
	start_daemon a
	REMUSD_HOLD="handover-started:$TMPD" start_daemon b
	ctl a start $G || fail "start"
	ctl a protect $G --wait 60 >/dev/null || fail "protect"
	wait_field b $G state replica-ready
	ctl a evacuate $G "$@" >"$TMPD/evacuate.out" 2>&1 &
	EVAC_PID=$!
	wait_file "$TMPD/handover-started.reached" 30
}
