"""PyTorch reference of one DAFL iteration and one DFAD iteration with the
MNIST preset shapes (LeNet-5 teacher, LeNet-5-half student, generator with
latent 100), written after the official code (DAFL-train.py, DFAD_mnist.py):
plain NCHW tensors, the generator's graph built for the student steps and
detached, as there.

usage: distill_iteration.py dafl|dfad BATCH ITERATIONS [WARMUP]
                             [--channels-last] [--flops]
Prints the seconds of each timed iteration, one per line. --channels-last
puts every model and input in PyTorch's channels-last memory format (the
same layout dfkd's convolutions use); --flops prints instead the
floating-point operations of one iteration as PyTorch's FlopCounterMode
counts them (convolutions and matrix products, forward and backward)."""

import argparse
import time

import torch
import torch.nn.functional as F

from torch_models import Generator, LeNet5

parser = argparse.ArgumentParser()
parser.add_argument("method", choices=["dafl", "dfad"])
parser.add_argument("batch", type=int)
parser.add_argument("iterations", type=int)
parser.add_argument("warmup", type=int, nargs="?", default=1)
parser.add_argument("--channels-last", action="store_true")
parser.add_argument("--flops", action="store_true")
args = parser.parse_args()
method, batch, iterations, warmup = args.method, args.batch, args.iterations, args.warmup
layout = torch.channels_last if args.channels_last else torch.contiguous_format
torch.manual_seed(0)
teacher = LeNet5().eval().to(memory_format=layout)
student = LeNet5(half=True).train().to(memory_format=layout)
for p in teacher.parameters():
    p.requires_grad_(False)


def kdloss(y, teacher_scores):
    p = F.log_softmax(y, dim=1)
    q = F.softmax(teacher_scores, dim=1)
    return F.kl_div(p, q, reduction="sum") / y.shape[0]


if method == "dafl":
    generator = Generator(latent=100, bn_eps=0.8).train().to(memory_format=layout)
    opt_g = torch.optim.Adam(generator.parameters(), lr=0.2)
    opt_s = torch.optim.Adam(student.parameters(), lr=2e-3)

    def iteration():
        z = torch.randn(batch, 100)
        opt_g.zero_grad()
        opt_s.zero_grad()
        gen = generator(z)
        out_t, feat_t = teacher(gen, out_feature=True)
        pred = out_t.data.max(1)[1]
        loss_a = -feat_t.abs().mean()
        loss_oh = F.cross_entropy(out_t, pred)
        p = F.softmax(out_t, dim=1).mean(dim=0)
        loss_ie = (p * torch.log10(p)).sum()
        loss = loss_oh * 1 + loss_ie * 5 + loss_a * 0.1
        loss = loss + kdloss(student(gen.detach()), out_t.detach())
        loss.backward()
        opt_g.step()
        opt_s.step()

else:
    generator = Generator(latent=100, bn_eps=1e-5).train().to(memory_format=layout)
    opt_g = torch.optim.Adam(generator.parameters(), lr=1e-3)
    opt_s = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)

    def iteration():
        for _ in range(5):
            z = torch.randn(batch, 100)
            opt_s.zero_grad()
            fake = generator(z).detach()
            t_logit = teacher(fake)
            s_logit = student(fake)
            loss_s = F.l1_loss(s_logit, t_logit.detach())
            loss_s.backward()
            opt_s.step()
        z = torch.randn(batch, 100)
        opt_g.zero_grad()
        fake = generator(z)
        loss_g = -F.l1_loss(student(fake), teacher(fake))
        loss_g.backward()
        opt_g.step()


if args.flops:
    from torch.utils.flop_counter import FlopCounterMode

    iteration()
    with FlopCounterMode(display=False) as counter:
        iteration()
    print(counter.get_total_flops())
    raise SystemExit
for _ in range(warmup):
    iteration()
for _ in range(iterations):
    start = time.perf_counter()
    iteration()
    print(f"{time.perf_counter() - start:.4f}", flush=True)
