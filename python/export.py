"""Writes a dfkd checkpoint as a file to deploy: the zoo architecture of
`dfkd_models` with the checkpoint's weights, in evaluation mode, taking images
in [0, 1] and normalising them itself (the checkpoint's mean and std),
returning logits. As TorchScript (`torch.jit.load`; the checkpoint's metadata
travels inside as the extra file `dfkd.json`) or as ONNX (input `images`,
output `logits`, any batch size; the metadata as the model's metadata_props).

usage: export.py torchscript|onnx CHECKPOINT.safetensors OUT
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


def main(fmt, src, out):
    weights, meta = st.load(src)
    if meta.get("producer", "").split(" ")[0] != "dfkd":
        sys.exit(f"{src}: not a dfkd checkpoint (no dfkd metadata)")
    c, h, w = (int(v) for v in meta["input_shape"].split(","))
    model = dfkd_models.build(meta["arch"], int(meta["num_classes"]), c)
    model.load_state_dict(weights)
    mean = [float(v) for v in meta["mean"].split(",")]
    std = [float(v) for v in meta["std"].split(",")]
    deployed = Deployed(model, mean, std).eval()
    example = torch.rand(2, c, h, w)
    if fmt == "torchscript":
        scripted = torch.jit.trace(deployed, example)
        torch.jit.save(scripted, out, _extra_files={"dfkd.json": json.dumps(meta)})
    else:
        try:
            import onnx
        except ImportError:
            sys.exit("ONNX export needs the onnx package in this Python (pip install onnx)")
        torch.onnx.export(
            deployed,
            example,
            out,
            dynamo=False,
            input_names=["images"],
            output_names=["logits"],
            dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        )
        proto = onnx.load(out)
        for k, v in meta.items():
            proto.metadata_props.add(key=k, value=v)
        onnx.save(proto, out)


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("torchscript", "onnx"):
        sys.exit(__doc__)
    main(*sys.argv[1:])
