//! Helpers for Vigil's end-to-end tests (the tests themselves are in `tests/tests/`).
//!
//! Services: tests that need DynamoDB Local read `VIGIL_DDB_ENDPOINT` (set by `make test`, which
//! starts it). Without it they print why and skip, unless `VIGIL_REQUIRE_SERVICES=1` (as in
//! `make test` and CI), where a missing service fails the test instead of hiding it.

/// Protocol-level fakes of AWS services with no local implementation (Security Hub): test
/// infrastructure, so failures panic.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod fakes;
/// Test receivers (HEC, webhook, rsyslog): test infrastructure, so failures panic.
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod receivers;
pub mod simorg;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

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

/// The real client of an SDK crate against a local endpoint, with dummy credentials, in
/// us-east-1; extra builder calls after the endpoint.
macro_rules! local_client {
    ($sdk:ident, $endpoint:expr $(, $call:ident($($arg:expr),*))*) => {{
        let conf = $sdk::Config::builder()
            .behavior_version($sdk::config::BehaviorVersion::latest())
            .endpoint_url($endpoint)
            .region($sdk::config::Region::new("us-east-1"))
            .credentials_provider($sdk::config::Credentials::new(
                "local",
                "local",
                None,
                None,
                "vigil-tests",
            ))
            $(.$call($($arg),*))*
            .build();
        $sdk::Client::from_conf(conf)
    }};
}

pub fn client(endpoint: &str) -> aws_sdk_dynamodb::Client {
    local_client!(aws_sdk_dynamodb, endpoint)
}

/// The real SNS client against moto.
pub fn sns_client(endpoint: &str) -> aws_sdk_sns::Client {
    local_client!(aws_sdk_sns, endpoint)
}

/// The real SQS client against moto.
pub fn sqs_client(endpoint: &str) -> aws_sdk_sqs::Client {
    local_client!(aws_sdk_sqs, endpoint)
}

/// moto's server (S3, Organizations, ...), or skip.
pub fn moto_endpoint() -> Option<String> {
    service("VIGIL_MOTO_ENDPOINT", "moto server")
}

/// The real S3 client against moto (path-style addressing, as moto needs).
pub fn s3_client(endpoint: &str) -> aws_sdk_s3::Client {
    local_client!(aws_sdk_s3, endpoint, force_path_style(true))
}

/// The real Organizations client against moto.
pub fn organizations_client(endpoint: &str) -> aws_sdk_organizations::Client {
    local_client!(aws_sdk_organizations, endpoint)
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
    local_client!(aws_sdk_dynamodbstreams, endpoint)
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
pub async fn process<S: ingest::Store>(
    deps: &ingest::Deps<S>,
    event: Value,
) -> Result<ingest::Summary, ingest::IngestError> {
    ingest::process(deps, &event.to_string()).await
}

/// Base findings for synthetic organisation streams: the project's fixtures, and every ASFF
/// finding of the reference corpus when it is present (skipping those that do not parse).
pub fn base_findings(with_corpus: bool) -> Vec<Value> {
    let mut out: Vec<Value> = fixture_events()
        .into_iter()
        .flat_map(|(_, e)| {
            e["detail"]["findings"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let corpus = if with_corpus { corpus_dir() } else { None };
    if let Some(dir) = corpus {
        let mut stack = vec![dir.join("asff")];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "json") {
                    files.push(p);
                }
            }
        }
        files.sort();
        for p in files {
            let Ok(v) =
                serde_json::from_str::<Value>(&std::fs::read_to_string(&p).unwrap_or_default())
            else {
                continue;
            };
            let list = if let Some(f) = v["detail"]["findings"].as_array() {
                f.clone()
            } else if let Some(f) = v["Findings"].as_array() {
                f.clone()
            } else if v.get("SchemaVersion").is_some() {
                vec![v.clone()]
            } else {
                Vec::new()
            };
            for f in list {
                let text = f.to_string();
                if vigil_domain::asff::parse_finding(&text).is_ok() {
                    out.push(f);
                }
            }
        }
    }
    out
}

/// One delivery of an organisation stream.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub finding: Value,
    pub kind: DeliveryKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryKind {
    New,
    Duplicate,
    Update,
}

/// A deterministic organisation stream of `n` single-finding deliveries, as Security Hub sends
/// them: `new_share` percent new findings, the rest split between exact re-deliveries of
/// earlier states and newer states of earlier findings (`UpdatedAt` and `LastObservedAt`
/// later, sometimes a workflow change). New findings are the base findings with fresh ids in
/// 20 member accounts, 30 s apart, arriving in clusters about one resource (as a resource
/// failing several controls, or an instance with several GuardDuty or Inspector findings
/// does): cluster sizes 1 (40 %), 2-4 (40 %) or 5-12 (20 %).
pub fn org_stream(base: &[Value], n: usize, new_share: u32, seed: u64) -> Vec<Delivery> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-11-25T00:00:00Z")
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_default();
    let ts =
        |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut out: Vec<Delivery> = Vec::with_capacity(n);
    let mut latest: Vec<Value> = Vec::new();
    let mut made = 0usize;
    // The current cluster: (number, findings left, account, primary resource).
    let mut cluster: (usize, usize, String, Value) = (0, 0, String::new(), Value::Null);
    while out.len() < n {
        let roll = rng.gen_range(0..100);
        if latest.is_empty() || roll < new_share {
            let mut f = base[made % base.len()].clone();
            if cluster.1 == 0 {
                let size = match rng.gen_range(0..10) {
                    0..=3 => 1,
                    4..=7 => rng.gen_range(2..=4),
                    _ => rng.gen_range(5..=12),
                };
                let number = cluster.0 + 1;
                let account = format!("{:012}", 100_000_000_000u64 + (number % 20) as u64);
                let mut r = f["Resources"][0].clone();
                let id = format!("{}-c{number}", r["Id"].as_str().unwrap_or("resource"));
                r["Id"] = Value::String(id);
                if r["Details"]["AwsIamAccessKey"].is_object() {
                    r["Details"]["AwsIamAccessKey"]["PrincipalName"] =
                        Value::String(format!("principal-c{number}"));
                }
                cluster = (number, size, account, r);
            }
            cluster.1 -= 1;
            // Every finding of the cluster is about the cluster's resource.
            if let Some(rs) = f["Resources"].as_array_mut() {
                rs.retain(|r| {
                    !matches!(r["Type"].as_str(), Some("AwsEksCluster" | "AwsEcsCluster"))
                });
                if rs.is_empty() {
                    rs.push(Value::Null);
                }
                rs[0] = cluster.3.clone();
            }
            let account = cluster.2.clone();
            let id = format!("{}-org-{made}", f["Id"].as_str().unwrap_or("f"));
            let at = t0 + chrono::Duration::seconds(30 * made as i64);
            f["Id"] = Value::String(id);
            f["AwsAccountId"] = Value::String(account);
            for k in [
                "CreatedAt",
                "UpdatedAt",
                "FirstObservedAt",
                "LastObservedAt",
            ] {
                if f.get(k).is_some() || k == "CreatedAt" || k == "UpdatedAt" {
                    f[k] = Value::String(ts(at));
                }
            }
            if let Some(o) = f.as_object_mut() {
                o.remove("ProcessedAt");
            }
            made += 1;
            latest.push(f.clone());
            out.push(Delivery {
                finding: f,
                kind: DeliveryKind::New,
            });
        } else if roll < new_share + (100 - new_share) / 2 {
            let f = latest[rng.gen_range(0..latest.len())].clone();
            out.push(Delivery {
                finding: f,
                kind: DeliveryKind::Duplicate,
            });
        } else {
            let i = rng.gen_range(0..latest.len());
            let mut f = latest[i].clone();
            let updated = f["UpdatedAt"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or(t0)
                + chrono::Duration::minutes(rng.gen_range(5..360));
            f["UpdatedAt"] = Value::String(ts(updated));
            if f.get("LastObservedAt").is_some() {
                f["LastObservedAt"] = Value::String(ts(updated));
            }
            if rng.gen_bool(0.2) {
                f["Workflow"] = serde_json::json!({"Status": "NOTIFIED"});
            }
            latest[i] = f.clone();
            out.push(Delivery {
                finding: f,
                kind: DeliveryKind::Update,
            });
        }
    }
    out
}

/// The built `vigil` CLI (`VIGIL_CLI_BIN`, else `target/debug/vigil`) against DynamoDB Local
/// table `table` at `endpoint`, with dummy credentials and no runbook; `None` (skip, with a
/// message) when it is not built, which `VIGIL_REQUIRE_SERVICES` turns into a failure.
pub fn vigil_cli(table: &str, endpoint: &str) -> Option<std::process::Command> {
    let bin = std::env::var("VIGIL_CLI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join("target/debug/vigil"));
    if !bin.exists() {
        assert!(
            std::env::var("VIGIL_REQUIRE_SERVICES").is_err(),
            "target/debug/vigil is required; build the workspace first"
        );
        eprintln!("SKIP: target/debug/vigil not built");
        return None;
    }
    let mut c = std::process::Command::new(bin);
    c.current_dir(root())
        .env("TABLE_NAME", table)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env_remove("VIGIL_RUNBOOK")
        .env_remove("VIGIL_RUNBOOK_S3_URI");
    Some(c)
}

/// The table's stream as the forwarder would see it, from snapshots: each call gives a record
/// (old and new image) for every incident whose version changed since the last call.
#[derive(Debug, Default)]
pub struct StreamTap {
    seen: std::collections::BTreeMap<String, vigil_domain::incident::Incident>,
    seq: u64,
}

impl StreamTap {
    pub async fn records(
        &mut self,
        store: &DynamoStore,
    ) -> Vec<aws_lambda_events::event::dynamodb::EventRecord> {
        use vigil_domain::IncidentReader;
        let mut out = Vec::new();
        for inc in store.list_incidents(false).await.unwrap_or_default() {
            let old = self.seen.get(&inc.id);
            if old.is_some_and(|o| o.version == inc.version) {
                continue;
            }
            self.seq += 1;
            out.push(incident_record(&inc, old, self.seq));
            self.seen.insert(inc.id.clone(), inc);
        }
        out
    }
}

/// Every record the table's stream has after the poller's position (until two empty polls in
/// a row), as Lambda's event source mapping would hand them over.
pub async fn drain_stream(
    poller: &mut vigil_aws_streams::StreamPoller,
) -> Vec<aws_lambda_events::event::dynamodb::EventRecord> {
    let mut out = Vec::new();
    let mut empty = 0;
    while empty < 2 {
        let got = poller
            .poll(100)
            .await
            .unwrap_or_else(|e| panic!("reading the stream: {e}"));
        if got.is_empty() {
            empty += 1;
        } else {
            empty = 0;
            out.extend(got);
        }
    }
    out
}
