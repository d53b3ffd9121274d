"""PyTorch side of tests/losses.rs: recomputes each loss the way the official
code writes it, from the inputs dfkd saved, and compares with dfkd's values.

usage: losses.py IO.safetensors"""

import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import st  # noqa: E402

io, _ = st.load(sys.argv[1])
s, t, f = io["student"], io["teacher"], io["features"]


def kdloss(y, teacher_scores, T=1.0):  # DAFL's kdloss, with Hinton's T^2 for T != 1
    p = F.log_softmax(y / T, dim=1)
    q = F.softmax(teacher_scores / T, dim=1)
    return F.kl_div(p, q, reduction="sum") / y.shape[0] * T * T


def JS_divergence(outputs, outputs_student):  # PRE-DFKD / LRA, as written there
    T = 3.0
    P = torch.nn.functional.softmax(outputs_student / T, dim=1)
    Q = torch.nn.functional.softmax(outputs / T, dim=1)
    M = 0.5 * (P + Q)
    P = torch.clamp(P, 0.01, 0.99)
    Q = torch.clamp(Q, 0.01, 0.99)
    M = torch.clamp(M, 0.01, 0.99)
    loss = 0.5 * torch.nn.KLDivLoss()(torch.log(P), M) + 0.5 * torch.nn.KLDivLoss()(torch.log(Q), M)
    return 1.0 - torch.clamp(loss, 0.0, 1.0)


p = F.softmax(t, dim=1).mean(dim=0)
expected = {
    "kl_t1": kdloss(s, t),
    "kl_t4": kdloss(s, t, 4.0),
    "l1": F.l1_loss(s, t),
    "one_hot": F.cross_entropy(t, t.data.max(1)[1]),
    "information_entropy": (p * torch.log10(p)).sum(),
    "activation": -f.abs().mean(),
    "adversarial_l1": -F.l1_loss(s, t),
    "js_agreement_t3": JS_divergence(s, t),
}
failed = []
for name, want in expected.items():
    got = io[name].item()
    if abs(got - want.item()) > 1e-5 * max(1.0, abs(want.item())):
        failed.append(f"{name}: dfkd {got} vs PyTorch {want.item()}")
    print(f"{name}: dfkd {got:.8f} PyTorch {want.item():.8f}")
if failed:
    sys.exit("; ".join(failed))
