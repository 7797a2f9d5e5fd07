#!/usr/bin/env bash
# CTest (labels browser, integration): report.html made from samples/ rendered in headless
# Chromium — the DOM against report.json, axe-core (no serious or critical violation) and a
# screenshot — at --min-cell 1 (every number shown) and at the default 11 (suppressed cells).
# Then the checker must catch a planted fault: a number changed in the page, a chart removed,
# low-contrast text. Usage: browser_test.sh SDOH_BRIDGE_BINARY WORK_DIR
set -euo pipefail
bin=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
if ! command -v node >/dev/null 2>&1; then
  echo "browser_test: node not found (scripts/deps.sh --test installs nodejs)" >&2
  exit 1
fi
if [[ ! -f $here/node_modules/axe-core/axe.min.js ]]; then
  echo "browser_test: axe-core missing: run \`npm ci\` in $here (scripts/test.sh does)" >&2
  exit 1
fi
# A clear error when chromium is missing (check_report.mjs also says so).
if [[ -z ${CHROMIUM:-} ]] && ! command -v chromium >/dev/null 2>&1; then
  echo "browser_test: chromium not found: install the Debian package \`chromium\`" \
    "(scripts/deps.sh --test does)" >&2
  exit 1
fi
rm -rf "$work"
mkdir -p "$work"

report() {  # report OUT_DIR MIN_CELL
  "$bin" report --config "$root/config/sdoh-bridge.yaml" --source "$root/samples" --out "$1" \
    --from 2023-01-01 --to 2024-12-31 --min-cell "$2" >/dev/null
}
check() {  # check DIR [extra check_report.mjs args]
  local dir=$1
  shift
  node "$here/check_report.mjs" --html "$dir/report.html" --json "$dir/report.json" --axe "$@"
}

for min_cell in 1 11; do
  dir="$work/min-cell-$min_cell"
  report "$dir" "$min_cell"
  echo "== samples, --min-cell $min_cell"
  check "$dir" --screenshot "$dir/report.png"
  [[ -s $dir/report.png ]] || { echo "browser_test: no screenshot in $dir" >&2; exit 1; }
done

# The checker is not vacuous: each planted fault must make it fail, naming the fault.
expect_failure() {  # expect_failure NAME PATTERN
  local name=$1 pattern=$2 out
  if out=$(check "$work/fault-$name" 2>&1); then
    echo "browser_test: the checker passed a page with a planted fault ($name)" >&2
    exit 1
  fi
  if ! grep -qE "$pattern" <<<"$out"; then
    echo "browser_test: fault $name: the failure does not name it ($pattern):" >&2
    echo "$out" >&2
    exit 1
  fi
  echo "planted fault $name: caught"
}
plant() {  # plant NAME PERL_SUBSTITUTION
  cp -r "$work/min-cell-1" "$work/fault-$1"
  perl -0pi -e "$2" "$work/fault-$1/report.html"
  if cmp -s "$work/min-cell-1/report.html" "$work/fault-$1/report.html"; then
    echo "browser_test: planting $1 changed nothing" >&2
    exit 1
  fi
}
# The coverage table's "Patients" cell 55 (samples: 55 active, living patients) shows 54.
plant number 's#(<td>49</td><td>6</td><td>)55(</td>)#${1}54${2}#'
expect_failure number 'table coverage row 0: page shows'
plant chart 's#<svg .*?</svg>##s'
expect_failure chart 'table coverage: 0 charts'
plant contrast 's#</style>#body,svg text{color:\#bbb;fill:\#bbb}</style>#'
expect_failure contrast 'serious color-contrast'
echo "browser_test: OK (screenshots: $work/min-cell-1/report.png, $work/min-cell-11/report.png)"
