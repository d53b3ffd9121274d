#!/usr/bin/env bash
# Sets up everything dfkd needs on a fresh machine, and does nothing that is
# already done: the Fashion-MNIST package (for the demo), the project venv
# with torch 2.11.0 (libtorch for the build, PyTorch for the references), and
# the release build of dfkd.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
cd "$root"

if [ ! -d /usr/share/datasets/fashion-mnist ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "setup: installing dataset-fashion-mnist (Debian package)"
    $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 ||
        { $sudo apt-get update -qq && $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null; }
fi

if ! .venv/bin/python -c 'import torch, numpy; assert torch.__version__.split("+")[0] == "2.11.0"' 2>/dev/null; then
    echo "setup: creating .venv with torch 2.11.0 (a few GB, first time only)"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --progress-bar off -r requirements.txt
elif ! .venv/bin/python -c 'import onnx, onnxruntime' 2>/dev/null; then
    echo "setup: adding onnx and onnxruntime to .venv"
    .venv/bin/pip install --quiet --progress-bar off -r requirements.txt
fi

echo "setup: building dfkd (release)"
cargo build --release --quiet
