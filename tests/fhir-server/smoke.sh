#!/usr/bin/env bash
# Smoke test of the FHIR R4 test server: starts server.mjs on a free loopback port, walks through the
# behaviours the integration tests rely on with curl, and stops the server with SIGTERM.
# Needs: node (>= 20), curl, and `npm ci` having been run in this directory.
# Last line of output: "N passed, N failed"; exit status is non-zero if anything failed.
set -u -o pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/fhir-smoke.XXXXXX")"
PASS=0
FAIL=0
SERVER_PID=""

cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

ok() { PASS=$((PASS + 1)); printf '  ok   %s\n' "$1"; }
ko() { FAIL=$((FAIL + 1)); printf '  FAIL %s\n' "$1"; [[ -n "${2:-}" ]] && printf '       %s\n' "$2"; }

# expect DESCRIPTION ACTUAL EXPECTED
expect() {
  if [[ "$2" == "$3" ]]; then ok "$1"; else ko "$1" "expected [$3], got [$2]"; fi
}
# expect_match DESCRIPTION ACTUAL EXTENDED-REGEX
expect_match() {
  if [[ "$2" =~ $3 ]]; then ok "$1"; else ko "$1" "expected match of /$3/, got [$2]"; fi
}

# req METHOD PATH [curl args...]  -> STATUS, $TMP/body, $TMP/headers
# PATH is relative to the FHIR base unless it starts with /_admin.
req() {
  local method="$1" path="$2"
  shift 2
  local url
  if [[ "$path" == /_admin* ]]; then url="$ROOT$path"; elif [[ "$path" == http* ]]; then url="$path"; else url="$BASE/$path"; fi
  STATUS=$(curl -sS -o "$TMP/body" -D "$TMP/headers" -w '%{http_code}' -X "$method" "$@" "$url") || STATUS="curl-error"
}
# post_json METHOD PATH JSON [curl args...]
send_json() {
  local method="$1" path="$2" json="$3"
  shift 3
  req "$method" "$path" -H 'Content-Type: application/fhir+json' --data-binary "$json" "$@"
}
# hdr NAME -> value of a response header (last occurrence)
hdr() { grep -i "^$1:" "$TMP/headers" | tail -n 1 | sed -e 's/^[^:]*:[[:space:]]*//' -e 's/\r$//'; }
# jv JS-EXPRESSION -> evaluates the expression with `b` = parsed response body (objects printed as JSON)
jv() {
  node -e '
    const fs = require("fs");
    let b; try { b = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); } catch { b = undefined; }
    let r; try { r = eval(process.argv[2]); } catch (e) { r = "<error: " + e.message + ">"; }
    process.stdout.write(r === undefined ? "" : typeof r === "object" ? JSON.stringify(r) : String(r));
  ' "$TMP/body" "$1"
}
save() { cp "$TMP/body" "$TMP/$1"; }

# ---------------------------------------------------------------------------------------------------------
echo "== starting server"
if [[ ! -d "$HERE/node_modules/@medplum/fhir-router" ]]; then
  echo "node_modules missing: run 'npm ci' in $HERE first"
  echo "0 passed, 1 failed"
  exit 1
fi
T0=$(date +%s%N)
PORT=0 PORT_FILE="$TMP/port" HOST=127.0.0.1 node "$HERE/server.mjs" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do
  [[ -s "$TMP/port" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.05
done
if [[ ! -s "$TMP/port" ]]; then
  echo "server did not start:"
  cat "$TMP/server.log"
  echo "0 passed, 1 failed"
  exit 1
fi
PORT_NUM=$(tr -d '[:space:]' <"$TMP/port")
ROOT="http://127.0.0.1:$PORT_NUM"
BASE="$ROOT/fhir"
for _ in $(seq 1 100); do
  curl -sf "$ROOT/_admin/health" >/dev/null 2>&1 && break
  sleep 0.05
done
T1=$(date +%s%N)
echo "   $(head -n 1 "$TMP/server.log")"
echo "   ready after $(((T1 - T0) / 1000000)) ms (spawn to healthy)"

echo "== admin and metadata"
req GET /_admin/health
expect "GET /_admin/health -> 200" "$STATUS" 200
expect "health reports status ok" "$(jv b.status)" ok
req GET metadata
expect "GET /metadata -> 200" "$STATUS" 200
expect "metadata is a CapabilityStatement for 4.0.1" "$(jv 'b.resourceType + " " + b.fhirVersion')" "CapabilityStatement 4.0.1"
expect_match "metadata lists >= 140 resource types" "$(jv 'b.rest[0].resource.length')" '^1[4-9][0-9]$'
expect_match "Date header on every response" "$(hdr Date)" 'GMT$'

echo "== create"
send_json POST Patient '{"resourceType":"Patient","id":"client-chosen","identifier":[{"system":"urn:smoke","value":"p-1"}],"name":[{"family":"Doe","given":["Jane"]}],"birthDate":"1980-02-03"}'
expect "POST Patient -> 201" "$STATUS" 201
PID_=$(jv b.id)
expect "POST drops the client id" "$([[ "$PID_" != client-chosen && -n "$PID_" ]] && echo yes)" yes
expect "create ETag W/\"1\"" "$(hdr ETag)" 'W/"1"'
expect "create Location is versioned" "$(hdr Location)" "$BASE/Patient/$PID_/_history/1"
expect_match "create Last-Modified set" "$(hdr Last-Modified)" 'GMT$'
sleep 0.02
send_json POST QuestionnaireResponse "{\"resourceType\":\"QuestionnaireResponse\",\"status\":\"completed\",\"subject\":{\"reference\":\"Patient/$PID_\"},\"item\":[{\"linkId\":\"q1\",\"answer\":[{\"valueString\":\"yes\"}]}]}"
expect "POST QuestionnaireResponse -> 201" "$STATUS" 201
QR_ID=$(jv b.id)
QR_LU=$(jv b.meta.lastUpdated)
sleep 0.02
OBS_OK=0
for i in 1 2 3 4 5 6 7; do
  send_json POST Observation "{\"resourceType\":\"Observation\",\"status\":\"final\",\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"vital-signs\"}]}],\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"8867-4\"}]},\"subject\":{\"reference\":\"Patient/$PID_\"},\"valueQuantity\":{\"value\":$((60 + i)),\"unit\":\"/min\"}}"
  [[ "$STATUS" == 201 ]] && OBS_OK=$((OBS_OK + 1))
done
send_json POST Observation "{\"resourceType\":\"Observation\",\"status\":\"final\",\"category\":[{\"coding\":[{\"system\":\"http://terminology.hl7.org/CodeSystem/observation-category\",\"code\":\"laboratory\"}]}],\"code\":{\"coding\":[{\"system\":\"http://loinc.org\",\"code\":\"2345-7\"}]},\"subject\":{\"reference\":\"Patient/$PID_\"}}"
[[ "$STATUS" == 201 ]] && OBS_OK=$((OBS_OK + 1))
LAST_OBS=$(jv b.id)
expect "POST 8 Observations -> 201 each" "$OBS_OK" 8

echo "== search"
req GET "QuestionnaireResponse?subject=Patient/$PID_"
expect "QR?subject=Patient/ID -> 1" "$STATUS $(jv b.total) $(jv 'b.entry[0].resource.id')" "200 1 $QR_ID"
req GET "QuestionnaireResponse?patient=$PID_"
expect "QR?patient=ID -> 1" "$STATUS $(jv b.total)" "200 1"
req GET "QuestionnaireResponse?subject=$PID_"
expect "QR?subject=ID (bare id, multi-target) -> 1" "$STATUS $(jv b.total)" "200 1"
req GET "QuestionnaireResponse?subject:Patient=$PID_"
expect "QR?subject:Patient=ID -> 1" "$STATUS $(jv b.total)" "200 1"
req GET "QuestionnaireResponse" -G --data-urlencode "subject=$BASE/Patient/$PID_"
expect "QR?subject=<absolute URL> -> 1" "$STATUS $(jv b.total)" "200 1"
req GET "Observation?patient=$PID_&category=vital-signs"
expect "Observation?patient=&category=vital-signs -> 7" "$STATUS $(jv b.total)" "200 7"
req GET "Observation" -G --data-urlencode "patient=$PID_" --data-urlencode "category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
expect "Observation?category=system|code -> 1" "$STATUS $(jv b.total)" "200 1"
expect "search entries carry fullUrl" "$(jv 'b.entry[0].fullUrl')" "$BASE/Observation/$LAST_OBS"
expect_match "search Bundle.meta.lastUpdated set" "$(jv b.meta.lastUpdated)" '^20[0-9]{2}-'
req GET "Observation?patient=$PID_&category=laboratory&_include=Observation:subject"
expect "_include=Observation:subject adds the Patient" "$STATUS $(jv 'b.entry.map(e=>e.resource.resourceType+":"+e.search.mode).join(",")')" "200 Observation:match,Patient:include"
req GET "Observation?patient=$PID_&category=laboratory&_include=Observation:patient"
expect "_include=Observation:patient adds the Patient" "$STATUS $(jv 'b.entry.length') $(jv 'b.total')" "200 2 1"
req GET "Patient?_id=$PID_&_revinclude=QuestionnaireResponse:subject"
expect "_revinclude=QuestionnaireResponse:subject adds the QR" "$STATUS $(jv 'b.entry.map(e=>e.resource.resourceType).join(",")')" "200 Patient,QuestionnaireResponse"
req GET "Patient" -G --data-urlencode "_lastUpdated=lt$QR_LU"
expect "Patient?_lastUpdated=lt<QR time> -> 1" "$STATUS $(jv b.total)" "200 1"
req GET "Observation" -G --data-urlencode "_lastUpdated=gt$QR_LU"
expect "Observation?_lastUpdated=gt<QR time> -> 8" "$STATUS $(jv b.total)" "200 8"
req GET "QuestionnaireResponse" -G --data-urlencode "_lastUpdated=gt$QR_LU"
expect "QR?_lastUpdated=gt<its own time> -> 0" "$STATUS $(jv b.total)" "200 0"
req GET "Observation?patient=$PID_&_sort=-_lastUpdated"
expect "_sort=-_lastUpdated puts the newest first" "$STATUS $(jv 'b.entry[0].resource.id')" "200 $LAST_OBS"
req GET "Observation?patient=$PID_&_summary=count"
expect "_summary=count -> total only" "$STATUS $(jv b.total) $(jv '(b.entry||[]).length')" "200 8 0"
req GET "Observation?patient=$PID_&_count=0"
expect "_count=0 -> total only" "$STATUS $(jv b.total) $(jv '(b.entry||[]).length')" "200 8 0"
req GET "Patient?name=oe"
expect "string search (contains) Patient?name=oe -> 1" "$STATUS $(jv b.total)" "200 1"
req POST "Observation/_search" -H 'Content-Type: application/x-www-form-urlencoded' --data "patient=$PID_&category=vital-signs"
expect "POST Observation/_search form body -> 7" "$STATUS $(jv b.total)" "200 7"

echo "== paging"
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21; do
  send_json POST Basic "{\"resourceType\":\"Basic\",\"code\":{\"text\":\"page-$i\"}}" >/dev/null
done
req GET "Basic"
expect "default page size is 20" "$STATUS $(jv b.total) $(jv 'b.entry.length') $(jv 'b.link.map(l=>l.relation).join(",")')" "200 21 20 self,first,next"
req GET "Observation?patient=$PID_&category=vital-signs&_count=2"
PAGES=0
IDS=""
LAST_NEXT=""
PREV_OK=no
while :; do
  PAGES=$((PAGES + 1))
  [[ "$STATUS" == 200 ]] || break
  IDS="$IDS $(jv 'b.entry.map(e=>e.resource.id).join(" ")')"
  [[ $PAGES == 2 && -n "$(jv '(b.link.find(l=>l.relation==="previous")||{}).url')" ]] && PREV_OK=yes
  NEXT=$(jv '(b.link.find(l=>l.relation==="next")||{}).url')
  [[ -z "$NEXT" || $PAGES -ge 10 ]] && break
  LAST_NEXT="$NEXT"
  req GET "$NEXT"
done
DISTINCT=$(printf '%s\n' $IDS | sort -u | grep -c .)
expect "_count=2 over 7 Observations: 4 pages, 7 distinct ids" "$PAGES $DISTINCT" "4 7"
expect "next links keep the original parameters and use _offset" "$(
  [[ "$LAST_NEXT" == *"patient=$PID_"* && "$LAST_NEXT" == *category=vital-signs* && "$LAST_NEXT" == *_offset=6* ]] && echo yes)" yes
expect "page 2 has a previous link" "$PREV_OK" yes
expect "last page has no next link" "$(jv '(b.link.find(l=>l.relation==="next")||{}).url')" ""

echo "== conditional create (If-None-Exist)"
SR_BODY="{\"resourceType\":\"ServiceRequest\",\"status\":\"active\",\"intent\":\"order\",\"identifier\":[{\"system\":\"urn:plugin\",\"value\":\"sr-1\"}],\"subject\":{\"reference\":\"Patient/$PID_\"}}"
send_json POST ServiceRequest "$SR_BODY" -H 'If-None-Exist: identifier=urn:plugin|sr-1'
expect "first If-None-Exist POST -> 201" "$STATUS" 201
SR1=$(jv b.id)
send_json POST ServiceRequest "$SR_BODY" -H 'If-None-Exist: identifier=urn:plugin|sr-1'
expect "second If-None-Exist POST -> 200 with the same id" "$STATUS $(jv b.id)" "200 $SR1"
req GET "ServiceRequest" -G --data-urlencode "identifier=urn:plugin|sr-1"
expect "store holds exactly 1" "$(jv b.total)" 1

echo "== transaction with conditional creates"
TX=$(cat <<EOF
{"resourceType":"Bundle","type":"transaction","entry":[
 {"fullUrl":"urn:uuid:11111111-1111-4111-8111-111111111111","resource":{"resourceType":"Task","status":"requested","intent":"order","identifier":[{"system":"urn:plugin","value":"task-1"}],"focus":{"reference":"urn:uuid:22222222-2222-4222-8222-222222222222"},"for":{"reference":"Patient/$PID_"}},
  "request":{"method":"POST","url":"Task","ifNoneExist":"identifier=urn:plugin|task-1"}},
 {"fullUrl":"urn:uuid:22222222-2222-4222-8222-222222222222","resource":{"resourceType":"ServiceRequest","status":"active","intent":"order","identifier":[{"system":"urn:plugin","value":"sr-2"}],"subject":{"reference":"Patient/$PID_"}},
  "request":{"method":"POST","url":"ServiceRequest","ifNoneExist":"identifier=urn:plugin|sr-2"}},
 {"fullUrl":"urn:uuid:33333333-3333-4333-8333-333333333333","resource":{"resourceType":"Flag","status":"active","identifier":[{"system":"urn:plugin","value":"flag-1"}],"code":{"text":"needs follow-up"},"subject":{"reference":"Patient/$PID_"}},
  "request":{"method":"POST","url":"$BASE/Flag","ifNoneExist":"identifier=urn:plugin|flag-1"}}
]}
EOF
)
send_json POST "" "$TX"
expect "transaction -> 200 transaction-response" "$STATUS $(jv b.type)" "200 transaction-response"
expect "3 entries 201 each" "$(jv 'b.entry.map(e=>e.response.status.slice(0,3)).join(",")')" "201,201,201"
expect "entries have versioned locations and etags" "$(jv 'b.entry.every(e=>/^[A-Za-z]+\/[^/]+\/_history\/1$/.test(e.response.location) && e.response.etag===String.fromCharCode(87,47,34,49,34))')" true
TASK_ID=$(jv 'b.entry[0].resource.id')
SR2=$(jv 'b.entry[1].resource.id')
FLAG_ID=$(jv 'b.entry[2].resource.id')
expect "urn:uuid reference rewritten to ServiceRequest/ID" "$(jv 'b.entry[0].resource.focus.reference')" "ServiceRequest/$SR2"
req GET "Task/$TASK_ID"
expect "stored Task.focus points to the ServiceRequest" "$STATUS $(jv b.focus.reference)" "200 ServiceRequest/$SR2"
send_json POST "" "$TX"
expect "re-posted transaction -> 200 ×3" "$STATUS $(jv 'b.entry.map(e=>e.response.status.slice(0,3)).join(",")')" "200 200,200,200"
expect "re-post returns the same ids" "$(jv 'b.entry.map(e=>e.resource.id).join(",")')" "$TASK_ID,$SR2,$FLAG_ID"
N_TASK=$(req GET "Task?identifier=urn:plugin%7Ctask-1"; jv b.total)
N_SR=$(req GET "ServiceRequest?identifier=urn:plugin%7Csr-2"; jv b.total)
N_FLAG=$(req GET "Flag?identifier=urn:plugin%7Cflag-1"; jv b.total)
expect "no duplicates after re-post" "$N_TASK $N_SR $N_FLAG" "1 1 1"

echo "== transaction limits and rollback"
BIG='{"resourceType":"Bundle","type":"transaction","entry":['
for i in 1 2 3 4 5 6 7 8 9; do
  [[ $i -gt 1 ]] && BIG+=','
  BIG+="{\"resource\":{\"resourceType\":\"Flag\",\"status\":\"active\",\"identifier\":[{\"system\":\"urn:big\",\"value\":\"f-$i\"}],\"code\":{\"text\":\"x\"},\"subject\":{\"reference\":\"Patient/$PID_\"}},\"request\":{\"method\":\"POST\",\"url\":\"Flag\",\"ifNoneExist\":\"identifier=urn:big|f-$i\"}}"
done
BIG+=']}'
send_json POST "" "$BIG"
expect "transaction of 9 conditional creates -> 400" "$STATUS" 400
expect_match "  ... 'too many entries'" "$(jv 'b.issue[0].details.text')" 'too many entries'
req GET "Flag?identifier=urn:big%7Cf-1"
expect "  ... nothing written" "$(jv b.total)" 0
send_json POST "" "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[
 {\"resource\":{\"resourceType\":\"Patient\",\"identifier\":[{\"system\":\"urn:smoke\",\"value\":\"rollback-1\"}]},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},
 {\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"bogusElement\":1},\"request\":{\"method\":\"POST\",\"url\":\"Observation\"}}]}"
expect "failing transaction (creates) -> 400" "$STATUS" 400
req GET "Patient?identifier=urn:smoke%7Crollback-1"
expect "  ... rolled back: created Patient is gone" "$(jv b.total)" 0
send_json POST "" "{\"resourceType\":\"Bundle\",\"type\":\"transaction\",\"entry\":[
 {\"resource\":{\"resourceType\":\"Patient\",\"id\":\"$PID_\",\"name\":[{\"family\":\"Changed\"}]},\"request\":{\"method\":\"PUT\",\"url\":\"Patient/$PID_\"}},
 {\"resource\":{\"resourceType\":\"Observation\",\"status\":\"final\",\"code\":{\"text\":\"x\"},\"effectiveDateTime\":\"not-a-date\"},\"request\":{\"method\":\"POST\",\"url\":\"Observation\"}}]}"
expect "failing transaction (update) -> 400" "$STATUS" 400
req GET "Patient/$PID_"
expect "  ... rolled back: Patient still version 1, old name" "$(jv 'b.meta.versionId + " " + b.name[0].family')" "1 Doe"

echo "== versioning, ETag, If-Match"
PATIENT_V1=$(cat "$TMP/body")
P2=$(node -e 'const p=JSON.parse(process.argv[1]); p.name[0].family="Doe-2"; console.log(JSON.stringify(p))' "$PATIENT_V1")
send_json PUT "Patient/$PID_" "$P2" -H 'If-Match: W/"1"'
expect "PUT If-Match W/\"1\" -> 200, ETag W/\"2\"" "$STATUS $(hdr ETag)" '200 W/"2"'
send_json PUT "Patient/$PID_" "$P2" -H 'If-Match: W/"1"'
expect "PUT with stale If-Match -> 412" "$STATUS" 412
send_json PUT "Patient/$PID_" "$P2" -H 'If-Match: 1'
expect "bare stale If-Match: 1 -> 412 (not ignored)" "$STATUS" 412
send_json PUT "Patient/$PID_" "$P2" -H 'If-Match: 2'
expect "bare If-Match: 2 accepted -> 200, ETag W/\"3\"" "$STATUS $(hdr ETag)" '200 W/"3"'
req GET "Patient/$PID_" -H 'If-None-Match: W/"3"'
expect "GET If-None-Match current -> 304" "$STATUS" 304
req GET "Patient/$PID_" -H 'If-None-Match: W/"2"'
expect "GET If-None-Match old -> 200 with ETag" "$STATUS $(hdr ETag)" '200 W/"3"'
req GET "Patient/$PID_/_history"
expect "_history lists 3 versions, newest first" "$STATUS $(jv 'b.entry.map(e=>e.resource.meta.versionId).join(",")')" "200 3,2,1"
req GET "Patient/$PID_/_history"
expect "_history is stable across reads" "$(jv 'b.entry.map(e=>e.resource.meta.versionId).join(",")')" "3,2,1"
req GET "Patient/$PID_/_history/1"
expect "vread _history/1" "$STATUS $(jv b.meta.versionId) $(jv 'b.name[0].family')" "200 1 Doe"
req PATCH "Patient/$PID_" -H 'Content-Type: application/json-patch+json' --data-binary '[{"op":"add","path":"/gender","value":"female"}]'
expect "PATCH (JSON Patch) bumps the version" "$STATUS $(jv b.meta.versionId) $(jv b.gender)" "200 4 female"

echo "== update as create, conditional update"
send_json PUT "Patient/my-id" '{"resourceType":"Patient","id":"my-id","active":true}'
expect "PUT Patient/my-id (new) -> 201 with Location" "$STATUS $(hdr Location)" "201 $BASE/Patient/my-id/_history/1"
send_json PUT "Patient/my-id" '{"resourceType":"Patient","id":"my-id","active":false}'
expect "PUT Patient/my-id (again) -> 200" "$STATUS $(jv b.meta.versionId)" "200 2"
send_json PUT "Patient?identifier=urn:smoke%7Ccu-1" '{"resourceType":"Patient","identifier":[{"system":"urn:smoke","value":"cu-1"}]}'
expect "conditional update, no match -> 201" "$STATUS" 201
send_json PUT "Patient?identifier=urn:smoke%7Ccu-1" '{"resourceType":"Patient","identifier":[{"system":"urn:smoke","value":"cu-1"}],"active":true}'
expect "conditional update, one match -> 200" "$STATUS $(jv b.meta.versionId)" "200 2"

echo "== batch"
send_json POST "" "{\"resourceType\":\"Bundle\",\"type\":\"batch\",\"entry\":[
 {\"resource\":{\"resourceType\":\"Patient\",\"active\":true},\"request\":{\"method\":\"POST\",\"url\":\"Patient\"}},
 {\"request\":{\"method\":\"GET\",\"url\":\"Patient/does-not-exist\"}},
 {\"request\":{\"method\":\"GET\",\"url\":\"Patient/$PID_\"}}]}"
expect "batch -> per-entry statuses 201/404/200" "$STATUS $(jv 'b.entry.map(e=>e.response.status.slice(0,3)).join(",")')" "200 201,404,200"

echo "== delete"
req DELETE "Patient/my-id"
expect "DELETE -> 200" "$STATUS" 200
req GET "Patient/my-id"
expect "read after delete -> 410" "$STATUS" 410
req GET "Patient/my-id/_history/1"
expect "vread of a deleted resource's old version -> 200" "$STATUS" 200

echo "== errors (always an OperationOutcome)"
req GET "Patient?foo=bar"
expect "unknown search parameter -> 400 OperationOutcome" "$STATUS $(jv b.resourceType)" "400 OperationOutcome"
expect_match "  ... 'Unknown search parameter'" "$(jv 'b.issue[0].details.text')" 'Unknown search parameter'
req GET "Observation?value-quantity=60"
expect_match "quantity parameter -> 400 not supported" "$STATUS $(jv 'b.issue[0].details.text')" '^400 .*quantity is not supported'
req GET "Foo"
expect "GET unknown type -> 404 not-supported" "$STATUS $(jv 'b.issue[0].code')" "404 not-supported"
send_json POST "Foo" '{"resourceType":"Foo"}'
expect_match "POST unknown type -> 404 'Unknown resource type: Foo'" "$STATUS $(jv 'b.issue[0].details.text')" '^404 Unknown resource type: Foo$'
req GET "Patient/does-not-exist"
expect "unknown id -> 404" "$STATUS $(jv b.resourceType)" "404 OperationOutcome"
req POST "Patient" -H 'Content-Type: application/fhir+json' --data-binary '{"resourceType": "Patient",'
expect "bad JSON -> 400 invalid" "$STATUS $(jv 'b.issue[0].code')" "400 invalid"
send_json POST "Patient" '{"resourceType":"Observation","status":"final","code":{"text":"x"}}'
expect "body type does not match URL -> 400" "$STATUS" 400
send_json POST "Patient" '{"resourceType":"Patient","bogus":1}'
expect "unknown element -> 400 structure" "$STATUS $(jv 'b.issue[0].code')" "400 structure"
send_json POST "Patient" '{"resourceType":"Patient","birthDate":"1980-13-45"}'
expect "bad date -> 400" "$STATUS" 400
req POST "Patient" -H 'Content-Type: application/fhir+xml' --data-binary '<Patient xmlns="http://hl7.org/fhir"/>'
expect "XML body -> 415" "$STATUS $(jv b.resourceType)" "415 OperationOutcome"
send_json POST "" '{"resourceType":"Bundle","type":"collection","entry":[]}'
expect "collection Bundle posted to the base -> 400" "$STATUS" 400
req GET "Patient?birthdate=1980-99"
expect "bad date in a search -> 400" "$STATUS" 400
expect "error Content-Type is application/fhir+json" "$(hdr Content-Type | cut -d';' -f1)" "application/fhir+json"

echo "== reset"
req POST /_admin/reset
expect "POST /_admin/reset -> 200" "$STATUS" 200
req GET "Patient"
expect "store is empty after reset" "$STATUS $(jv b.total)" "200 0"

echo "== shutdown"
kill -TERM "$SERVER_PID"
wait "$SERVER_PID"
RC=$?
SERVER_PID=""
expect "SIGTERM -> server exits 0" "$RC" 0

echo "$PASS passed, $FAIL failed"
[[ $FAIL -eq 0 ]]
