"""PyTorch side of the generator parity test: load dfkd's generator weights
into our PyTorch twin of DAFL's/DFAD's generator (strict names and shapes),
run the same latent codes in train mode, compare the images. With
`pre-dfkd sn|plain`, the twin is PRE-DFKD's generator (spectral-normalised
or not), and a fresh one seeded as dfkd's (seed 21) must also start from the
very same weights.

usage: generator.py IO.safetensors WEIGHTS.safetensors LATENT BN_EPS [pre-dfkd sn|plain]"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import st  # noqa: E402
from dfkd_models import Generator, PreDfkdGenerator  # noqa: E402

io, _ = st.load(sys.argv[1])
weights, _ = st.load(sys.argv[2])
latent, bn_eps, channels = int(sys.argv[3]), float(sys.argv[4]), io["images"].shape[1]
if len(sys.argv) > 5:
    torch.manual_seed(21)
    g = PreDfkdGenerator(latent=latent, channels=channels, bn_eps=bn_eps, spectral_norm=sys.argv[6] == "sn")
    for k, v in g.state_dict().items():
        if k in weights and not torch.equal(weights[k], v):
            sys.exit(f"initial {k} differs from PyTorch's")
else:
    g = Generator(latent=latent, bn_eps=bn_eps, channels=channels)
missing = {k: v for k, v in g.state_dict().items() if k.endswith("num_batches_tracked")}
g.load_state_dict({**weights, **missing}, strict=True)
g.train()
with torch.no_grad():
    diff = (g(io["z"]) - io["images"]).abs().max().item()
print(f"max |image diff| {diff:.2e}")
if diff > 1e-4:
    sys.exit(f"generator images differ by {diff}")
