//! DynamoDB cost and end-to-end throughput of the release ingest code against DynamoDB Local,
//! and the forwarder's reading of top findings, for `make bench`. Not Criterion: each figure is
//! one measured run on a fresh table. Prints one `BENCH_JSON {...}` line.
//!
//! - WCU per new finding: 300 new single-finding events (write units DynamoDB Local reports
//!   with `ReturnConsumedCapacity`, indexes included).
//! - WCU per delivery on an organisation stream of 1,000 deliveries, half new findings, a
//!   quarter exact re-deliveries, a quarter newer states; and write requests made for the
//!   duplicates (the target is none).
//! - End to end: 10,000 deliveries through `ingest::process` by 8 concurrent workers:
//!   deliveries/s and p50/p99 per event.
//! - Forwarder: a 100-record stream batch with the incidents naming their recent findings (one
//!   `BatchGetItem`) against the same batch read per incident through the index (the way the
//!   forwarder read them before), incidents/s, median of 7 runs each.
//!
//! Findings: the project's fixtures and, when present, the reference corpus's ASFF findings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use vigil_aws_dynamodb::DynamoStore;
use vigil_delivery::{Dispatcher, Secrets};
use vigil_domain::ports::MemoryLedger;
use vigil_domain::{IncidentReader, Settings};
use vigil_e2e::{base_findings, envelope, fresh_store, org_stream, DeliveryKind};
use vigil_wire::sinks::SinksConfig;

fn deps(store: DynamoStore) -> ingest::Deps<DynamoStore> {
    ingest::Deps {
        store,
        runbook: vigil_e2e::example_runbook(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    }
}

fn wcu_by(store: &DynamoStore) -> Value {
    let mut m = serde_json::Map::new();
    for ((kind, place), wcu) in store.consumed_wcu_by() {
        m.insert(format!("{kind}/{place}"), json!(wcu));
    }
    Value::Object(m)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to parse.
    let Some(ep) = vigil_e2e::ddb_endpoint() else {
        eprintln!("SKIP: the store bench needs DynamoDB Local (VIGIL_DDB_ENDPOINT)");
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let base = base_findings(true);
    eprintln!("store bench: {} base findings", base.len());
    let mut out = serde_json::Map::new();
    out.insert("base_findings".into(), json!(base.len()));

    let clock = Instant::now();
    // WCU per new finding.
    rt.block_on(async {
        let d = deps(fresh_store(&ep, "bench-new").await);
        let stream = org_stream(&base, 300, 100, 1);
        for (i, x) in stream.iter().enumerate() {
            vigil_e2e::process(&d, envelope(&format!("n{i}"), vec![x.finding.clone()]))
                .await
                .unwrap();
        }
        let wcu = d.store.consumed_wcu();
        out.insert(
            "wcu_per_new_finding".into(),
            json!(wcu / stream.len() as f64),
        );
        out.insert("wcu_new_by_item".into(), wcu_by(&d.store));
        out.insert(
            "write_requests_per_new_finding".into(),
            json!(d.store.write_requests() as f64 / stream.len() as f64),
        );
    });

    eprintln!("store bench: new findings done at {:?}", clock.elapsed());
    // WCU per delivery on a stream half duplicates and updates.
    rt.block_on(async {
        let d = deps(fresh_store(&ep, "bench-org").await);
        let stream = org_stream(&base, 1000, 50, 2);
        let (mut dup_writes, mut dups, mut states) = (0u64, 0usize, 0usize);
        for (i, x) in stream.iter().enumerate() {
            let before = d.store.write_requests();
            let s = vigil_e2e::process(&d, envelope(&format!("o{i}"), vec![x.finding.clone()]))
                .await
                .unwrap();
            if x.kind == DeliveryKind::Duplicate {
                dups += 1;
                dup_writes += d.store.write_requests() - before;
            }
            states += s.new + s.updated;
        }
        let wcu = d.store.consumed_wcu();
        out.insert("wcu_per_delivery".into(), json!(wcu / stream.len() as f64));
        out.insert(
            "wcu_per_new_state".into(),
            json!(wcu / states.max(1) as f64),
        );
        out.insert("org_stream_deliveries".into(), json!(stream.len()));
        out.insert("org_stream_new_states".into(), json!(states));
        out.insert("org_stream_duplicates".into(), json!(dups));
        out.insert("write_requests_for_duplicates".into(), json!(dup_writes));
        out.insert(
            "write_requests_per_delivery".into(),
            json!(d.store.write_requests() as f64 / stream.len() as f64),
        );
        out.insert("wcu_org_by_item".into(), wcu_by(&d.store));
    });

    eprintln!(
        "store bench: organisation stream done at {:?}",
        clock.elapsed()
    );
    // End to end: 10,000 deliveries, 8 workers.
    let e2e_n: usize = std::env::var("VIGIL_BENCH_E2E_DELIVERIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let store = rt.block_on(async {
        let d = Arc::new(deps(fresh_store(&ep, "bench-e2e").await));
        let stream = org_stream(&base, e2e_n, 50, 3);
        let events: Vec<String> = stream
            .iter()
            .enumerate()
            .map(|(i, x)| envelope(&format!("e{i}"), vec![x.finding.clone()]).to_string())
            .collect();
        let events = Arc::new(events);
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let mut workers = Vec::new();
        for _ in 0..8 {
            let (d, events, next) = (d.clone(), events.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                let mut times = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(e) = events.get(i) else { break };
                    let t = Instant::now();
                    let s = ingest::process(&d, e).await.unwrap();
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                    if i % 500 == 0 {
                        eprintln!(
                            "store bench: e2e delivery {i}, conflicts so far in this one {}",
                            s.conflicts
                        );
                    }
                }
                times
            }));
        }
        let mut times: Vec<f64> = Vec::new();
        for w in workers {
            times.extend(w.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        times.sort_by(|a, b| a.total_cmp(b));
        eprintln!("store bench: e2e done in {elapsed:.1} s");
        out.insert("e2e_deliveries".into(), json!(events.len()));
        out.insert("e2e_workers".into(), json!(8));
        out.insert(
            "e2e_deliveries_per_second".into(),
            json!(events.len() as f64 / elapsed),
        );
        out.insert("e2e_p50_ms".into(), json!(percentile(&times, 0.50)));
        out.insert("e2e_p99_ms".into(), json!(percentile(&times, 0.99)));
        out.insert(
            "e2e_wcu_per_delivery".into(),
            json!(d.store.consumed_wcu() / events.len() as f64),
        );
        match Arc::try_unwrap(d) {
            Ok(d) => d.store,
            Err(_) => panic!("workers still hold the store"),
        }
    });

    // Forwarder: top findings for a 100-record batch, batched by key vs per incident.
    rt.block_on(async {
        let mut incidents = store.list_incidents(false).await.unwrap();
        incidents.retain(|i| i.finding_count > 1);
        incidents.truncate(100);
        let n = incidents.len();
        let event_of = |named: bool| {
            let mut event = aws_lambda_events::event::dynamodb::Event::default();
            event.records = incidents
                .iter()
                .enumerate()
                .map(|(i, inc)| {
                    let mut inc = inc.clone();
                    if !named {
                        // As before incidents named their recent findings.
                        inc.recent.clear();
                    }
                    stream_record(&inc, 1000 + i as u64)
                })
                .collect();
            event
        };
        let file = tempfile::NamedTempFile::new().unwrap();
        let cfg = SinksConfig::parse(&format!(
            "sinks: [{{type: file, name: f, path: '{}'}}]",
            file.path().display()
        ))
        .unwrap();
        let measure = |named: bool| {
            let event = event_of(named);
            let cfg = &cfg;
            let store = &store;
            async move {
                let mut times = Vec::new();
                let mut reads = 0;
                for _ in 0..7 {
                    let findings = Arc::new(vigil_aws_dynamodb::DynamoFindings::new(
                        store.client().clone(),
                        store.table(),
                    ));
                    let deps = forward::Deps {
                        dispatcher: Dispatcher::new(
                            cfg,
                            &Secrets::local(),
                            Arc::new(MemoryLedger::default()),
                            Some(findings.clone()),
                        )
                        .unwrap(),
                        cleanup: None,
                        emit_metrics: false,
                    };
                    let t = Instant::now();
                    let r = forward::process(&deps, &event, None).await;
                    assert!(r.first_failed.is_none());
                    times.push(t.elapsed());
                    reads = findings.read_requests();
                }
                times.sort();
                (times[times.len() / 2], reads)
            }
        };
        let (after, after_reads) = measure(true).await;
        let (before, before_reads) = measure(false).await;
        out.insert("forward_batch_incidents".into(), json!(n));
        out.insert(
            "forward_incidents_per_second_batched".into(),
            json!(n as f64 / after.as_secs_f64()),
        );
        out.insert(
            "forward_incidents_per_second_per_incident".into(),
            json!(n as f64 / before.as_secs_f64()),
        );
        out.insert("forward_read_requests_batched".into(), json!(after_reads));
        out.insert(
            "forward_read_requests_per_incident".into(),
            json!(before_reads),
        );
    });

    println!("BENCH_JSON {}", Value::Object(out));
}

/// A stream record of an incident as the table writes it (the store's own item codec).
fn stream_record(
    inc: &vigil_domain::incident::Incident,
    seq: u64,
) -> aws_lambda_events::event::dynamodb::EventRecord {
    let item: serde_dynamo::Item = vigil_aws_dynamodb::items::incident_item(inc)
        .unwrap()
        .into();
    let image = serde_json::to_value(&item).unwrap();
    serde_json::from_value(json!({
        "awsRegion": "us-east-1", "eventID": format!("ev-{seq}"), "eventName": "INSERT",
        "eventSource": "aws:dynamodb", "eventVersion": "1.1",
        "dynamodb": {
            "Keys": {"pk": {"S": format!("I#{}", inc.id)}, "sk": {"S": "I"}},
            "SequenceNumber": format!("{seq:021}"), "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1795000000.0,
            "NewImage": image,
        },
    }))
    .unwrap()
}
