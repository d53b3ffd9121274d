"""PyTorch reference of one epoch of `dfkd train-teacher --arch lenet5 --data
mnist:...`: DAFL's MNIST teacher recipe (Adam 1e-3, batch 256, shuffled),
inputs resized to 32x32 and normalised per batch, then test accuracy.
Same seeds as dfkd, so the two should agree on loss and accuracy.

usage: teacher_epoch.py MNIST_DIR [SEED]"""

import os
import sys
import time

import torch
import torch.nn.functional as F

from common import epoch_seed, load_mnist, to_input
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from dfkd_models import LeNet5

mnist, seed = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0
train_x, train_y = load_mnist(mnist, "train")
test_x, test_y = load_mnist(mnist, "test")
MEAN, STD = 0.1307, 0.3081

torch.manual_seed(seed)
net = LeNet5()
opt = torch.optim.Adam(net.parameters(), lr=1e-3)

start = time.perf_counter()
torch.manual_seed(epoch_seed(seed, 0))
order = torch.randperm(len(train_y))
total, batches = 0.0, 0
net.train()
for lo in range(0, len(order), 256):
    idx = order[lo : lo + 256]
    x = to_input(train_x.index_select(0, idx), 32, MEAN, STD)
    loss = F.cross_entropy(net(x), train_y.index_select(0, idx))
    opt.zero_grad()
    loss.backward()
    opt.step()
    total += loss.item()
    batches += 1
net.eval()
correct = 0
with torch.no_grad():
    for lo in range(0, len(test_y), 1000):
        x = to_input(test_x[lo : lo + 1000], 32, MEAN, STD)
        correct += (net(x).argmax(1) == test_y[lo : lo + 1000]).sum().item()
seconds = time.perf_counter() - start
print(f"loss {total / batches:.4f}  test accuracy {100 * correct / len(test_y):.2f}%  ({seconds:.2f} s)")
