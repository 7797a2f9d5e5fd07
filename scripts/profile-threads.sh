#!/usr/bin/env bash
# Where a run's time goes, thread by thread (issue 17). Records `sdoh-bridge run --threads N` on
# an NDJSON folder under perf's software clock (works in a VM without hardware counters) and
# prints: each thread's share of the samples, how busy each thread was in every 100 ms of the run
# (a thread at 100% all along is the critical path; two threads at 100% mean the run is bounded
# by the CPU it spends, not by waiting), and each thread's top functions.
#
# usage: scripts/profile-threads.sh SOURCE_DIR [THREADS] [SDOH_BRIDGE_BINARY]
#   e.g. build/bench/generate_population --patients 100000 --out /tmp/pop100k
#        scripts/profile-threads.sh /tmp/pop100k 2
# Needs perf (Debian: apt-get install linux-perf) and a build (default: build/plugin/sdoh-bridge).
# The run writes to a temporary folder, removed at the end. Not part of CI.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
source_dir="${1:-}"
threads="${2:-2}"
bin="${3:-$root/build/plugin/sdoh-bridge}"
if [[ -z "$source_dir" || ! -d "$source_dir" ]]; then
  echo "usage: $0 SOURCE_DIR [THREADS] [SDOH_BRIDGE_BINARY] (SOURCE_DIR: an NDJSON folder)" >&2
  exit 2
fi
if ! [[ "$threads" =~ ^[0-9]+$ ]] || ((threads < 1 || threads > 256)); then
  echo "$0: THREADS must be a number from 1 to 256, not '$threads'" >&2
  exit 2
fi
if [[ ! -x "$bin" ]]; then
  echo "$0: no sdoh-bridge binary at $bin (build first: cmake --build build)" >&2
  exit 2
fi
if ! command -v perf > /dev/null; then
  echo "$0: perf not found (Debian: apt-get install linux-perf)" >&2
  exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
rate=2000  # samples a second per busy thread
set +e
perf record -q -e cpu-clock -F "$rate" -o "$work/perf.data" -- \
  "$bin" run --config "$root/config/sdoh-bridge.yaml" --source "$source_dir" \
  --out "$work/out" --threads "$threads" > "$work/run.stdout" 2> "$work/run.stderr"
rc=$?
set -e
# 0: clean; 3: a run that skipped bad input (still a whole run worth profiling).
if ((rc != 0 && rc != 3)); then
  echo "$0: the run exited $rc; its stderr:" >&2
  cat "$work/run.stderr" >&2
  exit 1
fi

echo "== samples by thread ($rate a second per busy thread; run exit $rc)"
perf report -i "$work/perf.data" --no-children --sort comm -F overhead,sample,comm 2> /dev/null |
  grep -v '^#' | grep -v '^$'

echo
echo "== busy % per 100 ms, by thread name (threads of one name added up)"
perf script -i "$work/perf.data" -F comm,time 2> /dev/null |
  awk -v rate="$rate" '
    { t = $NF + 0; sub(/:$/, "", $NF); name = $1
      if (start == "") start = t
      bin = int((t - start) * 10); n[bin, name]++; names[name] = 1; if (bin > last) last = bin }
    END {
      printf "%8s", "t (s)"; for (k in names) printf "  %14s", k; printf "\n"
      for (b = 0; b <= last; b++) {
        printf "%8.1f", b / 10
        for (k in names) {
          busy = 100 * n[b, k] / (rate / 10)
          printf "  %13d%%", (busy > 100 ? 100 : busy)  # over 100: samples late to their bin
        }
        printf "\n"
      }
    }'

echo
for comm in $(perf report -i "$work/perf.data" --no-children --sort comm -F comm 2> /dev/null |
  grep -v '^#' | grep -v '^$' | awk '{print $1}'); do
  echo "== top functions of $comm"
  perf report -i "$work/perf.data" --no-children --comm "$comm" --sort symbol 2> /dev/null |
    grep -E '^ +[0-9.]+%' | head -12 | cut -c1-110
  echo
done
