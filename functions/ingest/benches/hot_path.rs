//! The ingest hot path on one core, from the raw bytes of EventBridge events to the planned
//! (and, in memory, applied) writes: envelope, parse, enrich, deduplicate, correlate, plan.
//! It builds its events from the fixtures (10 events of 100 distinct findings, then 5 of them
//! delivered again), or reads `VIGIL_BENCH_EVENTS`; with `VIGIL_BENCH_EVENTS_WRITE` it writes
//! them there, for the Python reference (`bench/reference.py`) to read the same bytes.
//!
//! Groups:
//! - `hot_path/events`: `ingest::process` over every event, from a fresh in-memory store.
//! - `parse/fast` and `parse/reference`: the borrowed one-pass parser against the complete
//!   `serde_json::Value` model it replaced, on the same findings (a ratio in the same run).

use std::path::PathBuf;

/// The allocator the `ingest` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use vigil_domain::{MemoryStore, Runbook, Settings};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The event texts: `VIGIL_BENCH_EVENTS` (a JSON list of strings), else the fixture mix.
fn events() -> Vec<String> {
    if let Ok(p) = std::env::var("VIGIL_BENCH_EVENTS") {
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
        return serde_json::from_str(&text).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/fixtures/events"))
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut findings: Vec<Value> = Vec::new();
    let mut template: Option<Value> = None;
    for f in files {
        let Ok(v) = serde_json::from_str::<Value>(&std::fs::read_to_string(&f).unwrap_or_default())
        else {
            continue;
        };
        if let Some(fs) = v["detail"]["findings"].as_array() {
            findings.extend(fs.iter().cloned());
        }
        template.get_or_insert(v);
    }
    let template = template.unwrap_or_else(|| panic!("no fixture events"));
    let mut out = Vec::new();
    for e in 0..10 {
        let mut ev = template.clone();
        let batch: Vec<Value> = (0..100)
            .map(|i| {
                let n = e * 100 + i;
                let mut f = findings[n % findings.len()].clone();
                f["Id"] = Value::String(format!("{}-bench-{n}", f["Id"].as_str().unwrap_or("x")));
                f
            })
            .collect();
        ev["detail"]["findings"] = Value::Array(batch);
        out.push(ev.to_string());
    }
    // Half of them delivered again: duplicates.
    let again: Vec<String> = out.iter().take(5).cloned().collect();
    out.extend(again);
    out
}

fn runbook() -> Runbook {
    Runbook::from_path(&root().join("examples/runbook.yaml")).unwrap_or_default()
}

/// The example runbook without its rules, and with 200 more: the cost of triage rules.
fn runbook_with_rules(n: usize) -> Runbook {
    let text = std::fs::read_to_string(root().join("examples/runbook.yaml")).unwrap_or_default();
    let base = match text.find("\nrules:") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    let mut yaml = format!("{base}\nrules:\n");
    const TYPES: [&str; 10] = [
        "UnauthorizedAccess:EC2/SSHBruteForce",
        "Recon:EC2/PortProbeUnprotectedPort",
        "Backdoor:EC2/C&CActivity.B!DNS",
        "CryptoCurrency:EC2/BitcoinTool.B!DNS",
        "UnauthorizedAccess:IAMUser/InstanceCredentialExfiltration.OutsideAWS",
        "Discovery:IAMUser/AnomalousBehavior",
        "Policy:IAMUser/RootCredentialUsage",
        "Exfiltration:S3/AnomalousBehavior",
        "Trojan:EC2/DNSDataExfiltration",
        "Impact:EC2/WinRMBruteForce",
    ];
    for i in 0..n {
        let crit = match i % 10 {
            // Indexed by finding type (exact or by threat purpose).
            0..=3 => format!("finding_type: \"{}\", account_id: \"{:012}\"", TYPES[i % TYPES.len()], 100_000_000_000u64 + i as u64),
            4 => format!("finding_type: \"{}*\", severity: {{ gte: HIGH }}", TYPES[i % TYPES.len()].split('/').next().unwrap_or("X")),
            // Indexed by control id, account id, generator id, product name.
            5 => format!("control_id: \"S3.{i}\""),
            6 => format!("account_id: \"{:012}\", severity: {{ lte: MEDIUM }}", 200_000_000_000u64 + i as u64),
            7 => format!("generator_id: \"custom-generator-{i}\""),
            8 => format!("product_name: \"Product {i}\""),
            // Tested against every finding: text, tags and remote addresses.
            _ => format!("title: {{ CONTAINS: \"marker-{i}\" }}, resource_tags: {{ Team: {{ PREFIX: \"team-{i}\" }} }}"),
        };
        let action = match i % 4 {
            0 => "{ note: \"check the runbook\" }",
            1 => "{ set_owner: \"team@example.com\" }",
            2 => "{ route: payments-oncall }",
            _ => "{ route: secops-pager }",
        };
        yaml.push_str(&format!(
            "  - {{ id: gen-{i}, description: d, owner: o, created: 2026-11-01, match: {{ {crit} }}, actions: {action} }}\n"
        ));
    }
    Runbook::from_yaml(&yaml, "bench").unwrap_or_else(|e| panic!("{e}"))
}

fn findings_of(events: &[String]) -> Vec<String> {
    events
        .iter()
        .flat_map(|e| {
            let v: Value = serde_json::from_str(e).unwrap_or(Value::Null);
            v["detail"]["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|f| f.to_string())
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let events = events();
    // The exact bytes, for the Python reference to read.
    if let Ok(p) = std::env::var("VIGIL_BENCH_EVENTS_WRITE") {
        let text = serde_json::to_string(&events).unwrap_or_default();
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    let findings = findings_of(&events);
    let bytes: usize = events.iter().map(String::len).sum();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let deps = || ingest::Deps {
        store: MemoryStore::new(),
        runbook: runbook(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    };
    // The decisions, for comparing with the reference's.
    let d = deps();
    let (mut new, mut dup, mut invalid) = (0, 0, 0);
    for e in &events {
        let s = rt
            .block_on(ingest::process(&d, e))
            .unwrap_or_else(|e| panic!("{e}"));
        new += s.new + s.updated;
        dup += s.duplicates + s.stale;
        invalid += s.invalid + s.rejected;
    }
    eprintln!(
        "BENCH hot_path_input events={} findings={} bytes={bytes} new={new} duplicates={dup} invalid={invalid} incidents={}",
        events.len(),
        findings.len(),
        d.store.incidents().len()
    );

    let mut g = c.benchmark_group("hot_path");
    g.throughput(Throughput::Elements(findings.len() as u64));
    g.bench_function("events", |b| {
        b.iter_batched(
            deps,
            |d| {
                for e in &events {
                    let _ = rt.block_on(ingest::process(&d, e));
                }
                d
            },
            BatchSize::LargeInput,
        )
    });
    // The cost of runbook rules: the same events with no rules and with 200.
    for (name, rules) in [("no_rules", 0usize), ("rules_200", 200)] {
        let rb = runbook_with_rules(rules);
        g.bench_function(name, |b| {
            b.iter_batched(
                || ingest::Deps {
                    store: MemoryStore::new(),
                    runbook: rb.clone(),
                    settings: Settings::default(),
                    emit_metrics: false,
                    live: None,
                    facts: None,
                },
                |d| {
                    for e in &events {
                        let _ = rt.block_on(ingest::process(&d, e));
                    }
                    d
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    let mut g = c.benchmark_group("parse");
    g.throughput(Throughput::Elements(findings.len() as u64));
    g.bench_function("fast", |b| {
        b.iter(|| {
            findings
                .iter()
                .filter(|f| vigil_domain::asff::parse_finding(f).is_ok())
                .count()
        })
    });
    // The indicators the queue links by, extracted per finding on the hot path: their cost
    // is this over `fast`.
    g.bench_function("fast_with_indicators", |b| {
        b.iter(|| {
            findings
                .iter()
                .filter_map(|f| vigil_domain::asff::parse_finding(f).ok())
                .map(|f| vigil_domain::indicators::of(&f).0.len())
                .sum::<usize>()
        })
    });
    g.bench_function("reference", |b| {
        b.iter(|| {
            findings
                .iter()
                .filter(|f| {
                    serde_json::from_str::<Value>(f)
                        .ok()
                        .is_some_and(|v| vigil_domain::asff::reference::parse_finding(&v).is_ok())
                })
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
