"""PyTorch side of the generator parity test: load dfkd's generator weights
into our PyTorch twin of DAFL's/DFAD's generator (strict names and shapes),
run the same latent codes in train mode, compare the images.

usage: generator.py IO.safetensors WEIGHTS.safetensors LATENT BN_EPS"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
import st  # noqa: E402
from torch_models import Generator  # noqa: E402

io, _ = st.load(sys.argv[1])
weights, _ = st.load(sys.argv[2])
g = Generator(latent=int(sys.argv[3]), bn_eps=float(sys.argv[4]), channels=io["images"].shape[1])
missing = {k: v for k, v in g.state_dict().items() if k.endswith("num_batches_tracked")}
g.load_state_dict({**weights, **missing}, strict=True)
g.train()
with torch.no_grad():
    diff = (g(io["z"]) - io["images"]).abs().max().item()
print(f"max |image diff| {diff:.2e}")
if diff > 1e-4:
    sys.exit(f"generator images differ by {diff}")
