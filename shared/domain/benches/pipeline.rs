//! Criterion benchmarks of the pure pipeline on one core: parse + enrich + correlate, and the
//! whole ingest of a batch into the in-memory store (deduplication, aggregation, planning).
//! Input: the project's fixture findings (GuardDuty, Inspector, Security Hub controls), copied
//! with fresh ids into a realistic mix. Run with `make bench`.

use std::path::PathBuf;

use chrono::Utc;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use serde_json::Value;
use vigil_domain::engine::{ingest_values, normalize_one};
use vigil_domain::{MemoryStore, Runbook, Settings};

fn fixture_findings() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if let Some(fs) = v["detail"]["findings"].as_array() {
            out.extend(fs.iter().cloned());
        }
    }
    out
}

/// `n` findings cycling through the fixtures, each with a distinct id.
fn mix(n: usize) -> Vec<Value> {
    let base = fixture_findings();
    assert!(!base.is_empty(), "no fixture findings found");
    (0..n)
        .map(|i| {
            let mut f = base[i % base.len()].clone();
            let id = format!("{}-bench-{i}", f["Id"].as_str().unwrap_or("x"));
            f["Id"] = Value::String(id);
            f
        })
        .collect()
}

fn runbook() -> Runbook {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/runbook.yaml");
    Runbook::from_path(&p).unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let rb = runbook();
    let findings = mix(1000);
    let bytes: usize = findings.iter().map(|f| f.to_string().len()).sum();
    eprintln!("mix: {} findings, {} bytes of JSON", findings.len(), bytes);

    let texts: Vec<String> = findings.iter().map(|f| f.to_string()).collect();
    let mut g = c.benchmark_group("parse_enrich_correlate");
    g.throughput(Throughput::Elements(findings.len() as u64));
    g.bench_function("1000 findings", |b| {
        b.iter(|| {
            texts
                .iter()
                .filter_map(|f| normalize_one(f, &rb).ok())
                .count()
        })
    });
    g.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap_or_else(|e| panic!("{e}"));
    let batch = mix(100);
    let mut g = c.benchmark_group("ingest_in_memory");
    g.throughput(Throughput::Elements(batch.len() as u64));
    g.bench_function("100-finding event, new", |b| {
        b.iter_batched(
            MemoryStore::new,
            |store| {
                rt.block_on(ingest_values(
                    &store,
                    &rb,
                    &Settings::default(),
                    &batch,
                    Utc::now(),
                ))
                .map(|r| r.new_findings())
            },
            BatchSize::SmallInput,
        )
    });
    let warm = MemoryStore::new();
    let _ = rt.block_on(ingest_values(
        &warm,
        &rb,
        &Settings::default(),
        &batch,
        Utc::now(),
    ));
    g.bench_function("100-finding event, all duplicates", |b| {
        b.iter(|| {
            rt.block_on(ingest_values(
                &warm,
                &rb,
                &Settings::default(),
                &batch,
                Utc::now(),
            ))
            .map(|r| r.duplicates())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
