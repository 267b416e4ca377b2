#!/usr/bin/env python3
"""Regenerate docs/performance.md and its plots from bench/results/latest.json.

Usage: report.py LATEST.json OUT.md PLOT_DIR

Rows named "FIGURE: SERIES @ X" are points of a line plot; rows named
"FIGURE: CATEGORY" (no "@") are bars, or a table only for a figure of
kind "table" (a few rows a plot would not help read).  Each figure below names its
goal; the page says for each whether the rows that carry a goal met it.
gnuplot (Debian's gnuplot-nox) draws the PNGs.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

# figure key -> title, axes, x log scale, kind, what the goal is (prose)
FIGURES = [
    ("pause_vs_dirty", "Checkpoint pause vs dirty fraction (256 MiB pvm guest)",
     "dirty pages, % of RAM", "pause (us)", True, "lines",
     "pause <= 0.5 ms at 1 % dirty of a 256 MiB guest (issue 21)"),
    ("pause_vs_ram", "Checkpoint pause vs guest RAM (1 % dirty)",
     "guest RAM (MiB)", "pause (us)", True, "lines", None),
    ("netbuf_latency_cdf", "Added output latency per netbuf backend (40 Hz epochs), CDF",
     "added latency vs unbuffered median (ms)", "percentile", False, "cdf",
     "p99 added latency <= one epoch + 5 ms"),
    ("stream_throughput", "Replication stream throughput per transport mode",
     "", "MB/s (loopback TCP of the same run as the line)", False, "bars",
     "rnet >= 0.8x and rnet+tls >= 0.6x loopback TCP (issue 21)"),
    ("stream_bytes", "Stream bytes on the wire per compression kind",
     "", "wire bytes / stream bytes", False, "bars",
     "<= 0.5x of the stream bytes on the kvstore and dirtier workloads (issue 21)"),
    ("ckpt_rate_vs_interval", "Checkpoint rate vs interval (16 MiB counter guest)",
     "checkpoint interval (ms)", "checkpoints per second", True, "lines",
     "rate >= 0.9x the tick rate"),
    ("compute_slowdown", "Guest compute slowdown at 40 Hz (compute guest, 32 MiB)",
     "", "", False, "table",
     "the guest's work rate protected at 40 Hz >= 1/1.3 of its rate unprotected, "
     "slowdown <= 1.3x (issue 21)"),
    ("failover", "Failover time and client-visible gap (heartbeat timeout 100 ms)",
     "", "ms (points: the heartbeat timeout)", False, "bars",
     "primary death -> the replica's first output <= timeout + 20 ms, for SIGKILL "
     "and for a frozen primary (issue 21)"),
    ("evacuate", "Switchover pause: remusctl evacuate vs QEMU 7.2 TCG live migration (32 MiB)",
     "", "ms (point: the QEMU downtime of the same run)", False, "bars",
     "evacuate's pause <= 0.5x QEMU's migration downtime (issue 21)"),
    ("many_guests_rate", "Checkpoint rate per guest vs guests on one daemon pair (40 Hz)",
     "guests", "checkpoints/s per guest", True, "lines",
     "per-guest rate >= 0.9x the one-guest rate of the same run"),
    ("many_guests_cpu", "Daemon CPU per guest vs guests on one daemon pair (40 Hz)",
     "guests", "% of a core per guest", True, "lines", None),
]

POINT = re.compile(r"^([a-z_]+): (.+?) @ ([-+0-9.eE]+)$")
BAR = re.compile(r"^([a-z_]+): (.+)$")


def fmt(v):
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "met" if v else "**not met**"
    if isinstance(v, (int, float)):
        return "%.0f" % v if abs(v) >= 100 else "%.3g" % v
    return str(v)


def split_rows(rows):
    """figure -> {series -> [(x, row)]} for points, figure -> [row] for bars."""
    points, bars = {}, {}
    for r in rows:
        m = POINT.match(r["name"])
        if m:
            points.setdefault(m.group(1), {}).setdefault(m.group(2), []).append(
                (float(m.group(3)), r))
            continue
        m = BAR.match(r["name"])
        if m:
            bars.setdefault(m.group(1), []).append((m.group(2), r))
    return points, bars


def figure_of(name):
    """The figure key a row belongs to, or None."""
    m = POINT.match(name) or BAR.match(name)
    return m.group(1) if m else None


def gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def plot_lines(key, title, xl, yl, logx, series, png, tmp, cdf):
    cmds, n = [], 0
    for name, pts in sorted(series.items()):
        pts.sort(key=lambda p: p[0])
        data = os.path.join(tmp, "%s.%d.dat" % (key, n))
        with open(data, "w", encoding="utf-8") as f:
            for x, r in pts:
                if cdf:
                    f.write("%g %g\n" % (r["value"], x))
                else:
                    f.write("%g %g\n" % (x, r["value"]))
        cmds.append("'%s' using 1:2 with linespoints title '%s'" % (data, name.replace("'", "")))
        base = [(x, r["baseline"]) for x, r in pts if r["baseline"] is not None]
        if base and not cdf:
            bdata = data + ".base"
            with open(bdata, "w", encoding="utf-8") as f:
                for x, b in base:
                    f.write("%g %g\n" % (x, b))
            cmds.append("'%s' using 1:2 with linespoints dashtype 2 title 'baseline of: %s'"
                        % (bdata, name.replace("'", "")))
        n += 1
    gnuplot("\n".join([
        "set terminal png size 900,540",
        "set output '%s'" % png,
        "set title '%s'" % title,
        "set xlabel '%s'" % xl,
        "set ylabel '%s'" % yl,
        "set key left top" if cdf else "set key outside below",
        "set grid",
        "set logscale x" if logx else "",
        "set logscale y" if logx and not cdf else "",
        "plot " + ", ".join(cmds),
    ]) + "\n")


def plot_bars(key, title, yl, items, png, tmp):
    data = os.path.join(tmp, key + ".dat")
    with open(data, "w", encoding="utf-8") as f:
        for i, (cat, r) in enumerate(items):
            f.write("%d \"%s\" %g %g\n" % (i, cat, r["value"],
                                            r["baseline"] if r["baseline"] is not None else 0))
    gnuplot("\n".join([
        "set terminal png size 900,540",
        "set output '%s'" % png,
        "set title '%s'" % title,
        "set ylabel '%s'" % yl,
        "set style fill solid 0.6",
        "set boxwidth 0.6",
        "set grid ytics",
        "set yrange [0:*]",
        "set key outside below",
        "plot '%s' using 1:3:xtic(2) with boxes title 'value', "
        "'' using 1:4 with points pt 7 ps 1.5 title 'baseline (same run)'" % data,
    ]) + "\n")


def goal_lines(rows):
    out = []
    for r in rows:
        if r["goal"] is not None:
            out.append("- `%s`: %s %s, goal `%s`: %s" % (
                r["name"], fmt(r["value"]), r["unit"], r["goal"],
                "met" if r["met"] else "**not met**"))
    return out


def table(rows):
    out = ["| row | value | unit | baseline | ratio | goal | met |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            r["name"], fmt(r["value"]), r["unit"], fmt(r["baseline"]), fmt(r["ratio"]),
            "`%s`" % r["goal"] if r["goal"] else "—", fmt(r["met"])))
    return out


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: report.py LATEST.json OUT.md PLOT_DIR")
    with open(sys.argv[1], encoding="utf-8") as f:
        res = json.load(f)
    md, plot_dir = sys.argv[2], sys.argv[3]
    rel = os.path.relpath(plot_dir, os.path.dirname(md) or ".")
    os.makedirs(plot_dir, exist_ok=True)
    points, bars = split_rows(res["rows"])
    m = res["machine"]
    doc = [
        "# Performance",
        "",
        "Generated by `make bench` (bench/run.sh → bench/collect.py → bench/report.py)",
        "from `bench/results/latest.json`; do not edit by hand.  Every figure is",
        "measured next to a baseline in the same run (memcpy, a bare suspend,",
        "loopback TCP, the unbuffered path, the tick rate) and its ratio is what",
        "to compare between machines and runs, not the absolute value.",
        "",
        "Machine: %d cores, kernel %s, %s." % (m["cores"], m["kernel"], m["cpu"]),
        "",
        "**Noise.** These figures were taken on a small machine (2 cores) shared",
        "with other jobs running at the same time; absolute times and",
        "throughputs vary from run to run by tens of percent.  The same-run",
        "ratios absorb much of that, not all of it: treat a goal missed or met",
        "by a small margin as undecided until a quiet run confirms it.",
        "",
    ]
    goals = [r for r in res["rows"] if r["goal"] is not None]
    doc += ["## Goals", "",
            "%d rows carry a goal: %d met, %d not met." % (
                len(goals), sum(1 for r in goals if r["met"]),
                sum(1 for r in goals if not r["met"])), ""]
    notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "performance_notes.md")
    if os.path.exists(notes):
        with open(notes, encoding="utf-8") as f:
            doc += [f.read().rstrip("\n"), ""]
    with tempfile.TemporaryDirectory() as tmp:
        for key, title, xl, yl, logx, kind, goal in FIGURES:
            png = os.path.join(plot_dir, key + ".png")
            if kind in ("bars", "table"):
                items = bars.get(key, [])
                rows = [r for _, r in items]
                if items and kind == "bars":
                    plot_bars(key, title, yl, items, png, tmp)
            else:
                series = points.get(key, {})
                rows = [r for s in sorted(series) for _, r in sorted(series[s], key=lambda p: p[0])]
                if series:
                    plot_lines(key, title, xl, yl, logx, series, png, tmp, kind == "cdf")
            doc += ["## " + title, ""]
            doc += ["Goal: %s." % goal if goal else "Goal: none set; shown for the shape.", ""]
            if not rows:
                doc += ["Not measured in this run (the bench that makes it skipped or "
                        "does not exist yet).", ""]
                continue
            gl = goal_lines(rows)
            if gl:
                doc += gl + [""]
            if kind != "table":
                doc += ["![%s](%s/%s.png)" % (title, rel, key), ""]
            doc += table(rows) + [""]
    keys = {f[0] for f in FIGURES}
    rest = [r for r in res["rows"] if figure_of(r["name"]) not in keys]
    if rest:
        doc += ["## Other figures", ""] + table(rest) + [""]
    with open(md, "w", encoding="utf-8") as f:
        f.write("\n".join(doc))
    print("report: %s, plots in %s" % (md, plot_dir))


if __name__ == "__main__":
    main()
