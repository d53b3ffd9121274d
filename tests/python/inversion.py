"""PyTorch side of tests/inversion.rs: recomputes model inversion's loss
terms and views the way the official code writes them (NVlabs'
deepinversion_cifar10.py and deepinversion.py, the zju-vipa library's
deepinversion.py, contrastive.py, hooks.py and criterions.py), from the
inputs, weights and random draws dfkd saved, and compares with dfkd's values
and gradients.

usage: inversion.py IO.safetensors"""

import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import st  # noqa: E402
from official import DeepInversionFeatureHook, InstanceMeanHook  # noqa: E402
from dfkd_models import ResNetCifar  # noqa: E402

io, _ = st.load(sys.argv[1])


def model(prefix):
    m = ResNetCifar(20).eval()
    m.load_state_dict({k[len(prefix) :]: v for k, v in io.items() if k.startswith(prefix)})
    return m


teacher, student = model("teacher."), model("student.")
x = io["x"].clone().requires_grad_()
targets = io["targets"]


bns = [m for m in teacher.modules() if isinstance(m, nn.BatchNorm2d)]
hooks = [DeepInversionFeatureHook(m) for m in bns]
means = [InstanceMeanHook(m) for m in bns]

# Jitter as NVlabs: roll, then flip.
dy, dx, flip = io["jitter"].tolist()
x_j = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
if flip:
    x_j = torch.flip(x_j, dims=(3,))
t_out = teacher(x_j)
rescale = [io["first_bn_multiplier"].item()] + [1.0] * (len(hooks) - 1)
r_feature = sum(h.r_feature * rescale[i] for i, h in enumerate(hooks))
instance = torch.cat([h.instance_mean for h in means], dim=1)

# Image priors (NVlabs' get_image_prior_losses, CIFAR script's l2).
diff1 = x[:, :, :, :-1] - x[:, :, :, 1:]
diff2 = x[:, :, :-1, :] - x[:, :, 1:, :]
diff3 = x[:, :, 1:, :-1] - x[:, :, :-1, 1:]
diff4 = x[:, :, :-1, :-1] - x[:, :, 1:, 1:]
tv_l2 = torch.norm(diff1) + torch.norm(diff2) + torch.norm(diff3) + torch.norm(diff4)
tv_l1 = ((diff1.abs() / 255.0).mean() + (diff2.abs() / 255.0).mean()
         + (diff3.abs() / 255.0).mean() + (diff4.abs() / 255.0).mean()) * 255.0
l2 = torch.norm(x, 2)

# Adaptive DeepInversion's competition (NVlabs, kl_loss batchmean).
s_out = student(x_j)
T = 3.0
kl_loss = nn.KLDivLoss(reduction="batchmean")
P = F.softmax(s_out / T, dim=1)
Q = F.softmax(t_out / T, dim=1)
M = 0.5 * (P + Q)
P, Q, M = torch.clamp(P, 0.01, 0.99), torch.clamp(Q, 0.01, 0.99), torch.clamp(M, 0.01, 0.99)
competition = 1.0 - torch.clamp(0.5 * kl_loss(torch.log(P), M) + 0.5 * kl_loss(torch.log(Q), M), 0.0, 1.0)

# CMI's masked adversarial KL (kldiv with reduction='none', T = 1).
mask = (s_out.max(1)[1] == t_out.max(1)[1]).float()
kl = F.kl_div(F.log_softmax(s_out, dim=1), F.softmax(t_out, dim=1), reduction="none")
masked_adv = -(kl.sum(1) * mask).mean()

oh = F.cross_entropy(t_out, targets)
total = (io["w_oh"] * oh + io["w_bn"] * r_feature + io["w_adv"] * competition
         + io["w_tv_l1"] * tv_l1 + io["w_tv_l2"] * tv_l2 + io["w_l2"] * l2)
(grad,) = torch.autograd.grad(total, x)

# CMI's contrastive term on given projections.
pl, pg, current = io["proj_local"], io["proj_global"], int(io["current"].item())
cr_logits = torch.mm(pl, pg.detach().T) / io["cr_temperature"].item()
loss_cr = F.cross_entropy(cr_logits, torch.arange(len(cr_logits)), reduction="none")
contrastive = loss_cr[:current].mean() + loss_cr[current:].mean()

# CMI's views given the draws: kornia's RandomCrop(padding=4) + flip, and
# its RandomResizedCrop + flip as an affine warp (bilinear, zero padding).
img = io["images"]
n = img.shape[0]
padded = F.pad(img, (4, 4, 4, 4))
crops = []
for (top, left), f in zip(io["crop_offsets"].tolist(), io["crop_flips"].tolist()):
    c = padded[:, :, top : top + 32, left : left + 32][len(crops)]
    crops.append(torch.flip(c, dims=(2,)) if f else c)
global_view = torch.stack(crops)
theta = torch.zeros(n, 2, 3)
for i, ((top, left, bh, bw), f) in enumerate(zip(io["boxes"].tolist(), io["box_flips"].tolist())):
    theta[i, 0, 0] = bw / 32 * (-1 if f else 1)
    theta[i, 0, 2] = (2 * left + bw) / 32 - 1
    theta[i, 1, 1] = bh / 32
    theta[i, 1, 2] = (2 * top + bh) / 32 - 1
grid = F.affine_grid(theta, list(img.shape), align_corners=False)
local_view = F.grid_sample(img, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
# The resized crop is the box resampled: a box of the whole image is the image.
whole = (io["boxes"][:, 2] == 32) & (io["boxes"][:, 3] == 32) & (io["box_flips"] == 0)

expected = {
    "jittered": x_j,
    "r_feature": r_feature,
    "instance_means": instance,
    "tv_l1": tv_l1,
    "tv_l2": tv_l2,
    "l2": l2,
    "competition": competition,
    "masked_adv": masked_adv,
    "total": total,
    "grad": grad,
    "contrastive": contrastive,
    "global_view": global_view,
    "local_view": local_view,
}
failed = []
for name, want in expected.items():
    got = io[name]
    want = want.detach()
    scale = max(1.0, want.abs().max().item())
    err = (got - want).abs().max().item()
    if err > 1e-4 * scale:
        failed.append(f"{name}: dfkd differs from PyTorch by {err} (values up to {scale})")
    print(f"{name}: max difference {err:.3g} (values up to {scale:.3g})")
if whole.any() and (local_view[whole] - img[whole]).abs().max() > 1e-5:
    failed.append("a whole-image box does not give the image back")
if failed:
    sys.exit("; ".join(failed))
