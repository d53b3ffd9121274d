"""How the data-free choice of the shipped student does on real data: for
each run directory, the test accuracy of the chosen epoch (chosen with no
real data, see src/distill/select.rs; or of the average of students the
run shipped instead, see src/distill/average.rs), of the best epoch and of
the last,
then the issue's targets over all runs: the mean shortfall of the chosen
epoch to the best, the worst gap to the last epoch, and whether a chosen
epoch is a collapsed one (flagged by the run, or below half the best).

usage: python3 bench/selection.py RUN_DIR..."""

import json
import statistics
import sys

print("| run | epochs | chosen (epoch) | best (epoch) | last | chosen - best | chosen - last |")
print("|---|---|---|---|---|---|---|")
shortfalls, to_last, collapsed = [], [], []
for run in sys.argv[1:]:
    with open(f"{run}/metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    acc = [r["val_accuracy"] for r in records]
    chosen = records[-1].get("chosen_epoch", len(acc))
    best = max(range(len(acc)), key=lambda i: acc[i]) + 1
    # A run that shipped an average of students (src/distill/average.rs)
    # measured it on its own.
    c = records[-1].get("shipped_accuracy") or acc[chosen - 1]
    b, last = acc[best - 1], acc[-1]
    flagged = records[chosen - 1].get("collapse") is not None or c < b / 2
    shortfalls.append(b - c)
    to_last.append(c - last)
    collapsed.append(flagged)
    name = run.rstrip("/").split("/")[-1]
    mark = " (collapsed)" if flagged else ""
    print(
        f"| {name} | {len(acc)} | {c:.2f} ({chosen}){mark} | {b:.2f} ({best}) | {last:.2f} "
        f"| {c - b:+.2f} | {c - last:+.2f} |"
    )
print()
print(
    f"{len(shortfalls)} runs: mean shortfall to the best {statistics.mean(shortfalls):.2f} points "
    f"(target <= 0.5), worst chosen - last {min(to_last):+.2f} (target >= -0.2), "
    f"collapsed epochs chosen: {sum(collapsed)} (target 0)"
)
