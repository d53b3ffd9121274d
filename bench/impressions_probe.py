"""Would a probe of Data Impressions see what the synthesizer's own samples
miss? An analysis for the data-free choice (src/distill/select.rs).

The run's probe is made of the synthesizer's samples, and on DFAD's runs no
signal on it follows the late decline of real accuracy (bench/RESULTS.md):
DFAD's generator is trained to make samples the student gets wrong, so
agreement there measures the adversary, not the student. Data Impressions
(Nayak et al., "Zero-Shot Knowledge Distillation in Deep Networks", ICML
2019) come from the teacher alone, independent of any run: for class k, a
softmax target y ~ Dir(beta * c_k), c_k the class-similarity row from the
teacher's final-layer weights (cosine, min-max scaled to [0, 1]), beta 1.0
for half the impressions and 0.1 for the other half; an input optimised from
uniform noise by Adam (lr 0.01, 1500 steps) to minimise the cross-entropy
between y and the teacher's softmax at temperature 20. ZSKD's recipe except
that pixels are kept in [0, 1] by clamping (so inputs stay images).

For each run directory: every epoch's student (checkpoints/) scored on the
impressions by top-1 agreement with the teacher and -KL(teacher || student)
at T = 1, and Spearman's rank correlation of each with the real accuracy
per epoch, over all epochs and over the second half, with the second-half
epoch each ranks first. Then two rules of choice, replayed epoch by epoch
as bench/selection_replay.py replays dfkd's:
- impressions: the tolerant rule of src/distill/select.rs (a new student
  becomes the champion when its agreement is within one binomial standard
  error of the highest so far) on the impressions alone (a fixed probe);
- both: a new student becomes the champion when it is within the noise of
  the peak on the run's own probe (tolerant, the peak reset to the
  champion's score when a snapshot joins, as dfkd does) and on the
  impressions.
Both rules were written on 2026-12-03 after seeing the six MNIST runs of
bench/RESULTS.md's "data-free choice" section and before the PRE-DFAD
seed-1 run had finished: that run is the first the rules did not see.
Every run must share the teacher given. The
impressions are kept in runs/impressions/ and reused (the optimisation takes
minutes).

usage: .venv/bin/python bench/impressions_probe.py TEACHER N RUN_DIR...
(N impressions, a multiple of twice the class count; STEPS=K in the
environment optimises each for K steps instead of ZSKD's 1500)"""

import json
import os
import statistics
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import common  # noqa: E402
import dfkd_models  # noqa: E402
import st  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(0)

# The tolerant rule's width in standard errors when these candidates were
# written (dfkd's then), kept so the table of bench/RESULTS.md reproduces.
WIDTH = 1

teacher_path, n, runs = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
steps = int(os.environ.get("STEPS", 1500))
teacher, meta = dfkd_models.load(teacher_path)
for p in teacher.parameters():
    p.requires_grad_(False)
classes = int(meta["num_classes"])
shape = [int(v) for v in meta["input_shape"].split(",")]
mean = torch.tensor([float(v) for v in meta["mean"].split(",")]).view(1, -1, 1, 1)
std = torch.tensor([float(v) for v in meta["std"].split(",")]).view(1, -1, 1, 1)


def impressions():
    """N Data Impressions of the teacher, as normalised inputs."""
    # Class similarity from the final layer's weights.
    w = [m for m in teacher.modules() if isinstance(m, torch.nn.Linear)][-1].weight
    w = F.normalize(w, dim=1)
    sim = w @ w.t()
    lo, hi = sim.min(1, keepdim=True).values, sim.max(1, keepdim=True).values
    sim = (sim - lo) / (hi - lo)

    per = n // (2 * classes)
    targets = []
    for beta in (1.0, 0.1):
        for k in range(classes):
            # Dirichlet needs positive concentrations: the least similar class
            # scales to 0, so floor it.
            conc = (beta * sim[k]).clamp_min(1e-3)
            targets.append(torch.distributions.Dirichlet(conc).sample((per,)))
    y = torch.cat(targets)

    pixels = torch.rand([len(y)] + shape, requires_grad=True)
    opt = torch.optim.Adam([pixels], lr=0.01)
    for _ in range(steps):
        logits = teacher((pixels - mean) / std)
        loss = -(y * (logits / 20).log_softmax(1)).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            pixels.clamp_(0, 1)
    x = ((pixels - mean) / std).detach()
    return x, loss.item(), y


cache = os.path.join("runs", "impressions", f"{os.path.basename(teacher_path)}-{n}-{steps}.pt")
if os.path.exists(cache):
    x, final_loss, y = torch.load(cache)
else:
    x, final_loss, y = impressions()
    os.makedirs(os.path.dirname(cache), exist_ok=True)
    torch.save((x, final_loss, y), cache)
with torch.no_grad():
    t = teacher(x)
p = t.softmax(1)
print(
    f"{len(x)} impressions ({steps} steps), final loss {final_loss:.4f}; teacher's top-1 = the target's top-1 on "
    f"{(t.argmax(1) == y.argmax(1)).float().mean():.1%}, classes covered by the teacher's top-1: "
    f"{len(set(t.argmax(1).tolist()))} of {classes}\n"
)

rules = ("impressions", "both")
print(
    "| run | best (epoch) | last | agreement | -KL | "
    + " | ".join(f"{r}: chosen (epoch)" for r in rules)
    + " |"
)
print("|---|---|---|---|---|" + "---|" * len(rules))
gaps = {r: ([], []) for r in rules}
for run in runs:
    with open(f"{run}/metrics.jsonl") as f:
        records = [json.loads(line) for line in f]
    state, _ = st.load(f"{run}/state.safetensors")
    snaps = common.probe_snapshots(state)
    signals = ([], [])
    acc = []
    alone = both = None  # (epoch, model)
    peak = impressions_peak = None
    for r in records:
        e = r["epoch"]
        model = dfkd_models.load(common.student_checkpoint(run, e))[0]
        with torch.no_grad():
            s = model(x)
        a = (s.argmax(1) == t.argmax(1)).float().mean().item()
        signals[0].append(a)
        signals[1].append(-F.kl_div(s.log_softmax(1), p, reduction="batchmean").item())
        acc.append(r["val_accuracy"])
        impressions_peak = a if impressions_peak is None else max(impressions_peak, a)
        if alone is None or common.within_noise(a, impressions_peak, len(x), WIDTH):
            alone = (e, model)
        probe = [snap for i, snap in enumerate(snaps) if 2**i <= e]
        ra, _, _, n = common.probe_score(model, probe)
        if e & (e - 1) == 0 and both is not None:
            peak = common.probe_score(both[1], probe)[0]
        peak = ra if peak is None else max(peak, ra)
        if both is None or (
            common.within_noise(ra, peak, n, WIDTH) and common.within_noise(a, impressions_peak, len(x), WIDTH)
        ):
            both = (e, model)
    best = max(range(len(acc)), key=lambda k: acc[k])
    cells = common.signal_cells(signals, acc)
    for rule, (e, _) in zip(rules, (alone, both)):
        cells.append(f"{acc[e - 1]:.2f} ({e})")
        gaps[rule][0].append(acc[best] - acc[e - 1])
        gaps[rule][1].append(acc[e - 1] - acc[-1])
    name = run.rstrip("/").split("/")[-1]
    print(f"| {name} | {acc[best]:.2f} ({best + 1}) | {acc[-1]:.2f} | " + " | ".join(cells) + " |")
print()
for rule, (short, to_last) in gaps.items():
    print(
        f"{rule}: mean shortfall to the best {statistics.mean(short):.2f} points, "
        f"worst chosen - last {min(to_last):+.2f}"
    )
