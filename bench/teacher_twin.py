"""A zoo teacher as a TorchScript teacher with the same weights (saved by
python/dfkd_teacher.py), for bench/torchscript_teacher.sh.

usage: teacher_twin.py CHECKPOINT OUT.pt
           a dfkd checkpoint (its metadata gives architecture, input and
           normalisation)
       teacher_twin.py --random ARCH DIR
           a randomly initialised ARCH with 10 classes on 3x32x32 inputs,
           as a state dict (DIR/ARCH.safetensors) and as DIR/ARCH.pt"""

import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
import dfkd_models  # noqa: E402
import dfkd_teacher  # noqa: E402
import st  # noqa: E402

if sys.argv[1] == "--random":
    arch, out = sys.argv[2], sys.argv[3]
    torch.manual_seed(0)
    model = dfkd_models.build(arch, 10, 3).eval()
    st.save(os.path.join(out, f"{arch}.safetensors"), model.state_dict())
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    dfkd_teacher.save(model, os.path.join(out, f"{arch}.pt"), (3, 32, 32), mean, std)
else:
    model, meta = dfkd_models.load(sys.argv[1])
    shape = [int(v) for v in meta["input_shape"].split(",")]
    mean = [float(v) for v in meta["mean"].split(",")]
    std = [float(v) for v in meta["std"].split(",")]
    # dfkd's LeNet-5 feature, as DAFL's, is the input of the first fc layer.
    feature = "fc1" if meta["arch"].startswith("lenet") else None
    dfkd_teacher.save(model.eval(), sys.argv[2], shape, mean, std, feature)
