"""One fresh-process probe of libtorch's CPU repeatability, in plain PyTorch.

Three Adam steps on a batch of 8 inputs through a random ResNet-20 of dfkd's
zoo (python/dfkd_models.py) in eval mode (the first synthesis of a
DeepInversion run, without its losses), with denormals flushed as dfkd
flushes them. Prints the digest of the inputs
after the steps, then the number of distinct digests among REPEATS more
syntheses in the same process. bench/determinism.sh starts it many times and
counts the digests: a repeatable library gives one.

usage: determinism.py [REPEATS]   (threads: OMP_NUM_THREADS, default 2)
"""

import hashlib
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
import dfkd_models  # noqa: E402

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
torch.set_flush_denormal(True)

torch.manual_seed(11)
teacher = dfkd_models.build("resnet20").eval()
start = torch.randn(8, 3, 32, 32)
targets = torch.arange(8) % 10


def synthesis():
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(teacher(x), targets).backward()
        opt.step()
    return hashlib.sha1(x.detach().numpy().tobytes()).hexdigest()[:8]


first = synthesis()
repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 0
print(first, len({synthesis() for _ in range(repeats)} | {first}))
