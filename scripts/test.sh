#!/usr/bin/env bash
# One command: install what is missing, build everything with warnings as errors, run the whole
# test suite (unit, CLI, conformance, integration against the real FHIR test server), then the
# ASan+UBSan build of the unit and CLI tests, and check formatting.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=$(nproc)
scripts/deps.sh --test
if [[ -f tests/fhir-server/package-lock.json ]]; then
  (cd tests/fhir-server && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "== build (RelWithDebInfo, -Werror)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSDOH_WERROR=ON >/dev/null
cmake --build build -j "$jobs"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
count() { grep -oE 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+$'; }
echo "== format"
scripts/check-format.sh
echo "== tests"
ctest --test-dir build -j "$jobs" --output-on-failure --timeout 600 | tee "$log"
total=$(count)
echo "== sanitizer build (ASan + UBSan): unit and CLI tests"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSDOH_SANITIZE=ON \
  -DSDOH_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j "$jobs" --target unit_tests cli_tests client_unit_tests client_config_tests writeback_unit_tests \
  fhirpath_tests fhirpath_command_tests fhirpath_conformance report_tests service_unit_tests \
  sdoh-bridge
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan -j "$jobs" --output-on-failure -L 'unit|cli' --timeout 900 | tee "$log"
total=$((total + $(count)))
echo "tests: $total passed, 0 failed"
