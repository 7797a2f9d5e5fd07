#!/usr/bin/env bash
# One command: install what is missing, build, and run the main job on the embedded default
# (samples/ in, out/ out). Extra arguments go to `sdoh-bridge run` (e.g. --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target sdoh-bridge -j "$(nproc)"
exec build/plugin/sdoh-bridge run "$@"
