#!/bin/bash
# Scenario 2, real streams: capture the byte streams of `xl save`, `xl migrate`
# and `xl remus` (a tee on the receiving side) for the host to check with
# remus-stream, and check that Xen's own receiver accepted each of them.
. ./lib.sh "$@"
S=$OUT/streams
mkdir -p "$S"

domu_up || { result check_domu_up FAIL; exit 1; }

ts "xl save"
t0=$(now)
xl save domu "$S/save.stream"; rc=$?
result save_s "$(elapsed "$t0" "$(now)")"
check save test "$rc" -eq 0 -a -s "$S/save.stream"
t0=$(now)
xl restore "$S/save.stream"; rc=$?
result restore_s "$(elapsed "$t0" "$(now)")"
check restore test "$rc" -eq 0
check service_after_restore wait_service 120

ts "xl migrate to localhost, stream tee'd on the receiving side"
t0=$(now)
xl migrate -s '' domu "tee $S/migrate.stream | xl migrate-receive"; rc=$?
result migrate_s "$(elapsed "$t0" "$(now)")"
check migrate test "$rc" -eq 0
check service_after_migrate wait_service 120

ts "xl remus to localhost, stream tee'd on the receiving side"
primary=$(xl domid domu)
setsid xl -vvv remus -F -n -d -i 500 -s '' domu "tee $S/remus.stream | xl -vvv migrate-receive -r -e" \
	>"$OUT/remus.log" 2>&1 &
remus_pid=$!
for _ in $(seq 600); do grep -q 'Checkpointed save' "$OUT/remus.log" && break; sleep 0.5; done
# A few checkpoints after the full copy are enough for the stream's structure
# (failover is scenario 1's job): stop both sides.
sleep 5
kill -9 "$remus_pid"
xl destroy "$primary"
result remus_checkpoints_sent "$(grep -c 'Checkpointed save' "$OUT/remus.log")"
# The receiver logs each libxl record it processes; type 4 is CHECKPOINT_END,
# after which it has applied the checkpoint.
result receiver_checkpoints_applied "$(grep -c 'process_record: Record: 4,' "$OUT/remus.log")"
check remus_checkpoints test "$(grep -c 'Checkpointed save' "$OUT/remus.log")" -ge 2
for p in $(pgrep -f 'migrate-receive'); do kill -9 "$p"; done
xl destroy domu--incoming 2>/dev/null
[ "$fails" -eq 0 ] || remus_log_tail "$OUT/remus.log"
ls -l "$S"
finish
