#!/usr/bin/env python3
"""The Python reference for Vigil's hot path, for `make bench`.

A straightforward implementation of the same core decisions Vigil's ingest makes, from the raw
bytes of EventBridge events: `json.loads`, the required fields, the severity label (label,
else from `Normalized`, else `FindingProviderFields`), the account's environment (runbook,
else resource tags, else the default), the response deadline, the primary entity and
correlation key, deduplication by (`ProductArn`, `Id`) and state rank, and correlation into
incidents within the window, in plain dicts. It keeps no history and writes nothing.

Usage: reference.py EVENTS.json RUNBOOK.yaml [--seconds N]
EVENTS.json holds a JSON list of event texts (strings), the same bytes the Rust bench reads.
Prints one JSON object: findings per second (best of the runs) and the decision counts.
"""

import hashlib
import json
import sys
import time
from datetime import datetime, timedelta, timezone

import yaml

SEVERITIES = ["INFORMATIONAL", "LOW", "MEDIUM", "HIGH", "CRITICAL"]
RANK = {s: i for i, s in enumerate(SEVERITIES)}
WORKFLOW = {"NEW": 0, "NOTIFIED": 1, "RESOLVED": 2, "SUPPRESSED": 3}
RECORD = {"ACTIVE": 0, "ARCHIVED": 1}
REQUIRED = ["SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "CreatedAt",
            "UpdatedAt", "Title", "Description", "Resources"]
ENV_TAGS = ["environment", "env", "stage"]
ENVIRONMENTS = {"production": "production", "prod": "production", "staging": "test",
                "test": "test", "dev": "dev", "development": "dev", "sandbox": "dev"}


def duration(text):
    text = str(text).strip()
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}[text[-1]]
    return timedelta(seconds=float(text[:-1]) * unit)


class Runbook:
    def __init__(self, path):
        rb = yaml.safe_load(open(path)) or {}
        d = rb.get("defaults", {})
        self.default_env = d.get("environment", "dev")
        self.window = duration(rb.get("correlation", {}).get("window", "24h"))
        base = {"critical": "30m", "high": "60m", "medium": "4h"}
        base.update(rb.get("response_deadlines", {}) or {})
        self.deadlines = {}
        for env in ["production", "test", "dev"]:
            over = dict(base)
            over.update(((rb.get("environments") or {}).get(env) or {}).get("response_deadlines", {}))
            self.deadlines[env] = {k.upper(): duration(v) for k, v in over.items()}
        self.accounts = {str(k): v for k, v in (rb.get("accounts") or {}).items()}


def parse_time(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def label_of(sev):
    if not isinstance(sev, dict):
        return None
    label = sev.get("Label")
    if isinstance(label, str) and label.upper() in RANK:
        return label.upper()
    n = sev.get("Normalized")
    if isinstance(n, str):
        try:
            n = float(n)
        except ValueError:
            n = None
    if isinstance(n, (int, float)) and not isinstance(n, bool):
        if n < 1:
            return "INFORMATIONAL"
        if n < 40:
            return "LOW"
        if n < 70:
            return "MEDIUM"
        if n < 90:
            return "HIGH"
        return "CRITICAL"
    return None


def tail(rid):
    a = rid.rsplit("/", 1)[-1]
    return a if len(a) < len(rid) else rid.rsplit(":", 1)[-1]


def entity(resources):
    for r in resources:
        if r.get("Type") in ("AwsEksCluster", "AwsEcsCluster"):
            return ("eks-cluster" if r["Type"] == "AwsEksCluster" else "ecs-cluster", tail(r["Id"]))
    r = resources[0]
    t, rid = r.get("Type", ""), r.get("Id", "")
    d = r.get("Details") or {}
    if t == "AwsEc2Instance":
        return ("ec2-instance", tail(rid))
    if t == "AwsIamAccessKey":
        k = d.get("AwsIamAccessKey") or {}
        p = k.get("PrincipalName") or k.get("UserName")
        if p:
            return ("iam-principal", p)
        return ("iam-access-key", k.get("AccessKeyId") or rid.rsplit(":", 1)[-1])
    if t in ("AwsIamUser", "AwsIamRole"):
        return ("iam-principal", tail(rid))
    if t in ("AwsS3Bucket", "AwsS3Object"):
        return ("s3-bucket", rid.replace("arn:aws:s3:::", "").split("/")[0])
    if t in ("AwsRdsDbInstance", "AwsRdsDbCluster"):
        return ("rds-database", tail(rid))
    if t == "AwsLambdaFunction":
        return ("lambda-function", rid.split(":function:")[-1].split(":")[0])
    if t == "AwsEcrContainerImage":
        return ("ecr-repository", (d.get("AwsEcrContainerImage") or {}).get("RepositoryName") or rid)
    if t == "AwsEc2SecurityGroup":
        return ("security-group", tail(rid))
    if t == "AwsAccount":
        return ("account", "root")
    return ("resource", rid)


def environment(rb, f):
    entry = rb.accounts.get(f["AwsAccountId"]) or {}
    if entry.get("environment"):
        return entry["environment"]
    for wanted in ENV_TAGS:
        for r in f["Resources"]:
            for k, v in (r.get("Tags") or {}).items():
                if k.lower() == wanted and str(v).lower() in ENVIRONMENTS:
                    return ENVIRONMENTS[str(v).lower()]
    return rb.default_env


class Pipeline:
    def __init__(self, rb):
        self.rb = rb
        self.records = {}     # finding key -> (rank, incident id, active)
        self.incidents = {}   # incident id -> dict
        self.heads = {}       # correlation key -> [incident ids]
        self.counts = {"new": 0, "updated": 0, "duplicate": 0, "invalid": 0, "opened": 0}

    def event(self, text):
        ev = json.loads(text)
        if ev.get("detail-type") not in ("Security Hub Findings - Imported",
                                         "Security Hub Findings - Custom Action"):
            return
        for f in ev["detail"]["findings"]:
            self.finding(f)

    def finding(self, f):
        if not isinstance(f, dict) or any(k not in f for k in REQUIRED) or not f["Resources"]:
            self.counts["invalid"] += 1
            return
        acct = f["AwsAccountId"]
        if not (isinstance(acct, str) and len(acct) == 12 and acct.isdigit()):
            self.counts["invalid"] += 1
            return
        sev = label_of(f.get("Severity")) or label_of((f.get("FindingProviderFields") or {}).get("Severity"))
        if sev is None:
            self.counts["invalid"] += 1
            return
        created, updated = parse_time(f["CreatedAt"]), parse_time(f["UpdatedAt"])
        processed = f.get("ProcessedAt")
        wf = (f.get("Workflow") or {}).get("Status", "NEW")
        rs = f.get("RecordState", "ACTIVE")
        active = rs == "ACTIVE" and wf not in ("RESOLVED", "SUPPRESSED")
        rank = (updated, processed or "", WORKFLOW.get(wf, 0), RECORD.get(rs, 0), RANK[sev])
        key = hashlib.sha256(f["ProductArn"].encode() + b"\0" + f["Id"].encode() + b"\0").hexdigest()[:32]
        env = environment(self.rb, f)
        target = self.rb.deadlines[env].get(sev)
        deadline = created + target if target else None
        kind, eid = entity(f["Resources"])
        ck = f"{acct}|{kind}:{eid}"
        first = parse_time(f["FirstObservedAt"]) if f.get("FirstObservedAt") else created
        last = max(parse_time(f["LastObservedAt"]) if f.get("LastObservedAt") else updated, first)
        prev = self.records.get(key)
        if prev is not None and prev[0] >= rank:
            self.counts["duplicate"] += 1
            return
        inc_id = prev[1] if prev else None
        if inc_id is None:
            for cand in self.heads.get(ck, []):
                inc = self.incidents[cand]
                if inc["first"] - self.rb.window <= first <= inc["last"] + self.rb.window:
                    inc_id = cand
            if inc_id is None and active:
                inc_id = f"inc-{first:%Y%m%d}-{hashlib.sha256((ck + key).encode()).hexdigest()[:12]}"
                self.incidents[inc_id] = {"first": first, "last": last, "count": 0, "active": 0,
                                          "severity": 0, "deadline": None, "env": env}
                self.heads.setdefault(ck, []).append(inc_id)
                self.counts["opened"] += 1
        if inc_id is not None:
            inc = self.incidents[inc_id]
            if prev is None or prev[1] != inc_id:
                inc["count"] += 1
                inc["active"] += active
            elif prev[2] != active:
                inc["active"] += 1 if active else -1
            inc["first"], inc["last"] = min(inc["first"], first), max(inc["last"], last)
            if active:
                inc["severity"] = max(inc["severity"], RANK[sev])
                if deadline and (inc["deadline"] is None or deadline < inc["deadline"]):
                    inc["deadline"] = deadline
        self.records[key] = (rank, inc_id, active)
        self.counts["new" if prev is None else "updated"] += 1


def main():
    events = json.load(open(sys.argv[1]))
    rb = Runbook(sys.argv[2])
    seconds = float(sys.argv[sys.argv.index("--seconds") + 1]) if "--seconds" in sys.argv else 5.0
    texts = [e.encode() for e in events]
    findings = sum(len(json.loads(t)["detail"]["findings"]) for t in texts)
    best, runs, counts = None, 0, None
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline or runs < 3:
        p = Pipeline(rb)
        t0 = time.perf_counter()
        for t in texts:
            p.event(t)
        el = time.perf_counter() - t0
        best = el if best is None else min(best, el)
        runs += 1
        counts = p.counts
    print(json.dumps({"findings": findings, "runs": runs, "best_seconds": best,
                      "findings_per_second": findings / best, "counts": counts,
                      "incidents": len(p.incidents)}))


if __name__ == "__main__":
    main()
