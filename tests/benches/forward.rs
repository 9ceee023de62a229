//! Forwarding throughput: a 100-record stream batch through the forwarder to a local HEC
//! receiver (and, separately, to a webhook receiver), with a delivery ledger that forgets, so
//! every iteration really sends all 100. Also writes the batch as a Lambda event
//! (`target/bench/stream-100.json`) for the release binary's RSS measurement in `make bench`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::future::BoxFuture;
use vigil_delivery::{Dispatcher, Secrets};
use vigil_domain::ports::{DeadLetter, DeliveryLedger, DeliveryStates, DueEntry, OutboxEntry};
use vigil_domain::StoreError;
use vigil_e2e::receivers::hec::Hec;
use vigil_e2e::receivers::webhook::WebhookReceiver;
use vigil_e2e::{incident_record, root, synthetic_incident};
use vigil_wire::sinks::SinksConfig;

/// Remembers nothing: every batch is delivered in full.
struct Forgetful;
impl DeliveryLedger for Forgetful {
    fn states<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Result<DeliveryStates, StoreError>> {
        Box::pin(async { Ok(DeliveryStates::new()) })
    }
    fn settle<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn enqueue<'a>(&'a self, _: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn pending<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn due<'a>(
        &'a self,
        _: DateTime<Utc>,
        _: usize,
    ) -> BoxFuture<'a, Result<Vec<DueEntry>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn complete<'a>(&'a self, _: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn reschedule<'a>(&'a self, _: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn dead_letter<'a>(&'a self, _: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn lease<'a>(
        &'a self,
        _: &'a str,
        _: &'a str,
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async { Ok(true) })
    }
    fn dead_letters<'a>(&'a self, _: usize) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

const TOKEN: &str = "bench-0000-0000-0000-000000000000";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let records: Vec<_> = (0..100u32)
        .map(|i| {
            let mut inc = synthetic_incident(&format!("bench incident {i}"), i, 1);
            inc.finding_count = 1 + u64::from(i % 7);
            incident_record(&inc, None, 1000 + u64::from(i))
        })
        .collect();
    let mut event = aws_lambda_events::event::dynamodb::Event::default();
    event.records = records;
    let dir = root().join("target/bench");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("stream-100.json"),
        serde_json::to_vec(&event).unwrap(),
    )
    .unwrap();

    let (hec, hook) =
        rt.block_on(async { (Hec::start(TOKEN).await, WebhookReceiver::start(WHSEC).await) });
    let make = |yaml: String| {
        let cfg = SinksConfig::parse(&yaml).unwrap();
        forward::Deps {
            dispatcher: Dispatcher::new(&cfg, &Secrets::local(), Arc::new(Forgetful), None)
                .unwrap(),
            cleanup: None,
            emit_metrics: false,
        }
    };
    let hec_deps = make(format!(
        "sinks: [{{type: hec, name: splunk, url: '{}', allow_http: true, token: {{value: '{TOKEN}'}}}}]",
        hec.url()
    ));
    let hook_deps = make(format!(
        "sinks: [{{type: webhook, name: soar, url: '{}', allow_http: true, secret: {{value: '{WHSEC}'}}}}]",
        hook.url()
    ));

    // Bytes per incident on the wire (HEC envelope, webhook body).
    rt.block_on(forward::process(&hec_deps, &event, None));
    let hec_bytes: usize = hec.with(|s| s.events.iter().map(|e| e.to_string().len() + 1).sum());
    let n = hec.incident_keys().len().max(1);
    rt.block_on(forward::process(&hook_deps, &event, None));
    let hook_bytes: usize =
        hook.with(|s| s.accepted.iter().map(|(_, b)| b.to_string().len()).sum());
    let m = hook.keys().len().max(1);
    println!(
        "BENCH hec_bytes_per_incident={} hec_requests_per_100={} webhook_bytes_per_incident={}",
        hec_bytes / n,
        hec.with(|s| s.requests),
        hook_bytes / m
    );

    let mut g = c.benchmark_group("forward");
    g.throughput(Throughput::Elements(100));
    g.sample_size(30);
    g.bench_function("hec_100_record_batch", |b| {
        b.iter(|| {
            let r = rt.block_on(forward::process(&hec_deps, &event, None));
            assert!(r.first_failed.is_none());
            hec.with(|s| s.events.clear());
        })
    });
    g.bench_function("webhook_100_record_batch", |b| {
        b.iter(|| {
            let r = rt.block_on(forward::process(&hook_deps, &event, None));
            assert!(r.first_failed.is_none());
            hook.with(|s| s.accepted.clear());
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
