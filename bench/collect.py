#!/usr/bin/env python3
"""Assemble the rows the benches appended (one JSON object per line, see
bench/rows.h) into bench/results' schema:

    {"machine": {"cores", "kernel", "cpu"},
     "rows": [{"name", "value", "unit", "baseline", "ratio", "goal", "met"}]}

Usage: collect.py ROWS.jsonl OUT.json
A line that is not a complete row is an error naming the line: a bench
that printed half a row is a bug to see, not to skip.
"""
import json
import os
import platform
import sys

FIELDS = ("name", "value", "unit", "baseline", "ratio", "goal", "met")


def machine():
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cores": os.cpu_count() or 0, "kernel": platform.release(), "cpu": cpu}


def read_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                sys.exit("collect: %s line %d: not JSON: %s" % (path, n, e))
            missing = [k for k in FIELDS if k not in row]
            if missing:
                sys.exit("collect: %s line %d: row lacks %s" % (path, n, ", ".join(missing)))
            rows.append({k: row[k] for k in FIELDS})
    return rows


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: collect.py ROWS.jsonl OUT.json")
    out = {"machine": machine(), "rows": read_rows(sys.argv[1])}
    tmp = sys.argv[2] + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    os.replace(tmp, sys.argv[2])
    print("collect: %d rows -> %s" % (len(out["rows"]), sys.argv[2]))


if __name__ == "__main__":
    main()
