# shellcheck shell=bash
# Shared by the system benches (sourced): failover.sh, many_guests.sh,
# evacuate.sh.  A row in bench/rows.h's format appended to $BENCH_ROWS,
# and the median of numbers.

# row NAME VALUE UNIT BASELINE RATIO GOAL MET  (BASELINE..MET as JSON:
# a number or null, a quoted goal or null, true/false/null)
row() {
	[ -n "${BENCH_ROWS:-}" ] || return 0
	printf '{"name": "%s", "value": %s, "unit": "%s", "baseline": %s, "ratio": %s, "goal": %s, "met": %s}\n' \
		"$1" "$2" "$3" "$4" "$5" "$6" "$7" >>"$BENCH_ROWS"
}

# median NUMBER...: the middle one (the mean of the middle two).
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# calc EXPR: a Python expression's value (ratios, comparisons as true/false).
calc() {
	python3 -c "import sys; v = eval(sys.argv[1]); print(str(v).lower() if isinstance(v, bool) else ('%.4g' % v))" "$1"
}

# ratio A B: A / B, or null when B is 0.
ratio() {
	python3 -c "import sys; a, b = map(float, sys.argv[1:]); print('%.4g' % (a / b) if b else 'null')" "$1" "$2"
}
