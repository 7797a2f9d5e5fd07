#!/usr/bin/env bash
# `sdoh-bridge serve` throughput and latency on loopback (issue 6; a benchmark, not a test):
#  1. auth off: wrk, 4 connections, POST patient-view with full prefetch (pat01 of samples/);
#  2. auth on: bench/service_load.cc, 4 connections, one pre-signed JWT per request (ES384,
#     then RS384; fresh jti each; the service verifies signature, iss, aud, exp and the jti
#     replay cache). Tokens are signed before the timed window; if they run out early the
#     window is shorter (the printed duration says so).
# Usage: bench/service_bench.sh [BUILD_DIR] [SECONDS]   (needs the Debian package wrk)
# Prints requests/s and latency percentiles. The machine may be shared: expect noise.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
SECONDS_RUN=${2:-10}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 2; }
cmake --build "$BUILD" --target sdoh-bridge service_load >/dev/null
BIN=$BUILD/plugin/sdoh-bridge
LOAD=$BUILD/bench/service_load
TMP=$(mktemp -d)
SERVER_PID=
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

"$LOAD" --write-body "$TMP/body.json"
"$LOAD" --write-keys "$TMP"
cat >"$TMP/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$TMP/body.json", "rb")
wrk.body = f:read("*a")
f:close()
done = function(summary, latency, requests)
  io.write(string.format("requests/s %.0f  non-2xx %d\n", summary.requests / (summary.duration / 1e6),
    summary.errors.status))
  io.write(string.format("latency ms p50 %.3f p90 %.3f p99 %.3f max %.3f\n",
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
LUA

start_server() {
  "$BIN" serve --config "$ROOT/config/sdoh-bridge.yaml" --listen 127.0.0.1:0 "$@" >"$TMP/serve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$TMP/serve.log" 2>/dev/null && break
    sleep 0.1
  done
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$TMP/serve.log")
}
stop_server() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=; }

echo "== $(date -u +%FT%TZ), $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== auth off: wrk -t2 -c4 -d${SECONDS_RUN}s, patient-view with full prefetch (pat01)"
start_server --no-auth
curl -s -o /dev/null -w "one call: HTTP %{http_code}, %{size_download} bytes\n" \
  -H 'Content-Type: application/json' --data-binary @"$TMP/body.json" \
  "http://127.0.0.1:$PORT/cds-services/sdoh-bridge-patient-view"
wrk -t2 -c4 -d"${SECONDS_RUN}s" --latency -s "$TMP/post.lua" \
  "http://127.0.0.1:$PORT/cds-services/sdoh-bridge-patient-view" | tail -n 3
stop_server

BASE=https://sdoh.bench.test
for ALG in ES384 RS384; do
  echo "== auth on ($ALG JWT per request, verified): service_load, 4 connections, ${SECONDS_RUN}s"
  start_server --jwks "$TMP/jwks.json" --issuer https://ehr.bench.test --public-base-url "$BASE"
  KEY=$TMP/$(echo "$ALG" | tr 'A-Z' 'a-z').pem
  "$LOAD" --port "$PORT" --key "$KEY" --alg "$ALG" --base "$BASE" --connections 4 \
    --seconds "$SECONDS_RUN" --tokens $((SECONDS_RUN * 1500))
  stop_server
done
