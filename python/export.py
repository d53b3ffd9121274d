"""Writes a dfkd checkpoint as a deployable TorchScript module: the zoo
architecture of `dfkd_models` with the checkpoint's weights, in evaluation
mode, taking images in [0, 1] and normalising them itself (the checkpoint's
mean and std), returning logits. The checkpoint's metadata travels inside the
file as the extra file `dfkd.json`.

usage: export.py CHECKPOINT.safetensors OUT.pt
(run by `dfkd export`, in the venv's PyTorch)"""

import json
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dfkd_models  # noqa: E402
import st  # noqa: E402


class Deployed(nn.Module):
    """Normalisation, then the classifier."""

    def __init__(self, model, mean, std):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return self.model((x - self.mean) / self.std)


def main(src, out):
    weights, meta = st.load(src)
    if meta.get("producer", "").split(" ")[0] != "dfkd":
        sys.exit(f"{src}: not a dfkd checkpoint (no dfkd metadata)")
    c, h, w = (int(v) for v in meta["input_shape"].split(","))
    model = dfkd_models.build(meta["arch"], int(meta["num_classes"]), c)
    model.load_state_dict(weights)
    mean = [float(v) for v in meta["mean"].split(",")]
    std = [float(v) for v in meta["std"].split(",")]
    deployed = Deployed(model, mean, std).eval()
    scripted = torch.jit.trace(deployed, torch.rand(2, c, h, w))
    torch.jit.save(scripted, out, _extra_files={"dfkd.json": json.dumps(meta)})


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
