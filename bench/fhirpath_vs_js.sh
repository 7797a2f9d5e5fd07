#!/usr/bin/env bash
# FHIRPath benchmark (issue 3): sdoh-bridge's engine against fhirpath.js 5.2.2 on the same
# machine, in the same run, on the same synthetic QuestionnaireResponses, with the same
# realistic screening expressions (bench/fhirpath_expressions.txt). Both evaluate compiled
# expressions over already-parsed resources; parsing is not timed. CPU time is measured.
# Usage: bench/fhirpath_vs_js.sh [BUILD_DIR] [N_RESOURCES]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../build}
n=${2:-5000}
export N=$n
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "installing fhirpath@5.2.2 into $work/js ..."
(cd "$work" && mkdir js && cd js && npm init -y >/dev/null && \
  npm install --no-audit --no-fund --loglevel=error fhirpath@5.2.2 >/dev/null)
cmake --build "$build" --target fhirpath_benchmark >/dev/null
# Synthetic AHC HRSN / PRAPARE-shaped QuestionnaireResponses (deterministic).
node -e '
const n = Number(process.argv[1]); let s = 12345;
const rnd = (k) => { s = (s * 1103515245 + 12345) % 2147483648; return s % k; };
const pick = (a) => a[rnd(a.length)];
const coding = (c) => ({valueCoding: {system: "http://loinc.org", code: c}});
const out = [];
for (let i = 0; i < n; ++i) {
  const items = [
    {linkId: "/71802-3", text: "Living situation", answer: [coding(pick(["LA31993-1","LA31993-1","LA31994-9"]))]},
    {linkId: "/96778-6", text: "Problems", answer: [coding(pick(["LA9-3","LA31996-4","LA28580-1"])), coding("LA9-3")]},
    {linkId: "/88122-7", answer: [coding(pick(["LA28398-8","LA6729-3"]))]},
    {linkId: "/88123-5", answer: [coding(pick(["LA28398-8","LA28397-0"]))]},
    {linkId: "/93041-2", item: [{linkId: "/93041-2/93030-5", answer: [coding(pick(["LA32-8","LA30133-5"]))]}]},
    {linkId: "/93039-6", item: [{linkId: "/93039-6/93026-3", answer: [coding(pick(["LA33-6","LA32-8"]))]}]},
  ];
  for (const h of ["/95618-5","/95617-7","/95616-9","/95615-1"]) items.push({linkId: h, answer: [coding(pick(["LA6270-8","LA10066-1","LA6482-9"]))]});
  out.push({resourceType: "QuestionnaireResponse", id: "q" + i, status: "completed",
            questionnaire: "http://loinc.org/q/96777-8", authored: "2024-05-01T10:00:00Z",
            subject: {reference: "Patient/p" + i}, item: items});
}
require("fs").writeFileSync(process.argv[2], JSON.stringify(out));
' "$n" "$work/resources.json"
mapfile -t exprs < <(grep -v '^\s*$' "$here/fhirpath_expressions.txt")
mapfile -t ours < <("$build/bench/fhirpath_benchmark" "$work/resources.json" "$here/fhirpath_expressions.txt" 3)
mapfile -t theirs < <(FHIRPATH_JS_DIR="$work/js" node "$here/fhirpath_js_bench.mjs" "$work/resources.json" "$here/fhirpath_expressions.txt" 3)
printf '%-14s %-14s %-7s %s\n' "sdoh evals/s" "fhirpath.js/s" "ratio" "expression"
logsum=0
for i in "${!exprs[@]}"; do
  read -r a at <<<"${ours[$i]}"
  read -r b bt <<<"${theirs[$i]}"
  if [[ "$at" != "$bt" ]]; then echo "MISMATCH: engines disagree on expression $((i + 1)) ($at vs $bt true)"; fi
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1fx", a / b }')
  printf '%-14s %-14s %-7s %s\n' "$a" "$b" "$ratio" "${exprs[$i]:0:90}"
  logsum=$(awk -v s="$logsum" -v a="$a" -v b="$b" 'BEGIN { print s + log(a / b) }')
done
awk -v s="$logsum" -v n="${#exprs[@]}" 'BEGIN { printf "geometric mean: %.1fx fhirpath.js (%d expressions, %s resources)\n", exp(s / n), n, ENVIRON["N"] }'

