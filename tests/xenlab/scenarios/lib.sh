# Helpers shared by the lab scenarios (sourced in dom0; $1 of a scenario is its
# output folder on the I/O disk).
OUT=${1:?usage: scenario OUTDIR}
DOMU_IP=10.77.0.2
DOMU_CFG=/etc/xen/domu.cfg
fails=0

# now: seconds since dom0 boot, with centiseconds (monotonic, cheap).
now() { cut -d' ' -f1 /proc/uptime; }
ts() { echo "XENLAB [$(now)s] $*"; }
# result KEY VALUE: one line of the scenario's results table.
result() { echo "$1 $2" >>"$OUT/results"; sync "$OUT/results"; ts "result $1 = $2"; }
# check NAME CONDITION-COMMAND...: record a named pass/fail assertion.
check() {
	local name=$1; shift
	if "$@"; then result "check_$name" ok; else result "check_$name" FAIL; fails=$((fails + 1)); fi
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# counter: the domU service's counter value, or nothing when it did not
# answer completely (the body comes after the blank line ending the headers).
counter() {
	timeout 5 bash -c "exec 3<>/dev/tcp/$DOMU_IP/80 && printf 'GET /cgi-bin/counter HTTP/1.0\r\n\r\n' >&3 && cat <&3" \
		2>/dev/null | tr -d '\r' | awk 'body && /^[0-9]+$/ { print; exit } /^$/ { body = 1 }'
}

# wait_service SECONDS: wait until the domU service answers; 0 when it did.
wait_service() {
	local until_t v
	until_t=$(awk -v n="$(now)" -v s="$1" 'BEGIN { print n + s }')
	while awk -v n="$(now)" -v u="$until_t" 'BEGIN { exit !(n < u) }'; do
		v=$(counter)
		[ -n "$v" ] && return 0
		sleep 0.2
	done
	return 1
}

# domu_disk: a fresh 16 MiB disk for the guest, on /dev/loop0.
domu_disk() {
	losetup -d /dev/loop0 2>/dev/null
	rm -f /root/domu-disk.img
	truncate -s 16M /root/domu-disk.img
	losetup /dev/loop0 /root/domu-disk.img
}

# domu_up: create the guest and wait for its service; records domu_boot_s.
domu_up() {
	local t0
	domu_disk
	t0=$(now)
	xl create "$DOMU_CFG" || return 1
	wait_service 120 || { ts "domU service did not answer"; tail -n 20 /var/log/xen/console/guest-domu.log; return 1; }
	result domu_boot_s "$(elapsed "$t0" "$(now)")"
}

# domain_running NAME: the domain exists and is not paused or shut down.
domain_running() { xl list "$1" 2>/dev/null | awk 'NR == 2 { exit !($5 !~ /[psc]/) }'; }

# client_poll FILE: in the background, append "time value" for every answer
# of the domU service, until killed.
client_poll() {
	while true; do
		v=$(counter)
		[ -n "$v" ] && echo "$(now) $v" >>"$1"
		sleep 0.5
	done
}

# checkpoint_pages LOG: pages sent by each completed checkpoint, one a line
# (libxc's "Checkpointed save: N/N 100%" progress line).
checkpoint_pages() { sed -n 's|.*Checkpointed save: \([0-9]*\)/\1 .*100%.*|\1|p' "$1"; }
# checkpoint_pages_mean LOG FROM TO: "mean (max M)" pages of checkpoints FROM+1..TO.
checkpoint_pages_mean() {
	checkpoint_pages "$1" | sed -n "$(($2 + 1)),${3}p" |
		awk '{ s += $1; if ($1 > m) m = $1 } END { if (NR) printf "%.0f (max %d)", s / NR, m }'
}

# kill_xl_remus: the failover moment of the xl remus scenarios: SIGKILL to
# the sender ($remus_pid), destroy of the primary ($primary); sets t_kill
# and last_seen (the client's last counter from the primary).
kill_xl_remus() {
	last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
	ts "failover: kill -9 xl remus ($remus_pid), destroy primary domid $primary; client last saw $last_seen"
	t_kill=$(now)
	kill -9 "$remus_pid"
	xl destroy "$primary"
}

# remus_log_tail LOG: the sender's and receiver's own messages (no libxl debug).
remus_log_tail() { grep -v 'libxl: debug' "$1" | tail -n 40; }

# failover_diag LOG: why a replica's service did not come back: Xen's log,
# the guest's console, dom0's links (the vif on the bridge), the domains
# and, last (a log cut to its tail keeps them), the sender's and receiver's
# own messages.
failover_diag() {
	ts "failover diagnostics"
	xl dmesg | tail -n 5
	tail -n 8 /var/log/xen/console/guest-domu.log 2>/dev/null
	ip -br link | grep -E "vif|xenbr"
	xl list
	remus_log_tail "$1" | tail -n 20
}

finish() {
	[ "$fails" -eq 0 ] || { ts "$fails check(s) failed"; exit 1; }
	exit 0
}

# ---- a remusd pair on this dom0 (guest domu, type xen), in $RXEN ----------
RXEN=/run/rxen
# rxen_conf HOST PORT NETBUF UNSAFE [RESOURCE DEVICE]: remus.conf (with
# RESOURCE: diskrep = drbd on this side's DEVICE of the pair) of daemon HOST (a: 7575,
# b: 7576, both naming b as the peer); interval $INTERVAL_MS, memory
# $RXEN_MEM (default 96M, the PVH guest's).  The long
# heartbeat timeout: one emulated dom0 vCPU runs both daemons and libxc on
# both sides.
rxen_conf() {
	mkdir -p "$RXEN"
	[ -s "$RXEN/remus.key" ] || { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$RXEN/remus.key"; chmod 600 "$RXEN/remus.key"; }
	cat >"$RXEN/$1.conf" <<-EOC
	[global]
	listen_address = 127.0.0.1
	listen_port = $2
	key_file = $RXEN/remus.key
	control_socket = $RXEN/$1.sock
	log_level = info
	heartbeat_interval_ms = 200
	heartbeat_timeout_ms = 20000
	[guest domu]
	type = xen
	mem = ${RXEN_MEM:-96M}
	interval = ${INTERVAL_MS:-500}
	netbuf = $3
	peer = 127.0.0.1:7576
	unsafe = $4
	EOC
	[ -z "${5:-}" ] || printf 'disk = %s\ndiskrep = drbd\ndrbd_resource = %s\n' "$6" "$5" >>"$RXEN/$1.conf"
}
# rxen_start HOST: start daemon HOST (log $OUT/remusd-HOST.log), pid in rxen_pid_HOST.
rxen_start() {
	remusd -c "$RXEN/$1.conf" >>"$OUT/remusd-$1.log" 2>&1 &
	eval "rxen_pid_$1=$!"
	for _ in $(seq 100); do [ -S "$RXEN/$1.sock" ] && return 0; sleep 0.1; done
	ts "remusd $1 has no control socket"; tail -n 20 "$OUT/remusd-$1.log"; return 1
}
rxen_stop() {
	for p in ${rxen_pid_a:-} ${rxen_pid_b:-}; do kill -9 "$p" 2>/dev/null; done
	rm -f "$RXEN"/*.sock
}
# rxen_field HOST NAME: a value from `remusctl status domu --json` of HOST.
rxen_field() {
	remusctl -s "$RXEN/$1.sock" status domu --json 2>/dev/null | tr ',{}' '\n\n\n' |
		sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\"]*\)\"\{0,1\} *$/\1/p" | head -n 1
}
# rxen_wait_acked HOST N SECONDS: until HOST acknowledged N checkpoints; 0 if so.
rxen_wait_acked() {
	for _ in $(seq $(($3 * 2))); do
		[ "$(rxen_field "$1" acked)" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.5
	done
	return 1
}

# copies_watch FILE NAME...: in the background, every 0.2 s append "time
# running names..." to FILE: how many of the named domains run (not paused,
# suspended, crashed or gone) and which, until killed.
copies_watch() {
	local f=$1; shift
	while true; do
		echo "$(now) $(xl list 2>/dev/null | awk -v names=" $* " \
			'NR > 1 && index(names, " " $1 " ") && $5 !~ /[psc]/ { n++; r = r " " $1 }
			 END { print n + 0 r }')" >>"$f"
		sleep 0.2
	done
}
# first_running FILE NAME FROM: when copies_watch first saw NAME run at or after FROM.
first_running() {
	awk -v d="$2" -v t="$3" '$1 >= t { for (i = 3; i <= NF; i++) if ($i == d) { print $1; exit } }' "$1"
}
# first_none_running FILE FROM: when copies_watch first saw no copy run at or after FROM.
first_none_running() { awk -v t="$2" '$1 >= t && $2 == 0 { print $1; exit }' "$1"; }
# first_answer FILE FROM: the time of the client's first answer at or after FROM.
first_answer() { awk -v t="$2" '$1 >= t { print $1; exit }' "$1"; }
# copies_max FILE: the most copies seen running at once.
copies_max() { awk '$2 > m { m = $2 } END { print m + 0 }' "$1"; }
# counter_backwards FILE: answers of a client_poll log that went back (0: none).
counter_backwards() { awk 'NR > 1 && $2 < last { n++ } { last = $2 } END { print n + 0 }' "$1"; }

# ---- a DRBD pair in dom0 (scenarios 30 and 35) ----
# Two resources on loop devices connected over 127.0.0.1, minors, ports and
# names of their own (scenario 50 makes its pair later).
RES_A=rxen-a RES_B=rxen-b MINOR_A=11 MINOR_B=12 DEV_A=/dev/drbd11 DEV_B=/dev/drbd12
# drbd_res DIR NAME MINOR DISK HOST ADDR PEER_ADDR: a DRBD 8.4 resource file
# (this host and a peer name standing for the other side on localhost).
drbd_res() {
	cat >"$1/$2.res" <<-EOF
	resource $2 {
		net { protocol C; allow-two-primaries no; after-sb-0pri disconnect;
		      after-sb-1pri disconnect; after-sb-2pri disconnect; }
		disk { disk-flushes yes; md-flushes yes; }
		on $5 { device /dev/drbd$3 minor $3; disk $4; address $6; meta-disk internal; }
		on peer-of-$2 { device /dev/drbd$3 minor $3; disk $4; address $7; meta-disk internal; }
	}
	EOF
}
# drbd_sector0 DEV: the counter the guest last wrote to sector 0 of its disk.
drbd_sector0() { dd if="$1" bs=512 count=1 iflag=direct 2>/dev/null | tr -d '\0' | head -n 1; }
# drbd_role RES ROLE: the resource's role here is ROLE.
drbd_role() { drbdsetup events2 --now "$1" | grep -q "^exists resource .*role:$2"; }
# drbd_two_primaries RES: yes or no, allow-two-primaries of RES now.
drbd_two_primaries() { drbdsetup show "$1" | grep -Eq 'allow-two-primaries[[:space:]]+yes' && echo yes || echo no; }
# drbd_pair_up DIR: the pair (files in DIR), $RES_A Primary, both UpToDate;
# DOMU_CFG becomes DIR/domu.cfg with the guest's disk on $DEV_A.
drbd_pair_up() {
	local d=$1 host t0
	mkdir -p "$d"
	host=$(uname -n)
	case $host in ''|'(none)'|localhost) hostname xenlab; host=xenlab ;; esac
	for s in a b; do rm -f "/root/rxen-$s.img"; truncate -s 16M "/root/rxen-$s.img"; done
	LA=$(losetup -f --show /root/rxen-a.img) && LB=$(losetup -f --show /root/rxen-b.img) || return 1
	drbd_res "$d" $RES_A $MINOR_A "$LA" "$host" 127.0.0.1:7791 127.0.0.1:7792
	drbd_res "$d" $RES_B $MINOR_B "$LB" "$host" 127.0.0.1:7792 127.0.0.1:7791
	t0=$(now)
	{
		drbdadm -c "$d/$RES_B.res" create-md --force $RES_B && drbdadm -c "$d/$RES_B.res" up $RES_B &&
		drbdadm -c "$d/$RES_A.res" create-md --force $RES_A && drbdadm -c "$d/$RES_A.res" up $RES_A &&
		drbdadm -c "$d/$RES_A.res" primary --force $RES_A
	} >>"$OUT/drbd.log" 2>&1 || { ts "drbd pair not up"; tail -n 20 "$OUT/drbd.log"; return 1; }
	for _ in $(seq 1200); do
		drbdsetup events2 --now $RES_B | grep -q 'peer-disk:UpToDate' &&
			drbdsetup events2 --now $RES_A | grep -q 'peer-disk:UpToDate' && break
		sleep 0.1
	done
	result drbd_initial_sync_s "$(elapsed "$t0" "$(now)")"
	drbdsetup events2 --now $RES_A | grep -q 'peer-disk:UpToDate' || { ts "drbd pair not in sync"; cat /proc/drbd; return 1; }
	sed "s|target=/dev/loop0|target=$DEV_A|" /etc/xen/domu.cfg >"$d/domu.cfg"
	DOMU_CFG=$d/domu.cfg
}
drbd_teardown() {
	for d in $(xl list | awk 'NR > 2 { print $2 }'); do xl destroy "$d" 2>/dev/null; done
	drbdsetup down $RES_A 2>/dev/null; drbdsetup down $RES_B 2>/dev/null
	[ -n "${LA:-}" ] && losetup -d "$LA" 2>/dev/null; [ -n "${LB:-}" ] && losetup -d "$LB" 2>/dev/null
	rm -f /root/rxen-a.img /root/rxen-b.img
}
