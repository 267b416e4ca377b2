#!/bin/bash
# Planned evacuation of a Xen guest protected by remusd (`remusctl
# evacuate`), on real Xen: the PVH guest boots, remusd protects it to a
# second remusd on the same dom0 (plug netbuf on its vif, the disk on the
# DRBD pair of scenario 30: diskrep = drbd, rxen-a under the primary,
# rxen-b under the backup) under the client's load, then the operator
# evacuates.  DRBD 8.4 has one Primary at a time and the suspended copy
# holds its minor until it is destroyed, so the hand-over opens a
# dual-primary window: allow-two-primaries on both sides before the final
# checkpoint, the backup promotes rxen-b, the primary demotes rxen-a after
# destroying its copy, both close the window again.
# The primary takes a final checkpoint with the domain left suspended, ends
# the stream with END once it is acknowledged; the backup's libxc completes
# the stream at that checkpoint, the replica gets its devices and runs, the
# backup confirms and the primary destroys its domain.  Checked: the guest
# runs on the backup (domu--backup), the primary's domain is gone, at most
# one copy ran at any moment (`xl list` sampled every 0.2 s), the counter
# served by the guest never went back, the replica's disk is rxen-b's minor
# (Primary), rxen-a is Secondary, allow-two-primaries is off on both.
# Measured: the evacuate command's
# time (it returns once the primary's domain is destroyed), command ->
# final suspend, how long no copy ran, command -> the client's first answer
# from the new host.  (With plug netbuf and ~2 checkpoints/s under
# emulation the client's requests rarely complete while the guest is
# protected, so the client's gaps say little about the evacuation.)
. ./lib.sh "$@"
INTERVAL_MS=${INTERVAL_MS:-500}
WINDOW_S=${WINDOW_S:-3}

domu_disk() { drbd_pair_up "$RXEN"; }
trap 'rxen_stop; drbd_teardown' EXIT
domu_up || { result check_domu_up FAIL; exit 1; }
client_poll "$OUT/client.log" & poller=$!
copies_watch "$OUT/copies.log" domu domu--backup & watcher=$!
trap 'kill $poller $watcher 2>/dev/null; rxen_stop; drbd_teardown' EXIT
drbdsetup show $RES_A >>"$OUT/drbd.log" 2>&1

rxen_conf a 7575 plug drbd-disk-ahead $RES_A $DEV_A
rxen_conf b 7576 plug drbd-disk-ahead $RES_B $DEV_B
rxen_start b && rxen_start a || { result check_daemons FAIL; exit 1; }
remusctl -s "$RXEN/a.sock" start domu || { result check_attach FAIL; exit 1; }
primary=$(xl domid domu)
t_start=$(now)
if ! out=$(remusctl -s "$RXEN/a.sock" protect domu 2>&1); then
	result check_protect FAIL; ts "protect: $out"; tail -n 30 "$OUT"/remusd-*.log; exit 1
fi
result netbuf "plug on vif$primary.0"
result diskrep "drbd: primary $RES_A ($DEV_A), backup $RES_B ($DEV_B)"
if ! rxen_wait_acked a 1 300; then
	ts "no first checkpoint"; tail -n 30 "$OUT/remusd-a.log" "$OUT/remusd-b.log"
	result check_first_checkpoint FAIL; exit 1
fi
result first_checkpoint_s "$(elapsed "$t_start" "$(now)")"
sleep "$WINDOW_S"       # checkpoints under the client's load
result acked_before_evacuate "$(rxen_field a acked)"
check primary_protected test "$(rxen_field a state)" = protected

last_seen=$(tail -n 1 "$OUT/client.log" | cut -d' ' -f2)
ts "evacuate domu (primary domid $primary); client last saw $last_seen"
t_cmd=$(now)
out=$(remusctl -s "$RXEN/a.sock" evacuate domu 2>&1); rc=$?
t_done=$(now)
result evacuate_cmd_s "$(elapsed "$t_cmd" "$t_done")"
result evacuate_reply "rc=$rc ${out:0:160}"
# remusctl gives up after 60 s; the daemon finishes on its own
for _ in $(seq 120); do
	case $(rxen_field a state) in syncing|protected) sleep 1 ;; *) break ;; esac
done
wait_service 120; up=$?
result service_after_evacuation "$([ "$up" -eq 0 ] && echo answers || echo "no answer")"
result primary_state "$(rxen_field a state)"
result backup_state "$(rxen_field b state)"
# the backup closes its side of the window once rxen-a is Secondary
for _ in $(seq 60); do
	[ "$(drbd_two_primaries $RES_B)" = no ] && [ "$(drbd_two_primaries $RES_A)" = no ] && break
	sleep 0.5
done
replica=$(xl domid domu--backup 2>/dev/null)
result drbd_replica_disk "$(xenstore-read "/local/domain/0/backend/vbd/$replica/51712/params" 2>/dev/null || echo none)"
result drbd_roles "$RES_A $(drbdsetup events2 --now $RES_A | sed -n 's/^exists resource .*role:\([A-Za-z]*\).*/\1/p'), $RES_B $(drbdsetup events2 --now $RES_B | sed -n 's/^exists resource .*role:\([A-Za-z]*\).*/\1/p')"
result drbd_allow_two_primaries "$RES_A $(drbd_two_primaries $RES_A), $RES_B $(drbd_two_primaries $RES_B)"
grep -h 'dual-primary\|drbd resource' "$OUT"/remusd-*.log | grep -v 'libxl: debug' | tail -n 8
sleep 1                 # a few more samples of both the client and xl list
kill $poller $watcher 2>/dev/null
# the timeline from the samples: the primary suspended for the final
# checkpoint (no copy runs), the replica runs, the client's first answer
# from it (every answer from then on comes from the backup)
t_none=$(first_none_running "$OUT/copies.log" "$t_cmd")
t_new=$(first_running "$OUT/copies.log" domu--backup "$t_cmd")
t_ans=$(first_answer "$OUT/client.log" "${t_new:-$t_done}")
result final_suspend_s "$([ -n "$t_none" ] && elapsed "$t_cmd" "$t_none" || echo none)"
result guest_stopped_s "$([ -n "$t_none" ] && [ -n "$t_new" ] && elapsed "$t_none" "$t_new" || echo none)"
result evacuation_s "$([ -n "$t_ans" ] && elapsed "$t_cmd" "$t_ans" || echo none)"
result copies_running_max "$(copies_max "$OUT/copies.log")"
result counter_went_back "$(counter_backwards "$OUT/client.log")"
check evacuate_ok test "$rc" -eq 0
check service_after_evacuation test "$up" -eq 0
check primary_evacuated test "$(rxen_field a state)" = evacuated
check backup_active test "$(rxen_field b state)" = active
check primary_domain_gone bash -c "! xl list $primary >/dev/null 2>&1"
check guest_runs_on_backup domain_running domu--backup
check one_copy_at_a_time test "$(copies_max "$OUT/copies.log")" -le 1
check one_copy_at_the_end test "$(tail -n 1 "$OUT/copies.log" | cut -d' ' -f2)" -eq 1
check counter_never_back test "$(counter_backwards "$OUT/client.log")" -eq 0
check drbd_replica_on_backup_minor test "$(xenstore-read "/local/domain/0/backend/vbd/$replica/51712/params" 2>/dev/null)" = "$DEV_B"
check drbd_backup_promoted drbd_role $RES_B Primary
check drbd_old_primary_secondary drbd_role $RES_A Secondary
check drbd_window_closed test "$(drbd_two_primaries $RES_A)$(drbd_two_primaries $RES_B)" = nono
xl list
[ "$fails" -eq 0 ] || { grep -v 'libxl: debug' "$OUT/remusd-a.log" | tail -n 30; grep -v 'libxl: debug' "$OUT/remusd-b.log" | tail -n 40; }
finish
