"""Markdown rows of the per-run table in bench/RESULTS.md: accuracy after
every epoch, peak, last and distillation wall-clock of each run directory.

usage: python3 bench/per_run.py RUN_DIR..."""

import json
import sys

print("| run | epochs | accuracy per epoch (%) | acc_max | last | wall-clock |")
print("|---|---|---|---|---|---|")
for run in sys.argv[1:]:
    with open(f"{run}/metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    acc = [r["val_accuracy"] for r in records]
    seconds = round(records[-1]["wall_clock"])
    curve = " ".join(f"{a:.1f}" for a in acc)
    name = run.rstrip("/").split("/")[-1]
    print(
        f"| {name} | {len(acc)} | {curve} | {max(acc):.2f} | {acc[-1]:.2f} "
        f"| {seconds // 60}m{seconds % 60:02d}s |"
    )
