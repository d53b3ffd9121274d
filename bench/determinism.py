"""One fresh-process probe of libtorch's CPU repeatability, in plain PyTorch.

Three Adam steps on a batch of 8 inputs through a random CIFAR ResNet-20 in
eval mode (the first synthesis of a DeepInversion run, without its losses),
with denormals flushed as dfkd flushes them. Prints the digest of the inputs
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
from torch import nn

torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
torch.set_flush_denormal(True)


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + self.shortcut(x))


def resnet20():
    layers, cin = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU()], 16
    for cout, stride in [(16, 1), (32, 2), (64, 2)]:
        for k in range(3):
            layers.append(Block(cin, cout, stride if k == 0 else 1))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


torch.manual_seed(11)
teacher = resnet20().eval()
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
