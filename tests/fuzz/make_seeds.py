#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/ from samples/, config/ and mappings/.

Run from anywhere: python3 tests/fuzz/make_seeds.py. Existing files are kept (libFuzzer adds
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


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rsa-key")
    ap.add_argument("--ec-key")
    a = ap.parse_args()
    ndjson()
    yaml_loaders()
    cds(a.rsa_key, a.ec_key)
