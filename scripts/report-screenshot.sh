#!/usr/bin/env bash
# Regenerates docs/report-samples.png, the README's picture of the equity report: `sdoh-bridge
# report` on samples/ (screenings 2023-2024, --min-cell 1 so the fictional samples' small counts
# show; the default hides counts 1-10), rendered in headless Chromium by
# tests/report/browser/check_report.mjs, which also checks the page (DOM against report.json,
# axe-core) before the picture is taken. The top of the page only, to keep the file small.
# Usage: scripts/report-screenshot.sh [BUILD_DIR]   (default: build; sdoh-bridge built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
bin="$build/plugin/sdoh-bridge"
if [[ ! -x $bin ]]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" --target sdoh-bridge
fi
command -v chromium >/dev/null 2>&1 || scripts/deps.sh --test
if [[ ! -f tests/report/browser/node_modules/axe-core/axe.min.js ]]; then
  (cd tests/report/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" report --config config/sdoh-bridge.yaml --source samples --out "$tmp" \
  --from 2023-01-01 --to 2024-12-31 --min-cell 1
node tests/report/browser/check_report.mjs --html "$tmp/report.html" --json "$tmp/report.json" \
  --axe --screenshot docs/report-samples.png --width 1000 --max-height 1250
ls -l docs/report-samples.png
