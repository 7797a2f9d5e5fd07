#!/usr/bin/env bash
# Builds and runs every libFuzzer target (tests/fuzz/, tests/fhirpath/fuzz_fhirpath) for
# SECONDS_PER_TARGET (default 120) each, one after the other, on a copy of its committed corpus.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Environment: FUZZ_BUILD_DIR (default build-fuzz), FUZZ_WORK_DIR (default $FUZZ_BUILD_DIR/
# fuzz-runs), FUZZ_JOBS (ninja -j, default 2), FUZZ_TARGETS (space-separated subset of target
# names, e.g. "fuzz_ndjson_line fuzz_yaml_loaders").
# Prints per target: CPU seconds, execs, execs/s, coverage (cov: of libFuzzer's last status
# line), and every crash-/leak-/timeout-/oom- file; those are also copied to tests/fuzz/findings/.
# Exits 1 when any target found something (or stopped abnormally), 2 on a setup error.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-120}
[[ "$secs" =~ ^[0-9]+$ ]] || { echo "usage: $0 [SECONDS_PER_TARGET]" >&2; exit 2; }
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

# -URAPIDJSON_SSE2: fhir/CMakeLists.txt turns RapidJSON's SSE2 scan on unless SDOH_SANITIZE; its
# aligned 16-byte reads past a string's end (harmless, never past a page) are ASan reports, so
# the fuzz build turns it off, as the sanitizer build does.
cxxflags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize=pointer-overflow -URAPIDJSON_SSE2"
echo "== configuring $build"
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DSDOH_BUILD_BENCH=OFF \
  -DSDOH_WERROR=OFF \
  -DCMAKE_CXX_FLAGS="$cxxflags" \
  >"$build.configure.log" 2>&1 || { cat "$build.configure.log" >&2; exit 2; }

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
ninja -C "$build" -j"$jobs" "${targets[@]}" >"$build.build.log" 2>&1 ||
  { tail -50 "$build.build.log" >&2; exit 2; }

status=0
summary=()
for t in "${targets[@]}"; do
  bin=$(find "$build" -type f -name "$t" -perm -u+x | head -1)
  dir=$work/$t
  rm -rf "$dir"; mkdir -p "$dir/corpus" "$dir/artifacts"
  cp -r "${corpus[$t]}/." "$dir/corpus/"
  echo "== $t: ${secs}s on $(ls "$dir/corpus" | wc -l) seeds"
  TIMEFORMAT='%U %S'
  { time "$bin" -max_total_time="$secs" -timeout=30 -rss_limit_mb=2560 -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1; } 2>"$dir/time"
  rc=$?
  read -r u s <"$dir/time"
  cpu=$(awk -v u="$u" -v s="$s" 'BEGIN{printf "%.1f", u+s}')
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
  cov=$(grep -E '^#[0-9]+.*cov: ' "$dir/log" | tail -1 | sed -n 's/.*cov: \([0-9]*\).*ft: \([0-9]*\).*/\1 (ft \2)/p')
  mapfile -t found < <(find "$dir/artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) | sort)
  line=$(printf '%-20s cpu %6ss  execs %9s  execs/s %6s  cov %s' "$t" "$cpu" "${execs:-?}" \
    "${rate:-?}" "${cov:-?}")
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
done
echo
echo "== summary (${#targets[@]} targets, ${secs}s each)"
printf '%s\n' "${summary[@]}"
exit $status
