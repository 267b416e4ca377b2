#!/bin/bash
# The Xen driver's primary side with an HVM guest and its QEMU device
# model: remus-xen-send (save_stream: QMP stop / xen-save-devices-state /
# cont around each suspend, EMULATOR_XENSTORE_DATA and EMULATOR_CONTEXT in
# each checkpoint) into Xen's own receiver, `xl migrate-receive -r -e`,
# which restarts QEMU from our last EMULATOR_CONTEXT at failover.  SIGKILL
# of the sender, destroy of the primary: the replica's service must answer.
# Needs a dom0 image with qemu-system-xen (XENLAB_HVM=1); without it the
# scenario records why and passes without running.
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-15}
QEMU=/usr/libexec/xen-qemu-system-i386
DOMU_CFG=/etc/xen/domu-hvm.cfg
D=/run/rhvm
mkdir -p "$D"

if [ ! -x "$QEMU" ]; then
	result hvm_skipped "no $QEMU in this dom0 image (build the lab with XENLAB_HVM=1)"
	finish
fi

t0=$(now)
xl create "$DOMU_CFG" || { result check_hvm_created FAIL; exit 1; }
primary=$(xl domid domu)
if ! wait_service "${HVM_BOOT_WAIT_S:-240}"; then
	result hvm_boot_s "no answer after ${HVM_BOOT_WAIT_S:-240} s"
	tail -n 30 /var/log/xen/qemu-dm-domu.log 2>/dev/null
	tail -n 30 /var/log/xen/console/guest-domu.log 2>/dev/null
	exit 1
fi
result hvm_boot_s "$(elapsed "$t0" "$(now)")"
check hvm_qmp_socket test -S "/var/run/xen/qmp-libxl-$primary"
result hvm_physmap_entries "$(xenstore-list "/local/domain/0/device-model/$primary/physmap" 2>/dev/null | wc -l)"

# The device model's own share of a checkpoint, measured once outside the
# loop: stop, xen-save-devices-state (live false), cont over its QMP socket,
# as the driver sends them (milliseconds, and the state's size).
cat >"$D/qmp-time.py" <<-'PY'
	import json, os, socket, sys, time
	s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rw")
	def call(cmd, args=None):
	    msg = {"execute": cmd}
	    if args: msg["arguments"] = args
	    f.write(json.dumps(msg)); f.flush()
	    while True:
	        r = json.loads(f.readline())
	        if "event" not in r: return r
	json.loads(f.readline()); call("qmp_capabilities")
	t = time.monotonic()
	for c, a in (("stop", None), ("xen-save-devices-state", {"filename": sys.argv[2], "live": False}), ("cont", None)):
	    r = call(c, a)
	    if "error" in r: sys.exit("%s: %s" % (c, r["error"]))
	print("%.0f ms, %d bytes" % ((time.monotonic() - t) * 1e3, os.path.getsize(sys.argv[2])))
	PY
result hvm_qmp_stop_save_cont "$(python3 "$D/qmp-time.py" "/var/run/xen/qmp-libxl-$primary" "$D/qemu-state" 2>&1)"
rm -f "$D/qemu-state"

client_poll "$OUT/client.log" & poller=$!
trap 'kill $poller 2>/dev/null' EXIT

log=$OUT/send.log
t_start=$(now)
setsid remus-xen-send -i "$INTERVAL_MS" domu "exec xl -vvv migrate-receive -r -e" >"$log" 2>&1 &
sender=$!
for _ in $(seq 600); do
	grep -q '^remus-xen-send: checkpoint 1 ' "$log" && break
	kill -0 "$sender" 2>/dev/null || break
	sleep 0.5
done
if ! grep -q '^remus-xen-send: checkpoint 1 ' "$log"; then
	ts "no first checkpoint"; grep -v 'libxl: debug' "$log" | tail -n 40
	result check_hvm_first_checkpoint FAIL
	exit 1
fi
t_first=$(now)
result hvm_first_checkpoint_s "$(elapsed "$t_start" "$t_first")"
n0=$(grep -c '^remus-xen-send: checkpoint ' "$log")
# At least WINDOW_S seconds and 3 more checkpoints (a pause takes seconds
# under emulation), at most 180 s.
for _ in $(seq 360); do
	n1=$(grep -c '^remus-xen-send: checkpoint ' "$log")
	awk -v n="$(now)" -v a="$t_first" -v w="$WINDOW_S" 'BEGIN { exit !(n - a >= w) }' &&
		[ "$n1" -ge $((n0 + 3)) ] && break
	kill -0 "$sender" 2>/dev/null || break
	sleep 0.5
done
result hvm_checkpoints_per_s "$(awk -v n=$((n1 - n0)) -v a="$t_first" -v b="$(now)" 'BEGIN { printf "%.2f", n / (b - a) }')"
result hvm_pause_ms "$(grep '^remus-xen-send: checkpoint ' "$log" | sed -n "$((n0 + 1)),${n1}p" |
	awk '{ s += $7; if ($7 > m) m = $7 } END { if (NR) printf "%.0f (max %.0f)", s / NR, m }')"
check hvm_sender_running kill -0 "$sender"
check hvm_checkpoints_seen test $((n1 - n0)) -ge 3
# libxl logs each record it processes: 3 is EMULATOR_CONTEXT, 4 CHECKPOINT_END.
result hvm_receiver_emulator_contexts "$(grep -c 'process_record: Record: 3,' "$log")"
result hvm_receiver_checkpoints_applied "$(grep -c 'process_record: Record: 4,' "$log")"

ts "failover: kill -9 remus-xen-send ($sender), destroy primary domid $primary; client last saw $(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)"
t_kill=$(now)
kill -9 "$sender"
xl destroy "$primary"
wait_service "${FAILOVER_WAIT_S:-240}"; up=$?
result hvm_failover_s "$(elapsed "$t_kill" "$(now)")"
result hvm_service_after_failover "$([ "$up" -eq 0 ] && echo "answers ($(counter))" || echo "no answer")"
grep -q 'Remus Failover' "$log" && result hvm_receiver "failed over (xl: Remus Failover)"
check hvm_service_after_failover test "$up" -eq 0
[ "$up" -eq 0 ] || { grep -v 'libxl: debug' "$log" | tail -n 40; tail -n 20 /var/log/xen/qemu-dm-domu*.log; }
xl domid domu >/dev/null 2>&1 || xl rename domu--incoming domu
check hvm_replica_running domain_running domu
check hvm_replica_has_qemu test -S "/var/run/xen/qmp-libxl-$(xl domid domu)"
[ "$fails" -eq 0 ] || finish

# ---- B: remusd to remusd (the backup through libxl's own restore) ----
# Phase A's replica, with its QEMU, is protected by remusd a to remusd b on
# this dom0 (type = xen; no disk: unsafe = no-diskrep; plug netbuf on its
# vif, or none with the reason recorded).  remusd b sees the device model
# in xl's header and forwards whole checkpoints through the gate into
# libxl_domain_create_restore.  SIGKILL of remusd a, destroy of the
# primary: libxl fails over, starts QEMU for the replica domu--backup
# from the last EMULATOR_CONTEXT, remusd b unpauses it; its service must
# answer.
ts "B: remusd protects the HVM guest (domid $(xl domid domu)) to remusd"
trap 'kill $poller 2>/dev/null; rxen_stop' EXIT
export RXEN_MEM=128M
netbuf=plug
rxen_conf a 7575 plug no-diskrep; rxen_conf b 7576 plug no-diskrep
rxen_start b && rxen_start a || { result check_b_daemons FAIL; exit 1; }
remusctl -s "$RXEN/a.sock" start domu || { result check_b_attach FAIL; exit 1; }
result b_remusctl_check "$(remusctl -s "$RXEN/a.sock" check domu 2>&1 | tr '\n' ';')"
primary=$(xl domid domu)
t_start=$(now)
if ! out=$(remusctl -s "$RXEN/a.sock" protect domu --unsafe no-diskrep 2>&1); then
	ts "protect with netbuf=plug failed: $out"
	result b_netbuf "plug failed: ${out:0:200}"
	netbuf=none
	rxen_stop; sleep 1
	rxen_conf a 7575 none no-netbuf,no-diskrep; rxen_conf b 7576 none no-netbuf,no-diskrep
	rxen_start b && rxen_start a || { result check_b_daemons FAIL; exit 1; }
	remusctl -s "$RXEN/a.sock" start domu || { result check_b_attach FAIL; exit 1; }
	t_start=$(now)
	if ! out=$(remusctl -s "$RXEN/a.sock" protect domu --unsafe no-netbuf,no-diskrep 2>&1); then
		result check_b_protect FAIL; ts "protect: $out"; tail -n 30 "$OUT"/remusd-*.log; exit 1
	fi
else
	result b_netbuf "plug on vif$primary.0"
fi
if ! rxen_wait_acked a 1 300; then
	ts "no first checkpoint"; grep -v 'libxl: debug' "$OUT/remusd-a.log" | tail -n 30
	grep -v 'libxl: debug' "$OUT/remusd-b.log" | tail -n 40
	result check_b_first_checkpoint FAIL; exit 1
fi
t_first=$(now)
result b_first_checkpoint_s "$(elapsed "$t_start" "$t_first")"
n0=$(rxen_field a acked)
# At least WINDOW_S seconds and 3 more acknowledged checkpoints, at most 180 s.
for _ in $(seq 360); do
	n1=$(rxen_field a acked)
	awk -v n="$(now)" -v a="$t_first" -v w="$WINDOW_S" 'BEGIN { exit !(n - a >= w) }' &&
		[ "${n1:-0}" -ge $((n0 + 3)) ] && break
	kill -0 "$rxen_pid_a" 2>/dev/null || break
	sleep 0.5
done
n1=$(rxen_field a acked)
result b_checkpoints_in_window "$((n1 - n0))"
result b_checkpoints_per_s "$(awk -v n=$((n1 - n0)) -v a="$t_first" -v b="$(now)" 'BEGIN { printf "%.2f", n / (b - a) }')"
result b_pause_ms "$(awk -v a="$(rxen_field a avg_pause_us)" -v m="$(rxen_field a max_pause_us)" 'BEGIN { printf "%.0f (max %.0f)", a / 1000, m / 1000 }')"
result b_primary_state "$(rxen_field a state)"
result b_backup_state "$(rxen_field b state)"
result b_backup_checkpoints "$(rxen_field b checkpoints)"
check b_checkpoints_seen test $((n1 - n0)) -ge 3
check b_primary_protected test "$(rxen_field a state)" = protected

last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
ts "B failover: kill -9 remusd a ($rxen_pid_a), destroy primary domid $primary; client last saw $last_seen"
t_kill=$(now)
kill -9 "$rxen_pid_a"
xl destroy "$primary"
wait_service "${FAILOVER_WAIT_S:-240}"; up=$?
result b_failover_s "$(elapsed "$t_kill" "$(now)")"
first_after=$(counter)
result b_counter_before_failover "$last_seen"
result b_counter_after_failover "${first_after:-none}"
# remusd gives the replica the guest's name once the old primary is gone
for _ in $(seq 60); do xl domid domu >/dev/null 2>&1 && break; sleep 0.5; done
replica=$(xl domid domu 2>/dev/null || xl domid domu--backup 2>/dev/null)
result b_replica "$(xl list | awk -v d="${replica:-x}" '$2 == d { print $1 }') (domid ${replica:-none})"
result b_replica_qemu "$(pgrep -a -f "xen-domid ${replica:-none} " | cut -c1-160 || echo none)"
check b_service_after_failover test "$up" -eq 0
check b_backup_active test "$(rxen_field b state)" = active
check b_replica_named_domu domain_running domu
check b_replica_qmp_socket test -S "/var/run/xen/qmp-libxl-${replica:-none}"
check b_replica_qemu_process pgrep -f "xen-domid ${replica:-none} "
if [ "$netbuf" = plug ]; then
	check b_output_commit test "${first_after:-0}" -ge "${last_seen:-0}"
fi
xl list
if [ "$fails" -ne 0 ]; then
	grep -v 'libxl: debug' "$OUT/remusd-a.log" | tail -n 30
	grep -v 'libxl: debug' "$OUT/remusd-b.log" | tail -n 60
	tail -n 20 /var/log/xen/qemu-dm-domu--backup.log /var/log/xen/qemu-dm-domu.log 2>/dev/null
fi
finish
