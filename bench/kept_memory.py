"""Kept-sample memory of model inversion runs, per epoch and projected.

For each RUN_DIR EPOCHS pair: the shards the run wrote (RUN/samples/
SERIES-NNNNNN.safetensors), what one epoch adds to each series, a check
that they add up to the `kept_bytes` the run logged after every epoch, and
the projection to EPOCHS epochs. Images are kept on disk, every batch; CMI's
features feed a bank that holds at most `synth.bank_size` rows in memory
(its shards stay on disk so that a resume rebuilds the bank), and the
logged bytes count the bank's rows, as the official MemoryBank holds them.

usage: python bench/kept_memory.py RUN_DIR EPOCHS [RUN_DIR EPOCHS ...]"""

import glob
import json
import os
import struct
import sys
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import dfkd_models  # noqa: E402
import torch.nn as nn  # noqa: E402

MB = 1e6


def shard_rows(path):
    """Rows and bytes per row of a shard's one tensor `x`, from its header."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
    start, end = header["x"]["data_offsets"]
    rows = header["x"]["shape"][0]
    return rows, (end - start) // rows


def mb(b):
    return f"{b / MB:.1f} MB"


print("| method | kept per epoch | measured after epoch 1, 2 (= shards) | epochs | projected: images | projected: bank | projected: total |")
print("|---|---|---|---|---|---|---|")
args = sys.argv[1:]
for run, epochs in zip(args[::2], args[1::2]):
    epochs = int(epochs)
    with open(f"{run}/config.toml", "rb") as f:
        cfg = tomllib.load(f)
    with open(f"{run}/metrics.jsonl") as f:
        logged = [json.loads(line)["kept_bytes"] for line in f]
    ran = len(logged)
    bank_cap = cfg["synth"].get("bank_size", 0)
    series = {}
    for path in sorted(glob.glob(f"{run}/samples/*.safetensors")):
        name = os.path.basename(path).rsplit("-", 1)[0]
        series.setdefault(name, []).append(shard_rows(path))
    per_epoch = {}
    for name, shards in series.items():
        assert len(shards) % ran == 0, f"{run}: {name} shards not the same every epoch"
        rows = sum(r for r, _ in shards) // ran
        per_epoch[name] = (rows, shards[0][1])

    def kept_after(e):
        total = 0
        for name, (rows, row_bytes) in per_epoch.items():
            n = rows * e
            if name == "features":  # the bank keeps the latest bank_size rows
                n = min(n, bank_cap)
            total += n * row_bytes
        return total

    expected = [kept_after(e) for e in range(1, ran + 1)]
    assert expected == logged, f"{run}: logged kept_bytes {logged}, shards give {expected}"
    images = per_epoch.get("images", (0, 0))
    feats = per_epoch.get("features", (0, 0))
    proj_images = images[0] * images[1] * epochs
    proj_bank = min(feats[0] * epochs, bank_cap) * feats[1]
    each = f"{images[0]} images x {images[1]} B"
    if feats[0]:
        each += f" + {feats[0]} bank rows x {feats[1]} B"
    print(
        f"| {cfg['method']} | {each} | {', '.join(mb(b) for b in logged)} | {epochs} "
        f"| {mb(proj_images)} | {mb(proj_bank)} | {mb(proj_images + proj_bank)} |"
    )

# The official CMI script's pair (WRN-40-2 teacher): features from the input of
# every BatchNorm layer, and a bank of 40,960 rows allocated in full up front.
net = dfkd_models.build("wrn40-2")
d = sum(m.num_features for m in net.modules() if isinstance(m, nn.BatchNorm2d))
print(
    f"\nOfficial CMI pair, WRN-40-2 teacher: d = {d} BatchNorm input channels, "
    f"bank 40,960 x {2 * d} float32 = {mb(40960 * 2 * d * 4)} (allocated at start)"
)
