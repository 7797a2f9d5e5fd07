#!/usr/bin/env bash
# The long crash proof (label slow): 20 random kill -9 trials of `sdoh-bridge run` against the
# real FHIR test server, then a clean rerun must leave exactly the planned ServiceRequests,
# Tasks and Flags — none duplicated, none missing.
# Usage: tests/writeback/kill_trials.sh [BUILD_DIR]   (default: build)
set -euo pipefail
build="${1:-build}"
exec ctest --test-dir "$build" -L slow --output-on-failure
