#!/bin/bash
# Scenario 40: `xl remus` of the PVH guest into remus's own receiver
# (remus-xl-receive: the Xen driver's restore_stream behind xl's receiver
# protocol) instead of `xl migrate-receive -r`.  Checkpoints flow for a
# measurement window, then the sender is killed and the primary destroyed:
# the replica must resume from the last complete checkpoint, get its vif and
# disk through libxl, and the guest's service must answer again.
# FAILOVER=stop (default): the sender is stopped (SIGSTOP of xl and its save
# helper, the primary paused), not killed: the stream stays open but falls
# silent, and the receiver must fail over on silence (-t: 10 x -i = 5 s).
# The old primary still holds the name "domu" then: the replica keeps
# "domu--backup" until the primary is destroyed, then takes "domu".
# FAILOVER=kill: SIGKILL + destroy (the stream ends; the name is free).
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-20}
FAILOVER=${FAILOVER:-stop}
BACKUP=domu--backup

domu_up || { result check_domu_up FAIL; exit 1; }
client_poll "$OUT/client.log" & poller=$!
trap 'kill $poller 2>/dev/null' EXIT
primary=$(xl domid domu)

# xl runs the receiver command with `sh -c` (-s ''), stdin/stdout its pipes;
# -n -d: netbuf and DRBD are off as in scenario 10 (see docs/xenlab.md).
ts "xl remus -n -d into remus-xl-receive"
t_start=$(now)
setsid xl -vvv remus -F -n -d -i "$INTERVAL_MS" -s '' domu \
	"exec remus-xl-receive -v -i $INTERVAL_MS -s $OUT/receiver.stats 2>>$OUT/receiver.log" \
	>"$OUT/remus.log" 2>&1 &
remus_pid=$!

# stats_count: complete checkpoints the receiver has staged and handed over.
stats_count() { awk '$1 == "checkpoint" { n++ } END { print n + 0 }' "$OUT/receiver.stats" 2>/dev/null || echo 0; }
for _ in $(seq 600); do
	[ "$(stats_count)" -ge 1 ] && break
	kill -0 "$remus_pid" 2>/dev/null || break
	sleep 0.5
done
if [ "$(stats_count)" -lt 1 ]; then
	ts "no checkpoint reached the receiver"
	result check_first_checkpoint FAIL
	remus_log_tail "$OUT/remus.log"; tail -n 30 "$OUT/receiver.log"
	exit 1
fi
t_first=$(now)
result first_checkpoint_s "$(elapsed "$t_start" "$t_first")"
n0=$(stats_count)
x0=$(grep -c 'Checkpointed save' "$OUT/remus.log")
sleep "$WINDOW_S"
n1=$(stats_count)
x1=$(grep -c 'Checkpointed save' "$OUT/remus.log")
t_end=$(now)
result checkpoints_in_window "$((n1 - n0)) (xl sent $((x1 - x0)))"
result checkpoints_per_s "$(awk -v n=$((n1 - n0)) -v a="$t_first" -v b="$t_end" 'BEGIN { printf "%.2f", n / (b - a) }')"
result pages_per_checkpoint "$(checkpoint_pages_mean "$OUT/remus.log" "$x0" "$x1")"
check remus_running kill -0 "$remus_pid"
check checkpoints_seen test $((n1 - n0)) -ge 3

if [ "$FAILOVER" = kill ]; then
	kill_xl_remus
else
	# the save helper writes the stream; stop it and xl, pause the primary
	# (so only one copy runs), and keep the name "domu" on it
	last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
	# xl's children: the save helper and the receiver's shell (left running)
	helper=$(for f in /proc/[0-9]*/stat; do read -r pid comm _ ppid _ <"$f" 2>/dev/null &&
		[ "$ppid" = "$remus_pid" ] && case $comm in *save*) echo "$pid";; esac; done | tr '\n' ' ')
	ts "failover: kill -STOP xl remus ($remus_pid) and its helper ($helper), pause primary $primary; client last saw $last_seen"
	t_kill=$(now)
	kill -STOP "$remus_pid" $helper
	xl pause "$primary"
fi
# The receiver ends with a "failover" or an "error" line in its stats.
for _ in $(seq 480); do grep -q '^failover \|^error ' "$OUT/receiver.stats" && break; sleep 0.5; done
t_resumed=$(now)
check receiver_failed_over grep -q 'resumed from checkpoint' "$OUT/receiver.log"
applied=$(sed -n 's/.*failover to checkpoint \([0-9]*\).*/\1/p' "$OUT/receiver.log")
result checkpoints_applied "${applied:-none} (xl sent $(grep -c 'Checkpointed save' "$OUT/remus.log"))"
result replica_resumed_s "$(elapsed "$t_kill" "$t_resumed")"
result stream_end "$(sed -n 's/^failover [^ ]* [^ ]* [^ ]* [^ ]* //p' "$OUT/receiver.stats")"
# where the failover went, each step's seconds (stats: phase STEP SECONDS AT)
result failover_steps "$(awk '$1 == "phase" { printf "%s%s %s", s, $2, $3; s = ", " }' "$OUT/receiver.stats")"
if [ "$FAILOVER" != kill ]; then
	check failover_on_silence grep -q '^failover .* silence$' "$OUT/receiver.stats"
	# the old primary still holds "domu": the replica keeps its name
	check name_kept_while_primary_exists domain_running "$BACKUP"
	ts "destroy the stopped primary $primary, kill -9 xl remus"
	xl destroy "$primary"
	kill -9 "$remus_pid" $helper 2>/dev/null
fi
for _ in $(seq 120); do grep -q '^name ' "$OUT/receiver.stats" && break; sleep 0.5; done
result replica_name "$(sed -n 's/^name //p' "$OUT/receiver.stats")"
check replica_named_domu grep -qx 'name domu' "$OUT/receiver.stats"
[ "$FAILOVER" = kill ] || check name_kept_warning grep -q 'is still named .domu.' "$OUT/receiver.log"
wait_service 240; up=$?
t_up=$(now)
check service_after_failover test "$up" -eq 0
first_after=$(counter)
result failover_s "$(elapsed "$t_kill" "$t_up")"
result counter_before_failover "$last_seen"
result counter_after_failover "${first_after:-none}"
BACKUP=domu
check backup_running domain_running "$BACKUP"
# The replica's devices came through libxl: its vif is on the bridge.
backup_id=$(xl domid "$BACKUP" 2>/dev/null)
check backup_vif_on_bridge test -e "/sys/class/net/xenbr0/brif/vif${backup_id:-none}.0"
xl list
xl network-list "$BACKUP" 2>&1 | tail -n +1
xl block-list "$BACKUP" 2>&1 | tail -n +1
# For diagnosis: the replica's console after failover and its xenstore home.
cp "/var/log/xen/console/guest-$BACKUP.log" "$OUT/backup-console.log" 2>/dev/null
xenstore-ls -fp "/local/domain/${backup_id:-none}" >"$OUT/backup-xenstore.txt" 2>&1
sed -n '1,5p;/failover/,$p' "$OUT/receiver.log" | grep -v 'checkpoint [0-9]* complete' | tail -n 30
[ "$fails" -eq 0 ] || { remus_log_tail "$OUT/remus.log"; tail -n 20 /var/log/xen/console/guest-$BACKUP.log 2>/dev/null; }
finish
