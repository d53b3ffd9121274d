# Sourced by the other scripts: build against the project venv's libtorch.
# Keep these identical for every cargo call, or torch-sys rebuilds (minutes).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export LIBTORCH_USE_PYTORCH=1
export VIRTUAL_ENV="$root/.venv"
export PATH="$root/.venv/bin:$PATH"
