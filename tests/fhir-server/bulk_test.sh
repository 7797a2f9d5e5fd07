#!/usr/bin/env bash
# `sdoh-bridge run --bulk` against the real test server's $export (issue 16), one case per call:
#   bulk_test.sh SDOH_BRIDGE_BIN GENERATOR_BIN CASE
# Every case loads a generated population (300 patients), takes the NDJSON folder run's
# flags.ndjson as the reference and checks that the bulk run gives exactly those flags, with the
# fault switched on in the server (tests/fhir-server/bulk.mjs); some cases check the server's
# counters (token never sent to the other origin, export resumed, ...).
set -euo pipefail
BIN=$1 GEN=$2 CASE=$3
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
if [[ ! -d "$HERE/node_modules/@medplum/core" ]]; then
  echo "SKIP: run 'npm ci' in tests/fhir-server"; exit 0
fi
TMP=$(mktemp -d /tmp/sdoh-bulk-test.XXXXXX)
SERVER_PID=
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL ($CASE): $*"; exit 1; }

PORT=0 PORT_FILE="$TMP/port" node "$HERE/server.mjs" >"$TMP/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 300); do [[ -s "$TMP/port" ]] && break; sleep 0.1; done
[[ -s "$TMP/port" ]] || fail "server did not start: $(cat "$TMP/server.log")"
ROOT="http://127.0.0.1:$(cat "$TMP/port")"
BASE="$ROOT/fhir"

"$GEN" --patients 300 --out "$TMP/pop" --seed 16 >/dev/null
python3 "$SRC/bench/load_fhir_server.py" "$BASE" "$TMP/pop" --group everyone >/dev/null

# A config with absolute paths (and optionally a bearer token from BULK_TOKEN).
sed -e "s#\.\./#$SRC/#g" -e "s#^  - rules/#  - $SRC/config/rules/#" "$SRC/config/sdoh-bridge.yaml" >"$TMP/config.yaml"
cp "$TMP/config.yaml" "$TMP/config-token.yaml"
printf 'fhir:\n  base_url: %s\n  auth:\n    type: bearer\n    token_env: BULK_TOKEN\n' "$BASE" >>"$TMP/config-token.yaml"

"$BIN" run --config "$TMP/config.yaml" --source "$TMP/pop" --out "$TMP/ref" --dry-run >/dev/null 2>&1 ||
  [[ $? -eq 3 ]] || fail "folder run failed"
[[ -s "$TMP/ref/flags.ndjson" ]] || fail "reference run gave no flags"

bulk_config() { curl -fsS -X POST "$ROOT/_admin/bulk" -d "$1" >/dev/null; }
stat_of() { curl -fsS "$ROOT/_admin/bulk" | python3 -c "import json,sys; print(json.load(sys.stdin)['stats']['$1'])"; }
# run_bulk OUT [args...]: a dry bulk run; its exit code in $RC, stderr+stdout in OUT.log
run_bulk() {
  local out=$1; shift
  set +e
  "$BIN" run --config "${CONFIG:-$TMP/config.yaml}" --source "$BASE" --out "$out" --bulk --dry-run "$@" >"$out.log" 2>&1
  RC=$?
  set -e
}
same_flags() {
  cmp -s "$TMP/ref/flags.ndjson" "$1/flags.ndjson" || fail "flags differ from the folder run ($(cat "$1.log" | tail -5))"
}
ok_run() { [[ $RC -eq 0 || $RC -eq 3 ]] || fail "run exited $RC: $(tail -5 "$1.log")"; same_flags "$1"; }

# With writeback: a full --bulk pass, then `$1 BASE REF_FLAGS CHOICE` changes the server's
# screenings, then the incremental --bulk pass must read exactly $2 changed patients in full and
# leave what `bulk_rescreen.py check` wants (log in $TMP/incremental.log).
bulk_pass() { "$BIN" run --config "$TMP/config.yaml" --source "$BASE" --out "$TMP/A" --bulk "$@" >"$TMP/A.log" 2>&1 || [[ $? -eq 3 ]] || fail "run $*: $(tail -3 "$TMP/A.log")"; }
after_full_pass() {
  sed -i 's/^writeback:$/writeback:\n  sync_overlap_seconds: 0/' "$TMP/config.yaml"
  sleep 1.1  # cursors are whole seconds: the load must be in an earlier second than the passes
  bulk_pass
  sleep 1.1
  python3 $1 "$BASE" "$TMP/ref/flags.ndjson" "$TMP/choice.json" || fail "screenings not changed"
  bulk_pass
  cp "$TMP/A.log" "$TMP/incremental.log"
  grep -q "incremental (_since .*): $2 changed patient" "$TMP/A.log" || fail "not an incremental export of the $2 changed patient(s): $(grep -a "bulk\|changed" "$TMP/A.log" | tr "\n" " ")"
  python3 "$HERE/bulk_rescreen.py" check "$BASE" "$TMP/choice.json" || fail "the incremental pass did not deactivate/retract/flag: $(grep -a "writeback\|flag-\|retracted\|created\|revoke" "$TMP/incremental.log" | tr "\n" " ")"
}
# After after_full_pass: a full pass (same ledger) has nothing left to write on the server.
full_pass_writes_nothing() {
  python3 "$HERE/bulk_rescreen.py" snapshot "$BASE" "$TMP/after-incremental.json"
  bulk_pass --full
  grep -q "full pass, 0 transaction" "$TMP/A.log" || fail "the full pass after the incremental one still wrote: $(grep -a -A8 "writeback" "$TMP/A.log" | tr "\n" " ")"
  python3 "$HERE/bulk_rescreen.py" snapshot "$BASE" "$TMP/after-full.json"
  cmp -s "$TMP/after-incremental.json" "$TMP/after-full.json" || fail "the full pass changed Flags/ServiceRequests/Tasks the incremental pass left"
}

case "$CASE" in
  same-flags)  # system and Group level, and the search path, all give the folder's flags
    run_bulk "$TMP/sys"; ok_run "$TMP/sys"
    run_bulk "$TMP/grp" --group everyone; ok_run "$TMP/grp"
    "$BIN" run --config "$TMP/config.yaml" --source "$BASE" --out "$TMP/search" --dry-run >/dev/null 2>&1 || true
    cmp -s "$TMP/ref/flags.ndjson" "$TMP/search/flags.ndjson" || fail "search path flags differ"
    [[ $(stat_of deletes) -eq 2 ]] || fail "status URL not DELETEd after each export"
    [[ ! -e "$TMP/sys/.bulk-spool" ]] || fail "spool left behind"
    ;;
  threads)  # the downloaded files parsed on 1 and 3 threads (issue 17): the folder's flags, and
    # every output file byte-identical across the thread counts
    bulk_config '{"resourcesPerFile":300}'
    run_bulk "$TMP/t1" --threads 1; ok_run "$TMP/t1"
    run_bulk "$TMP/t3" --threads 3; ok_run "$TMP/t3"
    for f in "$TMP"/t1/*.ndjson; do
      cmp -s "$f" "$TMP/t3/$(basename "$f")" || fail "$(basename "$f") differs between --threads 1 and 3"
    done
    ;;
  throttled)  # 429 and 503 on kick-off, status and files
    bulk_config '{"kickoff429":1,"kickoff503":1,"status429":1,"status503":1,"file429":2,"file503":2,"resourcesPerFile":200}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    ;;
  retry-after-date)  # Retry-After as an HTTP date
    bulk_config '{"retryAfterDate":true,"retryAfter":1,"pollsBeforeDone":2}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    ;;
  retry-after-cap)  # a Retry-After over the cap: clear error; the rerun resumes the same export
    bulk_config '{"retryAfter":7200}'
    run_bulk "$TMP/o"
    [[ $RC -ne 0 ]] || fail "a 7200 s Retry-After did not stop the run"
    grep -q "max_retry_after" "$TMP/o.log" || fail "no clear message: $(cat "$TMP/o.log")"
    bulk_config '{"retryAfter":1}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    [[ $(stat_of kickoffs) -eq 1 ]] || fail "the rerun started a new export instead of resuming"
    ;;
  redirect-token)  # token required; files 307 to another origin, which must never see it
    bulk_config '{"requireToken":"s3cret","redirectFiles":true,"resourcesPerFile":500}'
    BULK_TOKEN=s3cret CONFIG="$TMP/config-token.yaml" run_bulk "$TMP/o"; ok_run "$TMP/o"
    [[ $(stat_of otherOriginGets) -gt 0 ]] || fail "no download reached the other origin"
    [[ $(stat_of otherOriginAuthorized) -eq 0 ]] || fail "the token reached the other origin"
    [[ $(stat_of fileGetsWithAuth) -gt 0 ]] || fail "requiresAccessToken true, but no token sent"
    ;;
  token-only-when-required)  # requiresAccessToken false: files fetched without the token
    bulk_config '{"requireToken":"s3cret","requiresAccessToken":false}'
    BULK_TOKEN=s3cret CONFIG="$TMP/config-token.yaml" run_bulk "$TMP/o"; ok_run "$TMP/o"
    [[ $(stat_of fileGetsWithAuth) -eq 0 ]] || fail "token sent although requiresAccessToken is false"
    [[ $(stat_of fileGetsWithoutAuth) -gt 0 ]] || fail "no file downloaded"
    ;;
  expired-link)
    bulk_config '{"expireLinksOnce":true,"resourcesPerFile":500}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    ;;
  truncated-file)
    bulk_config '{"truncateOnce":true}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    ;;
  not-found-once)
    bulk_config '{"notFoundOnce":true}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    ;;
  gzip)  # files sent gzip-compressed
    bulk_config '{"gzipFiles":true}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    [[ $(stat_of gzipped) -gt 0 ]] || fail "no file was sent compressed"
    ;;
  error-file)  # error files are counted and reported; the data still goes through
    bulk_config '{"errorFile":true}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    grep -q "reported 1 error" "$TMP/o.log" || fail "error file not reported: $(cat "$TMP/o.log")"
    ;;
  incremental)  # after full passes, a changed screening: --bulk (_since + per-patient completion)
    # gives the same incremental flags as the search path; writeback on (not a dry run)
    full() { "$BIN" run --config "$TMP/config.yaml" --source "$BASE" --out "$1" "${@:2}" >"$1.log" 2>&1 || [[ $? -eq 3 ]] || fail "full run $1: $(tail -3 "$1.log")"; }
    # No cursor overlap: the incremental pass sees only what changed after the full one.
    sed -i 's/^writeback:$/writeback:\n  sync_overlap_seconds: 0/' "$TMP/config.yaml"
    sleep 1.1  # cursors are whole seconds: the load must be in an earlier second than the passes
    full "$TMP/A" --bulk
    full "$TMP/B"
    [[ -n "$(python3 -c "import sqlite3;print(sqlite3.connect('$TMP/A/ledger.sqlite').execute('select count(*) from sqlite_master').fetchone()[0])")" ]] || fail "no ledger"
    sleep 1.1
    # Rescreen: the newest QuestionnaireResponse of the first patient with a flag is stored again.
    pid=$(head -1 "$TMP/ref/flags.ndjson" | python3 -c "import json,sys; print(json.load(sys.stdin)['patient'].split('/')[-1])")
    qr=$(curl -fsS "$BASE/QuestionnaireResponse?subject=Patient/$pid&_count=1" | python3 -c "import json,sys; print(json.dumps(json.load(sys.stdin)['entry'][0]['resource']))")
    qid=$(echo "$qr" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
    curl -fsS -X PUT -H 'Content-Type: application/fhir+json' "$BASE/QuestionnaireResponse/$qid" -d "$qr" >/dev/null
    full "$TMP/A" --bulk
    grep -q "incremental (_since .*): 1 changed patient" "$TMP/A.log" || fail "not an incremental export: $(grep -a "bulk\|changed" "$TMP/A.log" | tr "\n" " ")"
    full "$TMP/B"
    [[ -s "$TMP/B/flags.ndjson" ]] || fail "the search path's incremental pass flagged nothing"
    cmp -s "$TMP/A/flags.ndjson" "$TMP/B/flags.ndjson" || fail "incremental flags differ: $(diff "$TMP/A/flags.ndjson" "$TMP/B/flags.ndjson" | head -5)"
    grep -q "$pid" "$TMP/A/flags.ndjson" || fail "the rescreened patient was not evaluated"
    # The next _since is the transaction time kept in the ledger for (server, system level);
    # a Group-level export has its own, so its first pass exports everything.
    tt=$(grep -o "transactionTime [^ ]*" "$TMP/A.log" | cut -d" " -f2)
    kept=$(python3 -c "import sqlite3; print(sqlite3.connect('$TMP/A/ledger.sqlite').execute(\"select transaction_time from bulk_exports where server='$BASE' and scope='system'\").fetchone()[0])")
    [[ -n "$tt" && "$tt" == "$kept" ]] || fail "ledger transaction time '$kept', export's '$tt'"
    full "$TMP/A" --bulk --group everyone
    grep -q "incremental (_since" "$TMP/A.log" && fail "the first Group-level pass used another scope's _since"
    [[ $(grep "^  read " "$TMP/A.log" | grep -o "Patient [0-9]*" | cut -d" " -f2) -eq 300 ]] || fail "the first Group-level pass did not read everyone: $(grep "read " "$TMP/A.log")"
    ;;
  incremental-rescreen)  # after a full --bulk pass with writeback: newer negative rescreens, a
    # screening entered-in-error, new positives; the incremental --bulk pass (_since) must leave
    # the server as a full pass would: a full pass right after it has nothing left to write.
    after_full_pass "$HERE/bulk_rescreen.py change" 6
    cp "$TMP/A/flags.ndjson" "$TMP/incremental-flags.ndjson"
    full_pass_writes_nothing
    # flags.ndjson: the incremental pass's lines are the full pass's lines for those 6 patients.
    python3 - "$TMP/choice.json" "$TMP/incremental-flags.ndjson" "$TMP/A/flags.ndjson" <<'PY' || fail "incremental flags differ from the full pass's"
import json, sys
c = json.load(open(sys.argv[1]))
changed = {"Patient/" + p for p in c["negative"] + [c["retracted"]] + c["positive"]}
inc = [l for l in open(sys.argv[2])]
full = [l for l in open(sys.argv[3]) if json.loads(l)["patient"] in changed]
assert {json.loads(l)["patient"] for l in inc} <= changed, "incremental flagged an unchanged patient"
sys.exit(0 if inc == full else "incremental:\n%s\nfull:\n%s" % ("".join(inc), "".join(full)))
PY
    ;;
  deleted)  # a screening deleted after a full --bulk pass with writeback: the manifest's
    # `deleted` Bundle names it (Type/id only); its patient (from the instance history) is read
    # in full, the referral it alone justified revoked, as a full pass would
    after_full_pass "$HERE/bulk_rescreen.py delete" 1
    grep -q "1 deleted resource(s) listed, 1 tied to a patient" "$TMP/A.log" || fail "deletion not tied to its patient: $(grep -a "bulk" "$TMP/A.log" | tr "\n" " ")"
    full_pass_writes_nothing
    ;;
  config)  # fhir.bulk: read (group, Retry-After cap, parallelism); a broken value: exit 2 naming it
    cp "$TMP/config.yaml" "$TMP/config-bad.yaml"
    printf 'fhir:\n  bulk:\n    kickoff: put\n' >>"$TMP/config-bad.yaml"
    CONFIG="$TMP/config-bad.yaml" run_bulk "$TMP/bad"
    [[ $RC -eq 2 ]] || fail "a broken fhir.bulk.kickoff gave exit $RC, not 2"
    grep -q "fhir.bulk.kickoff: 'put' is not one of auto, get, post" "$TMP/bad.log" || fail "no clear config error: $(cat "$TMP/bad.log")"
    cp "$TMP/config.yaml" "$TMP/config-bulk.yaml"
    printf 'fhir:\n  bulk:\n    group: everyone\n    max_retry_after_seconds: 5\n    download_parallelism: 1\n' >>"$TMP/config-bulk.yaml"
    bulk_config '{"retryAfter":30}'
    CONFIG="$TMP/config-bulk.yaml" run_bulk "$TMP/o"
    [[ $RC -ne 0 ]] || fail "a 30 s Retry-After did not stop the run (cap 5 s)"
    grep -q "max_retry_after_seconds (5 s)" "$TMP/o.log" || fail "cap not from the config: $(cat "$TMP/o.log")"
    bulk_config '{"retryAfter":1,"resourcesPerFile":300}'
    CONFIG="$TMP/config-bulk.yaml" run_bulk "$TMP/o"; ok_run "$TMP/o"
    grep -q "bulk export (Group/everyone)" "$TMP/o.log" || fail "not a Group-level export: $(grep source "$TMP/o.log")"
    ;;
  type-filter)  # Observations narrowed to the catalog's screening codes (_typeFilter, the default
    # type_filter: auto): same flags, less read
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    [[ $(stat_of filteredKickoffs) -eq 1 ]] || fail "the kick-off carried no _typeFilter"
    grep -q "narrowed to the screening codes" "$TMP/o.log" || fail "not said: $(grep bulk "$TMP/o.log")"
    cp "$TMP/config.yaml" "$TMP/config-off.yaml"
    printf 'fhir:\n  bulk:\n    type_filter: off\n' >>"$TMP/config-off.yaml"
    CONFIG="$TMP/config-off.yaml" run_bulk "$TMP/off"; ok_run "$TMP/off"
    [[ $(stat_of filteredKickoffs) -eq 1 ]] || fail "type_filter off still sent a _typeFilter"
    read_bytes() { grep -o "bulk export (system) [^ ]* ([0-9]* bytes" "$1" | grep -o "[0-9]* bytes" | cut -d" " -f1; }
    [[ $(read_bytes "$TMP/o.log") -lt $(read_bytes "$TMP/off.log") ]] || fail "the filtered export read no less than the unfiltered one"
    ;;
  type-filter-refused)  # the server answers 400 to _typeFilter: auto retries the kick-off
    # unfiltered and says so once; `on` stops with an error naming the key
    bulk_config '{"typeFilterSupported":false}'
    run_bulk "$TMP/o"; ok_run "$TMP/o"
    [[ $(grep -c "refused _typeFilter" "$TMP/o.log") -eq 1 ]] || fail "the fallback was not said once: $(grep bulk "$TMP/o.log")"
    [[ $(stat_of kickoffs) -eq 2 && $(stat_of filteredKickoffs) -eq 0 ]] || fail "not one refused and one unfiltered kick-off"
    cp "$TMP/config.yaml" "$TMP/config-on.yaml"
    printf 'fhir:\n  bulk:\n    type_filter: on\n' >>"$TMP/config-on.yaml"
    CONFIG="$TMP/config-on.yaml" run_bulk "$TMP/on"
    [[ $RC -ne 0 ]] || fail "type_filter on went on unfiltered"
    grep -q "fhir.bulk.type_filter is on" "$TMP/on.log" || fail "no clear error: $(tail -3 "$TMP/on.log")"
    ;;
  post-kickoff)  # kickoff: post sends a Parameters body; auto falls back to POST after a 405
    cp "$TMP/config.yaml" "$TMP/config-post.yaml"
    printf 'fhir:\n  bulk:\n    kickoff: post\n' >>"$TMP/config-post.yaml"
    CONFIG="$TMP/config-post.yaml" run_bulk "$TMP/p"; ok_run "$TMP/p"
    [[ $(stat_of kickoffs) -eq 1 && $(stat_of postKickoffs) -eq 1 ]] || fail "kickoff post: not one POST kick-off"
    [[ $(stat_of filteredKickoffs) -eq 1 ]] || fail "the POST kick-off lost its _typeFilter"
    bulk_config '{"getKickoff405":true}'
    run_bulk "$TMP/a"; ok_run "$TMP/a"
    [[ $(stat_of kickoffs) -eq 3 && $(stat_of postKickoffs) -eq 2 ]] || fail "auto: no POST after the 405"
    grep -q "kick-off sent as POST" "$TMP/a.log" || fail "the POST fallback was not said: $(grep bulk "$TMP/a.log")"
    ;;
  streamed)  # each file is written to its spool file as it arrives, never held whole in memory:
    # with fhir.max_response_bytes far below a file's size the export still goes through
    bulk_config '{"resourcesPerFile":1000}'
    cp "$TMP/config.yaml" "$TMP/config-small.yaml"
    printf 'fhir:\n  max_response_bytes: 131072\n' >>"$TMP/config-small.yaml"
    CONFIG="$TMP/config-small.yaml" run_bulk "$TMP/o"; ok_run "$TMP/o"
    # (the Patient file, all 300 in one, is larger than the limit)
    [[ $(stat -c %s "$TMP/pop/Patient.ndjson") -gt 131072 ]] || fail "no export file larger than the limit"
    ;;
  kill-resume)  # kill -9 during downloads (5 trials), rerun: same flags, export resumed
    for trial in 1 2 3 4 5; do
      curl -fsS -X POST "$ROOT/_admin/bulk" -d '{}' >/dev/null
      bulk_config '{"resourcesPerFile":100,"fileDelayMs":150,"pollsBeforeDone":0}'
      out="$TMP/k$trial"
      before=$(stat_of kickoffs)
      # With writeback (not a dry run): the rerun must not write any referral twice.
      "$BIN" run --config "$TMP/config.yaml" --source "$BASE" --out "$out" --bulk >"$out.log" 2>&1 &
      pid=$!
      for _ in $(seq 1 200); do compgen -G "$out/.bulk-spool/output-*.ndjson" >/dev/null && break; sleep 0.05; done
      kill -9 "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      compgen -G "$out/.bulk-spool/output-*.ndjson" >/dev/null || fail "trial $trial: nothing spooled before the kill"
      # The resume state is in the ledger file (status URL, files downloaded), not the spool.
      [[ ! -e "$out/.bulk-spool/export.state" ]] || fail "trial $trial: resume state in the spool"
      python3 -c "
import sqlite3,sys
row = sqlite3.connect('$out/ledger.sqlite').execute(\"select status_url, consumed from bulk_exports where server='$BASE' and scope='system'\").fetchone()
sys.exit(0 if row and row[0] and row[1].strip() else 'ledger row: %r' % (row,))" || fail "trial $trial: no export under way in the ledger"
      bulk_config '{"fileDelayMs":0}'
      set +e
      "$BIN" run --config "$TMP/config.yaml" --source "$BASE" --out "$out" --bulk >"$out.log" 2>&1
      RC=$?
      set -e
      ok_run "$out"
      grep -Eq "[1-9][0-9]* resumed" "$out.log" || fail "trial $trial: nothing resumed: $(grep bulk "$out.log")"
      [[ $(stat_of kickoffs) -eq $((before + 1)) ]] || fail "trial $trial: the rerun kicked off again"
    done
    curl -fsS "$BASE/ServiceRequest?_count=1000" | python3 -c "
import json,sys
ids=[i['value'] for e in json.load(sys.stdin).get('entry',[]) for i in e['resource'].get('identifier',[])]
sys.exit(0 if ids and len(ids)==len(set(ids)) else 'duplicate or no ServiceRequests: %d ids, %d distinct' % (len(ids), len(set(ids))))" ||
      fail "writeback duplicated referrals"
    ;;
  *) fail "unknown case" ;;
esac
echo "PASS ($CASE)"
