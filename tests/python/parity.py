"""Weights move both ways between dfkd and PyTorch.

usage: parity.py DIR ARCH...
For each ARCH, DIR holds `ARCH.dfkd.safetensors` (a dfkd checkpoint) and
`ARCH.io.safetensors` (an input and dfkd's eval-mode logits). This script
loads the checkpoint into the PyTorch model with strict=True, checks the
logits, then writes `ARCH.torch.safetensors` (a randomly initialised PyTorch
state dict, num_batches_tracked included) and `ARCH.torch-io.safetensors`
(an input and PyTorch's logits) for dfkd to check the other way. It also
writes `lenet5.init7.safetensors`: LeNet-5 as initialised after
torch.manual_seed(7)."""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import st  # noqa: E402
import dfkd_models  # noqa: E402

torch.manual_seed(0)
out_dir, archs = sys.argv[1], sys.argv[2:]
for arch in archs:
    state, meta = st.load(os.path.join(out_dir, f"{arch}.dfkd.safetensors"))
    io, _ = st.load(os.path.join(out_dir, f"{arch}.io.safetensors"))
    shape = [int(s) for s in meta["input_shape"].split(",")]
    model = dfkd_models.build(arch, int(meta["num_classes"]), shape[0])
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        diff = (model(io["input"]) - io["logits"]).abs().max().item()
    # Relative to the logits' size: untrained deep nets give large logits,
    # and layouts (dfkd runs channels-last) change float summation order.
    scale = max(1.0, io["logits"].abs().max().item())
    if diff > 1e-5 * scale:
        sys.exit(f"{arch}: PyTorch logits differ from dfkd's by {diff} (logits up to {scale})")

    fresh = dfkd_models.build(arch, int(meta["num_classes"]), shape[0])
    for m in fresh.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
            m.num_batches_tracked.fill_(3)
    fresh.eval()
    x = torch.randn(4, *shape)
    with torch.no_grad():
        logits = fresh(x)
    st.save(os.path.join(out_dir, f"{arch}.torch.safetensors"), fresh.state_dict())
    st.save(os.path.join(out_dir, f"{arch}.torch-io.safetensors"), {"input": x, "logits": logits})
    print(f"{arch}: ok (max |logit diff| {diff:.2e})")

torch.manual_seed(7)
st.save(os.path.join(out_dir, "lenet5.init7.safetensors"), dfkd_models.LeNet5().state_dict())
