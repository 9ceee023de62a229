#!/usr/bin/env python3
"""Collects one `make bench` run into `.local/bench/summary.json` and writes the figures
table of `docs/performance.md` (between its `bench:summary` markers) from it.

Inputs, all in the bench directory (argv[1], `.local/bench`):
  hot_path.txt      the hot-path Criterion bench's stderr (its BENCH hot_path_input line)
  python.json       bench/reference.py's output
  store.json        tests/benches/store.rs's BENCH_JSON object
  cold.json         tests/benches/coldstart.rs's BENCH_JSON object
  sizes.json        bootstrap sizes written by scripts/bench.sh
and Criterion's estimates under target/criterion/.
"""

import json
import os
import re
import sys
from datetime import datetime, timezone

OUT = sys.argv[1] if len(sys.argv) > 1 else ".local/bench"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CRITERION = os.path.join(ROOT, "target", "criterion")
DOC = os.path.join(ROOT, "docs", "performance.md")


def load(name):
    p = os.path.join(OUT, name)
    if not os.path.exists(p):
        return {}
    with open(p) as f:
        return json.load(f)


def criterion_ns(group, bench):
    p = os.path.join(CRITERION, group, bench, "new", "estimates.json")
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return json.load(f)["median"]["point_estimate"]


def main():
    s = {"measured_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    hot = open(os.path.join(OUT, "hot_path.txt")).read() if os.path.exists(os.path.join(OUT, "hot_path.txt")) else ""
    m = re.search(r"BENCH hot_path_input events=(\d+) findings=(\d+) bytes=(\d+)", hot)
    findings = int(m.group(2)) if m else 0
    ns = criterion_ns("hot_path", "events")
    if ns and findings:
        s["domain_findings_per_second"] = findings / (ns / 1e9)
        s["domain_mb_per_second"] = int(m.group(3)) / (ns / 1e9) / 1e6
    none, rules = criterion_ns("hot_path", "no_rules"), criterion_ns("hot_path", "rules_200")
    if none and rules:
        s["rules_200_slowdown_ratio"] = rules / none
    fast, ref = criterion_ns("parse", "fast"), criterion_ns("parse", "reference")
    if fast and ref and findings:
        s["parse_findings_per_second"] = findings / (fast / 1e9)
        s["parse_reference_findings_per_second"] = findings / (ref / 1e9)
        s["parse_vs_value_model_ratio"] = ref / fast
    py = load("python.json")
    if py:
        s["python_findings_per_second"] = py["findings_per_second"]
        if "domain_findings_per_second" in s:
            s["domain_vs_python_ratio"] = s["domain_findings_per_second"] / py["findings_per_second"]
        s["python_counts"] = py["counts"]
    s.update(load("store.json"))
    s.update(load("cold.json"))
    s.update(load("sizes.json"))
    if "forward_incidents_per_second_batched" in s and "forward_incidents_per_second_per_incident" in s:
        s["forward_batched_vs_per_incident_ratio"] = (
            s["forward_incidents_per_second_batched"] / s["forward_incidents_per_second_per_incident"])
    with open(os.path.join(OUT, "summary.json"), "w") as f:
        json.dump(s, f, indent=2, sort_keys=True)
    render(s)
    print(json.dumps(s, indent=2, sort_keys=True))


def fmt(v, unit="", digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}{unit}"
    return f"{v:,}{unit}"


def row(what, value, reference, ratio, target, met):
    return f"| {what} | {value} | {reference} | {ratio} | {target} | {met} |"


def render(s):
    g = s.get
    yes = lambda ok: "yes" if ok else "**no**"
    rows = [
        "| Figure | Measured | Reference (same run) | Ratio | Target | Met |",
        "|---|---|---|---|---|---|",
    ]
    if g("domain_findings_per_second"):
        r = g("domain_vs_python_ratio")
        rows.append(row("Hot path, raw event bytes to applied writes (in memory), one core",
                        fmt(g("domain_findings_per_second") / 1000, " k findings/s"),
                        fmt((g("python_findings_per_second") or 0) / 1000, " k/s Python") if r else "-",
                        fmt(r, "x", 2) if r else "-", "≥ 5x", yes(r and r >= 5)))
    if g("rules_200_slowdown_ratio"):
        r = g("rules_200_slowdown_ratio")
        rows.append(row("Hot path with 200 runbook rules (`rules_200_slowdown_ratio`)",
                        fmt(r, "x", 3), "the same events with no rules", fmt(r, "x", 3), "≤ 1.10x", yes(r <= 1.10)))
    if g("parse_findings_per_second"):
        rows.append(row("Finding parser alone, one core",
                        fmt(g("parse_findings_per_second") / 1000, " k findings/s"),
                        fmt(g("parse_reference_findings_per_second") / 1000, " k/s Value model"),
                        fmt(g("parse_vs_value_model_ratio"), "x", 2), "-", "-"))
    if g("wcu_per_new_finding") is not None:
        rows.append(row("DynamoDB write units per new finding (300 new, single-finding events)",
                        fmt(g("wcu_per_new_finding"), "", 2), "-", "-", "≤ 2", yes(g("wcu_per_new_finding") <= 2)))
    if g("wcu_per_new_state") is not None:
        rows.append(row("Write units per new finding state, organisation stream (half duplicates and updates)",
                        fmt(g("wcu_per_new_state"), "", 2), "-", "-", "≤ 2", yes(g("wcu_per_new_state") <= 2)))
        rows.append(row("Write units per delivery, same stream",
                        fmt(g("wcu_per_delivery"), "", 2), "-", "-", "-", "-"))
        rows.append(row("Write requests made for duplicate deliveries",
                        fmt(g("write_requests_for_duplicates")), f"{g('org_stream_duplicates')} duplicates", "-", "0",
                        yes(g("write_requests_for_duplicates") == 0)))
    if g("init_ms") is not None:
        rows.append(row("Cold init (spawn to first `/next`), release x86_64", fmt(g("init_ms"), " ms", 2),
                        fmt(g("hello_init_ms"), " ms hello-world", 2), fmt(g("init_vs_hello_ratio"), "x", 2),
                        "≤ 1.5x", yes(g("init_vs_hello_ratio") <= 1.5)))
        rows.append(row("First invocation (100 new findings) against a warm one", fmt(g("first_invoke_ms"), " ms", 1),
                        fmt(g("warm_invoke_ms"), " ms warm", 1), fmt(g("first_vs_warm_invoke_ratio"), "x", 2),
                        "≤ 2x", yes(g("first_vs_warm_invoke_ratio") <= 2)))
        rows.append(row("Peak RSS after six 100-finding events", fmt(g("peak_rss_kb_100_finding_events") / 1024, " MB"),
                        "-", "-", "-", "-"))
    if g("arm64_ingest_bootstrap_bytes"):
        mb = g("arm64_ingest_bootstrap_bytes") / 1048576
        rows.append(row("arm64 `ingest` bootstrap size", fmt(mb, " MB", 2), "-", "-", "≤ 8 MB", yes(mb <= 8)))
    if g("e2e_deliveries_per_second"):
        rows.append(row(f"End to end: {g('e2e_deliveries')} deliveries, {g('e2e_workers')} workers, DynamoDB Local",
                        fmt(g("e2e_deliveries_per_second"), " deliveries/s"),
                        f"p50 {fmt(g('e2e_p50_ms'), ' ms', 1)}, p99 {fmt(g('e2e_p99_ms'), ' ms', 1)}", "-", "-", "-"))
    if g("forward_incidents_per_second_batched"):
        rows.append(row(f"Forwarder, {g('forward_batch_incidents')}-record batch, top findings read batched",
                        fmt(g("forward_incidents_per_second_batched"), " incidents/s"),
                        fmt(g("forward_incidents_per_second_per_incident"), " incidents/s per incident"),
                        fmt(g("forward_batched_vs_per_incident_ratio"), "x", 2), "-", "-"))
    table = "\n".join(rows)
    stamp = f"Measured {s['measured_at']} by `make bench`; raw figures in `.local/bench/summary.json`."
    block = f"<!-- bench:summary -->\n{stamp}\n\n{table}\n<!-- /bench:summary -->"
    if not os.path.exists(DOC):
        return
    doc = open(DOC).read()
    if "<!-- bench:summary -->" in doc:
        doc = re.sub(r"<!-- bench:summary -->.*?<!-- /bench:summary -->", lambda _: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + block + "\n"
    open(DOC, "w").write(doc)


if __name__ == "__main__":
    main()
