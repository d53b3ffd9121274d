"""Shared pieces of dfkd's PyTorch reference benchmarks."""

import gzip
import math
import os

import numpy as np
import torch


def epoch_seed(seed, epoch):
    """dfkd's per-epoch seed (src/seed.rs), so both sides draw the same numbers."""
    m = (1 << 64) - 1
    z = (seed + 0x9E3779B97F4A7C15 * (epoch + 1)) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return (z ^ (z >> 31)) >> 1


def read_idx(path):
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    ndims = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndims)]
    return np.frombuffer(raw[4 + 4 * ndims :], dtype=np.uint8).reshape(dims)


def load_mnist(directory, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz"))
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def to_input(images_u8, size, mean, std):
    x = images_u8.float() / 255.0
    if x.shape[-1] != size:
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    return (x - mean) / std


def probe_snapshots(state):
    """The data-free choice's probe from a run's resume state
    (src/distill/select.rs): (samples, teacher logits) per snapshot, in the
    order taken (after epochs 1, 2, 4, ...)."""
    snaps = []
    while f"select/probe/{len(snaps):03}" in state:
        i = len(snaps)
        snaps.append((state[f"select/probe/{i:03}"], state[f"select/teacher/{i:03}"]))
    return snaps


def spearman(a, b):
    """Spearman's rank correlation of two equal-length sequences (no ties
    expected: the values are float scores)."""

    def ranks(v):
        r = [0] * len(v)
        for k, i in enumerate(sorted(range(len(v)), key=lambda i: v[i])):
            r[i] = k
        return r

    ra, rb = ranks(a), ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5


def student_checkpoint(run, epoch):
    """The student a run directory keeps after 1-based `epoch`."""
    return f"{run}/checkpoints/student-epoch-{epoch:04}.safetensors"


def probe_logits(model, probe):
    """`model`'s logits on the probe (a list of (samples, teacher logits)),
    snapshot by snapshot as dfkd scores it, and the teacher's, each
    concatenated over the snapshots."""
    with torch.no_grad():
        s = torch.cat([model(x) for x, _ in probe])
    return s, torch.cat([t for _, t in probe])


def logit_score(s, t):
    """Student logits `s` against teacher logits `t`: agreement with the
    teacher's top-1, mean KL(teacher || student), the standard error of that
    mean, and the number of samples."""
    agree = (s.argmax(1) == t.argmax(1)).sum().item()
    kl = torch.nn.functional.kl_div(s.log_softmax(1), t.softmax(1), reduction="none").sum(1)
    n = kl.numel()
    return agree / n, kl.mean().item(), kl.std().item() / math.sqrt(n), n


def probe_score(model, probe):
    """`logit_score` of `model` on the probe."""
    return logit_score(*probe_logits(model, probe))


def kappa(s, t):
    """Cohen's kappa of top-1 labels `s` against `t`, (a - pe) / (1 - pe),
    pe being the agreement that the two label frequencies alone give, and
    its standard error (Cohen's approximation, sqrt(a (1 - a) / n) / (1 -
    pe)): a student that predicts one class scores 0 whatever that class's
    share of the probe."""
    n, classes = t.numel(), int(max(s.max(), t.max())) + 1
    a = (s == t).double().mean().item()
    pe = (torch.bincount(s, minlength=classes) * torch.bincount(t, minlength=classes)).sum().item() / n**2
    if pe >= 1.0:
        return 0.0, 0.0
    return (a - pe) / (1 - pe), math.sqrt(a * (1 - a) / n) / (1 - pe)


def probe_kappa(model, probe):
    """`kappa` of `model` against the teacher on the probe."""
    s, t = probe_logits(model, probe)
    return kappa(s.argmax(1), t.argmax(1))


def within_noise(a, peak, n, k):
    """dfkd's tolerant rule (src/distill/select.rs): agreement `a` is within
    `k` binomial standard errors (dfkd: one until 2026-12-07, two since) of
    the `peak` agreement on `n` samples."""
    return a >= peak - k * math.sqrt(peak * (1 - peak) / n)


def signal_cells(signals, acc):
    """For each signal (one value per epoch, higher better): its Spearman
    correlation with the real accuracy `acc` over all epochs and over the
    second half, and the real accuracy (epoch) of the second-half epoch it
    ranks first, as table cells."""
    half = len(acc) // 2
    cells = []
    for v in signals:
        top = max(range(half, len(v)), key=lambda j: v[j])
        cells.append(
            f"rho {spearman(v, acc):+.2f}, late {spearman(v[half:], acc[half:]):+.2f}, "
            f"late top {acc[top]:.2f} ({top + 1})"
        )
    return cells
