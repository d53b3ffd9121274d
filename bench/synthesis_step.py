"""PyTorch reference of one synthesis step of DeepInversion (ADI) and of CMI
on the CIFAR-10 CPU pair (ResNet-56 teacher, ResNet-20 student), written
after the official loops of the zju-vipa DataFree library
(datafree/synthesis/deepinversion.py and contrastive.py, the protocol dfkd's
presets follow):

- deepinversion: jitter (roll up to 4 px + flip), teacher forward with a
  hook per BatchNorm computing R_feature (mean over N,H,W; variance of the
  permuted view, unbiased=False; L2 norms), CE to the targets, the student's
  -JS at T=3 (adv 1), TV-L1 on the inputs, backward, Adam (betas 0.5, 0.99),
  clip to valid pixels;
- cmi: the CMI generator forward (Sigmoid), a global view (crop with 4 px
  of zero padding + flip) and a local view (random resized crop, 25-100 %
  of the area, + flip) made by grid_sample as kornia warps them, teacher on
  both views with instance-mean hooks on the inputs of layer1..layer3 (the
  library's rule for ResNet teachers) and R_feature hooks, CE, masked
  adversarial KL (adv 0.5) with the student, the contrastive loss through
  the d -> d -> 256 head against 4,096 negatives of a full bank, backward,
  Adam on generator + z (betas 0.5, 0.999) and on the head.

As the official code, the teacher's and the student's parameters keep
requires_grad (their gradients are computed and dropped); --lean freezes
them, as dfkd does.
--channels-last puts models and inputs in PyTorch's channels-last format.

usage: synthesis_step.py deepinversion|cmi BATCH STEPS [WARMUP]
                         [--lean] [--channels-last] [--flops] [--device cpu|cuda]
Prints the seconds of each timed step, one per line; --flops prints the
floating-point operations of one step (FlopCounterMode: convolutions and
matrix products, forward and backward)."""

import os
import sys
import argparse
import random
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from official import DeepInversionFeatureHook, InstanceMeanHook
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from dfkd_models import ResNetCifar

parser = argparse.ArgumentParser()
parser.add_argument("method", choices=["deepinversion", "cmi"])
parser.add_argument("batch", type=int)
parser.add_argument("steps", type=int)
parser.add_argument("warmup", type=int, nargs="?", default=2)
parser.add_argument("--lean", action="store_true")
parser.add_argument("--channels-last", action="store_true")
parser.add_argument("--flops", action="store_true")
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
# Models, inputs and every tensor made below live on --device.
torch.set_default_device(args.device)


def sync():
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


layout = torch.channels_last if args.channels_last else torch.contiguous_format
torch.manual_seed(0)
random.seed(0)
mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
teacher = ResNetCifar(56).eval().to(memory_format=layout)
student = ResNetCifar(20).eval().to(memory_format=layout)
if args.lean:
    # Only the synthesized inputs (or generator, codes and head) need
    # gradients: dfkd differentiates with respect to those alone.
    for p in list(teacher.parameters()) + list(student.parameters()):
        p.requires_grad_(False)


bn_hooks = [DeepInversionFeatureHook(m) for m in teacher.modules() if isinstance(m, nn.BatchNorm2d)]


def jsdiv(logits, targets, T=1.0):
    P = F.softmax(logits / T, dim=1)
    Q = F.softmax(targets / T, dim=1)
    M = (0.5 * (P + Q)).clamp(0.01, 0.99)
    P, Q = P.clamp(0.01, 0.99), Q.clamp(0.01, 0.99)
    return 0.5 * F.kl_div(torch.log(P), M, reduction="batchmean") + 0.5 * F.kl_div(
        torch.log(Q), M, reduction="batchmean"
    )


def tv_l1(x):
    d1 = x[:, :, :, :-1] - x[:, :, :, 1:]
    d2 = x[:, :, :-1, :] - x[:, :, 1:, :]
    d3 = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
    d4 = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
    return sum((d.abs() / 255.0).mean() for d in (d1, d2, d3, d4)) * 255.0


def clip_images(x):
    for c in range(3):
        m, s = mean[0, c, 0, 0].item(), std[0, c, 0, 0].item()
        x[:, c] = torch.clamp(x[:, c], -m / s, (1 - m) / s)
    return x


b = args.batch
targets = torch.randint(0, 10, (b,)).sort()[0]

if args.method == "deepinversion":
    inputs = torch.randn(b, 3, 32, 32).to(memory_format=layout).requires_grad_()
    optimizer = torch.optim.Adam([inputs], 0.1, betas=[0.5, 0.99])

    def step():
        off1, off2 = random.randint(-4, 4), random.randint(-4, 4)
        x = torch.roll(inputs, shifts=(off1, off2), dims=(2, 3))
        if random.random() > 0.5:
            x = torch.flip(x, dims=(3,))
        t_out = teacher(x)
        loss_bn = sum(h.r_feature for h in bn_hooks)
        loss_oh = F.cross_entropy(t_out, targets)
        loss_adv = -jsdiv(student(x), t_out, T=3)
        loss = 10 * loss_bn + loss_oh + loss_adv + 0.001 * tv_l1(inputs)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        inputs.data = clip_images(inputs.data)

else:

    class Generator(nn.Module):
        def __init__(self, nz=256, ngf=64):
            super().__init__()
            self.l1 = nn.Sequential(nn.Linear(nz, ngf * 2 * 8 * 8))
            self.conv_blocks = nn.Sequential(
                nn.BatchNorm2d(ngf * 2),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(ngf * 2, ngf * 2, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(ngf * 2),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Upsample(scale_factor=2),
                nn.Conv2d(ngf * 2, ngf, 3, stride=1, padding=1, bias=False),
                nn.BatchNorm2d(ngf),
                nn.LeakyReLU(0.2, inplace=True),
                nn.Conv2d(ngf, 3, 3, stride=1, padding=1),
                nn.Sigmoid(),
            )

        def forward(self, z):
            out = self.l1(z).view(z.shape[0], -1, 8, 8)
            return self.conv_blocks(out)

    class MLPHead(nn.Module):
        def __init__(self, dim_in, dim_feat):
            super().__init__()
            self.head = nn.Sequential(
                nn.Linear(dim_in, dim_in), nn.ReLU(inplace=True), nn.Linear(dim_in, dim_feat)
            )

        def forward(self, x):
            return F.normalize(self.head(x), dim=1, p=2)

    def affine_views(x, boxes, flips):
        # kornia crops by warping: one affine map per image, bilinear.
        n, _, h, w = x.shape
        theta = torch.zeros(n, 2, 3)
        for i, ((top, left, bh, bw), f) in enumerate(zip(boxes, flips)):
            theta[i, 0, 0] = bw / w * (-1 if f else 1)
            theta[i, 0, 2] = (2 * left + bw) / w - 1
            theta[i, 1, 1] = bh / h
            theta[i, 1, 2] = (2 * top + bh) / h - 1
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def global_view(x):
        n = x.shape[0]
        off = torch.randint(-4, 5, (n, 2)).tolist()
        flips = (torch.rand(n) < 0.5).tolist()
        return affine_views(x, [(t, l, 32, 32) for t, l in off], flips)

    def local_view(x):
        n = x.shape[0]
        boxes = []
        for _ in range(n):
            area = 1024 * random.uniform(0.25, 1.0)
            ratio = 2.718281828 ** random.uniform(-0.2877, 0.2877)
            bw = min(32, max(1, round((area * ratio) ** 0.5)))
            bh = min(32, max(1, round((area / ratio) ** 0.5)))
            boxes.append((random.randint(0, 32 - bh), random.randint(0, 32 - bw), bh, bw))
        return affine_views(x, boxes, (torch.rand(n) < 0.5).tolist())

    generator = Generator().train().to(memory_format=layout)
    cmi_hooks = [InstanceMeanHook(m) for m in (teacher.layer1, teacher.layer2, teacher.layer3)]
    dim = 16 + 16 + 32
    head = MLPHead(dim, 256).train()
    optimizer_head = torch.optim.Adam(head.parameters(), lr=1e-3)
    bank = torch.randn(40960, 2 * dim)
    z = torch.randn(b, 256).requires_grad_()
    optimizer = torch.optim.Adam(
        [{"params": generator.parameters()}, {"params": [z]}], 1e-3, betas=[0.5, 0.999]
    )

    def step():
        inputs = generator(z)
        gv = (global_view(inputs) - mean) / std
        lv = (local_view(inputs) - mean) / std
        t_out = teacher(gv.contiguous(memory_format=layout))
        loss_bn = sum(h.r_feature for h in bn_hooks)
        loss_oh = F.cross_entropy(t_out, targets)
        s_out = student(gv)
        mask = (s_out.max(1)[1] == t_out.max(1)[1]).float()
        kl = F.kl_div(F.log_softmax(s_out, 1), F.softmax(t_out, 1), reduction="none").sum(1)
        loss_adv = -(kl * mask).mean()
        loss_inv = loss_bn + loss_oh + 0.5 * loss_adv
        global_feature = torch.cat([h.instance_mean for h in cmi_hooks], dim=1)
        _ = teacher(lv.contiguous(memory_format=layout))
        local_feature = torch.cat([h.instance_mean for h in cmi_hooks], dim=1)
        cached = bank[random.sample(range(40960), k=4096)]
        cached_local, cached_global = torch.chunk(cached, chunks=2, dim=1)
        proj = head(torch.cat([local_feature, cached_local, global_feature, cached_global], 0))
        proj_local, proj_global = torch.chunk(proj, chunks=2, dim=0)
        logits = torch.mm(proj_local, proj_global.detach().T) / 0.1
        loss_cr = F.cross_entropy(logits, torch.arange(len(logits)), reduction="none")
        loss_cr = loss_cr[:b].mean() + loss_cr[b:].mean()
        loss = 0.8 * loss_cr + loss_inv
        optimizer.zero_grad()
        optimizer_head.zero_grad()
        loss.backward()
        optimizer.step()
        optimizer_head.step()


if args.flops:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step()
    print(counter.get_total_flops())
else:
    for _ in range(args.warmup):
        step()
    for _ in range(args.steps):
        sync()
        start = time.perf_counter()
        step()
        sync()
        print(f"{time.perf_counter() - start:.4f}")
