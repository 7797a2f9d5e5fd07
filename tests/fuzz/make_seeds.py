#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ from samples/, config/ and mappings/.

Run from anywhere: python3 tests/fuzz/make_seeds.py [CORPUS...]. Existing files are kept (libFuzzer adds
its own sha1-named files when a corpus is merged); seeds are rewritten in place. The CDS tokens
need the test private keys (not committed): pass --rsa-key and --ec-key to re-sign them, else
the committed token seeds are left as they are.
"""
import argparse, base64, hashlib, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fuzz", "corpus")
ISSUER = "https://ehr.test"
AUDIENCE = "https://sdoh.test/cds-services/sdoh-bridge-patient-view"
NOW = 1700000000


def write(corpus, name, data):
    d = os.path.join(OUT, corpus)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def lines(name):
    with open(os.path.join(ROOT, "samples", name)) as f:
        return [l.rstrip("\n") for l in f if l.strip()]


def subject_of(line):
    d = json.loads(line)
    return (d.get("subject") or {}).get("reference", "")


def ndjson():
    pats, qs, qrs, obs = (lines(n) for n in ("Patient.ndjson", "Questionnaire.ndjson",
                                             "QuestionnaireResponse.ndjson", "Observation.ndjson"))
    for i, l in enumerate(pats[:4]): write("ndjson_line", f"patient-{i}", l)
    for i, l in enumerate(qs): write("ndjson_line", f"questionnaire-{i}", l)
    for i, l in enumerate(qrs[:8]): write("ndjson_line", f"qr-{i}", l)
    picked = {}
    for l in obs:  # one per (status, hasMember) shape, plus a few plain ones
        d = json.loads(l)
        key = (d.get("status"), "hasMember" in d, "valueCodeableConcept" in d)
        picked.setdefault(key, l)
    for i, l in enumerate(list(picked.values())[:10]): write("ndjson_line", f"obs-{i}", l)
    # Whole patients (several lines): the Questionnaires, then the patient's resources.
    for pid in ("pat06", "pat22", "pat46", "pat21"):
        ref = "Patient/" + pid
        group = [l for l in pats if json.loads(l)["id"] == pid]
        group += [l for l in qrs + obs if subject_of(l) == ref]
        if any('"questionnaire"' in l for l in group): group = qs[:1] + group
        write("ndjson_line", f"patient-{pid}-multi", "\n".join(group[:8]))
    for i, t in enumerate(["[]", "42", "null", "{}", '{"resourceType":42}',
                           '{"resourceType":"QuestionnaireResponse"}',
                           '{"resourceType":"QuestionnaireResponse","id":{"x":1}}',
                           '{"resourceType":"Observation","id":"o","status":"final",'
                           '"hasMember":[{"reference":"Observation/o"}]}',
                           "[" * 70 + "]" * 70, '{"a":"\xff"}']):
        write("ndjson_line", f"hostile-{i}", t)


def yaml_loaders():
    def src(*p):
        with open(os.path.join(ROOT, *p), "rb") as f: return f.read()
    write("yaml_loaders", "config", b"c" + src("config", "sdoh-bridge.yaml"))
    write("yaml_loaders", "rules-default", b"r" + src("config", "rules", "sdoh-default.yaml"))
    for n in sorted(os.listdir(os.path.join(ROOT, "mappings", "instruments"))):
        write("yaml_loaders", "instrument-" + n, b"i" + src("mappings", "instruments", n))
    for n in sorted(os.listdir(os.path.join(ROOT, "mappings", "forms"))):
        write("yaml_loaders", "form-" + n, b"f" + src("mappings", "forms", n))
    for i, t in enumerate([b"c{}", b"c[", b"r- a\n- b\n", b"c" + b"[" * 300,
                           b"i&a [*a, *a]\n", b"rruleset: {id: x, version: 1}\nrules:\n  - id: a\n"
                           b"    need: food\n    instrument: hvs\n    when: {not: {not: {}}}\n"]):
        write("yaml_loaders", f"small-{i}", t)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_to_jose(der, n=48):
    # ECDSA-Sig-Value DER → r‖s, each n bytes.
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 3
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        ln = der[i + 1]
        v = der[i + 2:i + 2 + ln].lstrip(b"\0")
        out += v.rjust(n, b"\0")
        i += 2 + ln
    return out


def sign(key, alg, header, claims):
    si = b64u(json.dumps(header, separators=(",", ":")).encode()) + "." + \
         b64u(json.dumps(claims, separators=(",", ":")).encode())
    sig = subprocess.run(["openssl", "dgst", "-sha384", "-sign", key], input=si.encode(),
                         capture_output=True, check=True).stdout
    if alg == "ES384": sig = der_to_jose(sig)
    return si + "." + b64u(sig)


def cds(rsa_key, ec_key):
    pats, qs, qrs, obs = (lines(n) for n in ("Patient.ndjson", "Questionnaire.ndjson",
                                             "QuestionnaireResponse.ndjson", "Observation.ndjson"))

    def bundle(entries):
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": json.loads(e)} for e in entries]}

    for pid in ("pat06", "pat22", "pat46", "pat02"):
        ref = "Patient/" + pid
        body = {"hook": "patient-view", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
                "context": {"userId": "Practitioner/example", "patientId": pid},
                "prefetch": {"patient": next(json.loads(l) for l in pats
                                             if json.loads(l)["id"] == pid),
                             "qr": bundle(qs + [l for l in qrs if subject_of(l) == ref]),
                             "obs": bundle([l for l in obs if subject_of(l) == ref]),
                             "openReferrals": bundle([])}}
        write("cds_request", f"hook-{pid}", json.dumps(body, separators=(",", ":")))
    write("cds_request", "hook-no-prefetch",
          '{"hook":"patient-view","hookInstance":"x","context":{"userId":"Practitioner/1",'
          '"patientId":"pat01"}}')
    write("cds_request", "feedback",
          '{"feedback":[{"card":"c1","outcome":"accepted"},{"card":"c2","outcome":"overridden"}]}')
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": NOW + 600, "iat": NOW, "jti": "j1"}
    none = b64u(b'{"alg":"none","kid":"rsa-1","typ":"JWT"}') + "." + \
        b64u(json.dumps(claims).encode()) + "."
    write("cds_request", "jwt-alg-none", none)
    write("cds_request", "jwt-garbage", "a.b.c")
    if rsa_key and ec_key:
        write("cds_request", "jwt-rs384",
              sign(rsa_key, "RS384", {"alg": "RS384", "kid": "rsa-1", "typ": "JWT"}, claims))
        write("cds_request", "jwt-es384",
              sign(ec_key, "ES384", {"alg": "ES384", "kid": "ec-1", "typ": "JWT"}, claims))
        write("cds_request", "jwt-rs384-expired",
              sign(rsa_key, "RS384", {"alg": "RS384", "kid": "rsa-1", "typ": "JWT"},
                   dict(claims, exp=NOW - 3600, iat=NOW - 4000)))
        write("cds_request", "jwt-wrong-kid",
              sign(rsa_key, "RS384", {"alg": "RS384", "kid": "ec-1", "typ": "JWT"}, claims))


BASE = "http://fhir.test/fhir"
SYSTEM = "urn:sdoh-bridge:referral"


def searchset(type_, entries, next_url=None, self_url=None, extra=None):
    self_url = self_url or f"{BASE}/{type_}?_count=100&_lastUpdated=ge2023-11-01T00:00:00Z"
    links = [{"relation": "self", "url": self_url}]
    if next_url: links.append({"relation": "next", "url": next_url})
    b = {"resourceType": "Bundle", "id": "b1", "meta": {"lastUpdated": "2023-11-14T22:13:20.123Z"},
         "type": "searchset", "total": len(entries), "link": links,
         "entry": [{"fullUrl": f"{BASE}/{json.loads(e)['resourceType']}/{json.loads(e)['id']}",
                    "resource": json.loads(e), "search": {"mode": "match"}} for e in entries]}
    if extra: b["entry"] += extra
    return json.dumps(b, separators=(",", ":"))


def fhir_response():
    """Answers of a FHIR server (fuzz_fhir_response feeds each input as every kind of answer)."""
    pats, qs, qrs, obs = (lines(n) for n in ("Patient.ndjson", "Questionnaire.ndjson",
                                             "QuestionnaireResponse.ndjson", "Observation.ndjson"))
    nxt = f"{BASE}/Patient?_count=100&_lastUpdated=ge2023-11-01T00:00:00Z&_offset=100"
    write("fhir_response", "page-patient", searchset("Patient", pats[:4], next_url=nxt))
    ref = "Patient/pat06"
    outcome = {"resource": {"resourceType": "OperationOutcome", "issue": [
        {"severity": "warning", "code": "processing", "diagnostics": "_sort ignored"}]},
        "search": {"mode": "outcome"}}
    include = [{"resource": json.loads(q), "search": {"mode": "include"}} for q in qs]
    write("fhir_response", "page-qr-include-outcome",
          searchset("QuestionnaireResponse", [l for l in qrs if subject_of(l) == ref],
                    extra=include + [outcome]))
    write("fhir_response", "page-obs-relative-next",
          searchset("Observation", [l for l in obs if subject_of(l) == "Patient/pat22"][:12],
                    next_url="Observation?_count=100&_offset=100"))
    write("fhir_response", "page-next-is-self",
          searchset("Patient", pats[4:6], next_url=nxt, self_url=nxt))
    write("fhir_response", "page-next-other-origin",
          searchset("Patient", pats[6:7], next_url="http://evil.test/fhir/Patient?_offset=1"))
    write("fhir_response", "page-empty", searchset("Patient", []))
    write("fhir_response", "page-missing-resource", json.dumps({
        "resourceType": "Bundle", "type": "searchset", "entry": [{"fullUrl": "x"},
                                                                 {"resource": "not an object"}]}))
    sr = {"resourceType": "ServiceRequest", "id": "sr1",
          "meta": {"versionId": "2", "lastUpdated": "2023-11-01T10:00:00Z"},
          "identifier": [{"system": SYSTEM, "value": "food-0123456789abcdef0123456789abcdef"}],
          "status": "completed", "intent": "order", "authoredOn": "2023-10-01",
          "category": [{"coding": [{"system": "http://hl7.org/fhir/us/sdoh-clinicalcare/"
                                              "CodeSystem/SDOHCC-CodeSystemTemporaryCodes",
                                    "code": "food-insecurity"}]}],
          "subject": {"reference": "Patient/pat06"},
          "reasonReference": [{"reference": "QuestionnaireResponse/qr1/_history/1"}],
          "supportingInfo": [{"reference": "Observation/o1"}]}
    task = {"resourceType": "Task", "id": "t1", "meta": {"lastUpdated": "2023-11-02T10:00:00Z"},
            "identifier": [{"system": SYSTEM, "value": "food-0123456789abcdef0123456789abcdef-task"}],
            "status": "rejected", "intent": "order", "focus": {"reference": "ServiceRequest/sr1"},
            "for": {"reference": "Patient/pat06"}}
    flag = {"resourceType": "Flag", "id": "f1", "meta": {"versionId": "3"},
            "identifier": [{"system": SYSTEM, "value": "food-pat06"}], "status": "active",
            "subject": {"reference": "Patient/pat06"}}
    write("fhir_response", "page-referrals",
          searchset("ServiceRequest", [json.dumps(r) for r in (sr, task, flag)]))
    write("fhir_response", "transaction-response", json.dumps({
        "resourceType": "Bundle", "id": "tr1", "type": "transaction-response", "entry": [
            {"response": {"status": "201 Created", "location": "ServiceRequest/123/_history/1",
                          "etag": "W/\"1\"", "lastModified": "2023-11-14T22:13:20Z"}},
            {"response": {"status": "200 OK", "location": f"{BASE}/Task/77/_history/4",
                          "etag": "W/\"4\""}},
            {"response": {"status": "412 Precondition Failed", "outcome": {
                "resourceType": "OperationOutcome", "issue": [
                    {"severity": "error", "code": "conflict",
                     "details": {"text": "Multiple resources match"}}]}}}]}))
    write("fhir_response", "operation-outcome", json.dumps({
        "resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "processing",
             "diagnostics": "Version mismatch: expected 1, found 2",
             "expression": ["Flag.meta.versionId"]},
            {"severity": "information", "code": "informational",
             "details": {"coding": [{"code": "MSG_UPDATED"}], "text": "updated"}}]}))
    write("fhir_response", "token", json.dumps({
        "access_token": "eyJhbGciOiJSUzM4NCJ9.eyJzdWIiOiJzZG9oLWJyaWRnZSJ9.c2ln",
        "token_type": "bearer", "expires_in": 300, "scope": "system/Patient.rs system/Task.cru"}))
    write("fhir_response", "token-error", json.dumps({
        "error": "invalid_client", "error_description": "client assertion signature invalid"}))
    write("fhir_response", "token-expires-in-string", json.dumps({
        "access_token": "abc", "token_type": "Bearer", "expires_in": "3600"}))
    write("fhir_response", "capability-statement", json.dumps({
        "resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
        "fhirVersion": "4.0.1", "format": ["json"], "rest": [{"mode": "server", "resource": [
            {"type": t, "interaction": [{"code": c} for c in
                                        ("read", "vread", "search-type", "create", "update")],
             "conditionalCreate": True, "searchParam": [{"name": "identifier", "type": "token"}]}
            for t in ("Patient", "ServiceRequest", "Task", "Flag")],
            "interaction": [{"code": "transaction"}, {"code": "batch"}]}]}))
    write("fhir_response", "smart-configuration", json.dumps({
        "token_endpoint": "http://fhir.test/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.rs"]}))
    for i, t in enumerate(['{"resourceType":"Bundle","type":"searchset","entry":' + "[" * 2000,
                           '{"resourceType":"Bundle","total":1e400,"link":[{"relation":"next"}]}',
                           '{"access_token":"x","token_type":"bearer","expires_in":9223372036854775807}',
                           '{"access_token":"x","token_type":"bearer","expires_in":"99999999999999999999"}',
                           '{"resourceType":"Bundle","type":"transaction-response","entry":'
                           '[{"response":{"status":"99999999999999999999 Created"}}]}',
                           '{"resourceType":"OperationOutcome","issue":[1,{"severity":[]}]}',
                           '{"resourceType":"Bundle","link":[{"relation":"next","url":"\u0000"}]}']):
        write("fhir_response", f"hostile-{i}", t)
    # Nesting a recursive-descent JSON parser cannot survive (1 MiB, the target's input cap).
    write("fhir_response", "hostile-deep-nesting", "[" * (1 << 20))


def http_request():
    """Byte streams a client sends to `serve` (fuzz_http_request)."""
    def req(method, target, headers=(), body=""):
        h = [f"{method} {target} HTTP/1.1", "Host: sdoh.test"] + list(headers)
        if body: h += ["Content-Type: application/json", f"Content-Length: {len(body.encode())}"]
        return "\r\n".join(h) + "\r\n\r\n" + body

    def corpus_file(name):
        with open(os.path.join(OUT, "cds_request", name)) as f: return f.read()
    svc = "/cds-services/sdoh-bridge-patient-view"
    jwt = corpus_file("jwt-rs384")
    write("http_request", "get-healthz", req("GET", "/healthz"))
    write("http_request", "get-readyz-close", req("GET", "/readyz", ["Connection: close"]))
    write("http_request", "get-metrics-token",
          req("GET", "/metrics", ["Authorization: Bearer metrics-token"]))
    write("http_request", "get-discovery-jwt",
          req("GET", "/cds-services", [f"Authorization: Bearer {jwt}"]))
    write("http_request", "post-hook-pat06",
          req("POST", svc, [f"Authorization: Bearer {jwt}"], corpus_file("hook-pat06")))
    write("http_request", "post-hook-no-prefetch", req("POST", svc, [], corpus_file("hook-no-prefetch")))
    write("http_request", "post-feedback", req("POST", svc + "/feedback", [], corpus_file("feedback")))
    write("http_request", "pipelined-keep-alive",
          req("GET", "/healthz") + req("GET", "/cds-services?x=1") + req("GET", "/nope"))
    body = corpus_file("hook-pat46")
    chunked = "".join(f"{len(body[i:i + 4000].encode()):x}\r\n{body[i:i + 4000]}\r\n"
                      for i in range(0, len(body), 4000)) + "0\r\n\r\n"
    write("http_request", "post-hook-chunked",
          f"POST {svc} HTTP/1.1\r\nHost: sdoh.test\r\nTransfer-Encoding: chunked\r\n"
          f"Content-Type: application/json\r\n\r\n" + chunked)
    write("http_request", "content-length-2gb",
          f"POST {svc} HTTP/1.1\r\nHost: sdoh.test\r\nContent-Length: 2147483648\r\n\r\n" + "{" * 64)
    write("http_request", "http10-put", "PUT /healthz HTTP/1.0\r\n\r\n")
    write("http_request", "expect-continue",
          req("POST", svc, ["Expect: 100-continue"], '{"hook":"patient-view"}'))
    write("http_request", "header-too-long", req("GET", "/healthz", ["X-Pad: " + "a" * 17000]))
    write("http_request", "garbage", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    write("http_request", "post-notify", req("POST", "/notify", ["X-SDOH-Notify-Secret: notify-secret"],
        json.dumps({"resourceType": "Bundle", "type": "history", "entry": [
            {"resource": {"resourceType": "SubscriptionStatus", "type": "event-notification",
                          "notificationEvent": [{"eventNumber": "1",
                                                 "focus": {"reference": "QuestionnaireResponse/q1"}}]}},
            {"fullUrl": "http://fhir.test/fhir/QuestionnaireResponse/q1",
             "resource": {"resourceType": "QuestionnaireResponse", "id": "q1",
                          "subject": {"reference": "Patient/pat06"}}}]})))
    # A JWT header nested as deep as the 16 KiB header limit allows (parsed recursively).
    deep_jwt = b64u(b"[" * 12000) + ".eyJ4IjoxfQ.c2ln"
    write("http_request", "jwt-deep-header", req("GET", "/cds-services",
                                                  [f"Authorization: Bearer {deep_jwt}"]))
    deep = "[" * ((1 << 20) - 200)
    write("http_request", "post-deep-nesting", req("POST", svc, [], deep))
    write("http_request", "post-feedback-deep-nesting", req("POST", svc + "/feedback", [], deep))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rsa-key")
    ap.add_argument("--ec-key")
    ap.add_argument("corpora", nargs="*", help="only these (default: all): ndjson_line "
                    "yaml_loaders cds_request fhir_response http_request")
    a = ap.parse_args()
    want = lambda c: not a.corpora or c in a.corpora
    if want("ndjson_line"): ndjson()
    if want("yaml_loaders"): yaml_loaders()
    if want("cds_request"): cds(a.rsa_key, a.ec_key)
    if want("fhir_response"): fhir_response()
    if want("http_request"): http_request()
