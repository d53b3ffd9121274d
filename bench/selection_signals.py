"""How well candidate data-free signals track real accuracy within a run.

For each run directory: every epoch's student (checkpoints/) scored on the
run's whole final probe (every snapshot in state.safetensors, so every
epoch is scored on the same samples; the run itself scores on the probe as
it stood) by five signals, higher being better: top-1 agreement with the
teacher, agreement on the samples the teacher gives > 0.9 probability,
balanced agreement (the mean over the teacher's classes of the agreement on
the samples the teacher puts in that class, so that a probe crowded into
few classes, as a generator trained against the student makes, does not
reward a student that predicts those classes), -KL(teacher || student),
-CE(student, teacher's top-1) and Cohen's kappa (agreement beyond what the
two label frequencies alone give, bench/common.py's kappa). For each signal,
Spearman's rank correlation with the real accuracy per epoch over all
epochs and over the second half (where the choice of the epoch to ship is
made), and the second-half epoch it ranks first. An analysis, not a rule:
with hindsight over the final probe, which no run has while it runs.

usage: .venv/bin/python bench/selection_signals.py RUN_DIR..."""

import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import common  # noqa: E402
import dfkd_models  # noqa: E402
import st  # noqa: E402

torch.set_num_threads(1)

names = ("agreement", "confident agreement", "balanced agreement", "-KL", "-CE", "kappa")
print("| run | probe | best (epoch) | last | " + " | ".join(names) + " |")
print("|---|---|---|---|" + "---|" * len(names))
for run in sys.argv[1:]:
    with open(f"{run}/metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    state, _ = st.load(f"{run}/state.safetensors")
    xs, ts = zip(*common.probe_snapshots(state))
    x, t = torch.cat(xs), torch.cat(ts)
    p = t.softmax(1)
    confident = p.max(1).values > 0.9
    label = t.argmax(1)
    classes = label.unique()
    signals = [[] for _ in names]
    acc = []
    for r in records:
        with torch.no_grad():
            s = dfkd_models.load(common.student_checkpoint(run, r["epoch"]))[0](x)
        same = (s.argmax(1) == label).float()
        balanced = torch.stack([same[label == c].mean() for c in classes]).mean()
        for v, value in zip(
            signals,
            (
                same.mean(),
                same[confident].mean(),
                balanced,
                -F.kl_div(s.log_softmax(1), p, reduction="batchmean"),
                -F.cross_entropy(s, label),
                torch.tensor(common.kappa(s.argmax(1), label)[0]),
            ),
        ):
            v.append(value.item())
        acc.append(r["val_accuracy"])
    best = max(range(len(acc)), key=lambda k: acc[k])
    cells = common.signal_cells(signals, acc)
    name = run.rstrip("/").split("/")[-1]
    largest = label.bincount().max().item() / len(label)
    print(
        f"| {name} | {len(t)} ({confident.float().mean():.0%} confident, "
        f"{len(classes)} classes, largest {largest:.0%}) "
        f"| {acc[best]:.2f} ({best + 1}) | {acc[-1]:.2f} | " + " | ".join(cells) + " |"
    )
