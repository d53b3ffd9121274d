"""PyTorch definitions of dfkd's model zoo (the twins its parity tests check
against dfkd), and of the generators its benchmarks time. Parameter names and
shapes follow the published PyTorch models, so a state dict moves between
these and dfkd unchanged. A dfkd student in a user's PyTorch:

    import sys; sys.path.insert(0, "DFKD_REPO/python")
    import dfkd_models, safetensors.torch
    model = dfkd_models.build("lenet5-half", num_classes=10, in_channels=1)
    model.load_state_dict(safetensors.torch.load_file("RUN/student.safetensors"))

(`st.load` beside this file reads the same file without the safetensors
package.) Inputs are normalised as the checkpoint's metadata says (`mean`,
`std`); `dfkd export` writes a TorchScript file that does it itself."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class LeNet5(nn.Module):
    """DAFL's LeNet-5 (half=True: LeNet-5-half; bn=True: LeNet-5-BN, a
    BatchNorm after each convolution), 32x32 input."""

    def __init__(self, in_channels=1, num_classes=10, half=False, bn=False):
        super().__init__()
        c1, c2, c3, f1 = (3, 8, 60, 42) if half else (6, 16, 120, 84)
        self.conv1 = nn.Conv2d(in_channels, c1, 5)
        self.conv2 = nn.Conv2d(c1, c2, 5)
        self.conv3 = nn.Conv2d(c2, c3, 5)
        norm = nn.BatchNorm2d if bn else (lambda c: nn.Identity())
        self.bn1, self.bn2, self.bn3 = norm(c1), norm(c2), norm(c3)
        self.fc1 = nn.Linear(c3, f1)
        self.fc2 = nn.Linear(f1, num_classes)
        self.width = c3

    def forward(self, x, out_feature=False):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2, 2)
        feature = F.relu(self.bn3(self.conv3(x))).view(-1, self.width)
        out = self.fc2(F.relu(self.fc1(feature)))
        return (out, feature) if out_feature else out


class KBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Sequential()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """CIFAR ResNet-18/34 as the DFKD papers use it."""

    def __init__(self, blocks, in_channels=3, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        cin = 64
        for s, (n, cout) in enumerate(zip(blocks, (64, 128, 256, 512))):
            layers = []
            for b in range(n):
                layers.append(KBlock(cin, cout, (1 if s == 0 else 2) if b == 0 else 1))
                cin = cout
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.linear = nn.Linear(512, num_classes)

    def forward(self, x, out_feature=False):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer4(self.layer3(self.layer2(self.layer1(out))))
        feature = F.avg_pool2d(out, 4).flatten(1)
        out = self.linear(feature)
        return (out, feature) if out_feature else out


class ABlock(nn.Module):
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.pad = planes // 4 if (stride != 1 or cin != planes) else None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.pad is None else F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + short)


class ResNetCifar(nn.Module):
    """He et al. CIFAR ResNet-(6n+2), option-A shortcut."""

    def __init__(self, depth, in_channels=3, num_classes=10):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin = 16
        for s, planes in enumerate((16, 32, 64)):
            layers = []
            for b in range(n):
                layers.append(ABlock(cin, planes, (1 if s == 0 else 2) if b == 0 else 1))
                cin = planes
            setattr(self, f"layer{s + 1}", nn.Sequential(*layers))
        self.linear = nn.Linear(64, num_classes)

    def forward(self, x, out_feature=False):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        feature = F.avg_pool2d(out, out.size(3)).flatten(1)
        out = self.linear(feature)
        return (out, feature) if out_feature else out


class WBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, 0, bias=False)

    def forward(self, x):
        act = F.relu(self.bn1(x))
        out = self.conv2(F.relu(self.bn2(self.conv1(act))))
        return (x if self.equal else self.convShortcut(act)) + out


class WBlockGroup(nn.Module):
    def __init__(self, n, cin, cout, stride):
        super().__init__()
        self.layer = nn.Sequential(
            *[WBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1) for i in range(n)]
        )

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, k, in_channels=3, num_classes=10):
        super().__init__()
        n = (depth - 4) // 6
        w = (16, 16 * k, 32 * k, 64 * k)
        self.conv1 = nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False)
        self.block1 = WBlockGroup(n, w[0], w[1], 1)
        self.block2 = WBlockGroup(n, w[1], w[2], 2)
        self.block3 = WBlockGroup(n, w[2], w[3], 2)
        self.bn1 = nn.BatchNorm2d(w[3])
        self.fc = nn.Linear(w[3], num_classes)

    def forward(self, x, out_feature=False):
        out = self.block3(self.block2(self.block1(self.conv1(x))))
        feature = F.adaptive_avg_pool2d(F.relu(self.bn1(out)), 1).flatten(1)
        out = self.fc(feature)
        return (out, feature) if out_feature else out


def build(arch, num_classes=10, in_channels=None):
    """The model of dfkd architecture name `arch`."""
    if arch in ("lenet5", "lenet5-bn", "lenet5-half"):
        c = in_channels or 1
        return LeNet5(c, num_classes, half=arch.endswith("half"), bn=arch.endswith("bn"))
    c = in_channels or 3
    if arch == "resnet18":
        return ResNet((2, 2, 2, 2), c, num_classes)
    if arch == "resnet34":
        return ResNet((3, 4, 6, 3), c, num_classes)
    if arch in ("resnet20", "resnet32", "resnet44", "resnet56"):
        return ResNetCifar(int(arch[6:]), c, num_classes)
    if arch.startswith("wrn"):
        d, k = arch[3:].split("-")
        return WideResNet(int(d), int(k), c, num_classes)
    raise ValueError(f"unknown arch {arch}")


def load(path):
    """The model a dfkd checkpoint holds (student.safetensors, checkpoints/,
    a teacher made by `dfkd train-teacher`), in evaluation mode, and the
    checkpoint's metadata."""
    import st  # beside this file; reads safetensors without the package

    weights, meta = st.load(path)
    channels = int(meta["input_shape"].split(",")[0])
    model = build(meta["arch"], int(meta["num_classes"]), channels)
    model.load_state_dict(weights)
    return model.eval(), meta


ARCHS = [
    "lenet5", "lenet5-bn", "lenet5-half", "resnet18", "resnet34", "resnet20", "resnet32",
    "resnet44", "resnet56", "wrn16-1", "wrn16-2", "wrn40-1", "wrn40-2",
]


class Generator(nn.Module):
    """The DAFL/DFAD generator (DAFL's parameter names); bn_eps is 0.8 for
    DAFL and PRE-DFKD, 1e-5 for DFAD."""

    def __init__(self, latent=100, ngf=64, channels=1, size=32, bn_eps=0.8):
        super().__init__()
        self.init_size = size // 4
        self.ngf = ngf
        self.l1 = nn.Sequential(nn.Linear(latent, 2 * ngf * self.init_size**2))
        self.conv_blocks0 = nn.Sequential(nn.BatchNorm2d(2 * ngf))
        self.conv_blocks1 = nn.Sequential(
            nn.Conv2d(2 * ngf, 2 * ngf, 3, stride=1, padding=1),
            nn.BatchNorm2d(2 * ngf, bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv_blocks2 = nn.Sequential(
            nn.Conv2d(2 * ngf, ngf, 3, stride=1, padding=1),
            nn.BatchNorm2d(ngf, bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(ngf, channels, 3, stride=1, padding=1),
            nn.Tanh(),
            nn.BatchNorm2d(channels, affine=False),
        )

    def forward(self, z):
        out = self.l1(z.view(z.shape[0], -1))
        out = out.view(out.shape[0], 2 * self.ngf, self.init_size, self.init_size)
        img = self.conv_blocks0(out)
        img = F.interpolate(img, scale_factor=2)
        img = self.conv_blocks1(img)
        img = F.interpolate(img, scale_factor=2)
        return self.conv_blocks2(img)


class PreDfkdGenerator(nn.Module):
    """PRE-DFKD's generators (networks/generator.py): DAFL's network with
    U(-0.08, 0.08) weights, zero biases and the last conv in conv_blocks3;
    spectral-normalised convs for the novel generator, plain for the memory
    generator (the VAE decoder)."""

    def __init__(self, latent=1000, ngf=64, channels=3, size=32, bn_eps=0.8, spectral_norm=True):
        super().__init__()
        sn = nn.utils.spectral_norm if spectral_norm else (lambda m: m)
        self.init_size = size // 4
        self.ngf = ngf
        self.l1 = nn.Sequential(nn.Linear(latent, 2 * ngf * self.init_size**2))
        self.conv_blocks0 = nn.Sequential(nn.BatchNorm2d(2 * ngf))
        self.conv_blocks1 = nn.Sequential(
            sn(nn.Conv2d(2 * ngf, 2 * ngf, 3, stride=1, padding=1)),
            nn.BatchNorm2d(2 * ngf, bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv_blocks2 = nn.Sequential(
            sn(nn.Conv2d(2 * ngf, ngf, 3, stride=1, padding=1)),
            nn.BatchNorm2d(ngf, bn_eps),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv_blocks3 = nn.Sequential(
            sn(nn.Conv2d(ngf, channels, 3, stride=1, padding=1)),
            nn.Tanh(),
            nn.BatchNorm2d(channels, affine=False),
        )
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.uniform_(m.weight, a=-0.08, b=0.08)
                nn.init.zeros_(m.bias)

    def forward(self, z):
        out = self.l1(z)
        out = out.view(out.shape[0], 2 * self.ngf, self.init_size, self.init_size)
        img = self.conv_blocks0(out)
        img = F.interpolate(img, scale_factor=2)
        img = self.conv_blocks1(img)
        img = F.interpolate(img, scale_factor=2)
        img = self.conv_blocks2(img)
        return self.conv_blocks3(img)


class Encoder(nn.Module):
    """PRE-DFKD's VAE encoder (networks/generator.py, `Encoder`): images
    L2-normalised along their height, three conv blocks, two halvings,
    fc_mu and fc_var, and a reparameterised draw."""

    def __init__(self, latent=1000, channels=3, size=32):
        super().__init__()
        self.conv_blocks0 = nn.Sequential(
            nn.Conv2d(channels, 64, 3, stride=1, padding=1),
            nn.BatchNorm2d(64, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv_blocks1 = nn.Sequential(
            nn.Conv2d(64, 128, 3, stride=1, padding=1),
            nn.BatchNorm2d(128, 0.8),
            nn.LeakyReLU(0.2, inplace=True),
        )
        self.conv_blocks2 = nn.Sequential(nn.Conv2d(128, 128, 3, stride=2, padding=1), nn.BatchNorm2d(128))
        flat = 128 * (size // 8) ** 2
        self.fc_mu = nn.Linear(flat, latent)
        self.fc_var = nn.Linear(flat, latent)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.uniform_(m.weight, a=-0.08, b=0.08)
                nn.init.zeros_(m.bias)

    def forward(self, img):
        out = self.conv_blocks1(self.conv_blocks0(F.normalize(img, p=2, dim=2)))
        out = self.conv_blocks2(F.interpolate(out, scale_factor=0.5))
        out = F.interpolate(out, scale_factor=0.5).flatten(1)
        mu, log_var = self.fc_mu(out), self.fc_var(out)
        return torch.randn_like(mu) * torch.exp(0.5 * log_var) + mu, mu, log_var
