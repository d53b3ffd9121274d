#!/usr/bin/env bash
# Sets everything up, then runs the whole test suite.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh"
cd "$root"
cargo test --release -- --test-threads=1
