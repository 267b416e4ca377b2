#!/bin/bash
# Scenario 50: remus's Xen-host backends on the real dom0 kernel.
#  - netbuf `plug` (sch_plug + ifb): the host integration test
#    netbuf_plug.sh (skipped on hosts without sch_plug) runs here for real:
#    packets of an epoch must not leave before its release, in order after it.
#  - diskrep `drbd`: a real DRBD 8.4 pair in dom0, two resources on loop
#    devices connected over 127.0.0.1 (one per side), driven through the
#    backend by drbd-lab: writes of each epoch reach the backup's disk
#    (protocol C), then the primary is lost and the backup is promoted and
#    reads the last epoch's data.
#  - NBD: remus's NBD server (diskrep/nbd*.c, through nbd-lab) under the
#    real kernel NBD client bound by nbd-client: direct I/O round trip.
. ./lib.sh "$@"
T=/usr/local/lib/remus-tests
D=/run/remus-lab50
mkdir -p "$D"

# ---- netbuf plug ----
ts "netbuf plug: tests/integration/netbuf_plug.sh in dom0"
t0=$(now)
(cd "$T" && BUILD=build timeout 180 bash tests/integration/netbuf_plug.sh) >"$OUT/netbuf_plug.log" 2>&1
rc=$?
result netbuf_plug_s "$(elapsed "$t0" "$(now)")"
result netbuf_plug_exit "$rc$([ $rc = 77 ] && echo ' (skipped)')"
check netbuf_plug_real test "$rc" -eq 0
if [ "$rc" -ne 0 ]; then
	tail -n 20 "$OUT/netbuf_plug.log"
	# What the kernel did with held packets: the test's own topology and
	# buffering process, five datagrams sent into an open epoch, then the
	# qdiscs, filters and counters along the path.
	(
		cd "$T" && export BUILD=build && . tests/netbuf/lib.sh
		topology; start_receivers 0; start_drive plug d$$ $(( $$ % 60000 + 1000 ))
		cmd send v4 1 5; barrier
		echo "--- client saw:"; seen v4 | tr '\n' ' '; echo
		echo "--- qdiscs:"; inH tc -s qdisc show
		echo "--- nbtap ingress filters:"; inH tc -s filter show dev nbtap ingress
		echo "--- links:"; inH ip -s -o link show
		cmd close 1; cmd release 1; barrier
		echo "--- after release, client saw:"; seen v4 | tr '\n' ' '; echo
		stop_drive
	) >"$OUT/netbuf_plug_diag.log" 2>&1
	cat "$OUT/netbuf_plug_diag.log"
fi

# ---- drbd pair ----
host=$(uname -n)
case $host in ''|'(none)'|localhost) hostname xenlab; host=xenlab ;; esac
DRBD_LAB=$T/build/tests/xenlab/drbd-lab
for s in a b; do
	rm -f "/root/drbd-$s.img"; truncate -s 32M "/root/drbd-$s.img"
done
LA=$(losetup -f --show /root/drbd-a.img) && LB=$(losetup -f --show /root/drbd-b.img) ||
	{ result check_drbd_loops FAIL; finish; }
ts "drbd: primary remus-a (minor 1, $LA, :7789) <-> backup remus-b (minor 2, $LB, :7790)"

# side NAME ROLE RES MINOR DISK LADDR PEER PADDR: drbd-lab behind a FIFO,
# its answers appended to $D/NAME.out.
side() {
	local name=$1; shift
	rm -f "$D/$name.in"; mkfifo "$D/$name.in"; : >"$D/$name.out"
	"$DRBD_LAB" "$@" "$D" <"$D/$name.in" >>"$D/$name.out" 2>>"$OUT/drbd-$name.err" &
	eval "${name}_pid=$!"
}
# ask NAME FD CMD: send one command, wait (bounded) for its answer line.
ask() {
	local name=$1 fd=$2 n
	shift 2
	n=$(wc -l <"$D/$name.out")
	echo "$*" >&"$fd"
	for _ in $(seq 600); do
		[ "$(wc -l <"$D/$name.out")" -gt "$n" ] && break
		sleep 0.1
	done
	ANSWER=$(sed -n "$((n + 1))p" "$D/$name.out")
	echo "$name: $* -> ${ANSWER:-(no answer)}" >>"$OUT/drbd-dialogue.log"
	[ "${ANSWER%% *}" = ok ]
}
# wait_ready NAME: the first answer is "ok ready" (or a FAIL of open).
wait_ready() {
	for _ in $(seq 600); do [ -s "$D/$1.out" ] && break; sleep 0.1; done
	echo "$1: $(head -n 1 "$D/$1.out")" >>"$OUT/drbd-dialogue.log"
	head -n 1 "$D/$1.out" | grep -q '^ok ready'
}
# byte_at DEV OFF: the byte at OFF of DEV read around any cache (decimal).
byte_at() { dd if="$1" bs=4096 skip=$(($2 / 4096)) count=1 iflag=direct 2>/dev/null | od -An -tu1 -N1 | tr -d ' '; }

t0=$(now)
side bk backup remus-b 2 "$LB" "$host" 127.0.0.1:7790 peer-a 127.0.0.1:7789
exec 5>"$D/bk.in"
check drbd_backup_up wait_ready bk
side pr primary remus-a 1 "$LA" "$host" 127.0.0.1:7789 peer-b 127.0.0.1:7790
exec 6>"$D/pr.in"
check drbd_primary_up wait_ready pr
cat /proc/drbd >"$OUT/proc-drbd-up.txt" 2>&1
# The initial full sync (primary --force) must finish before the epochs.
for _ in $(seq 1200); do
	grep -A1 '^ *1:' /proc/drbd | grep -q 'cs:Connected.*ds:UpToDate/UpToDate' &&
		grep -A1 '^ *2:' /proc/drbd | grep -q 'cs:Connected.*ds:UpToDate/UpToDate' && break
	sleep 0.1
done
result drbd_connected_s "$(elapsed "$t0" "$(now)")"
check drbd_connected_uptodate grep -q 'cs:Connected.*ds:UpToDate/UpToDate' /proc/drbd
cat /proc/drbd >"$OUT/proc-drbd-synced.txt"

# Five epochs: each writes 4 KiB of byte E at block E and marks the epoch;
# with protocol C the write returned only once the backup's disk had it.
t1=$(now); ok=0; write_us=
for e in 1 2 3 4 5; do
	ask pr 6 write $((e * 4096)) 4096 "$e" || break
	write_us="$write_us ${ANSWER#ok us=}"
	ask pr 6 mark "$e" && ask bk 5 commit "$e" || break
	[ "$(byte_at "$LB" $((e * 4096)))" = "$e" ] || { ts "epoch $e: block not on the backup disk"; break; }
	ok=$e
done
result drbd_epochs_replicated "$ok/5"
result drbd_epoch_ms "$(awk -v a="$t1" -v b="$(now)" -v n="$ok" 'BEGIN { if (n) printf "%.0f", (b - a) * 1000 / n }') (whole step, driven from the shell)"
result drbd_write_flush_ms "$(echo $write_us | awk '{ for (i = 1; i <= NF; i++) { s += $i; if ($i > m) m = $i } if (NF) printf "%.1f (max %.1f)", s / NF / 1000, m / 1000 }') (4 KiB, protocol C)"
check drbd_epochs test "$ok" -eq 5
ask pr 6 state; result drbd_primary_state "${ANSWER#ok }"

# The primary is lost: its DRBD resource goes down; the backup is promoted
# and must read the last epoch's block through its own DRBD device.
t2=$(now)
kill -9 "$pr_pid" 2>/dev/null; wait "$pr_pid" 2>/dev/null
drbdsetup down remus-a >>"$OUT/drbd-pr.err" 2>&1 || drbdadm -c "$D/remus-a.res" down remus-a >>"$OUT/drbd-pr.err" 2>&1
check drbd_promote ask bk 5 promote
result drbd_promote_s "$(elapsed "$t2" "$(now)")"
check drbd_backup_has_epoch5 test "$(byte_at /dev/drbd2 $((5 * 4096)))" = 5
ask bk 5 state; result drbd_backup_state "${ANSWER#ok }"
cat /proc/drbd >"$OUT/proc-drbd-failover.txt"
# quit: no answer; the backend takes its resource down on close.
t3=$(now)
echo quit >&5; exec 5>&- 6>&-
for _ in $(seq 300); do kill -0 "$bk_pid" 2>/dev/null || break; sleep 0.2; done
check drbd_backup_closed test ! -d /proc/"$bk_pid"
result drbd_down_s "$(elapsed "$t3" "$(now)")"
drbdsetup down remus-b >/dev/null 2>&1
losetup -d "$LA" "$LB" 2>/dev/null
[ "$fails" -eq 0 ] || { cat "$OUT/drbd-dialogue.log"; tail -n 20 "$OUT"/drbd-*.err; }

# ---- nbd: remus's NBD server for the kernel's NBD client ----
# The way a Xen guest's disk reaches the builtin backend (phy:/dev/nbdN):
# nbd-client hands nbd-lab's connection to the kernel; dd writes 1 MiB
# through /dev/nbd0 with O_DIRECT and an fsync, reads it back around the
# page cache, and the image behind the server holds exactly those bytes.
NBD_LAB=$T/build/tests/xenlab/nbd-lab
nbd_fails=$fails
ts "nbd: nbd-lab serves /root/nbd.img to the kernel's client on /dev/nbd0"
t4=$(now)
rm -f /root/nbd.img "$D/nbd.sock"; truncate -s 16M /root/nbd.img
modprobe nbd nbds_max=2 >>"$OUT/nbd.err" 2>&1
"$NBD_LAB" "$D/nbd.sock" /root/nbd.img >"$OUT/nbd-lab.out" 2>>"$OUT/nbd.err" &
nbd_pid=$!
for _ in $(seq 100); do [ -S "$D/nbd.sock" ] && break; sleep 0.1; done
check nbd_bound nbd-client -unix "$D/nbd.sock" /dev/nbd0 -block-size 4096 -name disk
head -c 1048576 /dev/urandom >/root/nbd.pat
check nbd_direct_write dd if=/root/nbd.pat of=/dev/nbd0 bs=64k seek=16 oflag=direct conv=fsync status=none
check nbd_direct_read dd if=/dev/nbd0 of=/root/nbd.back bs=64k skip=16 count=16 iflag=direct status=none
check nbd_read_back cmp /root/nbd.pat /root/nbd.back
check nbd_image_holds_it cmp -n 1048576 -i 0:1048576 /root/nbd.pat /root/nbd.img
nbd-client -d /dev/nbd0 >>"$OUT/nbd.err" 2>&1
for _ in $(seq 100); do grep -q '^served' "$OUT/nbd-lab.out" && break; sleep 0.1; done
kill -TERM "$nbd_pid" 2>/dev/null; wait "$nbd_pid" 2>/dev/null
result nbd_served "$(grep '^served' "$OUT/nbd-lab.out" | tail -n 1)"
check nbd_clean_disconnect grep -q '^served rc=0 reads=[1-9][0-9]* writes=[1-9][0-9]* flushes=[1-9]' "$OUT/nbd-lab.out"
check nbd_nothing_refused grep -q '^served .* refused=0$' "$OUT/nbd-lab.out"
result nbd_s "$(elapsed "$t4" "$(now)")"
[ "$fails" -eq "$nbd_fails" ] || { cat "$OUT/nbd-lab.out"; tail -n 20 "$OUT/nbd.err"; dmesg | grep -i nbd | tail -n 10; }
rm -f /root/nbd.img /root/nbd.pat /root/nbd.back
finish
