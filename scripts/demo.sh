#!/usr/bin/env bash
# Sets everything up, then runs the main job.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
"$root/scripts/setup.sh"
"$root/target/release/dfkd" demo
