/*
 * Machine-readable benchmark rows.  Every figure a bench prints as text is
 * also appended, when $BENCH_ROWS names a file, as one JSON object per line
 * in bench/results' row schema: name, value, unit, baseline (the same
 * run's reference figure, or null), ratio (value / baseline, or null),
 * goal (a readable bound, or null) and met (true/false, null without a
 * goal).  bench/collect.py assembles the lines into latest.json.
 *
 * Row names that belong to a plot read "FIGURE: SERIES @ X", so the report
 * generator can pick the points of each figure without extra fields.
 *
 * $BENCH_QUICK=1 asks every bench for its short run (make bench's quick
 * mode, about two minutes in all).
 */
#ifndef REMUS_BENCH_ROWS_H
#define REMUS_BENCH_ROWS_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum bench_met { BENCH_NO_GOAL = -1, BENCH_NOT_MET = 0, BENCH_MET = 1 };

static inline bool bench_quick(void)
{
	const char *q = getenv("BENCH_QUICK");

	return q != NULL && *q != '\0' && strcmp(q, "0") != 0;
}

/* A JSON number, or null for NaN/inf (no baseline, no ratio). */
static inline void bench_num(FILE *f, double v)
{
	if (isfinite(v))
		fprintf(f, "%.6g", v);
	else
		fputs("null", f);
}

/* A JSON string; names and goals are ASCII chosen by the benches, but
 * quote and backslash are escaped all the same. */
static inline void bench_str(FILE *f, const char *s)
{
	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

/* Append one row.  baseline/ratio NAN: none.  goal NULL: met is null. */
static inline void bench_row(const char *name, double value, const char *unit,
                             double baseline, double ratio, const char *goal, int met)
{
	const char *path = getenv("BENCH_ROWS");
	FILE *f;

	if (path == NULL || *path == '\0' || (f = fopen(path, "a")) == NULL)
		return;
	fputs("{\"name\": ", f);
	bench_str(f, name);
	fputs(", \"value\": ", f);
	bench_num(f, value);
	fputs(", \"unit\": ", f);
	bench_str(f, unit);
	fputs(", \"baseline\": ", f);
	bench_num(f, baseline);
	fputs(", \"ratio\": ", f);
	bench_num(f, ratio);
	fputs(", \"goal\": ", f);
	bench_str(f, goal);
	fprintf(f, ", \"met\": %s}\n",
	        goal == NULL || met == BENCH_NO_GOAL ? "null" : met ? "true" : "false");
	fclose(f);
}

#endif
