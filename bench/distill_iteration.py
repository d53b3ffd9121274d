"""PyTorch reference of one DAFL iteration and one DFAD iteration with the
MNIST preset shapes (LeNet-5 teacher, LeNet-5-half student, generator with
latent 100), written after the official code (DAFL-train.py, DFAD_mnist.py):
plain NCHW tensors, the generator's graph built for the student steps and
detached, as there.

usage: distill_iteration.py dafl|dfad BATCH ITERATIONS [WARMUP]
Prints the seconds of each timed iteration, one per line."""

import sys
import time

import torch
import torch.nn.functional as F

from torch_models import Generator, LeNet5

method, batch, iterations = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
warmup = int(sys.argv[4]) if len(sys.argv) > 4 else 1
torch.manual_seed(0)
teacher = LeNet5().eval()
student = LeNet5(half=True).train()
for p in teacher.parameters():
    p.requires_grad_(False)


def kdloss(y, teacher_scores):
    p = F.log_softmax(y, dim=1)
    q = F.softmax(teacher_scores, dim=1)
    return F.kl_div(p, q, reduction="sum") / y.shape[0]


if method == "dafl":
    generator = Generator(latent=100, bn_eps=0.8).train()
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
    generator = Generator(latent=100, bn_eps=1e-5).train()
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


for _ in range(warmup):
    iteration()
for _ in range(iterations):
    start = time.perf_counter()
    iteration()
    print(f"{time.perf_counter() - start:.4f}", flush=True)
