#!/usr/bin/env python3
"""Rescreens for bulk_test.sh's incremental-rescreen case (issue 16), against the test server.

  bulk_rescreen.py change BASE REF_FLAGS OUT_JSON
      Picks patients from the folder run's flags.ndjson and changes their screenings on the
      server: 3 patients whose needs rest only on one AHC-HRSN QuestionnaireResponse (with a
      referral written for one of them at least) get a newer,
      all-negative AHC-HRSN screening (POST); 1 such patient's screening is turned
      entered-in-error (PUT); 2 patients without any flag get a newer positive one (food, POST).
      Writes the choice to OUT_JSON.
  bulk_rescreen.py delete BASE REF_FLAGS OUT_JSON
      Instead: DELETEs the one screening the needs of such a patient rest on (a referral
      written for one of them at least); `check` then wants that referral revoked.
  bulk_rescreen.py snapshot BASE OUT_JSON
      id -> [versionId, status] of every Flag, ServiceRequest and Task on the server.
  bulk_rescreen.py check BASE CHOICE_JSON
      What a pass must have written for the choice: the negatives' screening Flags inactive, the
      retracted screening's referrals revoked and a Flag entered-in-error, the new positives'
      food Flags active. Exits non-zero with the first difference.
"""
import datetime
import json
import sys
import urllib.request

AHC = "http://loinc.org/q/96777-8|3.0"
LANGUAGE_ACCESS = "language-access"  # the interpreter Flag's code: not a screening need
# All-negative AHC-HRSN answers (config/rules/sdoh-default.yaml): steady housing, no housing
# problems, food "never true", no transport or utilities problem, HITS "never" (score 4).
NEGATIVE = [("/71802-3", "LA31993-1"), ("/96778-6", "LA9-3"), ("/88122-7", "LA28398-8"),
            ("/88123-5", "LA28398-8"), ("/93030-5", "LA32-8"), ("/96779-4", "LA32-8"),
            ("/95618-5", "LA6270-8"), ("/95617-7", "LA6270-8"), ("/95616-9", "LA6270-8"),
            ("/95615-1", "LA6270-8")]


def request(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/fhir+json"})
    with urllib.request.urlopen(req) as r:
        return json.load(r)


def search_all(base, type_):
    return [e["resource"] for e in request("GET", f"{base}/{type_}?_count=1000").get("entry", [])]


def screening(pid, answers, authored):
    return {"resourceType": "QuestionnaireResponse", "questionnaire": AHC, "status": "completed",
            "subject": {"reference": "Patient/" + pid}, "authored": authored,
            "item": [{"linkId": link, "answer": [{"valueCoding": {
                "system": "http://loinc.org", "code": code, "display": "answer"}}]}
                for link, code in answers]}


def change(base, ref_flags, out, delete=False):
    flags = [json.loads(line) for line in open(ref_flags)]
    qrs = {q["id"]: q for q in search_all(base, "QuestionnaireResponse")}
    evidence, flagged, routed = {}, set(), set()
    for f in flags:
        pid = f["patient"].split("/")[-1]
        flagged.add(pid)
        if f["flag"] != "interpreter":
            evidence.setdefault(pid, set()).update(f["evidence"])
            if f["route"] != "none":
                routed.add(pid)  # a referral was written for this need

    def only_ahc(refs):
        return all(r.startswith("QuestionnaireResponse/") and
                   qrs.get(r.split("/")[1], {}).get("questionnaire") == AHC for r in refs)

    candidates = sorted(p for p, refs in evidence.items()
                        if only_ahc(refs) and len(refs) == 1 and p in routed)
    if delete:
        if not candidates:
            sys.exit("population too small: no candidate")
        pid = candidates[0]
        qid = next(iter(evidence[pid])).split("/")[1]
        request("DELETE", f"{base}/QuestionnaireResponse/{qid}")
        json.dump({"negative": [], "retracted": pid, "retracted_qr": qid, "positive": []},
                  open(out, "w"))
        return
    patients = sorted(p["id"] for p in search_all(base, "Patient"))
    unflagged = [p for p in patients if p not in flagged]
    if len(candidates) < 4 or len(unflagged) < 2:
        sys.exit(f"population too small: {len(candidates)} candidates, {len(unflagged)} unflagged")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    negative, retracted, positive = candidates[:3], candidates[3], unflagged[:2]
    for pid in negative:
        request("POST", f"{base}/QuestionnaireResponse", screening(pid, NEGATIVE, now))
    qid = next(iter(evidence[retracted])).split("/")[1]
    qr = qrs[qid]
    qr["status"] = "entered-in-error"
    request("PUT", f"{base}/QuestionnaireResponse/{qid}", qr)
    food = [(link, "LA6729-3" if link == "/88122-7" else code) for link, code in NEGATIVE]
    for pid in positive:
        request("POST", f"{base}/QuestionnaireResponse", screening(pid, food, now))
    json.dump({"negative": negative, "retracted": retracted, "retracted_qr": qid,
               "positive": positive}, open(out, "w"))


def snapshot(base, out):
    snap = {}
    for t in ("Flag", "ServiceRequest", "Task"):
        for r in search_all(base, t):
            snap[f"{t}/{r['id']}"] = [r["meta"]["versionId"], r["status"]]
    json.dump(snap, open(out, "w"), sort_keys=True)


def check(base, choice_file):
    choice = json.load(open(choice_file))
    flags = search_all(base, "Flag")

    def of(pid, resources):
        return [r for r in resources if r["subject"]["reference"] == "Patient/" + pid]

    def code(flag):
        return flag["code"]["coding"][0]["code"]

    errors = []
    inactive = 0
    for pid in choice["negative"]:
        for f in of(pid, flags):
            if code(f) == LANGUAGE_ACCESS:
                continue
            inactive += f["status"] == "inactive"
            if f["status"] != "inactive":
                errors.append(f"Flag/{f['id']} ({pid}, {code(f)}) is {f['status']}, not inactive")
    if choice["negative"] and inactive == 0:
        errors.append("no Flag of the negatively rescreened patients is inactive")
    qr_ref = "QuestionnaireResponse/" + choice["retracted_qr"]
    revoked = 0
    for sr in of(choice["retracted"], search_all(base, "ServiceRequest")):
        refs = [r["reference"] for r in sr.get("reasonReference", []) + sr.get("supportingInfo", [])]
        if qr_ref in refs:
            revoked += sr["status"] == "revoked"
            if sr["status"] != "revoked":
                errors.append(f"ServiceRequest/{sr['id']} rests on {qr_ref} but is {sr['status']}")
    # (An older screening may justify a need again once the newer one is retracted.)
    if not any(f["status"] == "entered-in-error" for f in of(choice["retracted"], flags)):
        errors.append(f"no Flag of Patient/{choice['retracted']} is entered-in-error")
    if revoked == 0:
        errors.append(f"no ServiceRequest resting on {qr_ref} was revoked")
    for pid in choice["positive"]:
        if not any(f["status"] == "active" for f in of(pid, flags)):
            errors.append(f"no active Flag for the newly positive Patient/{pid}")
    if errors:
        sys.exit("; ".join(errors[:5]))


if __name__ == "__main__":
    cmd, base = sys.argv[1], sys.argv[2].rstrip("/")
    if cmd == "change":
        change(base, sys.argv[3], sys.argv[4])
    elif cmd == "delete":
        change(base, sys.argv[3], sys.argv[4], delete=True)
    elif cmd == "snapshot":
        snapshot(base, sys.argv[3])
    elif cmd == "check":
        check(base, sys.argv[3])
    else:
        sys.exit("unknown command " + cmd)
