#!/bin/bash
# Regression guard for the kept benchmark results: bench/results/latest.json
# parses, has every key of its schema with the right types, every row has
# all its fields, and the figures docs/performance.md plots have rows.
# Then the tools that make it (collect.py, report.py) are run on a small
# made-up row file.  Never a timing threshold: values are not judged.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

check_schema() {  # file
	python3 - "$@" <<'EOF'
import json, sys

path = sys.argv[1]
try:
    with open(path, encoding="utf-8") as f:
        res = json.load(f)
except (OSError, ValueError) as e:
    sys.exit("FAIL: %s does not parse: %s" % (path, e))
num = (int, float)
def need(cond, what):
    if not cond:
        sys.exit("FAIL: %s: %s" % (path, what))
need(isinstance(res, dict) and set(res) >= {"machine", "rows"}, "top level lacks machine/rows")
m = res["machine"]
need(isinstance(m, dict), "machine is not an object")
need(isinstance(m.get("cores"), int) and not isinstance(m.get("cores"), bool) and m["cores"] > 0,
     "machine.cores missing or not a positive integer")
need(isinstance(m.get("kernel"), str) and m["kernel"], "machine.kernel missing")
need(isinstance(m.get("cpu"), str) and m["cpu"], "machine.cpu missing")
need(isinstance(res["rows"], list) and res["rows"], "rows missing or empty")
names = set()
for i, r in enumerate(res["rows"]):
    where = "row %d (%s)" % (i, r.get("name") if isinstance(r, dict) else r)
    need(isinstance(r, dict), where + " is not an object")
    for k in ("name", "value", "unit", "baseline", "ratio", "goal", "met"):
        need(k in r, "%s lacks %s" % (where, k))
    need(isinstance(r["name"], str) and r["name"], where + ": name not a string")
    need(r["name"] not in names, where + ": name used twice")
    names.add(r["name"])
    need(isinstance(r["value"], num) and not isinstance(r["value"], bool), where + ": value not a number")
    need(isinstance(r["unit"], str) and r["unit"], where + ": unit not a string")
    for k in ("baseline", "ratio"):
        need(r[k] is None or (isinstance(r[k], num) and not isinstance(r[k], bool)),
             "%s: %s neither number nor null" % (where, k))
    need(r["goal"] is None or (isinstance(r["goal"], str) and r["goal"]), where + ": goal neither text nor null")
    need(r["met"] is None or isinstance(r["met"], bool), where + ": met neither true/false nor null")
    need((r["goal"] is None) == (r["met"] is None), where + ": met must be null exactly when goal is")
for fig in sys.argv[2:]:
    need(any(n.startswith(fig + ": ") for n in names), "no row for figure " + fig)
print("%s: %d rows, schema complete" % (path, len(res["rows"])))
EOF
}

# 1. the committed results
f=bench/results/latest.json
[ -f "$f" ] || { echo "FAIL: $f missing (make bench writes it)"; exit 1; }
check_schema "$f" pause_vs_dirty pause_vs_ram netbuf_latency_cdf stream_throughput ckpt_rate_vs_interval
for png in pause_vs_dirty pause_vs_ram netbuf_latency_cdf stream_throughput ckpt_rate_vs_interval; do
	[ -s "docs/perf/$png.png" ] || { echo "FAIL: docs/perf/$png.png missing"; exit 1; }
done
grep -q '^# Performance' docs/performance.md || { echo "FAIL: docs/performance.md not generated"; exit 1; }

# 2. the pipeline on made-up rows: collect refuses a half row, keeps whole ones
cat >"$tmp/rows" <<'EOF'
{"name": "pause_vs_dirty: x @ 1", "value": 10, "unit": "us", "baseline": 5, "ratio": 2, "goal": "value <= 500 us", "met": true}
{"name": "pause_vs_dirty: x @ 10", "value": 100, "unit": "us", "baseline": 50, "ratio": 2, "goal": null, "met": null}
{"name": "stream_throughput: rnet", "value": 1000, "unit": "MB/s", "baseline": 2000, "ratio": 0.5, "goal": "ratio >= 0.8", "met": false}
{"name": "loose figure", "value": 1, "unit": "ms", "baseline": null, "ratio": null, "goal": null, "met": null}
{"name": "compute_slowdown: slowdown at 40 Hz", "value": 1.2, "unit": "x", "baseline": 1, "ratio": 1.2, "goal": "ratio <= 1.3", "met": true}
{"name": "failover: SIGSTOP to output", "value": 150, "unit": "ms", "baseline": 100, "ratio": 1.5, "goal": "value <= timeout + 20 ms", "met": false}
{"name": "failover: SIGSTOP client gap", "value": 160, "unit": "ms", "baseline": 100, "ratio": 1.6, "goal": null, "met": null}
{"name": "many_guests_rate: checkpoints/s per guest @ 1", "value": 40, "unit": "1/s", "baseline": 40, "ratio": 1, "goal": "ratio >= 0.9", "met": true}
{"name": "many_guests_rate: checkpoints/s per guest @ 4", "value": 39, "unit": "1/s", "baseline": 40, "ratio": 0.975, "goal": "ratio >= 0.9", "met": true}
EOF
python3 bench/collect.py "$tmp/rows" "$tmp/latest.json" >/dev/null
check_schema "$tmp/latest.json"
echo '{"name": "half", "value": 1}' >"$tmp/bad"
if python3 bench/collect.py "$tmp/bad" "$tmp/bad.json" 2>"$tmp/err"; then
	echo "FAIL: collect.py accepted a row without unit/baseline/ratio/goal/met"; exit 1
fi
grep -q 'lacks' "$tmp/err" || { echo "FAIL: collect.py's refusal does not say what was missing"; exit 1; }
if command -v gnuplot >/dev/null; then
	python3 bench/report.py "$tmp/latest.json" "$tmp/perf.md" "$tmp/perf" >/dev/null
	[ -s "$tmp/perf/pause_vs_dirty.png" ] && [ -s "$tmp/perf/stream_throughput.png" ] ||
		{ echo "FAIL: report.py drew no plot"; exit 1; }
	grep -q 'goal `ratio >= 0.8`: \*\*not met\*\*' "$tmp/perf.md" ||
		{ echo "FAIL: report does not say the missed goal is not met"; exit 1; }
	grep -q 'goal `value <= 500 us`: met' "$tmp/perf.md" ||
		{ echo "FAIL: report does not say the met goal is met"; exit 1; }
	grep -q 'loose figure' "$tmp/perf.md" || { echo "FAIL: report dropped a row"; exit 1; }
	# the system benches' figures: bars, lines, and a table without a plot
	[ -s "$tmp/perf/failover.png" ] && [ -s "$tmp/perf/many_guests_rate.png" ] ||
		{ echo "FAIL: report.py drew no failover or many-guests plot"; exit 1; }
	grep -q 'goal `value <= timeout + 20 ms`: \*\*not met\*\*' "$tmp/perf.md" ||
		{ echo "FAIL: report does not say the missed failover goal is not met"; exit 1; }
	grep -q '^| compute_slowdown: slowdown at 40 Hz | 1.2 | x |' "$tmp/perf.md" ||
		{ echo "FAIL: report has no compute slowdown table row"; exit 1; }
	if [ -e "$tmp/perf/compute_slowdown.png" ] || grep -q 'compute_slowdown.png' "$tmp/perf.md"; then
		echo "FAIL: report plotted the table-only compute slowdown figure"; exit 1
	fi
fi
echo "bench results: schema, figures and report pipeline ok"
