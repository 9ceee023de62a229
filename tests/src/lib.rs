//! Helpers for Vigil's end-to-end tests (the tests themselves are in `tests/tests/`).
//!
//! Services: tests that need DynamoDB Local read `VIGIL_DDB_ENDPOINT` (set by `make test`, which
//! starts it). Without it they print why and skip, unless `VIGIL_REQUIRE_SERVICES=1` (as in
//! `make test` and CI), where a missing service fails the test instead of hiding it.

/// Test receivers (HEC, webhook, rsyslog): test infrastructure, so failures panic.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod receivers;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use rand::Rng;
use serde_json::Value;
use vigil_aws_dynamodb::ensure_table;
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::testing::Asff;

/// Workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// The reference corpus beside the checkout (`../shared/corpus`), when present.
pub fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("VIGIL_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("../shared/corpus"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "SKIP: reference corpus not found at {} (set VIGIL_CORPUS)",
            dir.display()
        );
        None
    }
}

fn require_services() -> bool {
    std::env::var("VIGIL_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// Skips (returns `None`) or fails, per `VIGIL_REQUIRE_SERVICES`, when a service is missing.
pub fn service(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if require_services() => {
            panic!("{what} is required (VIGIL_REQUIRE_SERVICES=1) but {var} is not set")
        }
        _ => {
            eprintln!("SKIP: {what} not available ({var} unset); run `make test`");
            None
        }
    }
}

pub fn ddb_endpoint() -> Option<String> {
    service("VIGIL_DDB_ENDPOINT", "DynamoDB Local")
}

pub fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "vigil-tests",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(conf)
}

static TABLES: AtomicU32 = AtomicU32::new(0);

/// A new, empty table in DynamoDB Local, named after the test.
pub async fn fresh_store(endpoint: &str, test: &str) -> DynamoStore {
    let c = client(endpoint);
    let name = format!(
        "vigil-{test}-{}-{:06x}",
        TABLES.fetch_add(1, Ordering::Relaxed),
        rand::thread_rng().gen::<u32>() & 0xff_ffff
    );
    if let Err(e) = ensure_table(&c, &name).await {
        panic!("cannot create table {name} in DynamoDB Local: {e}");
    }
    DynamoStore::new(c, name)
}

/// The project's fixture events, in file-name (live) order: (file name, event).
pub fn fixture_events() -> Vec<(String, Value)> {
    let dir = root().join("tests/fixtures/events");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text =
                std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let v: Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (
                p.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                v,
            )
        })
        .collect()
}

/// The example runbook shipped with the project.
pub fn example_runbook() -> vigil_domain::Runbook {
    let p = root().join("examples/runbook.yaml");
    vigil_domain::Runbook::from_path(&p).unwrap_or_else(|e| panic!("{e}"))
}

/// An EventBridge envelope around findings.
pub fn envelope(id: &str, findings: Vec<Value>) -> Value {
    vigil_domain::testing::imported_event(id, findings)
}

/// A GuardDuty-like finding on `i-<instance>` in `account`, first seen `minutes` after
/// 2026-11-18T00:00Z.
pub fn gd_finding(id: &str, account: &str, instance: u32, minutes: i64, severity: &str) -> Value {
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-18T00:00:00Z")
        .map(|d| d.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    let t = t0 + chrono::Duration::minutes(minutes);
    Asff::guardduty(id)
        .account(account)
        .instance(&format!("i-{instance:017x}"))
        .types(&["TTPs/Command and Control/Backdoor:EC2-C&CActivity.B!DNS"])
        .times(t, t)
        .set(
            "Severity",
            serde_json::json!({"Label": severity, "Normalized": 50}),
        )
        .title(&format!("{severity} finding {id}"))
        .set("Description", serde_json::json!("generated"))
        .json()
}

/// A DynamoDB Streams client for DynamoDB Local (same endpoint as the tables).
pub fn streams_client(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    let conf = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_sdk_dynamodbstreams::config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "vigil-tests",
        ))
        .build();
    aws_sdk_dynamodbstreams::Client::from_conf(conf)
}

/// An incident (version `version`) opened by one HIGH GuardDuty finding with this title.
pub fn synthetic_incident(title: &str, n: u32, version: u64) -> vigil_domain::incident::Incident {
    let rb = vigil_domain::Runbook::default();
    let mut v = gd_finding(&format!("syn-{n}"), "111111111111", n, 0, "HIGH");
    v["Title"] = Value::String(title.to_owned());
    let text = v.to_string();
    let f = vigil_domain::NormalizedFinding::new(
        vigil_domain::asff::parse_finding(&text).unwrap_or_else(|e| panic!("{e}")),
        &rb,
    );
    let mut inc = vigil_domain::incident::Incident::open(
        &f,
        &rb,
        chrono::Utc::now(),
        chrono::Duration::days(1),
    );
    inc.apply(None, &f, &rb);
    inc.version = version;
    inc
}

/// A stream record as Lambda delivers it for an incident item written at sequence `seq`
/// (`old`: the previous image, for a MODIFY).
pub fn incident_record(
    new: &vigil_domain::incident::Incident,
    old: Option<&vigil_domain::incident::Incident>,
    seq: u64,
) -> aws_lambda_events::event::dynamodb::EventRecord {
    let image = |inc: &vigil_domain::incident::Incident| {
        let mut item: serde_json::Map<String, Value> = serde_json::to_value(
            serde_dynamo::to_item::<_, serde_dynamo::Item>(inc).unwrap_or_else(|e| panic!("{e}")),
        )
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
        item.insert("entity_type".into(), serde_json::json!({"S": "incident"}));
        item.insert(
            "pk".into(),
            serde_json::json!({"S": format!("I#{}", inc.id)}),
        );
        Value::Object(item)
    };
    let mut d = serde_json::json!({
        "Keys": {"pk": {"S": format!("I#{}", new.id)}, "sk": {"S": "I"}},
        "SequenceNumber": format!("{seq:021}"), "SizeBytes": 100,
        "StreamViewType": "NEW_AND_OLD_IMAGES", "ApproximateCreationDateTime": 1795000000.0,
        "NewImage": image(new),
    });
    if let Some(o) = old {
        d["OldImage"] = image(o);
    }
    serde_json::from_value(serde_json::json!({
        "awsRegion": "us-east-1", "eventID": format!("ev-{seq}"),
        "eventName": if old.is_some() { "MODIFY" } else { "INSERT" },
        "eventSource": "aws:dynamodb", "eventVersion": "1.1", "dynamodb": d,
    }))
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Lambda's DynamoDB event source mapping, simulated over a list of records: batches of
/// `batch_size`; with `ReportBatchItemFailures`, the next batch starts at the reported record
/// (records after it are re-sent even if they succeeded), else after the batch.
#[derive(Debug, Default)]
pub struct Esm {
    pub position: usize,
    pub invocations: usize,
}

impl Esm {
    /// One invocation; `None` when every record was processed.
    pub async fn step(
        &mut self,
        deps: &forward::Deps,
        records: &[aws_lambda_events::event::dynamodb::EventRecord],
        batch_size: usize,
    ) -> Option<vigil_delivery::BatchReport> {
        if self.position >= records.len() {
            return None;
        }
        let end = (self.position + batch_size).min(records.len());
        let mut event = aws_lambda_events::event::dynamodb::Event::default();
        event.records = records[self.position..end].to_vec();
        let report = forward::process(deps, &event, None).await;
        self.invocations += 1;
        match &report.first_failed {
            None => self.position = end,
            Some(seq) => {
                let at = event
                    .records
                    .iter()
                    .position(|r| r.change.sequence_number.as_deref() == Some(seq.as_str()))
                    .unwrap_or_else(|| {
                        panic!("reported sequence number {seq} is not in the batch")
                    });
                self.position += at;
            }
        }
        Some(report)
    }
}

/// A delivery ledger that fails its writes on demand (a DynamoDB outage), around a real one.
#[allow(missing_debug_implementations)]
pub struct FlakyLedger {
    inner: std::sync::Arc<dyn vigil_domain::ports::DeliveryLedger>,
    failing: std::sync::atomic::AtomicBool,
}

impl FlakyLedger {
    pub fn new(inner: std::sync::Arc<dyn vigil_domain::ports::DeliveryLedger>) -> Self {
        Self {
            inner,
            failing: std::sync::atomic::AtomicBool::new(false),
        }
    }
    pub fn fail(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }
    fn check(&self) -> Result<(), vigil_domain::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            Err(vigil_domain::StoreError::Unavailable {
                message: "injected outage".into(),
                source: None,
            })
        } else {
            Ok(())
        }
    }
}

mod flaky {
    use super::FlakyLedger;
    use chrono::{DateTime, Utc};
    use futures::future::BoxFuture;
    use vigil_domain::ports::{DeadLetter, DeliveryLedger, DeliveryStates, DueEntry, OutboxEntry};
    use vigil_domain::StoreError;

    impl DeliveryLedger for FlakyLedger {
        fn states<'a>(
            &'a self,
            ids: &'a [String],
        ) -> BoxFuture<'a, Result<DeliveryStates, StoreError>> {
            self.inner.states(ids)
        }
        fn settle<'a>(
            &'a self,
            i: &'a str,
            d: &'a str,
            v: u64,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            match self.check() {
                Ok(()) => self.inner.settle(i, d, v),
                Err(e) => Box::pin(async { Err(e) }),
            }
        }
        fn enqueue<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
            match self.check() {
                Ok(()) => self.inner.enqueue(e),
                Err(err) => Box::pin(async { Err(err) }),
            }
        }
        fn pending<'a>(
            &'a self,
            i: &'a str,
            d: &'a str,
        ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
            self.inner.pending(i, d)
        }
        fn due<'a>(
            &'a self,
            now: DateTime<Utc>,
            limit: usize,
        ) -> BoxFuture<'a, Result<Vec<DueEntry>, StoreError>> {
            self.inner.due(now, limit)
        }
        fn complete<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
            match self.check() {
                Ok(()) => self.inner.complete(e),
                Err(err) => Box::pin(async { Err(err) }),
            }
        }
        fn reschedule<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
            match self.check() {
                Ok(()) => self.inner.reschedule(e),
                Err(err) => Box::pin(async { Err(err) }),
            }
        }
        fn dead_letter<'a>(&'a self, d: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
            match self.check() {
                Ok(()) => self.inner.dead_letter(d),
                Err(err) => Box::pin(async { Err(err) }),
            }
        }
        fn lease<'a>(
            &'a self,
            d: &'a str,
            o: &'a str,
            now: DateTime<Utc>,
            until: DateTime<Utc>,
        ) -> BoxFuture<'a, Result<bool, StoreError>> {
            self.inner.lease(d, o, now, until)
        }
        fn dead_letters<'a>(
            &'a self,
            limit: usize,
        ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
            self.inner.dead_letters(limit)
        }
    }
}

/// Runs the outbox drain as the schedule would, with the clock `hours` ahead (so every backoff
/// has passed), until nothing is due; returns the drain reports.
pub async fn drain_until_empty(
    deps: &forward::Deps,
    hours: i64,
) -> Vec<vigil_delivery::dispatch::DrainReport> {
    let mut out = Vec::new();
    for round in 0..20 {
        let now = chrono::Utc::now() + chrono::Duration::hours(hours + round);
        let r = forward::drain(deps, now, None, "test-drain").await;
        let done = r.due == 0;
        out.push(r);
        if done {
            break;
        }
    }
    out
}

/// `ingest::process` on an event built as JSON: the text it receives is the event's.
pub async fn process<S: vigil_domain::IncidentStore>(
    deps: &ingest::Deps<S>,
    event: Value,
) -> Result<ingest::Summary, ingest::IngestError> {
    ingest::process(deps, &event.to_string()).await
}
