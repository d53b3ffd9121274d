"""Pieces of the official model-inversion code that dfkd's PyTorch references
(bench/) and twins (tests/python/) share, written after NVlabs'
deepinversion_cifar10.py and the zju-vipa library's hooks.py."""

import torch


class DeepInversionFeatureHook:
    """R_feature of one BatchNorm layer: L2 norms of the differences of its
    input's batch mean and biased variance from its running statistics."""

    def __init__(self, module):
        self.hook = module.register_forward_hook(self.hook_fn)

    def hook_fn(self, module, input, output):
        nch = input[0].shape[1]
        mean = input[0].mean([0, 2, 3])
        var = input[0].permute(1, 0, 2, 3).contiguous().view([nch, -1]).var(1, unbiased=False)
        self.r_feature = torch.norm(module.running_var.data - var, 2) + torch.norm(
            module.running_mean.data - mean, 2
        )


class InstanceMeanHook:
    """CMI's feature of one module: the per-instance channel means of its input."""

    def __init__(self, module):
        self.hook = module.register_forward_hook(self.hook_fn)

    def hook_fn(self, module, input, output):
        self.instance_mean = torch.mean(input[0], dim=[2, 3])
