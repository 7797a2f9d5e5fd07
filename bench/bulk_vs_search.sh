#!/usr/bin/env bash
# Bulk Data $export vs paged searches (issue 16), and paged searches at --threads 1 vs 2 (pages
# fetched ahead, issue 17), measured in one run on the same server:
# HTTP requests per 1,000 patients (the server's own request counter), wall time and peak RSS
# of `sdoh-bridge run --dry-run` (GNU time), and a check that both give the NDJSON folder run's
# flags.ndjson.
#   [ROUNDS=N] [LATENCY_MS=MS] bench/bulk_vs_search.sh [PATIENTS] [BUILD_DIR]   (default 10000, build)
# LATENCY_MS: every request to the test server waits this long first (a remote EHR's round trip).
# Starts tests/fhir-server/server.mjs (VALIDATE=0 to load faster; needs `npm ci` there).
set -euo pipefail
PATIENTS=${1:-10000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "${2:-$SRC/build}" && pwd)
BIN=$BUILD/plugin/sdoh-bridge
GEN=$BUILD/bench/generate_population
TMP=$(mktemp -d /tmp/sdoh-bulk-bench.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

LATENCY_MS=${LATENCY_MS:-0} VALIDATE=0 MAX_COUNT=1000 PORT=0 PORT_FILE="$TMP/port" node "$SRC/tests/fhir-server/server.mjs" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 600); do [[ -s "$TMP/port" ]] && break; sleep 0.1; done
ROOT="http://127.0.0.1:$(cat "$TMP/port")"
BASE="$ROOT/fhir"
"$GEN" --patients "$PATIENTS" --out "$TMP/pop" --seed 16 >/dev/null
t0=$(date +%s)
python3 "$SRC/bench/load_fhir_server.py" "$BASE" "$TMP/pop"
echo "loaded in $(($(date +%s) - t0)) s"

# Absolute paths; page_size 1000 (the server's maximum) so the search path is not penalised.
sed -e "s#\.\./#$SRC/#g" -e "s#^  - rules/#  - $SRC/config/rules/#" "$SRC/config/sdoh-bridge.yaml" >"$TMP/config.yaml"
printf 'fhir:\n  base_url: %s\n  page_size: 1000\n' "$BASE" >>"$TMP/config.yaml"
"$BIN" run --config "$TMP/config.yaml" --source "$TMP/pop" --out "$TMP/ref" --dry-run >/dev/null 2>&1 || true

# Reads of the source: searches of the four types read and the $export requests (writeback's
# own look-ups in a dry run are counted apart).
requests() {
  curl -fsS "$ROOT/_admin/health" | python3 -c "
import json,sys
k=json.load(sys.stdin)['requestsByKind']
reads=sum(v for n,v in k.items() if n.split(' ')[1] in ('Patient','QuestionnaireResponse','Observation','Questionnaire') or '\$export' in n)
print(reads, sum(k.values()))"
}
measure() {  # measure NAME args...
  local name=$1; shift
  local before after b_all a_all
  read -r before b_all < <(requests)
  /usr/bin/time -f "%e %M" -o "$TMP/$name.time" "$BIN" run --config "$TMP/config.yaml" --source "$BASE" \
    --out "$TMP/$name" --dry-run "$@" >"$TMP/$name.log" 2>&1 || true
  read -r after a_all < <(requests)
  local n=$((after - before)) other=$((a_all - b_all - 1 - (after - before)))
  read -r wall rss <"$TMP/$name.time"
  local same=no
  cmp -s "$TMP/ref/flags.ndjson" "$TMP/$name/flags.ndjson" && same=yes
  printf '%-9s requests %7d  per 1000 patients %9.1f  wall %7.1f s  peak RSS %6.1f MB  flags = folder: %s  (other requests: %d)\n' \
    "$name" "$n" "$(echo "$n * 1000 / $PATIENTS" | bc -l)" "$wall" "$(echo "$rss / 1024" | bc -l)" "$same" "$other"
}
# Files of up to 50,000 resources (the server's default is 1,000; real servers write larger ones).
curl -fsS -X POST "$ROOT/_admin/bulk" -d '{"resourcesPerFile":50000}' >/dev/null
echo "patients $PATIENTS, flags $(wc -l <"$TMP/ref/flags.ndjson")"
measure bulk --bulk
# Paged searches with the run's thread fetching (--threads 1) and with a fetch thread fetching
# and parsing the next pages while the run collects the current one (--threads 2, issue 17).
# ROUNDS=N alternates them N times (each run printed).
for _ in $(seq 1 "${ROUNDS:-1}"); do
  measure search-t1 --threads 1
  measure search-t2 --threads 2
done
