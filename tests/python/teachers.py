"""Writes the TorchScript teachers of tests/torchscript.rs into DIR.

- resnet20.pt, lenet5-bn.pt: zoo models with the tensors of
  DIR/ARCH.safetensors (written by dfkd), saved with python/dfkd_teacher.py,
  so dfkd can compare the taps it reads from TorchScript with its own (the
  LeNet's feature is the input of fc1, as DAFL's).
- vgg.pt, mobilenet.pt: architectures dfkd's zoo does not have, saved with
  python/dfkd_teacher.py; vgg-plain.pt the VGG as a plain scripted
  classifier (logits only); no-bn.pt a VGG without BatchNorm, saved with
  python/dfkd_teacher.py.
- not-a-classifier.pt: a scripted module that returns feature maps.
"""

import sys
from pathlib import Path

import torch
from torch import nn

root = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(root / "python"))
import dfkd_models  # noqa: E402
import st  # noqa: E402
import dfkd_teacher  # noqa: E402

out = Path(sys.argv[1])
torch.manual_seed(0)
MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


def vgg(batchnorm=True):
    def block(i, o):
        if not batchnorm:
            return [nn.Conv2d(i, o, 3, padding=1), nn.ReLU()]
        return [nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(
        *block(3, 16), nn.MaxPool2d(2),
        *block(16, 32), nn.MaxPool2d(2),
        *block(32, 32), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(32, 10),
    )


class MobileNet(nn.Module):
    """Depthwise-separable blocks, ReLU6, a head after the classifier's input."""

    def __init__(self):
        super().__init__()

        def separable(i, o, stride):
            return nn.Sequential(
                nn.Conv2d(i, i, 3, stride, 1, groups=i, bias=False), nn.BatchNorm2d(i), nn.ReLU6(),
                nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o), nn.ReLU6(),
            )

        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU6())
        self.blocks = nn.Sequential(separable(16, 32, 1), separable(32, 64, 2))
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, 10))

    def forward(self, x):
        x = self.blocks(self.stem(x))
        return self.classifier(x.mean(dim=(2, 3)))


def with_statistics(model):
    """Running statistics away from their initial 0 and 1, as a trained
    teacher's are."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(32, 3, 32, 32) * 1.5 + 0.3)
    return model.eval()


for arch, c, feature in [("resnet20", 3, None), ("lenet5-bn", 1, "fc1")]:
    twin = dfkd_models.build(arch, 10, c)
    twin.load_state_dict(st.load(out / f"{arch}.safetensors")[0])
    dfkd_teacher.save(twin, out / f"{arch}.pt", (c, 32, 32), MEAN[:c], STD[:c], feature)

net = with_statistics(vgg())
dfkd_teacher.save(net, out / "vgg.pt", (3, 32, 32), MEAN, STD)
torch.jit.script(net).save(str(out / "vgg-plain.pt"))
dfkd_teacher.save(vgg(batchnorm=False).eval(), out / "no-bn.pt", (3, 32, 32), MEAN, STD)
dfkd_teacher.save(with_statistics(MobileNet()), out / "mobilenet.pt", (3, 32, 32), MEAN, STD)
torch.jit.script(nn.Sequential(nn.Conv2d(3, 4, 3))).save(str(out / "not-a-classifier.pt"))
