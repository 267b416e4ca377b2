#!/bin/bash
# Results of a lab run: one table of every scenario's status, time and
# recorded figures, then the host-side checks of the captured streams.
# Usage: report.sh RUN_DIR LAB_DIR BOOT_SECONDS TOTAL_SECONDS; exit 1 when a
# scenario failed, did not finish, or a captured stream was rejected.
set -uo pipefail
RUN=$1 LAB=$2 BOOT=$3 TOTAL=$4
SRC=$(cd "$(dirname "$0")" && pwd)
BIN=$(cd "$LAB/.." && pwd)/bin
# Xen's own stream checker, from xen-utils-4.17 (tools/remus-stream/fetch-xen-verify.sh).
XENV=$(cd "$LAB/.." && pwd)/tools/xen-utils-4.17/root/usr/lib/xen-4.17
failed=0 failed_names=

# applied_of NAME: how many checkpoints Xen's receiver applied from the
# captured stream NAME (its -vvv log line per processed CHECKPOINT_END, as
# the capturing scenario recorded it); "" for a stream without a receiver
# count.
applied_of() {
	case $1 in
	remus.stream) awk '$1 == "receiver_checkpoints_applied" { print $2 }' "$RUN/out/20-streams/results" 2>/dev/null ;;
	xen-send.stream) awk '$1 == "xlrecv_receiver_checkpoints_applied" { print $2 }' "$RUN/out/30-remusd-xen/results" 2>/dev/null ;;
	esac
}

# check_stream FILE: remus-stream must accept the whole-stream part of a
# capture (xl's migration messages after END and a Remus checkpoint cut by the
# failover are not stream) and count the same complete checkpoints as the
# independent reader.
check_stream() {
	local f=$1 name whole n out rc applied
	name=$(basename "$f")
	whole=$f.whole
	if ! n=$(python3 "$SRC/stream-stats.py" --cut "$f" "$whole" 2>&1); then
		printf '    remus-stream check %-16s FAIL (capture unreadable: %s)\n' "$name" "$n"
		return 1
	fi
	out=$("$BIN/remus-stream" check "$whole" 2>&1); rc=$?
	rm -f "$whole"
	if [ $rc -ne 0 ]; then
		printf '    remus-stream check %-16s FAIL (%s)\n' "$name" "$out"
		return 1
	fi
	if [ "$n" -gt 0 ] && ! grep -q "[^0-9]$n complete checkpoints" <<<"$out"; then
		printf '    remus-stream check %-16s FAIL (expected %s complete checkpoints: %s)\n' "$name" "$n" "$out"
		return 1
	fi
	# Xen's receiver applied every complete checkpoint but perhaps the last,
	# which the tee can have written just before the sender died.
	applied=$(applied_of "$name")
	if [ -n "$applied" ] && { [ "$applied" -gt "$n" ] || [ "$applied" -lt $((n - 1)) ]; }; then
		printf '    remus-stream check %-16s FAIL (%s complete checkpoints in the stream, Xen applied %s)\n' "$name" "$n" "$applied"
		return 1
	fi
	printf '    remus-stream check %-16s PASS (%s)\n' "$name" "${out#*: }"
}

# check_xen_verify FILE: Xen's verify-stream-v2 must accept the capture's
# whole-stream part.  It reads a libxc CHECKPOINT as one more libxc record
# and would take the libxl records that follow it (CHECKPOINT_END...) for
# libxc ones, so a checkpointed capture is judged in the flat layout
# (stream-stats.py --flat: the same records, libxc ones first, plus the two
# END records); remus-stream must read that layout too (--flat-checkpoints)
# with the same number of checkpoints.
check_xen_verify() {
	local f=$1 name flat n out rc ck nxc nxl
	name=$(basename "$f")
	flat=$f.flat
	if ! n=$(python3 "$SRC/stream-stats.py" --flat "$f" "$flat" 2>&1); then
		printf '    verify-stream-v2   %-16s FAIL (capture unreadable: %s)\n' "$name" "$n"
		return 1
	fi
	read -r ck nxc nxl <<<"$n"     # checkpoints, libxc records, libxl records
	out=$(PYTHONPATH=$XENV/lib/python python3 "$XENV/bin/verify-stream-v2" -f xl -i "$flat" 2>&1); rc=$?
	if [ $rc -ne 0 ]; then
		rm -f "$flat"
		# its first line says Stream or Script Error, the traceback's last
		# names the check that failed
		printf '    verify-stream-v2   %-16s FAIL (exit %s: %s %s)\n' "$name" "$rc" \
			"$(head -n 1 <<<"$out")" "$(awk 'NF { l = $0 } END { print l }' <<<"$out")"
		return 1
	fi
	if [ -x "$BIN/remus-stream" ] && [ "$ck" -gt 0 ]; then
		out=$("$BIN/remus-stream" check --flat-checkpoints "$flat" 2>&1); rc=$?
		if [ $rc -ne 0 ] || ! grep -q "[^0-9]$ck complete checkpoints" <<<"$out"; then
			rm -f "$flat"
			printf '    verify-stream-v2   %-16s FAIL (flat layout, remus-stream --flat-checkpoints: %s)\n' "$name" "$out"
			return 1
		fi
	fi
	rm -f "$flat"
	if [ "$ck" -gt 0 ]; then
		printf '    verify-stream-v2   %-16s PASS (flat layout: %s libxc records with %s CHECKPOINTs, %s libxl records)\n' \
			"$name" "$nxc" "$ck" "$nxl"
	else
		printf '    verify-stream-v2   %-16s PASS (whole stream up to END: %s libxc, %s libxl records)\n' "$name" "$nxc" "$nxl"
	fi
}

# fig SCENARIO KEY: the first word of a recorded figure ("" if absent).
fig() { awk -v k="$2" '$1 == k { print $2; exit }' "$RUN/out/$1/results" 2>/dev/null; }
# rest SCENARIO KEY: the whole recorded value.
rest() { awk -v k="$2" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' "$RUN/out/$1/results" 2>/dev/null; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }

# Side by side: remusd's Xen driver (30, phase B), our driver into Xen's
# receiver (30, phase A: xlrecv_*) and `xl remus` (10), measured in this
# run; ratios are remusd / xl remus.
compare_table() {
	local x=10-remus-baseline r=30-remusd-xen
	[ -f "$RUN/out/$x/results" ] && [ -f "$RUN/out/$r/results" ] || return 0
	printf '\nremusd (Xen driver) vs xl remus, same guest, same run (ours/xl: <1 is faster for times, >1 better for rates)\n'
	printf '%-26s %-14s %-16s %-12s %s\n' figure "remusd->remusd" "ours->xl-recv" "xl remus" "ours/xl"
	printf '%-26s %-14s %-16s %-12s %s\n' "checkpoints/s" "$(fig $r checkpoints_per_s)" \
		"$(fig $r xlrecv_checkpoints_per_s)" "$(fig $x checkpoints_per_s)" \
		"$(ratio "$(fig $r checkpoints_per_s)" "$(fig $x checkpoints_per_s)")"
	printf '%-26s %-14s %-16s %-12s %s\n' "pause per checkpoint ms" "$(fig $r pause_ms)" \
		"$(fig $r xlrecv_pause_ms)" "not reported" "-"
	printf '%-26s %-14s %-16s %-12s %s\n' "first checkpoint s" "$(fig $r first_checkpoint_s)" \
		"$(fig $r xlrecv_first_checkpoint_s)" "$(fig $x first_checkpoint_s)" \
		"$(ratio "$(fig $r first_checkpoint_s)" "$(fig $x first_checkpoint_s)")"
	printf '%-26s %-14s %-16s %-12s %s\n' "failover s (kill->answer)" "$(fig $r failover_s)" \
		"$(fig $r xlrecv_failover_s)" "$(fig $x failover_s)" \
		"$(ratio "$(fig $r failover_s)" "$(fig $x failover_s)")"
	if [ -f "$RUN/out/35-remusd-xen-evacuate/results" ]; then
		printf '%-26s %-14s %-16s %-12s %s\n' "evacuation s (cmd->answer)" \
			"$(fig 35-remusd-xen-evacuate evacuation_s)" "-" "none" "-"
	fi
	printf '%-26s %-14s %-16s %s\n' "netbuf" "$(rest $r netbuf | cut -c1-14)" "off" "$(rest $x netbuf)"
	printf '%-26s %-14s %-16s %s\n' "disk replication" \
		"$(rest $r diskrep | cut -d: -f1 | cut -c1-14)" "off (shared)" "off (-d, shared)"
}

# The planned evacuation of the Xen guest (35): remusctl evacuate, remusd
# to remusd with plug netbuf; `xl remus` has no such operation.
evacuation_table() {
	local e=35-remusd-xen-evacuate
	[ -f "$RUN/out/$e/results" ] || return 0
	printf '\nremusctl evacuate, Xen guest, remusd -> remusd, plug netbuf (35)\n'
	printf '%-36s %s\n' "evacuate command s" "$(fig $e evacuate_cmd_s)"
	printf '%-36s %s\n' "command -> final suspend s" "$(fig $e final_suspend_s)"
	printf '%-36s %s\n' "no copy running s" "$(fig $e guest_stopped_s)"
	printf '%-36s %s\n' "command -> service from the backup s" "$(fig $e evacuation_s)"
	printf '%-36s %s\n' "copies running at once (max)" "$(fig $e copies_running_max)"
	printf '%-36s %s\n' "counter answers that went back" "$(fig $e counter_went_back)"
}

# side_by_side XL_RESULTS OURS_RESULTS: one row per figure both recorded.
side_by_side() {
	local xl=$1 ours=$2 k a b
	[ -f "$xl" ] && [ -f "$ours" ] || return 0
	printf '\n%-24s %-28s %s\n' "xl remus receiver" "xl migrate-receive -r (10)" "remus-xl-receive (40)"
	for k in first_checkpoint_s checkpoints_per_s pages_per_checkpoint failover_s stream_end failover_steps; do
		a=$(awk -v k="$k" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$xl")
		b=$(awk -v k="$k" '$1 == k { $1 = ""; sub(/^ /, ""); print }' "$ours")
		printf '%-24s %-28s %s\n' "$k" "${a:--}" "${b:--}"
	done
}

{
	printf '\nxenlab results: boot %ss (QEMU start to dom0 ready), whole run %ss\n' "$BOOT" "$TOTAL"
	printf '%-24s %-6s %s\n' scenario status seconds
	for s in "$RUN"/stage/in/scenarios/[0-9]*.sh; do
		name=$(basename "$s" .sh)
		out=$RUN/out/$name
		st=$(cat "$out/status" 2>/dev/null || echo none)
		secs=$(awk '$1 == "scenario_seconds" { print $2 }' "$out/results" 2>/dev/null)
		case $st in
		0) verdict=PASS ;;
		none) verdict=FAIL; secs="did not finish (see $LAB/serial.log)" ;;
		124|137) verdict=FAIL; secs="timed out after ${secs}s" ;;
		*) verdict=FAIL ;;
		esac
		[ "$verdict" = PASS ] || { failed=1; failed_names="$failed_names $name"; }
		printf '%-24s %-6s %s\n' "$name" "$verdict" "${secs:-?}"
		[ -f "$out/results" ] && grep -v '^scenario_seconds ' "$out/results" | sed 's/^/    /'
	done

	# The same `xl remus` sender into Xen's receiver (10) and into remus's
	# (40), side by side: only figures of one run compare (shared cores).
	side_by_side "$RUN/out/10-remus-baseline/results" "$RUN/out/40-xl-remus-to-remus/results"

	# Streams captured in dom0 stay in the build tree as fixtures (one copy
	# of each, replaced by the next run that captures it); the checks judge
	# the captures of this run: xl's (20) and our driver's sender (30, A).
	streams=
	for f in "$RUN"/out/20-streams/streams/*.stream "$RUN"/out/30-remusd-xen/streams/*.stream; do
		[ -f "$f" ] || continue
		mkdir -p "$LAB/streams"
		mv "$f" "$LAB/streams/"
		streams="$streams $LAB/streams/$(basename "$f")"
	done
	if [ -n "$streams" ]; then
		printf '\nstreams (kept in %s):\n' "$LAB/streams"
		# shellcheck disable=SC2086
		python3 "$SRC/stream-stats.py" $streams | sed "s|$LAB/streams/|    |" || failed=1
		if [ -x "$BIN/remus-stream" ]; then
			for f in $streams; do
				check_stream "$f" || failed=1
			done
		else
			echo "    SKIP remus-stream check: remus-stream is not built on this branch yet (tools/remus-stream)"
		fi
		if [ -x "$XENV/bin/verify-stream-v2" ]; then
			for f in $streams; do
				check_xen_verify "$f" || failed=1
			done
		else
			echo "    SKIP verify-stream-v2: not fetched (tools/remus-stream/fetch-xen-verify.sh could not download xen-utils-4.17)"
		fi
	fi
	compare_table
	evacuation_table
	# Last, so that a CI log that keeps only its tail still says why: the
	# end of each failed scenario's own log (its checks and diagnostics).
	for name in $failed_names; do
		printf '\n%s failed; the end of its log (all of it: %s):\n' "$name" "$RUN/out/$name/log"
		grep -v 'libxl: debug' "$RUN/out/$name/log" 2>/dev/null | tail -n 25 | cut -c1-200 | sed 's/^/    /'
	done
	[ $failed -eq 0 ] && echo "xenlab-check: PASS" || echo "xenlab-check: FAIL"
} | tee "$LAB/results.txt"
grep -q '^xenlab-check: PASS' "$LAB/results.txt"
