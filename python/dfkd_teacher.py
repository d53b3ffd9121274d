"""Saves a PyTorch classifier of any architecture as a teacher for dfkd.

Run it in your own PyTorch, where your model's class is defined:

    import sys; sys.path.insert(0, "DFKD_REPO/python")
    import dfkd_teacher
    model = MyNet(); model.load_state_dict(torch.load("weights.pth"))
    dfkd_teacher.save(model, "teacher.pt", input_shape=(3, 32, 32),
                      mean=(0.4914, 0.4822, 0.4465), std=(0.2470, 0.2435, 0.2616))

then `dfkd distill --teacher teacher.pt ...`.

The file is a TorchScript module (`torch.jit.load` reads it). Its forward
takes inputs normalised as the model expects them and returns, besides the
logits, what dfkd's methods need from a teacher:
- the penultimate feature (DAFL), the input of the last `nn.Linear` or of
  the module named by `feature=` (DAFL's LeNet-5 takes the input of its
  first fully connected layer, `feature="fc1"` in python/dfkd_models.py);
- for every `nn.BatchNorm2d`, in the order the forward pass meets them, the
  batch mean and biased variance of its input per channel with the layer's
  running statistics (DeepInversion, ADI and CMI match the former to the
  latter), and the per-instance channel means of its input (CMI's
  features).
Its method `dfkd_meta()` returns JSON with the class count, input shape,
normalisation and the BatchNorm layers' names.

The model is traced in evaluation mode, as a teacher is always run. A plain
scripted classifier (`torch.jit.script(model).save(...)`) also works with
dfkd, for the methods that need logits only.
"""

import json
from typing import List, Tuple

import torch
from torch import Tensor, nn

FORMAT = "dfkd-teacher/1"


class _Tapped(nn.Module):
    """The model, with its forward recording what dfkd's methods need."""

    def __init__(self, model: nn.Module, feature):
        super().__init__()
        self.model = model
        self.bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        if feature is None:
            linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
            if not linears:
                raise ValueError("the model has no nn.Linear classifier layer; name one with feature=")
            layer = linears[-1]
        else:
            layer = dict(model.named_modules()).get(feature)
            if layer is None:
                raise ValueError(f"the model has no module named {feature!r}")
        # In a list, not registered: its parameters are the model's already.
        self.classifier = [layer]

    def forward(self, x):
        inputs, features = [], []
        hooks = [bn.register_forward_pre_hook(lambda m, a: inputs.append(a[0])) for bn in self.bns]
        hooks.append(
            self.classifier[0].register_forward_pre_hook(lambda m, a: features.append(a[0]))
        )
        try:
            logits = self.model(x)
        finally:
            for h in hooks:
                h.remove()
        if len(inputs) != len(self.bns):
            raise ValueError("a BatchNorm2d layer is used more or less than once per forward pass")
        means = [t.mean(dim=(0, 2, 3)) for t in inputs]
        variances = [t.var(dim=(0, 2, 3), unbiased=False) for t in inputs]
        running_means = [bn.running_mean.clone() for bn in self.bns]
        running_vars = [bn.running_var.clone() for bn in self.bns]
        instance_means = [t.mean(dim=(2, 3)) for t in inputs]
        feature = features[-1].flatten(1)
        if not self.bns:
            # The tracer cannot type empty lists; _NoBatchNorm adds them.
            return logits, feature
        return logits, feature, means, variances, running_means, running_vars, instance_means


class _Teacher(nn.Module):
    """The traced model and its description, as one scripted module."""

    meta: str

    def __init__(self, tapped: torch.jit.ScriptModule, meta: str):
        super().__init__()
        self.tapped = tapped
        self.meta = meta

    def forward(
        self, x: Tensor
    ) -> Tuple[Tensor, Tensor, List[Tensor], List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        return self.tapped(x)

    @torch.jit.export
    def dfkd_meta(self) -> str:
        return self.meta


class _NoBatchNorm(_Teacher):
    """A model without BatchNorm: the same outputs, with empty lists."""

    def forward(
        self, x: Tensor
    ) -> Tuple[Tensor, Tensor, List[Tensor], List[Tensor], List[Tensor], List[Tensor], List[Tensor]]:
        logits, feature = self.tapped(x)
        none: List[Tensor] = []
        return logits, feature, none, none, none, none, none


def save(model: nn.Module, path, input_shape, mean, std, feature=None):
    """Writes `model` as a dfkd teacher to `path`. `input_shape` is
    (channels, height, width); `mean` and `std` are the per-channel
    normalisation the model's inputs were trained with; `feature` names the
    module whose input is the penultimate feature (default: the last
    nn.Linear)."""
    c, h, w = (int(v) for v in input_shape)
    mean, std = [float(v) for v in mean], [float(v) for v in std]
    if len(mean) != c or len(std) != c:
        raise ValueError(f"mean and std need {c} values, one per input channel")
    model = model.eval()
    tapped = _Tapped(model, feature)
    names = {id(m): n for n, m in model.named_modules()}
    example = torch.rand(2, c, h, w)
    with torch.no_grad():
        logits = model(example)
    if logits.dim() != 2:
        raise ValueError(f"the model returns shape {tuple(logits.shape)}, not (batch, classes)")
    traced = torch.jit.trace(tapped, example, strict=False, check_trace=False)
    meta = json.dumps(
        {
            "format": FORMAT,
            "num_classes": int(logits.shape[1]),
            "input_shape": [c, h, w],
            "mean": mean,
            "std": std,
            "batchnorm": [names[id(bn)] for bn in tapped.bns],
            "architecture": type(model).__name__,
        }
    )
    wrapper = _Teacher if tapped.bns else _NoBatchNorm
    torch.jit.script(wrapper(traced, meta)).save(str(path))
