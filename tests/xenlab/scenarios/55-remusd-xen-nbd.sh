#!/bin/bash
# A Xen guest's disk replicated epoch by epoch by remusd itself (issue 22:
# diskrep = builtin with nbd_device), on real Xen: remusd a serves
# /root/nbd-a.img to dom0's kernel as /dev/nbd0 from its start on, the PVH
# guest boots on phy /dev/nbd0 (blkback); remusd b serves its own image
# /root/nbd-b.img as /dev/nbd1, read-only while it holds the replica.
# remusd a protects the guest to b (plug netbuf on its vif): a resync of
# b's image by block hashes, then every write travels in its checkpoint's
# epoch and b applies it only when the checkpoint is whole.  Then the
# primary host freezes (FAILOVER_MODE=freeze, the default: the guest paused
# and remusd a SIGSTOPped, so its link stays open and silent, no FIN; issue
# 22 item 4) or dies as in scenario 30 (FAILOVER_MODE=kill: SIGKILL, domain
# destroyed); b fails over, by the heartbeat timeout when frozen: the
# replica's disk is /dev/nbd1, switched to read-write through b's own
# primary handle, and the service answers.
# Checked: the device bound at start, b's device refusing writes before
# the failover, epochs marked on a and committed on b, the replica's vbd on
# /dev/nbd1, the counter never behind what the client saw, b's disk never
# ahead of a's at the kill (the unacknowledged epoch's writes are dropped),
# b's device writable after it.
# Not in the default `make xenlab-check` run (its 15-minute budget is spent):
# XENLAB_SCENARIOS='55*' make xenlab-check runs it.
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-5}
MODE=${FAILOVER_MODE:-freeze}

# sector0 IMAGE: the counter last written to sector 0 of an image file (read
# through dom0's page cache, which remusd's own writes go through; dom0's
# root takes no O_DIRECT).
sector0() { dd if="$1" bs=512 count=1 2>/dev/null | tr -d '\0' | head -n 1; }

# the images remusd serves: a's the guest's disk, b's a different one
# (the protection resyncs it)
for s in a b; do rm -f "/root/nbd-$s.img"; truncate -s 16M "/root/nbd-$s.img"; done
echo stale | dd of=/root/nbd-b.img bs=512 count=1 conv=sync,notrunc 2>/dev/null
modprobe nbd nbds_max=4 2>/dev/null
check nbd_module test -e /sys/block/nbd0
# domu_disk (lib.sh's, replaced): the disk is remusd a's device
domu_disk() { :; }
mkdir -p "$RXEN"
sed "s|target=/dev/loop0|target=/dev/nbd0|" /etc/xen/domu.cfg >"$RXEN/domu.cfg"
DOMU_CFG=$RXEN/domu.cfg
trap 'rxen_stop; for d in $(xl list | awk "NR > 2 { print \$2 }"); do xl destroy $d; done; nbd-client -d /dev/nbd0; nbd-client -d /dev/nbd1' EXIT

rxen_conf a 7575 plug none
rxen_conf b 7576 plug none
printf 'disk = /root/nbd-a.img\nnbd_device = /dev/nbd0\n' >>"$RXEN/a.conf"
printf 'disk = /root/nbd-b.img\nnbd_device = /dev/nbd1\n' >>"$RXEN/b.conf"
t0=$(now)
rxen_start b && rxen_start a || { result check_daemons FAIL; exit 1; }
for _ in $(seq 100); do [ -s /sys/block/nbd0/pid ] && [ -s /sys/block/nbd1/pid ] && break; sleep 0.1; done
result nbd_bound_s "$(elapsed "$t0" "$(now)")"
check nbd0_bound test -s /sys/block/nbd0/pid
check nbd1_bound test -s /sys/block/nbd1/pid
grep -h 'served as' "$OUT"/remusd-*.log | tail -n 2

domu_up || { result check_domu_up FAIL; tail -n 20 "$OUT"/remusd-a.log; exit 1; }
client_poll "$OUT/client.log" & poller=$!
trap 'kill $poller 2>/dev/null; rxen_stop; for d in $(xl list | awk "NR > 2 { print \$2 }"); do xl destroy $d; done; nbd-client -d /dev/nbd0; nbd-client -d /dev/nbd1' EXIT
primary=$(xl domid domu)
remusctl -s "$RXEN/a.sock" start domu || { result check_attach FAIL; exit 1; }
result remusctl_check "$(remusctl -s "$RXEN/a.sock" check domu 2>&1 | tr '\n' ';')"
result nbd_route_primary "$(rxen_field a route)"
check primary_route_replicated test "$(rxen_field a route)" = replicated
t_start=$(now)
if ! out=$(remusctl -s "$RXEN/a.sock" protect domu 2>&1); then
	result check_protect FAIL; ts "protect: $out"; tail -n 30 "$OUT"/remusd-*.log; exit 1
fi
if ! rxen_wait_acked a 1 300; then
	ts "no first checkpoint"; tail -n 30 "$OUT/remusd-a.log" "$OUT/remusd-b.log"
	result check_first_checkpoint FAIL; exit 1
fi
result first_checkpoint_s "$(elapsed "$t_start" "$(now)")"
result sync_disk_total "$(rxen_field a sync_disk_total)"
result sync_disk_blocks "$(rxen_field a sync_disk_blocks)"
check resync_compared_the_disk test "$(rxen_field a sync_disk_total)" -eq $((16 << 20))
# the backup's device: the replica's image, nobody else writes it
check backup_route_read_only test "$(rxen_field b route)" = read-only
check backup_device_refuses_writes bash -c '! echo x | dd of=/dev/nbd1 bs=512 count=1 conv=sync,notrunc oflag=direct 2>/dev/null'
sleep "$WINDOW_S"       # checkpoints under the client's load
n_acked=$(rxen_field a acked)
result acked_before_kill "$n_acked"
result epochs_marked "$(rxen_field a epochs_marked)"
result epochs_committed "$(rxen_field b epochs_committed)"
result disk_writes_primary "$(rxen_field a writes)"
check primary_protected test "$(rxen_field a state)" = protected
check epochs_committed test "$(rxen_field b epochs_committed)" -ge 2

# The primary host freezes or dies; the disks are read below remusd then.
last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
ts "failover ($MODE): pause domid $primary, $MODE remusd a ($rxen_pid_a); client last saw $last_seen"
result failover_mode "$MODE (heartbeat_timeout_ms = $(sed -n 's/^heartbeat_timeout_ms = //p' "$RXEN/b.conf"))"
xl pause "$primary"
disk_a=$(sector0 /root/nbd-a.img); disk_b=$(sector0 /root/nbd-b.img)
t_kill=$(now)
if [ "$MODE" = freeze ]; then
	kill -STOP "$rxen_pid_a"        # its link open and silent: no FIN, no RST
else
	kill -9 "$rxen_pid_a"
	xl destroy "$primary"
fi
wait_service 240; up=$?
result failover_s "$(elapsed "$t_kill" "$(now)")"
result backup_judged "$(grep -o 'failing over: .*' "$OUT/remusd-b.log" | tail -n 1)"
if [ "$MODE" = freeze ]; then
	check failover_by_silence grep -q 'failing over: .*peer silent' "$OUT/remusd-b.log"
	check frozen_primary_still_paused bash -c "xl list $primary | awk 'NR == 2 { exit !(\$5 ~ /p/) }'"
fi
first_after=$(counter)
result counter_before_failover "$last_seen"
result counter_after_failover "${first_after:-none}"
result disk_counter_primary "${disk_a:-none}"
result disk_counter_backup "${disk_b:-none}"
check service_after_failover test "$up" -eq 0
check backup_active test "$(rxen_field b state)" = active
check output_commit test "${first_after:-0}" -ge "${last_seen:-0}"
# b holds a's disk as of the last acknowledged checkpoint: never ahead of a
check disk_not_ahead test "${disk_b:-0}" -le "${disk_a:-0}"
check disk_resynced test "$disk_b" != stale      # a's sector 0 replaced b's
replica=$(xl domid domu--backup 2>/dev/null || xl domid domu 2>/dev/null)  # frozen: the primary keeps the name
result replica_disk "$(xenstore-read "/local/domain/0/backend/vbd/$replica/51712/params" 2>/dev/null || echo none)"
check replica_on_backup_device test "$(xenstore-read "/local/domain/0/backend/vbd/$replica/51712/params" 2>/dev/null)" = /dev/nbd1
result nbd_route_backup_after "$(rxen_field b route)"
check backup_route_replicated test "$(rxen_field b route)" = replicated
sleep 3                 # the restored guest writes its disk through b's handle
result disk_writes_backup_after "$(rxen_field b writes)"
xl list
[ "$fails" -eq 0 ] || { grep -v 'libxl: debug' "$OUT/remusd-a.log" | tail -n 30; grep -v 'libxl: debug' "$OUT/remusd-b.log" | tail -n 40; }
finish
