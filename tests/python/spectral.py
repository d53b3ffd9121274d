"""PyTorch side of tests/spectral.rs: torch.nn.utils.spectral_norm on a
3x3 conv, seeded as dfkd was, compared with dfkd's draws, outputs, power
iteration vectors and weight gradient.

usage: spectral.py IO.safetensors"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import st  # noqa: E402

io, _ = st.load(sys.argv[1])
torch.manual_seed(3)
conv = torch.nn.utils.spectral_norm(torch.nn.Conv2d(5, 7, 3, padding=1))
failed = []


def check(name, got, want, tol=1e-5):
    diff = (got - want).abs().max().item()
    print(f"{name}: max diff {diff:.2e}")
    if diff > tol * max(1.0, want.abs().max().item()):
        failed.append(f"{name} differs by {diff}")


state = conv.state_dict()
for k in ["weight_orig", "bias", "weight_u", "weight_v"]:
    check(f"init {k}", io[f"init/c.{k}"], state[k], 0)
conv.train()
x = io["x"]
check("y1", conv(x).detach(), io["y1"])
y2 = conv(x)
check("y2", y2.detach(), io["y2"])
(y2 * y2).sum().backward()
check("grad", conv.weight_orig.grad, io["grad"], 1e-4)
for k in ["weight_u", "weight_v"]:
    check(f"after {k}", getattr(conv, k), io[f"after/c.{k}"])
if failed:
    sys.exit("; ".join(failed))
