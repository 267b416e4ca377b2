#!/bin/bash
# Our Xen driver's stream, Xen's receiver: remus-xen-send runs the driver's
# save_stream (libxc's Remus loop with our callbacks, cooperative suspend) of
# the PVH guest into `xl migrate-receive -r` on localhost, a measurement
# window, then SIGKILL of the sender and destroy of the primary: Xen's
# receiver must fail over to our last complete checkpoint and the guest's
# service (vif reconnected by the guest) must answer from the replica.
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-20}
# 1: afterwards also try the remote (non-cooperative) suspend, to observe
# whether the replica's PV devices come back (docs/xen.md).
OBSERVE_REMOTE=${OBSERVE_REMOTE:-0}

# sent_checkpoints LOG: how many checkpoints the sender completed.
sent_checkpoints() { grep -c '^remus-xen-send: checkpoint ' "$1"; }

# protect_and_fail_over TAG FLAGS...: protect, measure (TAG_ prefixed results
# for the remote variant), kill the sender, destroy the primary, wait for the
# replica's service.  Returns non-zero when the service did not come back.
protect_and_fail_over() {
	local tag=$1; shift
	local log=$OUT/send$tag.log primary t_start t_first n0 n1 t_end last_seen t_kill up
	primary=$(xl domid domu)
	t_start=$(now)
	setsid remus-xen-send "$@" -i "$INTERVAL_MS" domu 'exec xl -vvv migrate-receive -r -e' \
		>"$log" 2>&1 &
	sender=$!
	for _ in $(seq 600); do
		grep -q '^remus-xen-send: checkpoint 1 ' "$log" && break
		kill -0 "$sender" 2>/dev/null || break
		sleep 0.5
	done
	if ! grep -q '^remus-xen-send: checkpoint 1 ' "$log"; then
		ts "no first checkpoint"; grep -v 'libxl: debug' "$log" | tail -n 30
		return 1
	fi
	t_first=$(now)
	result "${tag}first_checkpoint_s" "$(elapsed "$t_start" "$t_first")"
	n0=$(sent_checkpoints "$log")
	sleep "$WINDOW_S"
	n1=$(sent_checkpoints "$log")
	t_end=$(now)
	result "${tag}checkpoints_in_window" "$((n1 - n0))"
	result "${tag}checkpoints_per_s" "$(awk -v n=$((n1 - n0)) -v a="$t_first" -v b="$t_end" 'BEGIN { printf "%.2f", n / (b - a) }')"
	result "${tag}pause_ms" "$(grep '^remus-xen-send: checkpoint ' "$log" | sed -n "$((n0 + 1)),${n1}p" |
		awk '{ s += $7; if ($7 > m) m = $7 } END { if (NR) printf "%.0f (max %.0f)", s / NR, m }')"
	check "${tag}sender_running" kill -0 "$sender"
	check "${tag}checkpoints_seen" test $((n1 - n0)) -ge 3
	last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
	ts "failover: kill -9 remus-xen-send ($sender), destroy primary domid $primary; client last saw $last_seen"
	t_kill=$(now)
	kill -9 "$sender"
	xl destroy "$primary"
	wait_service "${FAILOVER_WAIT_S:-240}"; up=$?
	result "${tag}failover_s" "$(elapsed "$t_kill" "$(now)")"
	result "${tag}service_after_failover" "$([ "$up" -eq 0 ] && echo "answers ($(counter))" || echo "no answer")"
	grep -q 'Remus Failover' "$log" && result "${tag}receiver" "failed over (xl: Remus Failover)"
	return "$up"
}

domu_up || { result check_domu_up FAIL; exit 1; }
client_poll "$OUT/client.log" & poller=$!
trap 'kill $poller 2>/dev/null' EXIT

ts "remus-xen-send (cooperative suspend) into xl migrate-receive -r"
protect_and_fail_over "" ; up=$?
check service_after_failover test "$up" -eq 0
# xl names the replica domu--incoming, and renames it domu once it can.
check backup_running eval 'domain_running domu--incoming || domain_running domu'
xl list
[ "$up" -eq 0 ] || { grep -v 'libxl: debug' "$OUT/send.log" | tail -n 40; tail -n 30 /var/log/xen/console/guest-domu--incoming.log 2>/dev/null; }

if [ "$OBSERVE_REMOTE" = 1 ]; then
	xl destroy domu--incoming 2>/dev/null; xl destroy domu 2>/dev/null
	if domu_up; then
		ts "remus-xen-send -R (remote suspend), observation only"
		WINDOW_S=10 FAILOVER_WAIT_S=90 protect_and_fail_over remote_ -R
		xl list
		tail -n 30 /var/log/xen/console/guest-domu--incoming.log 2>/dev/null
	fi
fi
finish
