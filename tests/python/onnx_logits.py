"""PyTorch-free side of tests/export.rs: runs an ONNX student exported by
`dfkd export --format onnx` in onnxruntime on the images dfkd saved, and
compares its logits with dfkd's.

usage: onnx_logits.py IO.safetensors MODEL.onnx ARCH"""

import os
import sys

import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import st  # noqa: E402

io, _ = st.load(sys.argv[1])
session = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
(logits,) = session.run(["logits"], {"images": io["x"].numpy()})
diff = abs(logits - io["logits"].numpy()).max()
scale = max(1.0, abs(io["logits"].numpy()).max())
if diff > 1e-4 * scale:
    sys.exit(f"ONNX logits differ from dfkd's by {diff} (logits up to {scale})")
meta = {p.key: p.value for p in onnx.load(sys.argv[2]).metadata_props}
if meta.get("arch") != sys.argv[3]:
    sys.exit(f"the ONNX metadata names arch {meta.get('arch')}, not {sys.argv[3]}")
