"""Markdown rows on how well each method keeps what it learnt: over the
second half of every run's epochs, the mean and lowest accuracy and the
largest fall below the best accuracy reached so far (forgetting), and the
gap between the last epoch and the best, averaged over the runs of a method.

usage: python3 bench/stability.py RUNS_DIR METHOD...   (runs are RUNS_DIR/METHOD-s*)"""

import glob
import json
import statistics
import sys


def second_half(acc):
    """Second-half mean, lowest, largest fall below the best so far."""
    half = len(acc) // 2
    best, fall = max(acc[:half]), 0.0
    for a in acc[half:]:
        best = max(best, a)
        fall = max(fall, best - a)
    return statistics.mean(acc[half:]), min(acc[half:]), fall


runs_dir, methods = sys.argv[1], sys.argv[2:]
print("| method | runs | 2nd-half mean | 2nd-half lowest | largest fall below best so far | best - last |")
print("|---|---|---|---|---|---|")
for method in methods:
    rows = []
    for run in sorted(glob.glob(f"{runs_dir}/{method}-s*")):
        with open(f"{run}/metrics.jsonl") as f:
            acc = [json.loads(line)["val_accuracy"] for line in f]
        rows.append((*second_half(acc), max(acc) - acc[-1]))
    mean = [statistics.mean(column) for column in zip(*rows)]
    falls = "/".join(f"{r[2]:.2f}" for r in rows)
    print(
        f"| {method} | {len(rows)} | {mean[0]:.2f} | {mean[1]:.2f} "
        f"| {mean[2]:.2f} ({falls}) | {mean[3]:.2f} |"
    )
