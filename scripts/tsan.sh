#!/usr/bin/env bash
# ThreadSanitizer check of everything that runs on several threads (issue 17: the parallel parse,
# the evaluation on the run's threads, the look-up pool; the service's HTTP and fetch threads).
# Builds sdoh-bridge and the test binaries that exercise threads with -fsanitize=thread in
# BUILD_DIR (default build-tsan/), then runs them with TSAN_OPTIONS=exitcode=66, so that a race
# fails the run it is found in (threads_tests runs the instrumented sdoh-bridge itself at 1, 2,
# 3 threads and the default, and compares every output file). Not part of CI: a third full
# build would take CI past its 45 minutes (here: ~8 min to build, ~3 min to run, 2 cores).
# Needs what `.ci/run` installs and the test FHIR server's packages (`npm ci` in
# tests/fhir-server) for the server suites.
#
# usage: scripts/tsan.sh [BUILD_DIR]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build-tsan}"
# -Wno-tsan: GCC warns that TSan does not model atomic_thread_fence, which Boost.Asio uses.
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" > /dev/null
suites=(tests/unit_tests tests/threads_tests tests/service/service_unit_tests
  tests/service/service_server_tests tests/service/service_tests)
targets=()
for s in "${suites[@]}"; do targets+=("$(basename "$s")"); done
cmake --build "$build" -j "$(nproc)" --target sdoh-bridge "${targets[@]}"

export TSAN_OPTIONS="exitcode=66 ${TSAN_OPTIONS:-}"
failed=0
for s in "${suites[@]}"; do
  log="$build/$(basename "$s").tsan.log"
  if (cd "$root" && "$build/$s" > "$log" 2>&1); then
    echo "ok    $s"
  else
    echo "FAIL  $s (exit $?; races: $(grep -c 'WARNING: ThreadSanitizer' "$log"); see $log)"
    failed=1
  fi
done
exit "$failed"
