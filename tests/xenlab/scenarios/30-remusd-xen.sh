#!/bin/bash
# The Xen driver's primary side on real Xen, in two phases on one guest
# (one domU boot: the lab's time budget):
#  A. our stream, Xen's receiver: remus-xen-send runs the driver's
#     save_stream (libxc's Remus loop with our callbacks, cooperative
#     suspend) into `xl migrate-receive -r`; SIGKILL of the sender and
#     destroy of the primary: Xen's receiver must fail over to our last
#     complete checkpoint and the guest's service (vif reconnected by the
#     guest) must answer from the replica.  Results prefixed xlrecv_.
#     The bytes our sender writes are captured on the receiving side (a tee
#     in front of xl, as scenario 20 does for xl's own streams) into dom0's
#     RAM (tmpfs: no emulated disk I/O while the figures are measured) and
#     moved to $OUT/streams/xen-send.stream after the failover, for the host
#     to judge with Xen's verify-stream-v2 and remus-stream (report.sh).
#     The tee is bigtee below: coreutils tee moves 8 KiB per read, and each
#     of its syscalls and wake-ups of xl costs a trip through Xen on the one
#     emulated dom0 vCPU (it tripled the time to the first checkpoint).
#  B. remusd protects that replica with its Xen driver, to a second remusd
#     on the same dom0 (own ports, control sockets and configs), under the
#     client's load; then SIGKILL of the primary daemon and destroy of the
#     primary domain: the backup daemon notices the lost link, libxc fails
#     over to the last complete checkpoint, the replica gets its devices
#     and runs, and the service answers again.
# The guest's disk is on a DRBD pair in dom0 (two resources on loop devices
# connected over 127.0.0.1, as scenario 50 makes them): the guest boots on
# the primary minor (phase A's replica too); in phase B both daemons run
# `diskrep = drbd`, the primary's remusd flushes the primary minor at every
# checkpoint, the backup's promotes the secondary minor at failover and
# gives the replica that minor (not the primary's path from xl's header).
# The kill models the primary host's death: the guest is paused, its DRBD
# link cut, its daemon killed, the domain destroyed.  The backup's lower
# disk is read right then: it must hold everything the primary's did
# (protocol C) and never be behind what the client saw (netbuf).
# The figures line up with scenario 10 (xl remus) in report.sh.
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-20}
D=/run/rxen
mkdir -p "$D"

# ---- the DRBD pair under the guest's disk (lib.sh: drbd_pair_up) ----
# domu_disk (lib.sh's, replaced): the pair, the primary minor Primary and
# both UpToDate before the guest boots on it.
domu_disk() { drbd_pair_up "$D"; }

# field HOST NAME: a number from `remusctl status domu --json` of daemon HOST.
field() { remusctl -s "$D/$1.sock" status domu --json 2>/dev/null | tr ',{}' '\n\n\n' |
	sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" | head -n 1; }

# conf HOST PORT NETBUF UNSAFE RESOURCE DEVICE: remus.conf of one daemon.  The heartbeat
# timeout is long because under emulation one dom0 vCPU runs both daemons
# and libxc on both sides (3 s of silence happened while the backup built
# the replica's memory); a killed primary is noticed at once anyway (the
# link closes).  The disk: this daemon's side of the DRBD pair.
conf() {
	cat >"$D/$1.conf" <<-EOF
	[global]
	listen_address = 127.0.0.1
	listen_port = $2
	key_file = $D/remus.key
	control_socket = $D/$1.sock
	log_level = info
	heartbeat_interval_ms = 200
	heartbeat_timeout_ms = 20000
	[guest domu]
	type = xen
	mem = 96M
	interval = $INTERVAL_MS
	netbuf = $3
	peer = 127.0.0.1:7576
	disk = $6
	diskrep = drbd
	drbd_resource = $5
	unsafe = $4
	compression = delta
	EOF
}

start_daemon() {
	remusd -c "$D/$1.conf" >>"$OUT/remusd-$1.log" 2>&1 &
	eval "pid_$1=$!"
	for _ in $(seq 100); do [ -S "$D/$1.sock" ] && return 0; sleep 0.1; done
	ts "remusd $1 has no control socket"; tail -n 20 "$OUT/remusd-$1.log"; return 1
}

stop_daemons() {
	for p in $pid_a $pid_b; do kill -9 "$p" 2>/dev/null; done
	rm -f "$D"/*.sock
}

# bigtee: tee with 1 MiB pipes and reads (argument: the capture file).
cat >"$D/bigtee.py" <<-'EOF'
	import fcntl, os, sys
	SIZE = 1 << 20
	for fd in (0, 1):
	    try:
	        fcntl.fcntl(fd, 1031, SIZE)   # F_SETPIPE_SZ
	    except OSError:
	        pass
	out = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
	while True:
	    data = os.read(0, SIZE)
	    if not data:
	        break
	    for fd in (out, 1):
	        view = memoryview(data)
	        while view:
	            view = view[os.write(fd, view):]
	EOF

# sent_checkpoints LOG: how many checkpoints the sender completed.
sent_checkpoints() { grep -c '^remus-xen-send: checkpoint ' "$1"; }

# protect_and_fail_over TAG CAPTURE FLAGS...: remus-xen-send into Xen's
# receiver (FLAGS: -R for the remote suspend), the stream tee'd into CAPTURE,
# measure (results prefixed TAG), kill the sender, destroy the primary, wait
# for the replica's service.  Returns non-zero when the service did not come
# back.
protect_and_fail_over() {
	local tag=$1 capture=$2; shift 2
	local log=$OUT/send.log primary t_start t_first n0 n1 t_end last_seen t_kill up
	primary=$(xl domid domu)
	t_start=$(now)
	setsid remus-xen-send "$@" -i "$INTERVAL_MS" domu \
		"python3 '$D/bigtee.py' '$capture' | exec xl -vvv migrate-receive -r -e" >"$log" 2>&1 &
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
	# The receiver logs each libxl record it processes; type 4 is
	# CHECKPOINT_END, after which it has applied the checkpoint (report.sh
	# compares this with the complete checkpoints in the capture).
	result "${tag}receiver_checkpoints_applied" "$(grep -c 'process_record: Record: 4,' "$log")"
	return "$up"
}

domu_up || { result check_domu_up FAIL; exit 1; }
client_poll "$OUT/client.log" & poller=$!
trap 'kill $poller 2>/dev/null; stop_daemons; drbd_teardown' EXIT

# ---- A: our stream into xl migrate-receive -r ----
ts "A: remus-xen-send (cooperative suspend) into xl migrate-receive -r"
WINDOW_S=${XLRECV_WINDOW_S:-15} protect_and_fail_over xlrecv_ "$D/xen-send.stream"; up=$?
result xlrecv_stream_bytes "$(stat -c %s "$D/xen-send.stream" 2>/dev/null || echo none)"
mkdir -p "$OUT/streams"
t0=$(now)
mv "$D/xen-send.stream" "$OUT/streams/" && result xlrecv_stream_moved_s "$(elapsed "$t0" "$(now)")"
check xlrecv_service_after_failover test "$up" -eq 0
[ "$up" -eq 0 ] || { failover_diag "$OUT/send.log"; exit 1; }
# xl names the replica domu--incoming and renames it domu once it can.
xl domid domu >/dev/null 2>&1 || xl rename domu--incoming domu
check xlrecv_replica_running domain_running domu

# ---- B: remusd to remusd ----
ts "B: remusd protects the replica"
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$D/remus.key"
chmod 600 "$D/remus.key"

# Network buffering with the plug backend on the guest's vif; if remusd
# cannot set it up here, record why and protect without it.
netbuf=plug
conf a 7575 plug drbd-disk-ahead $RES_A $DEV_A; conf b 7576 plug drbd-disk-ahead $RES_B $DEV_B
start_daemon b && start_daemon a || { result check_daemons FAIL; exit 1; }
remusctl -s "$D/a.sock" start domu || { result check_attach FAIL; exit 1; }
result remusctl_check "$(remusctl -s "$D/a.sock" check domu 2>&1 | tr '\n' ';')"
# the backup's DRBD minor is Secondary (it refuses opens): its size comes
# from sysfs, so the check does not call the disk missing
check peer_disk_judged remusctl -s "$D/a.sock" check domu
primary=$(xl domid domu)
t_start=$(now)
if ! out=$(remusctl -s "$D/a.sock" protect domu 2>&1); then
	ts "protect with netbuf=plug failed: $out"
	result netbuf "plug failed: $out"
	netbuf=none
	stop_daemons; sleep 1
	conf a 7575 none no-netbuf,drbd-disk-ahead $RES_A $DEV_A
	conf b 7576 none no-netbuf,drbd-disk-ahead $RES_B $DEV_B
	start_daemon b && start_daemon a || { result check_daemons FAIL; exit 1; }
	remusctl -s "$D/a.sock" start domu || { result check_attach FAIL; exit 1; }
	t_start=$(now)
	remusctl -s "$D/a.sock" protect domu --unsafe no-netbuf || { result check_protect FAIL; tail -n 30 "$OUT"/remusd-*.log; exit 1; }
else
	result netbuf "plug on vif$primary.0"
fi
result diskrep "drbd: primary $RES_A ($DEV_A), backup $RES_B ($DEV_B), protocol C over 127.0.0.1"

for _ in $(seq 600); do
	[ "$(field a acked)" -ge 1 ] 2>/dev/null && break
	kill -0 "$pid_a" 2>/dev/null || break
	sleep 0.5
done
if ! [ "$(field a acked)" -ge 1 ] 2>/dev/null; then
	ts "no first checkpoint"; remusctl -s "$D/a.sock" status domu; remusctl -s "$D/b.sock" status domu
	tail -n 30 "$OUT/remusd-a.log" "$OUT/remusd-b.log"
	result check_first_checkpoint FAIL; exit 1
fi
t_first=$(now)
result first_checkpoint_s "$(elapsed "$t_start" "$t_first")"
n0=$(field a acked)
b0=$(field a bytes); w0=$(field a wire_bytes)
sleep "$WINDOW_S"
n1=$(field a acked)
t_end=$(now)
result checkpoints_in_window "$((n1 - n0))"
result checkpoints_per_s "$(awk -v n=$((n1 - n0)) -v a="$t_first" -v b="$t_end" 'BEGIN { printf "%.2f", n / (b - a) }')"
result pause_ms "$(awk -v a="$(field a avg_pause_us)" -v m="$(field a max_pause_us)" 'BEGIN { printf "%.0f (max %.0f)", a / 1000, m / 1000 }')"
# Delta compression of the Xen stream (negotiated: compression = delta on
# both): libxc's bytes against what went on the link, in all and in the
# window (the first checkpoint, every page whole, dominates the total).
b1=$(field a bytes); w1=$(field a wire_bytes)
result stream_bytes "$b1"
result wire_bytes "$w1"
ratio_of() { awk -v w="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", w / b; else print "none" }'; }
result wire_per_stream "$(ratio_of "$w1" "$b1")"
result wire_per_stream_window "$(ratio_of "$((${w1:-0} - ${w0:-0}))" "$((${b1:-0} - ${b0:-0}))") ($((${b1:-0} - ${b0:-0})) stream bytes in the window)"
result primary_state "$(field a state)"
result backup_state "$(field b state)"
check checkpoints_seen test $((n1 - n0)) -ge 3
check primary_protected test "$(field a state)" = protected
result drbd_primary_status "$(remusctl -s "$D/a.sock" status domu --json 2>/dev/null | tr -d ' \n' | grep -o '"drbd":{[^}]*}')"
result drbd_epochs_marked "$(remusctl -s "$D/a.sock" status domu --json 2>/dev/null | tr -d ' \n' | grep -o '"epochs_marked":[0-9]*' | cut -d: -f2)"

# The primary host dies: its guest stops, its DRBD link and its daemon go,
# its domain is destroyed.  The backup's disk is read right then, below
# DRBD, before the backup can promote it.
last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
ts "failover: pause domid $primary, cut $RES_A, kill -9 remusd a ($pid_a), destroy; client last saw $last_seen"
xl pause "$primary"
drbdadm -c "$D/$RES_A.res" disconnect $RES_A >>"$OUT/drbd.log" 2>&1
disk_a=$(drbd_sector0 "$LA"); disk_b=$(drbd_sector0 "$LB")
# timed from the daemon's death, as scenario 10 times xl remus's (the pause,
# the cut and the disk reads before it are the test's model of one instant)
t_kill=$(now)
kill -9 "$pid_a"
xl destroy "$primary"
wait_service 240; up=$?
result failover_s "$(elapsed "$t_kill" "$(now)")"
first_after=$(counter)
result counter_before_failover "$last_seen"
result counter_after_failover "${first_after:-none}"
check service_after_failover test "$up" -eq 0
check backup_active test "$(field b state)" = active
check replica_named_domu domain_running domu
if [ "$netbuf" = plug ]; then
	check output_commit test "${first_after:-0}" -ge "${last_seen:-0}"
fi
# The disk: the counter in sector 0 (written every 4th step) on each side
# at the kill; the replica runs on the backup's minor, promoted.
result drbd_disk_counter_primary "${disk_a:-none}"
result drbd_disk_counter_backup "${disk_b:-none}"
check drbd_disk_replicated test -n "$disk_b" -a "$disk_b" = "$disk_a"
if [ "$netbuf" = plug ]; then
	# memory restored >= what the client saw; the disk is never behind the
	# memory checkpoint except by the write the guest had not issued yet
	check drbd_disk_not_behind test "${disk_b:-0}" -ge $(( ${last_seen:-0} / 4 * 4 - 4 ))
fi
result drbd_disk_minus_first_answer "$(( ${disk_b:-0} - ${first_after:-0} )) (the disk may be one epoch ahead of the restored memory: unsafe = drbd-disk-ahead)"
replica=$(xl domid domu 2>/dev/null || xl domid domu--backup 2>/dev/null)  # renamed once free
result drbd_replica_disk "$(xenstore-read "/local/domain/0/backend/vbd/$replica/51712/params" 2>/dev/null || echo none)"
check drbd_replica_on_backup_minor test "$(xenstore-read "/local/domain/0/backend/vbd/$replica/51712/params" 2>/dev/null)" = "$DEV_B"
check drbd_backup_promoted drbd_role $RES_B Primary
result drbd_backup_status "$(remusctl -s "$D/b.sock" status domu --json 2>/dev/null | tr -d ' \n' | grep -o '"drbd":{[^}]*}')"
grep -h 'diskrep\|drbd' "$OUT"/remusd-*.log | grep -v 'libxl: debug' | tail -n 10
xl list
[ "$fails" -eq 0 ] || { grep -v 'libxl: debug' "$OUT/remusd-a.log" | tail -n 30; grep -v 'libxl: debug' "$OUT/remusd-b.log" | tail -n 40; }
finish
