//! End to end: fixture events through ingest into DynamoDB Local, the table's real stream read
//! like Lambda's event source mapping, the forward handler on those records, and every
//! forwardable incident version checked at every sink (HEC, webhook, rsyslog over TLS, file).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lambda_events::event::dynamodb::EventRecord;
use forward::stream::{decode, RecordOutcome};
use ingest::process;
use vigil_aws_dynamodb::{DynamoFindings, DynamoLedger, DynamoStore};
use vigil_aws_streams::{stream_arn, StreamPoller};
use vigil_delivery::{Dispatcher, Secrets};
use vigil_domain::Settings;
use vigil_e2e::receivers::hec::Hec;
use vigil_e2e::receivers::rsyslog::{self, Rsyslog};
use vigil_e2e::receivers::webhook::WebhookReceiver;
use vigil_e2e::receivers::{pki, Fault};
use vigil_e2e::{
    ddb_endpoint, drain_until_empty, example_runbook, fixture_events, fresh_store, streams_client,
    Esm,
};
use vigil_wire::sinks::SinksConfig;

const TOKEN: &str = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee";
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Ingests the fixtures and returns the store and every stream record so far.
async fn ingested(ep: &str, test: &str) -> (DynamoStore, Vec<EventRecord>) {
    // The forwarder's logs, shown by the test runner when a test fails.
    let _ = tracing_subscriber::fmt()
        .with_env_filter("warn,vigil_delivery=info")
        .with_test_writer()
        .try_init();
    let store = fresh_store(ep, test).await;
    let deps = ingest::Deps {
        store,
        runbook: example_runbook(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    };
    for (_, ev) in fixture_events() {
        process(&deps, &ev.to_string()).await.unwrap();
    }
    let arn = stream_arn(deps.store.client(), deps.store.table())
        .await
        .unwrap();
    let mut poller = StreamPoller::new(streams_client(ep), arn);
    let records = vigil_e2e::drain_stream(&mut poller).await;
    (deps.store, records)
}

/// Idempotency keys of the forwardable versions, and each incident's highest such version.
fn forwardable(records: &[EventRecord]) -> (Vec<String>, BTreeMap<String, u64>) {
    let mut keys = Vec::new();
    let mut latest = BTreeMap::new();
    for r in records {
        if let RecordOutcome::Forward(p) = decode(r).outcome {
            keys.push(p.idempotency_key.clone());
            let v = latest.entry(p.incident_id.clone()).or_insert(0);
            *v = p.version.max(*v);
        }
    }
    (keys, latest)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn sd_key(sd: &str) -> String {
    let at = sd.find("key=\"").unwrap() + 5;
    sd[at..].split('"').next().unwrap().to_owned()
}

struct Sinks {
    hec: Hec,
    hook: WebhookReceiver,
    pki: pki::Pki,
    syslog_port: u16,
    file: tempfile::NamedTempFile,
}

impl Sinks {
    async fn start() -> Sinks {
        Sinks {
            hec: Hec::start(TOKEN).await,
            hook: WebhookReceiver::start(WHSEC).await,
            pki: pki::generate(),
            syslog_port: Rsyslog::reserve_port(),
            file: tempfile::NamedTempFile::new().unwrap(),
        }
    }

    fn yaml(&self) -> String {
        let ca = self.pki.ca_pem.replace('\n', "\\n");
        format!(
            r#"sinks:
  - {{type: hec, name: splunk, url: '{}', allow_http: true, raw_findings: true, token: {{value: '{TOKEN}'}}}}
  - {{type: webhook, name: soar, url: '{}', allow_http: true, secret: {{value: '{WHSEC}'}}}}
  - {{type: syslog, name: arcsight, host: 127.0.0.1, port: {}, timeout_secs: 2, tls: {{ca_pem: "{ca}", ca_only: true}}}}
  - {{type: file, name: local, path: '{}'}}
retry: {{attempts: 3, base_delay_ms: 1, max_delay_ms: 5}}
"#,
            self.hec.url(),
            self.hook.url(),
            self.syslog_port,
            self.file.path().display()
        )
    }

    fn deps(&self, store: &DynamoStore) -> forward::Deps {
        let cfg = SinksConfig::parse(&self.yaml()).unwrap();
        let ddb = store.client().clone();
        forward::Deps {
            dispatcher: Dispatcher::new(
                &cfg,
                &Secrets::local(),
                Arc::new(DynamoLedger::new(
                    ddb.clone(),
                    store.table(),
                    chrono::Duration::days(1),
                )),
                Some(Arc::new(DynamoFindings::new(ddb, store.table()))),
            )
            .unwrap(),
            cleanup: None,
            emit_metrics: false,
        }
    }

    fn file_keys(&self) -> Vec<String> {
        std::fs::read_to_string(self.file.path())
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["idempotency_key"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }
}

async fn assert_ledger(store: &DynamoStore, latest: &BTreeMap<String, u64>) {
    let ledger = DynamoLedger::new(
        store.client().clone(),
        store.table(),
        chrono::Duration::days(1),
    );
    let ids: Vec<String> = latest.keys().cloned().collect();
    let got = vigil_domain::ports::DeliveryLedger::states(&ledger, &ids)
        .await
        .unwrap();
    for (id, v) in latest {
        for sink in ["splunk", "soar", "arcsight", "local"] {
            assert_eq!(
                got[id].get(sink).map(|s| s.settled),
                Some(*v),
                "{id} on {sink}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_incident_version_on_the_real_stream_reaches_every_sink_exactly_once() {
    let Some(ep) = ddb_endpoint() else { return };
    let Some(bin) = rsyslog::binary() else { return };
    let (store, records) = ingested(&ep, "fwd-all").await;
    let (want, latest) = forwardable(&records);
    assert!(want.len() >= 10, "{} forwardable versions", want.len());
    assert_eq!(latest.len(), 10, "the fixtures make 10 incidents");

    let sinks = Sinks::start().await;
    let rs = Rsyslog::start_on(&bin, &sinks.pki, false, sinks.syslog_port).await;
    let deps = sinks.deps(&store);
    let mut esm = Esm::default();
    while let Some(r) = esm.step(&deps, &records, 7).await {
        assert_eq!(r.first_failed, None, "{r:?}");
    }
    let syslog: Vec<String> = rs
        .wait_for(want.len())
        .await
        .iter()
        .map(|m| sd_key(m["sd"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sorted(sinks.hec.incident_keys()),
        sorted(want.clone()),
        "HEC"
    );
    assert_eq!(sorted(sinks.hook.keys()), sorted(want.clone()), "webhook");
    assert_eq!(sorted(syslog), sorted(want.clone()), "syslog");
    assert_eq!(sorted(sinks.file_keys()), sorted(want.clone()), "file");
    assert_ledger(&store, &latest).await;

    // Payloads carry the incident's recent findings; HEC also got them raw under the AWS
    // add-on's sourcetype.
    let body = sinks.hook.with(|s| s.accepted[0].1.clone());
    assert!(
        !body["top_findings"].as_array().unwrap().is_empty(),
        "{body}"
    );
    let raw = sinks.hec.with(|s| {
        s.events
            .iter()
            .filter(|e| e["sourcetype"] == "aws:securityhub:finding")
            .count()
    });
    assert!(raw >= latest.len(), "{raw} raw findings");

    // Replaying the whole stream (a new consumer, an operator's redrive) sends nothing again,
    // and the delivery-state writes the forwarder made are on the stream and skipped.
    let mut esm = Esm::default();
    while let Some(r) = esm.step(&deps, &records, 50).await {
        assert!(r.per_sink.values().all(|s| s.delivered == 0), "{r:?}");
    }
    let arn = stream_arn(store.client(), store.table()).await.unwrap();
    let all = vigil_e2e::drain_stream(&mut StreamPoller::new(streams_client(&ep), arn)).await;
    let later = &all[records.len()..];
    assert!(!later.is_empty());
    assert!(later
        .iter()
        .all(|r| matches!(decode(r).outcome, RecordOutcome::Skip(_))));
    assert_eq!(sinks.hec.incident_keys().len(), want.len());
    assert_eq!(sinks.hook.keys().len(), want.len());
}

/// The no-operator guarantee: sinks down for longer than the stream's whole retry budget
/// receive every version, in order, once they are back, with no command run; the healthy
/// sinks get each version once; the stream never stalls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sinks_down_longer_than_the_stream_retries_get_every_version_in_order_with_no_command() {
    let Some(ep) = ddb_endpoint() else { return };
    let Some(bin) = rsyslog::binary() else { return };
    let (store, records) = ingested(&ep, "fwd-down").await;
    let (want, latest) = forwardable(&records);

    let sinks = Sinks::start().await;
    // HEC answers 503 "busy" to everything; the syslog receiver is not up at all.
    for _ in 0..100_000 {
        sinks.hec.fault(Fault::Busy);
    }
    let deps = sinks.deps(&store);
    let mut esm = Esm::default();
    while let Some(r) = esm.step(&deps, &records, 7).await {
        assert_eq!(
            r.first_failed, None,
            "queued durably, the shard moves on: {r:?}"
        );
        assert!(esm.invocations < 100, "no progress: {r:?}");
    }
    assert_eq!(
        esm.invocations,
        records.len().div_ceil(7),
        "each batch once: no stream retries at all"
    );
    // The schedule's drains while they are still down: rescheduled with backoff, nothing lost.
    let r = forward::drain(
        &deps,
        chrono::Utc::now() + chrono::Duration::hours(1),
        None,
        "t",
    )
    .await;
    assert!(r.per_sink["splunk"].rescheduled > 0, "{r:?}");
    assert_eq!(sinks.hec.incident_keys().len(), 0);

    // Hours later both are back; the next scheduled drains deliver everything.
    sinks.hec.with(|s| s.faults.clear());
    let rs = Rsyslog::start_on(&bin, &sinks.pki, false, sinks.syslog_port).await;
    let reports = drain_until_empty(&deps, 3).await;
    assert!(reports.iter().all(|r| !r.incomplete), "{reports:?}");
    let syslog: Vec<String> = rs
        .wait_for(want.len())
        .await
        .iter()
        .map(|m| sd_key(m["sd"].as_str().unwrap()))
        .collect();
    assert_eq!(
        sorted(sinks.hook.keys()),
        sorted(want.clone()),
        "webhook, once each"
    );
    assert_eq!(
        sorted(sinks.file_keys()),
        sorted(want.clone()),
        "file, once each"
    );
    let hec = sinks.hec.incident_keys();
    assert_eq!(
        sorted(hec.clone()),
        sorted(want.clone()),
        "HEC, every version once"
    );
    assert_eq!(
        sorted(syslog.clone()),
        sorted(want.clone()),
        "syslog, every version once"
    );
    for (sink, keys) in [("HEC", &hec), ("syslog", &syslog)] {
        assert_in_version_order(sink, keys);
    }
    assert_ledger(&store, &latest).await;
    let ledger = DynamoLedger::new(
        store.client().clone(),
        store.table(),
        chrono::Duration::days(1),
    );
    let far = chrono::Utc::now() + chrono::Duration::days(30);
    assert!(
        vigil_domain::ports::DeliveryLedger::due(&ledger, far, 100)
            .await
            .unwrap()
            .is_empty(),
        "the outbox is empty"
    );
}

/// Per incident, versions arrived in increasing order.
fn assert_in_version_order(sink: &str, keys: &[String]) {
    let mut last: BTreeMap<&str, u64> = BTreeMap::new();
    for k in keys {
        let (id, v) = k.rsplit_once(':').unwrap();
        let v: u64 = v.parse().unwrap();
        let prev = last.insert(id, v).unwrap_or(0);
        assert!(v > prev, "{sink}: {id} version {v} after {prev}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_stream_gave_up_on_are_redriven_from_the_on_failure_message_and_catch_up_fills_gaps(
) {
    let Some(ep) = ddb_endpoint() else { return };
    let Some(bin) = rsyslog::binary() else { return };
    let (store, records) = ingested(&ep, "fwd-redrive").await;
    let (want, latest) = forwardable(&records);
    let sinks = Sinks::start().await;
    let _rs = Rsyslog::start_on(&bin, &sinks.pki, false, sinks.syslog_port).await;
    // The table fails the forwarder's writes (delivery state, outbox) for longer than the
    // event source mapping retries: it gives up and writes an on-failure message.
    let deps = sinks.deps(&store);
    let flaky = Arc::new(vigil_e2e::FlakyLedger::new(Arc::new(DynamoLedger::new(
        store.client().clone(),
        store.table(),
        chrono::Duration::days(1),
    ))));
    let yaml = sinks.yaml();
    let cfg = SinksConfig::parse(&yaml).unwrap();
    let flaky_deps = forward::Deps {
        dispatcher: Dispatcher::new(&cfg, &Secrets::local(), flaky.clone(), None).unwrap(),
        cleanup: None,
        emit_metrics: false,
    };
    flaky.fail(true);
    let mut event = aws_lambda_events::event::dynamodb::Event::default();
    event.records = records.clone();
    let r = forward::process(&flaky_deps, &event, None).await;
    let first_incident = records
        .iter()
        .find(|r| matches!(decode(r).outcome, RecordOutcome::Forward(_)))
        .and_then(|r| r.change.sequence_number.clone());
    assert_eq!(
        r.first_failed, first_incident,
        "the first incident record is not durable: {r:?}"
    );
    assert!(r.per_sink.values().all(|s| s.store_errors > 0), "{r:?}");

    let streams = streams_client(&ep);
    let arn = stream_arn(store.client(), store.table()).await.unwrap();
    let shard = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description
        .unwrap()
        .shards
        .unwrap()[0]
        .shard_id
        .clone()
        .unwrap();
    let seq = |r: &EventRecord| r.change.sequence_number.clone().unwrap();
    let message = serde_json::json!({
        "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:forward",
            "condition": "RetryAttemptsExhausted", "approximateInvokeCount": 4},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "version": "1.0", "timestamp": "2026-11-27T10:00:00.000Z",
        "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": seq(&records[0]),
            "endSequenceNumber": seq(records.last().unwrap()), "batchSize": records.len(),
            "approximateArrivalOfFirstRecord": "2026-11-27T09:59:00Z", "approximateArrivalOfLastRecord": "2026-11-27T09:59:01Z",
            "streamArn": arn}
    })
    .to_string();
    // Still failing: the redrive fails and says so.
    let r = vigil::redrive::redrive_message(&flaky_deps, &streams, &message)
        .await
        .unwrap();
    assert!(r.first_failed.is_some());
    // The table recovers; the redrive records everything. The sinks got versions whose
    // delivery could not be recorded: they get those again (same keys).
    flaky.fail(false);
    let r = vigil::redrive::redrive_message(&flaky_deps, &streams, &message)
        .await
        .unwrap();
    assert_eq!(r.first_failed, None, "{r:?}");
    let mut got = sinks.hook.keys();
    got.sort();
    got.dedup();
    assert_eq!(got, sorted(want.clone()));
    assert_ledger(&store, &latest).await;
    // Now every version is settled: replaying the range again sends nothing.
    let before = sinks.hook.keys().len();
    let r = vigil::redrive::redrive_message(&deps, &streams, &message)
        .await
        .unwrap();
    assert!(r.per_sink.values().all(|s| s.delivered == 0), "{r:?}");
    assert_eq!(sinks.hook.keys().len(), before);

    // A sink added later (or one whose records aged out of the stream) gets each incident's
    // current version from `catch-up`; the others get nothing.
    let late = WebhookReceiver::start(WHSEC).await;
    let ca = sinks.pki.ca_pem.replace('\n', "\\n");
    let yaml = format!(
        r#"sinks:
  - {{type: hec, name: splunk, url: '{}', allow_http: true, token: {{value: '{TOKEN}'}}}}
  - {{type: webhook, name: late, url: '{}', allow_http: true, secret: {{value: '{WHSEC}'}}}}
  - {{type: syslog, name: arcsight, host: 127.0.0.1, port: {}, tls: {{ca_pem: "{ca}", ca_only: true}}}}
"#,
        sinks.hec.url(),
        late.url(),
        sinks.syslog_port
    );
    let cfg = SinksConfig::parse(&yaml).unwrap();
    let ledger = DynamoLedger::new(
        store.client().clone(),
        store.table(),
        chrono::Duration::days(1),
    );
    let deps = forward::Deps {
        dispatcher: Dispatcher::new(&cfg, &Secrets::local(), Arc::new(ledger.clone()), None)
            .unwrap(),
        cleanup: None,
        emit_metrics: false,
    };
    let r = vigil::redrive::catch_up(&deps, &store, &ledger, false)
        .await
        .unwrap();
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(r.per_sink["late"].delivered as usize, latest.len());
    // The others only get incidents whose current version is a non-material change they
    // never needed (a moved last_seen): catch-up cannot tell, and re-sends the state.
    let current: BTreeMap<String, u64> =
        vigil_domain::IncidentReader::list_incidents(&store, false)
            .await
            .unwrap()
            .into_iter()
            .map(|i| (i.id, i.version))
            .collect();
    let stale = current.iter().filter(|(id, v)| latest[*id] < **v).count() as u64;
    assert_eq!(r.per_sink["splunk"].delivered, stale);
    let got: BTreeMap<String, u64> = late.with(|s| {
        s.accepted
            .iter()
            .map(|(_, b)| {
                (
                    b["incident_id"].as_str().unwrap().to_owned(),
                    b["version"].as_u64().unwrap(),
                )
            })
            .collect()
    });
    assert_eq!(got, current);
    assert!(late.with(|s| s
        .accepted
        .iter()
        .all(|(_, b)| b["change"]["kind"] == "resync")));
}

/// Finding records in an incident have no TTL of their own; when the incident leaves the table
/// (TTL; here a delete, which reaches the stream the same way), the forwarder deletes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_leaving_the_table_takes_its_finding_records_with_it() {
    let Some(ep) = ddb_endpoint() else { return };
    let (store, records) = ingested(&ep, "fwd-ttl").await;
    let findings: Vec<vigil_domain::FindingRecord> = store.scan_kind("finding").await.unwrap();
    assert!(
        findings
            .iter()
            .all(|r| r.incident_id.is_none() || r.expires_at.is_none()),
        "a record in an incident has no TTL of its own"
    );
    let gone = findings.iter().find_map(|r| r.incident_id.clone()).unwrap();
    let members = findings
        .iter()
        .filter(|r| r.incident_id.as_deref() == Some(gone.as_str()))
        .count();
    store
        .client()
        .delete_item()
        .table_name(store.table())
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("I#{gone}")),
        )
        .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("I".into()))
        .send()
        .await
        .unwrap();
    let arn = stream_arn(store.client(), store.table()).await.unwrap();
    let all = vigil_e2e::drain_stream(&mut StreamPoller::new(streams_client(&ep), arn)).await;
    let removal = &all[records.len()..];
    let file = tempfile::NamedTempFile::new().unwrap();
    let cfg = SinksConfig::parse(&format!(
        "sinks: [{{type: file, name: f, path: '{}'}}]",
        file.path().display()
    ))
    .unwrap();
    let deps = forward::Deps {
        dispatcher: Dispatcher::new(
            &cfg,
            &Secrets::local(),
            Arc::new(DynamoLedger::new(
                store.client().clone(),
                store.table(),
                chrono::Duration::days(1),
            )),
            None,
        )
        .unwrap(),
        cleanup: Some(Arc::new(DynamoStore::new(
            store.client().clone(),
            store.table(),
        ))),
        emit_metrics: false,
    };
    let mut event = aws_lambda_events::event::dynamodb::Event::default();
    event.records = removal.to_vec();
    let r = forward::process(&deps, &event, None).await;
    assert_eq!(
        (r.incidents_removed, r.first_failed.clone()),
        (1, None),
        "{r:?}"
    );
    let left: Vec<vigil_domain::FindingRecord> = store.scan_kind("finding").await.unwrap();
    assert_eq!(
        left.len(),
        findings.len() - members,
        "{members} records of {gone} deleted"
    );
    assert!(left
        .iter()
        .all(|r| r.incident_id.as_deref() != Some(gone.as_str())));
    // A retried batch deletes nothing more and succeeds.
    let r = forward::process(&deps, &event, None).await;
    assert_eq!((r.incidents_removed, r.first_failed), (1, None));
}
