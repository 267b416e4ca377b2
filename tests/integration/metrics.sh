#!/bin/bash
# remusd's Prometheus endpoint (metrics_listen): two daemons in namespaces
# protect the counter guest; the primary's and the backup's /metrics are
# scraped with curl, judged by `promtool check metrics`, and their values
# checked: the guest's state series, checkpoints that increase between two
# scrapes, a pause histogram whose count moves, the link counted as a peer,
# handshakes accepted and refused (garbage on the replication port).  A
# wrong path is 404, a POST 405.  etc/grafana-remus.json must parse and
# use only metric names the daemon exports.
cd "$(dirname "$0")/../.." || exit 1
TAG=${TAG:-mx$$}
. tests/integration/remusd_lib.sh

command -v curl >/dev/null || skip "curl missing (make deps)"
command -v promtool >/dev/null || skip "promtool missing (Debian package prometheus: make deps)"
MPORT=9475

hosts_setup
counter_guest
write_conf a "${GUEST[@]}" "peer = $IP_B:7575"
write_conf b "${GUEST[@]}" "peer = $IP_A:7575"
sed -i "/^\[global\]/a metrics_listen = 127.0.0.1:$MPORT" "$TMPD/a.conf"
sed -i "/^\[global\]/a metrics_listen = [::1]:$MPORT" "$TMPD/b.conf"
start_daemon a
start_daemon b

# scrape HOST OUT: GET /metrics in that host's namespace.
scrape() {
	local ns url
	[ "$1" = a ] && { ns=$NS_A; url="http://127.0.0.1:$MPORT/metrics"; } ||
		{ ns=$NS_B; url="http://[::1]:$MPORT/metrics"; }
	ip netns exec "$ns" curl -sS --max-time 5 -o "$2" -w '%{http_code} %{content_type}\n' "$url" \
		>"$2.http" || fail "scrape of $1 failed"
	grep -q '^200 text/plain; version=0.0.4' "$2.http" || fail "scrape of $1: $(cat "$2.http")"
	promtool check metrics <"$2" >"$2.lint" 2>&1 || fail "promtool on $1: $(cat "$2.lint")"
}
# value FILE SERIES: the value of one exact series line.
value() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }

# before protection: the endpoint serves the daemon's own families
scrape a "$TMPD/a0.prom"
[ "$(value "$TMPD/a0.prom" remus_sessions)" = 0 ] || fail "sessions before start: $(grep remus_sessions "$TMPD/a0.prom")"

ctl a start $G || fail "start"
ctl a protect $G --wait 30 >/dev/null || fail "protect"
wait_ge a $G checkpoints 5
scrape a "$TMPD/a1.prom"
wait_ge a $G checkpoints $(( $(value "$TMPD/a1.prom" "remus_checkpoints_total{guest=\"$G\"}") + 5 ))
scrape a "$TMPD/a2.prom"
scrape b "$TMPD/b2.prom"

c1=$(value "$TMPD/a1.prom" "remus_checkpoints_total{guest=\"$G\"}")
c2=$(value "$TMPD/a2.prom" "remus_checkpoints_total{guest=\"$G\"}")
[ -n "$c1" ] && [ -n "$c2" ] && [ "$c2" -gt "$c1" ] || fail "checkpoints did not increase: '$c1' -> '$c2'"
h1=$(value "$TMPD/a1.prom" "remus_pause_seconds_count{guest=\"$G\"}")
h2=$(value "$TMPD/a2.prom" "remus_pause_seconds_count{guest=\"$G\"}")
inf=$(value "$TMPD/a2.prom" "remus_pause_seconds_bucket{guest=\"$G\",le=\"+Inf\"}")
[ -n "$h1" ] && [ "$h2" -gt "$h1" ] && [ "$inf" = "$h2" ] ||
	fail "pause histogram: count $h1 -> $h2, +Inf bucket $inf"
[ "$(value "$TMPD/a2.prom" "remus_guest_state{guest=\"$G\",role=\"primary\",state=\"protected\"}")" = 1 ] ||
	fail "state: $(grep '^remus_guest_state{' "$TMPD/a2.prom" | grep ' 1$')"
[ "$(grep -c "^remus_guest_state{guest=\"$G\".* 1$" "$TMPD/a2.prom")" = 1 ] || fail "more than one state set"
[ "$(value "$TMPD/a2.prom" remus_peers)" = 1 ] || fail "primary peers: $(value "$TMPD/a2.prom" remus_peers)"
b=$(value "$TMPD/a2.prom" "remus_stream_bytes_total{guest=\"$G\"}")
[ -n "$b" ] && [ "$b" -gt 0 ] || fail "stream bytes: '$b'"
[ "$(value "$TMPD/b2.prom" "remus_guest_state{guest=\"$G\",role=\"backup\",state=\"replica-ready\"}")" = 1 ] ||
	fail "backup state: $(grep '^remus_guest_state{' "$TMPD/b2.prom" | grep ' 1$')"
applied=$(value "$TMPD/b2.prom" "remus_checkpoints_total{guest=\"$G\"}")
[ -n "$applied" ] && [ "$applied" -gt 0 ] || fail "backup applied: '$applied'"
[ "$(value "$TMPD/b2.prom" remus_handshakes_accepted_total)" -ge 1 ] || fail "backup: no accepted handshake"
echo "checkpoints $c1 -> $c2, pauses $h1 -> $h2, backup applied $applied"

# a refused peer is counted
r0=$(value "$TMPD/b2.prom" remus_handshake_refusals_total)
send_garbage
scrape b "$TMPD/b3.prom"
r1=$(value "$TMPD/b3.prom" remus_handshake_refusals_total)
[ "$r1" -gt "$r0" ] || fail "refusals did not increase: $r0 -> $r1"

# only GET /metrics
code=$(ip netns exec "$NS_A" curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/other")
[ "$code" = 404 ] || fail "wrong path answered $code"
code=$(ip netns exec "$NS_A" curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$MPORT/metrics")
[ "$code" = 405 ] || fail "POST answered $code"
ctl a list >/dev/null || fail "daemon stopped answering"

# the dashboard parses and asks only for exported families
python3 -m json.tool etc/grafana-remus.json >/dev/null || fail "etc/grafana-remus.json does not parse"
for m in $(grep -o 'remus_[a-z_]*' etc/grafana-remus.json | sed 's/_\(bucket\|sum\|count\)$//' | sort -u); do
	grep -q "^# TYPE $m " "$TMPD/a2.prom" || fail "dashboard uses $m, which remusd does not export"
done

# a bad metrics_listen is refused at load with file:line
printf '[global]\nkey_file = %s\nmetrics_listen = localhost:9\n' "$TMPD/remus.key" >"$TMPD/bad.conf"
"$BUILD/bin/remusd" -c "$TMPD/bad.conf" >"$TMPD/bad.out" 2>&1 && fail "metrics_listen with a name accepted"
grep -q "bad.conf:3: \[global\] metrics_listen" "$TMPD/bad.out" || fail "bad metrics_listen: $(cat "$TMPD/bad.out")"
echo PASS
