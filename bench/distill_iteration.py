"""PyTorch reference of one DAFL, DFAD or PRE-DFKD iteration with the MNIST
preset shapes (LeNet-5 teacher, LeNet-5-half student), written after the
official code (DAFL-train.py, DFAD_mnist.py, PRE-DFKD's main.py and
distillation.py): plain NCHW tensors, graphs built where the official code
builds them (the generator's graph for the student steps, detached, as
there). The teacher is frozen, which the official PRE-DFKD code does not do
(it computes the teacher's weight gradients and drops them), so this
reference is if anything faster than the official code.

usage: distill_iteration.py dafl|dfad|pre-dfkd BATCH ITERATIONS [WARMUP]
                             [--channels-last] [--lean] [--no-replay] [--flops]
                             [--device cpu|cuda]
Prints the seconds of each timed iteration, one per line. --channels-last
puts every model and input in PyTorch's channels-last memory format (the
same layout dfkd's convolutions use); --lean (PRE-DFKD) builds no graph that
the update does not need: novel and memory samples drawn under no_grad, the
latent tuning differentiating the codes only, as dfkd does; --no-replay
(PRE-DFKD) leaves out the memory generator (its samples and its training);
--flops prints instead the floating-point operations of one iteration as
PyTorch's FlopCounterMode counts them (convolutions and matrix products,
forward and backward)."""

import os
import sys
import argparse
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from dfkd_models import Encoder, Generator, LeNet5, PreDfkdGenerator

parser = argparse.ArgumentParser()
parser.add_argument("method", choices=["dafl", "dfad", "pre-dfkd"])
parser.add_argument("batch", type=int)
parser.add_argument("iterations", type=int)
parser.add_argument("warmup", type=int, nargs="?", default=1)
parser.add_argument("--channels-last", action="store_true")
parser.add_argument("--lean", action="store_true")
parser.add_argument("--no-replay", action="store_true")
parser.add_argument("--flops", action="store_true")
parser.add_argument("--device", default="cpu")
args = parser.parse_args()
# Models, inputs and every tensor made below live on --device.
torch.set_default_device(args.device)


def sync():
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()


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

elif method == "dfad":
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

else:
    # PRE-DFKD with the MNIST branch of main.py: latent 1000, novel generator
    # (spectral norm, Adam 0.02), memory generator and encoder (Adam 0.02/40),
    # batch // 8 memory samples, student Adam (2e-3, dfkd's MNIST preset).
    latent, n_mem, half = 1000, batch // 8, batch // 2
    generator = PreDfkdGenerator(latent, channels=1).train().to(memory_format=layout)
    memory = PreDfkdGenerator(latent, channels=1, spectral_norm=False).to(memory_format=layout)
    encoder = Encoder(latent, channels=1).train().to(memory_format=layout)
    opt_g = torch.optim.Adam(generator.parameters(), lr=0.02)
    opt_m = torch.optim.Adam(memory.parameters(), lr=0.02 / 40)
    opt_e = torch.optim.Adam(encoder.parameters(), lr=0.02 / 40)
    opt_s = torch.optim.Adam(student.parameters(), lr=2e-3)
    vae_updates = [0]

    def priors(out_t):
        p = F.softmax(out_t, dim=1).mean(dim=0)
        return F.cross_entropy(out_t, out_t.data.max(1)[1]), (p * torch.log10(p)).sum()

    def js_agreement(s_logit, t_logit, T=3.0):
        p, q = F.softmax(s_logit / T, dim=1), F.softmax(t_logit / T, dim=1)
        m = torch.clamp(0.5 * (p + q), 0.01, 0.99)
        # nn.KLDivLoss()'s "mean" (over every element), as the official code.
        kl = lambda x: (m * (m.log() - torch.log(torch.clamp(x, 0.01, 0.99)))).mean()
        return 1.0 - torch.clamp(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)

    def memory_codes():
        """Class-balanced memory inference: one Adam step on fresh codes."""
        z = torch.randn(n_mem, latent, requires_grad=True)
        opt_z = torch.optim.Adam([z], lr=0.02)
        out_t = teacher(memory(z))
        oh, ie = priors(out_t)
        prior = F.mse_loss(torch.var(z, dim=0), torch.ones(latent)) + F.mse_loss(
            torch.mean(z, dim=0), torch.zeros(latent)
        )
        loss = ie * 5 + oh + prior
        loss.backward(inputs=[z] if args.lean else None)
        opt_z.step()
        return z

    def draw(net, z):
        if args.lean:
            with torch.no_grad():
                return net(z)
        return net(z)

    def train_memory_generator(gen):
        opt_m.zero_grad()
        opt_e.zero_grad()
        memory.train()
        x = gen[:half].detach()
        if vae_updates[0] >= 4:
            x = torch.cat((x, draw(memory, memory_codes()).detach()))
        target = draw(teacher, x)
        z, mu, log_var = encoder(x)
        rec = memory(z)
        loss = F.l1_loss(rec, x) + F.l1_loss(teacher(rec), target.detach())
        loss = loss + 1e-5 * torch.mean(-0.5 * torch.sum(1 + log_var - mu**2 - log_var.exp(), dim=1))
        loss.backward()
        opt_m.step()
        opt_e.step()
        vae_updates[0] += 1

    def iteration():
        opt_g.zero_grad()
        gen = generator(torch.randn(batch, latent))
        out_t, feat_t = teacher(gen, out_feature=True)
        oh, ie = priors(out_t)
        loss = oh + ie * 5 - feat_t.abs().mean() * 0.1
        loss = loss + js_agreement(student(gen), out_t.detach())
        loss.backward()
        opt_g.step()
        for step in range(10):
            gen = draw(generator, torch.randn(batch, latent))
            opt_s.zero_grad()
            x = gen
            if not args.no_replay:
                memory.eval()
                x = torch.cat((gen, draw(memory, memory_codes()).detach()))
            loss_kd = F.l1_loss(student(x), draw(teacher, x).detach())
            loss_kd.backward()
            opt_s.step()
            if step < 4 and not args.no_replay:
                train_memory_generator(gen)


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
    sync()
    start = time.perf_counter()
    iteration()
    sync()
    print(f"{time.perf_counter() - start:.4f}", flush=True)
