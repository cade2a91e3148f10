#!/usr/bin/env python3
"""Summarizes results.jsonl (from run_matrix.sh) as a Markdown table: per
configuration, the median over runs of each run's median ms/step, the range,
and the largest peak RSS."""
import collections
import json
import statistics
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "results.jsonl"
runs = collections.defaultdict(list)
for line in open(path):
    r = json.loads(line)
    c = r["config"]
    key = (r["what"], c["channels"], c["image_size"], c["in_channels"], c["batch_size"], r["threads"])
    runs[key].append(r)
print("| what | C | input | batch | threads | runs | ms/step (median of runs) | range | images/s | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(runs, key=lambda k: (k[1], k[0], k[5])):
    what, c, s, k, b, t = key
    ms = [r["ms_per_step_median"] for r in runs[key]]
    med = statistics.median(ms)
    rss = max(r["peak_rss_mb"] for r in runs[key])
    print(
        f"| {what} | {c} | {s}×{s}×{k} | {b} | {t} | {len(ms)} | {med:.0f} | {min(ms):.0f}–{max(ms):.0f} "
        f"| {b / med * 1e3:.1f} | {rss:.0f} |"
    )
