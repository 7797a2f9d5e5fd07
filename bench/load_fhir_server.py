#!/usr/bin/env python3
"""Loads an NDJSON folder (<Type>.ndjson) into a FHIR server with PUTs (ids kept), in `batch`
Bundles of 200 entries. Usage: load_fhir_server.py BASE_URL DIR [--group ID]
With --group, also PUTs Group/ID whose members are all loaded Patients (for Group-level $export).
"""
import json
import os
import sys
import urllib.request

TYPES = ["Questionnaire", "Patient", "QuestionnaireResponse", "Observation"]


def post(base, bundle):
    req = urllib.request.Request(base, data=json.dumps(bundle).encode(), method="POST",
                                 headers={"Content-Type": "application/fhir+json"})
    with urllib.request.urlopen(req) as r:
        body = json.load(r)
    bad = [e["response"]["status"] for e in body.get("entry", [])
           if not e["response"]["status"].startswith(("200", "201"))]
    if bad:
        sys.exit(f"load failed: {bad[:5]}")


def main():
    base, folder = sys.argv[1].rstrip("/"), sys.argv[2]
    group = sys.argv[4] if len(sys.argv) > 4 and sys.argv[3] == "--group" else None
    patients, total = [], 0
    for t in TYPES:
        path = os.path.join(folder, t + ".ndjson")
        if not os.path.exists(path):
            continue
        entries = []
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                r = json.loads(line)
                if t == "Patient":
                    patients.append(r["id"])
                entries.append({"resource": r, "request": {"method": "PUT", "url": f"{t}/{r['id']}"}})
                if len(entries) == 200:
                    post(base, {"resourceType": "Bundle", "type": "batch", "entry": entries})
                    total += len(entries)
                    entries = []
        if entries:
            post(base, {"resourceType": "Bundle", "type": "batch", "entry": entries})
            total += len(entries)
    if group:
        g = {"resourceType": "Group", "id": group, "type": "person", "actual": True,
             "member": [{"entity": {"reference": f"Patient/{p}"}} for p in patients]}
        req = urllib.request.Request(f"{base}/Group/{group}", data=json.dumps(g).encode(),
                                     method="PUT", headers={"Content-Type": "application/fhir+json"})
        urllib.request.urlopen(req).read()
    print(f"loaded {total} resources ({len(patients)} patients)")


main()
