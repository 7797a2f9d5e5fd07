#!/usr/bin/env bash
# Builds and runs every libFuzzer target (tests/fuzz/, tests/fhirpath/fuzz_fhirpath) for
# SECONDS_PER_TARGET CPU-seconds (default 120) each, one after the other, on a copy of its
# committed corpus.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#   scripts/fuzz.sh --build-only      # configure + build the targets, run nothing (CI replays
#                                     # the corpora with ctest -R fuzz)
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_WORK_DIR (default $FUZZ_BUILD_DIR/
# fuzz-runs), FUZZ_JOBS (ninja -j, default 2), FUZZ_TARGETS (space-separated subset of target
# names, e.g. "fuzz_ndjson_line fuzz_yaml_loaders").
# Prints per target: CPU seconds, execs, execs/s, coverage (cov: of libFuzzer's last status
# line), and every crash-/leak-/timeout-/oom- file; those are also copied to tests/fuzz/findings/.
# Then the totals: targets, CPU-minutes, execs, findings.
# Exits 1 when any target found something (or stopped abnormally), 2 on a setup error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_only=0
if [[ "${1:-}" == "--build-only" ]]; then build_only=1; shift; fi
secs=${1:-120}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: $0 [--build-only | SECONDS_PER_TARGET]" >&2; exit 2; }
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
work=${FUZZ_WORK_DIR:-$build/fuzz-runs}
jobs=${FUZZ_JOBS:-2}
findings=$root/tests/fuzz/findings

# clang with the libFuzzer/sanitizer runtimes (Debian: clang, libclang-rt-14-dev).
have_runtime() {
  command -v clang++ >/dev/null &&
    echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, unsigned long){return 0;}' |
      clang++ -x c++ -fsanitize=fuzzer,address,undefined -o /dev/null - 2>/dev/null
}
if ! have_runtime; then
  echo "== installing clang + libclang-rt-14-dev"
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq clang libclang-rt-14-dev >/dev/null ||
    { echo "cannot install clang / libclang-rt-14-dev" >&2; exit 2; }
  have_runtime || { echo "clang cannot link -fsanitize=fuzzer" >&2; exit 2; }
fi

# The fuzz build uses the same RapidJSON settings as Release (no SIMD scan anywhere, issue 13 #5;
# fhir/CMakeLists.txt), so a fuzzer sees what Release does.
cxxflags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=pointer-overflow"
echo "== configuring $build"
mkdir -p "$build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DSDOH_BUILD_BENCH=OFF \
  -DSDOH_WERROR=OFF \
  -DCMAKE_CXX_FLAGS="$cxxflags" \
  >"$build/sdoh-configure.log" 2>&1 || { cat "$build/sdoh-configure.log" >&2; exit 2; }

# target name → corpus folder
declare -A corpus=([fuzz_fhirpath]=tests/fhirpath/corpus)
for d in tests/fuzz/corpus/*/; do
  n=$(basename "$d"); corpus[fuzz_$n]=${d%/}
done
# Only targets the build defines (fuzz_cds_request needs the service library).
mapfile -t defined < <(ninja -C "$build" -t targets all 2>/dev/null |
  sed -n 's/^\(fuzz_[a-z_]*\): phony$/\1/p' | sort -u)
targets=()
for t in ${FUZZ_TARGETS:-${!corpus[@]}}; do
  if printf '%s\n' "${defined[@]}" | grep -qx "$t"; then targets+=("$t")
  else echo "== skipping $t (not defined by this build)"; fi
done
IFS=$'\n' targets=($(sort <<<"${targets[*]}")); unset IFS
((${#targets[@]})) || { echo "no fuzz targets" >&2; exit 2; }

echo "== building ${targets[*]}"
ninja -C "$build" -j"$jobs" "${targets[@]}" >"$build/sdoh-build.log" 2>&1 ||
  { tail -50 "$build/sdoh-build.log" >&2; exit 2; }

((build_only)) && { echo "== built ${#targets[@]} targets in $build"; exit 0; }

status=0
summary=()
total_cpu=0
total_execs=0
total_found=0
for t in "${targets[@]}"; do
  bin=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
  dir=$work/$t
  rm -rf "$dir"; mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r "${corpus[$t]}/." "$dir/corpus/"
  echo "== $t: ${secs} CPU-seconds on $(ls "$dir/corpus" | wc -l) seeds"
  TIMEFORMAT='%U %S'
  # SECONDS_PER_TARGET is CPU time: on a shared machine wall time buys less. libFuzzer limits
  # wall time only, so run rounds on the growing corpus until the CPU spent reaches the budget
  # (a round gets the CPU still owed as its wall limit), a round finds something, or 30 rounds.
  cpu=0; execs=0; rc=0; rounds=0; : >"$dir/log"
  while ((rc == 0 && rounds < 30)); do
    left=$(awk -v b="$secs" -v c="$cpu" 'BEGIN{l=b-c; printf "%d", (l<1?0:(l<5?5:l))}')
    ((left > 0)) || break
    rounds=$((rounds + 1))
    # halt_on_error: UBSan's reports are recoverable by default; every one is a finding here.
    { time env UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 "$bin" -max_total_time="$left" \
        -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 -artifact_prefix="$dir/artifacts/" \
        "$dir/corpus" >"$dir/round.log" 2>&1; } 2>"$dir/time"
    rc=$?
    cat "$dir/round.log" >>"$dir/log"
    read -r u s <"$dir/time"
    cpu=$(awk -v c="$cpu" -v u="$u" -v s="$s" 'BEGIN{printf "%.1f", c+u+s}')
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/round.log" | tail -1)
    execs=$((execs + ${n:-0}))
  done
  rate=$(awk -v e="$execs" -v c="$cpu" 'BEGIN{printf "%d", (c>0?e/c:0)}')
  cov=$(grep -E '^#[0-9]+.*cov: ' "$dir/log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*ft: \([0-9]*\).*/\1 (ft \2)/p')
  mapfile -t found < <(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  line=$(printf '%-20s cpu %6ss  execs %9s  execs/s (per CPU-s) %6s  cov %s  rounds %s' "$t" \
    "$cpu" "$execs" "$rate" "${cov:-?}" "$rounds")
  if ((${#found[@]})) || ((rc != 0)); then
    status=1
    line+="  FINDINGS (exit $rc): ${#found[@]}"
    mkdir -p "$findings"
    for f in "${found[@]}"; do
      cp "$f" "$findings/${t}-$(basename "$f")"
      line+=$'\n'"    $findings/${t}-$(basename "$f")"
    done
    grep -m1 -B2 -A30 -E '^==[0-9]+==ERROR|runtime error|deadly signal|SUMMARY' "$dir/log" |
      head -40 >"$dir/stack" || true
    line+=$'\n'"    log: $dir/log"
  fi
  echo "$line"
  summary+=("$line")
  total_cpu=$(awk -v a="$total_cpu" -v b="$cpu" 'BEGIN{printf "%.1f", a+b}')
  total_execs=$((total_execs + ${execs:-0}))
  total_found=$((total_found + ${#found[@]}))
done
echo
echo "== summary (${#targets[@]} targets, ${secs} CPU-seconds each)"
printf '%s\n' "${summary[@]}"
echo "== totals: ${#targets[@]} targets, $(awk -v c="$total_cpu" 'BEGIN{printf "%.1f", c/60}') CPU-minutes, $total_execs execs, $total_found findings"
exit $status
