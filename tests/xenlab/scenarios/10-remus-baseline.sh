#!/bin/bash
# Scenario 1, the baseline: `xl remus` of the PVH guest to localhost with
# network output buffering (no -n; DRBD is off, -d: see docs/xenlab.md), a
# measurement window, then a failover by killing the sender and destroying
# the primary.  A client polls the guest's counter throughout: with output
# buffering it must never see the counter go back after the failover.
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-20}

domu_up || { result check_domu_up FAIL; exit 1; }
client_poll "$OUT/client.log" & poller=$!
trap 'kill $poller 2>/dev/null' EXIT

primary=$(xl domid domu)
# start_remus FLAGS...: xl remus to localhost in the background (-F: unsafe
# mode, needed by -d/-n; -s '': run the receiver command without ssh).
start_remus() {
	t_start=$(now)
	setsid xl -vvv remus -F "$@" -i "$INTERVAL_MS" -s '' domu 'xl -vvv migrate-receive -r -e' \
		>"$OUT/remus.log" 2>&1 &
	remus_pid=$!
}
# Network buffering first; Debian's libxenlight is built without it, and then
# xl refuses at once: record why and fall back to -n.
ts "xl remus -d (network buffering on)"
start_remus -d
for _ in $(seq 60); do kill -0 "$remus_pid" 2>/dev/null || break; sleep 0.5; done
if ! kill -0 "$remus_pid" 2>/dev/null; then
	reason=$(grep -m1 -i 'netbuf\|network buffering' "$OUT/remus.log" || tail -n 1 "$OUT/remus.log")
	ts "xl remus with network buffering exited: $reason"
	cp "$OUT/remus.log" "$OUT/remus-netbuf.log"
	xl destroy domu--incoming 2>/dev/null
	result netbuf "unsupported"
	ts "xl remus -n -d (network buffering off)"
	start_remus -n -d
	netbuf=off
else
	result netbuf on
	netbuf=on
fi
# The first checkpoint is the full copy: wait for the backup to appear.
for _ in $(seq 600); do xl list domu--incoming >/dev/null 2>&1 && break; sleep 0.5; done
ts "backup domain created after $(elapsed "$t_start" "$(now)") s"
# ... and for the first checkpoint to complete (the window measures steady state).
for _ in $(seq 600); do grep -q 'Checkpointed save' "$OUT/remus.log" && break; sleep 0.5; done
t_first=$(now)
result first_checkpoint_s "$(elapsed "$t_start" "$t_first")"
n0=$(grep -c 'Checkpointed save' "$OUT/remus.log")
sleep "$WINDOW_S"
n1=$(grep -c 'Checkpointed save' "$OUT/remus.log")
t_end=$(now)
result checkpoints_in_window "$((n1 - n0))"
result pages_per_checkpoint "$(checkpoint_pages_mean "$OUT/remus.log" "$n0" "$n1")"
result checkpoints_per_s "$(awk -v n=$((n1 - n0)) -v a="$t_first" -v b="$t_end" 'BEGIN { printf "%.2f", n / (b - a) }')"
check remus_running kill -0 "$remus_pid"
check checkpoints_seen test $((n1 - n0)) -ge 3

kill_xl_remus
wait_service 240; up=$?
t_up=$(now)
check service_after_failover test "$up" -eq 0
first_after=$(counter)
result failover_s "$(elapsed "$t_kill" "$t_up")"
result counter_before_failover "$last_seen"
result counter_after_failover "${first_after:-none}"
if [ "$netbuf" = on ]; then
	check output_commit test "${first_after:-0}" -ge "${last_seen:-0}"
elif [ "${first_after:-0}" -lt "${last_seen:-0}" ]; then
	result output_went_back "yes (no netbuf: the client saw state the backup never had)"
else
	result output_went_back no
fi
check backup_running domain_running domu--incoming
xl list
[ "$fails" -eq 0 ] || remus_log_tail "$OUT/remus.log"
finish
