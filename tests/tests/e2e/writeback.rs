//! Security Hub write-back against the protocol-level Security Hub fake, driven by the real
//! `aws-sdk-securityhub` client, with DynamoDB Local: notified incidents' findings go to
//! NOTIFIED with Vigil's note and the incident id, a resolved incident's to RESOLVED, batched by
//! 100, through throttling and transient unprocessed findings. The Imported events Security Hub
//! emits for those writes are fed back through ingest and change nothing (no incident version,
//! no record write, nothing to forward); an analyst's own change in the console still counts.

use std::sync::Arc;

use serde_json::{json, Value};
use vigil_aws_dynamodb::{DynamoFindings, DynamoStore};
use vigil_delivery::{Dispatcher, Secrets};
use vigil_domain::asff::WorkflowStatus;
use vigil_domain::incident::IncidentStatus;
use vigil_domain::ports::MemoryLedger;
use vigil_domain::{IncidentReader, IncidentStore, Runbook, Settings};
use vigil_e2e::fakes::securityhub::{SecurityHubFake, ShFault};
use vigil_e2e::{ddb_endpoint, envelope, fresh_store, gd_finding, process, StreamTap};
use vigil_wire::sinks::SinksConfig;

fn deps(store: DynamoStore) -> ingest::Deps<DynamoStore> {
    ingest::Deps {
        store,
        runbook: Runbook::default(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    }
}

/// Everything the table holds that a write could change: each incident's and finding's version.
async fn versions(
    store: &DynamoStore,
    keys: &[String],
) -> (Vec<(String, u64)>, Vec<(String, u64)>) {
    let mut i: Vec<(String, u64)> = store
        .list_incidents(false)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.id, i.version))
        .collect();
    i.sort();
    let mut f: Vec<(String, u64)> = store
        .get_findings(keys)
        .await
        .unwrap()
        .into_values()
        .map(|r| (r.key, r.version))
        .collect();
    f.sort();
    (i, f)
}

fn keys_of(findings: &[Value]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            vigil_domain::finding::finding_key(
                f["ProductArn"].as_str().unwrap(),
                f["Id"].as_str().unwrap(),
            )
        })
        .collect()
}

#[tokio::test]
async fn write_back_follows_incidents_and_its_echo_changes_nothing() {
    let Some(ep) = ddb_endpoint() else { return };
    let sh = SecurityHubFake::start().await;
    let d = deps(fresh_store(&ep, "writeback").await);
    let table = d.store.table().to_owned();
    let sinks = SinksConfig::parse(
        "sinks:\n  - {type: securityhub, name: securityhub, requests_per_second: 10}\nretry: {attempts: 3, base_delay_ms: 1, max_delay_ms: 2}\n",
    )
    .unwrap();
    let dispatcher = Dispatcher::new(
        &sinks,
        &Secrets::local(),
        Arc::new(MemoryLedger::default()),
        Some(Arc::new(DynamoFindings::new(
            vigil_e2e::client(&ep),
            &table,
        ))),
    )
    .unwrap()
    .with_finding_writer(Arc::new(vigil_aws_securityhub::SecurityHub::new(
        sh.client(),
    )));
    let mut tap = StreamTap::default();
    let forward = |records: Vec<aws_lambda_events::event::dynamodb::EventRecord>| {
        let dispatcher = &dispatcher;
        async move {
            let (r, _) = forward::forward_records(dispatcher, None, &records, None).await;
            assert_eq!(r.first_failed, None, "{r:?}");
            r
        }
    };

    // Two findings on one instance (one incident), one on another; a fourth that Security
    // Hub no longer holds (expired): it is reported and left, the others are written.
    let a = gd_finding("wb-a", "111111111111", 1, 0, "HIGH");
    let b = gd_finding("wb-b", "111111111111", 1, 5, "MEDIUM");
    let c = gd_finding("wb-c", "111111111111", 2, 0, "MEDIUM");
    let gone = gd_finding("wb-gone", "111111111111", 1, 6, "LOW");
    for f in [&a, &b, &c] {
        sh.put(f);
    }
    let all = vec![a.clone(), b.clone(), c.clone(), gone.clone()];
    process(&d, envelope("ev-1", all.clone())).await.unwrap();
    forward(tap.records(&d.store).await).await;
    let incidents = d.store.list_incidents(false).await.unwrap();
    assert_eq!(incidents.len(), 2);
    let ab = incidents
        .iter()
        .find(|i| i.finding_count == 3)
        .unwrap()
        .clone();
    for id in ["wb-a", "wb-b", "wb-c"] {
        let f = sh
            .finding(&format!(
                "arn:aws:guardduty:us-east-1:111111111111:detector/d/finding/{id}"
            ))
            .or_else(|| {
                sh.with(|s| {
                    s.findings
                        .values()
                        .find(|v| v["Id"].as_str().unwrap().ends_with(id))
                        .cloned()
                })
            })
            .unwrap();
        assert_eq!(f["Workflow"]["Status"], "NOTIFIED", "{id}: {f}");
        assert_eq!(f["Note"]["UpdatedBy"], "vigil");
        let note = f["Note"]["Text"].as_str().unwrap();
        assert!(
            note.starts_with("[Vigil NOTIFIED] in incident inc-"),
            "{note}"
        );
        assert!(note.contains("respond by"), "{note}");
        assert!(f["UserDefinedFields"]["vigil_incident"]
            .as_str()
            .unwrap()
            .starts_with("inc-"));
    }
    let ab_note = sh.with(|s| {
        s.findings
            .values()
            .find(|v| v["Id"].as_str().unwrap().ends_with("wb-a"))
            .cloned()
            .unwrap()
    });
    assert_eq!(
        ab_note["UserDefinedFields"]["vigil_incident"],
        ab.id.as_str()
    );
    assert!(
        sh.with(|s| s.invalid.is_empty()),
        "{:?}",
        sh.with(|s| s.invalid.clone())
    );

    // Loop-free: Security Hub's Imported events for those writes, fed back (twice): nothing
    // changes and nothing is forwarded.
    let keys = keys_of(&all);
    let before = versions(&d.store, &keys).await;
    let echoes = sh.take_events();
    assert_eq!(echoes.len(), 3);
    for _ in 0..2 {
        for e in &echoes {
            let s = process(&d, e.clone()).await.unwrap();
            assert_eq!((s.new, s.updated, s.duplicates), (0, 0, 1), "{s:?}");
        }
    }
    assert_eq!(versions(&d.store, &keys).await, before, "no write at all");
    assert!(
        tap.records(&d.store).await.is_empty(),
        "no incident version to forward"
    );
    let requests = sh.with(|s| s.requests.len());

    // An analyst resolves finding C in the console (Vigil's note is still on it): it counts,
    // C's incident resolves itself, and the write-back has nothing left to write.
    let mut analyst = echoes
        .iter()
        .map(|e| e["detail"]["findings"][0].clone())
        .find(|f| f["Id"].as_str().unwrap().ends_with("wb-c"))
        .unwrap();
    analyst["Workflow"] = json!({"Status": "RESOLVED"});
    analyst["ProcessedAt"] = json!("2026-11-30T00:00:00.000Z");
    let s = process(&d, envelope("ev-analyst", vec![analyst]))
        .await
        .unwrap();
    assert_eq!(s.updated, 1, "{s:?}");
    let records = tap.records(&d.store).await;
    assert_eq!(records.len(), 1, "C's incident resolved");
    forward(records).await;
    assert_eq!(
        sh.with(|s| s.requests.len()),
        requests,
        "C is RESOLVED already"
    );
    let c_inc = d
        .store
        .list_incidents(false)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id != ab.id)
        .unwrap();
    assert_eq!(c_inc.status, IncidentStatus::Resolved);

    // An analyst resolves the other incident in Vigil: its findings go to RESOLVED.
    vigil_domain::lifecycle::transition(
        &d.store,
        &ab.id,
        vigil_domain::lifecycle::Action::Resolve,
        &vigil_domain::lifecycle::Actor {
            by: "alice".into(),
            source: "cli".into(),
            reference: None,
        },
        Some("contained: instance isolated"),
        chrono::Utc::now(),
        10,
    )
    .await
    .unwrap();
    forward(tap.records(&d.store).await).await;
    let a_now = sh.with(|s| {
        s.findings
            .values()
            .find(|v| v["Id"].as_str().unwrap().ends_with("wb-a"))
            .cloned()
            .unwrap()
    });
    assert_eq!(a_now["Workflow"]["Status"], "RESOLVED");
    assert!(a_now["Note"]["Text"]
        .as_str()
        .unwrap()
        .ends_with("resolved: contained: instance isolated"));
    let before = versions(&d.store, &keys).await;
    for e in sh.take_events() {
        let s = process(&d, e).await.unwrap();
        assert_eq!(s.duplicates, 1, "{s:?}");
    }
    assert_eq!(versions(&d.store, &keys).await, before);
    assert!(tap.records(&d.store).await.is_empty());
    let stored = d
        .store
        .get_findings(&keys_of(std::slice::from_ref(&a)))
        .await
        .unwrap();
    assert_eq!(
        stored.values().next().unwrap().workflow_status,
        WorkflowStatus::New,
        "Vigil's own writes are not taken back in"
    );
}

#[tokio::test]
async fn large_incidents_are_written_in_batches_of_100_through_throttling() {
    let Some(ep) = ddb_endpoint() else { return };
    let sh = SecurityHubFake::start().await;
    let d = deps(fresh_store(&ep, "writeback-big").await);
    let table = d.store.table().to_owned();
    let sinks = SinksConfig::parse(
        "sinks:\n  - {type: securityhub, name: securityhub, requests_per_second: 10}\nretry: {attempts: 3, base_delay_ms: 1, max_delay_ms: 2}\n",
    )
    .unwrap();
    let ledger = Arc::new(MemoryLedger::default());
    let dispatcher = Dispatcher::new(
        &sinks,
        &Secrets::local(),
        ledger.clone(),
        Some(Arc::new(DynamoFindings::new(
            vigil_e2e::client(&ep),
            &table,
        ))),
    )
    .unwrap()
    .with_finding_writer(Arc::new(vigil_aws_securityhub::SecurityHub::new(
        sh.client(),
    )));
    let findings: Vec<Value> = (0..150)
        .map(|i| gd_finding(&format!("wb-big-{i:03}"), "111111111111", 9, i, "HIGH"))
        .collect();
    for f in &findings {
        sh.put(f);
    }
    process(&d, envelope("ev-big", findings.clone()))
        .await
        .unwrap();
    // Throttled twice (the SDK retries), then one finding is busy (tried again alone).
    sh.fault(ShFault::Throttle);
    sh.fault(ShFault::Throttle);
    sh.fault(ShFault::Unprocessed {
        ids: vec![findings[0]["Id"].as_str().unwrap().to_owned()],
        code: "ConcurrentUpdateError".into(),
    });
    let mut tap = StreamTap::default();
    let (r, _) =
        forward::forward_records(&dispatcher, None, &tap.records(&d.store).await, None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    assert_eq!(r.per_sink["securityhub"].delivered, 1, "{r:?}");
    let notified = sh.with(|s| {
        s.findings
            .values()
            .filter(|f| f["Workflow"]["Status"] == "NOTIFIED")
            .count()
    });
    assert_eq!(notified, 150);
    let sizes: Vec<usize> = sh.with(|s| {
        s.requests
            .iter()
            .map(|q| q["FindingIdentifiers"].as_array().unwrap().len())
            .collect()
    });
    assert!(sizes.iter().all(|n| *n <= 100), "{sizes:?}");
    // 2 throttled + 100 (one unprocessed) + 1 retried + 50.
    assert_eq!(sizes, [100, 100, 100, 1, 50], "{sizes:?}");
    assert!(sh.with(|s| s.invalid.is_empty()));

    // Access denied (Security Hub not enabled): the version waits, the sink is parked.
    let inc = d.store.list_incidents(false).await.unwrap().remove(0);
    let mut next = inc.clone();
    next.version += 1;
    next.status = IncidentStatus::Suppressed;
    for _ in 0..4 {
        sh.fault(ShFault::Access);
    }
    let rec = vigil_e2e::incident_record(&next, Some(&inc), 99);
    let (r, _) = forward::forward_records(&dispatcher, None, &[rec], None).await;
    assert_eq!(
        r.first_failed, None,
        "parked in the outbox, not failed: {r:?}"
    );
    assert!(r.per_sink["securityhub"].failed_config >= 1, "{r:?}");
    assert_eq!(ledger.outbox().len(), 1, "the version waits for the drain");
}

#[tokio::test]
async fn findings_a_rule_suppresses_are_suppressed_in_security_hub_once() {
    let Some(ep) = ddb_endpoint() else { return };
    let sh = SecurityHubFake::start().await;
    let mut d = deps(fresh_store(&ep, "writeback-rule").await);
    d.runbook = Runbook::from_yaml(
        r#"
rules:
  - id: lab-backdoor-tests
    description: The red team's C2 simulation in the lab account
    owner: secops@example.com
    created: 2026-11-01
    expires: 2027-11-01
    match: { account_id: "333333333333" }
    actions: { suppress: true }
    reason: Red team exercise RT-7 (scheduled)
"#,
        "t",
    )
    .unwrap();
    let table = d.store.table().to_owned();
    let sinks = SinksConfig::parse("sinks:\n  - {type: securityhub, name: securityhub}\n").unwrap();
    let dispatcher = Dispatcher::new(
        &sinks,
        &Secrets::local(),
        Arc::new(MemoryLedger::default()),
        Some(Arc::new(DynamoFindings::new(
            vigil_e2e::client(&ep),
            &table,
        ))),
    )
    .unwrap()
    .with_finding_writer(Arc::new(vigil_aws_securityhub::SecurityHub::new(
        sh.client(),
    )));
    let lab = gd_finding("wb-lab", "333333333333", 4, 0, "MEDIUM");
    sh.put(&lab);
    let s = process(&d, envelope("ev-lab", vec![lab.clone()]))
        .await
        .unwrap();
    assert_eq!(s.suppressed, 1, "{s:?}");

    // The table's own stream (DynamoDB Local), as the forwarder's event source mapping reads
    // it with the template's filter: the finding item asks for the write-back.
    let arn = vigil_aws_streams::stream_arn(d.store.client(), d.store.table())
        .await
        .unwrap();
    let mut poller = vigil_aws_streams::StreamPoller::new(vigil_e2e::streams_client(&ep), arn);
    let records = poll(&mut poller).await;
    let (r, _) = forward::forward_records(&dispatcher, None, &records, None).await;
    assert_eq!(r.first_failed, None, "{r:?}");
    let f = sh.finding(lab["Id"].as_str().unwrap()).unwrap();
    assert_eq!(f["Workflow"]["Status"], "SUPPRESSED");
    assert_eq!(
        f["Note"]["Text"],
        "[Vigil SUPPRESSED] runbook rule lab-backdoor-tests: Red team exercise RT-7 (scheduled)"
    );
    assert_eq!(f["UserDefinedFields"]["vigil_rule"], "lab-backdoor-tests");
    assert_eq!(sh.with(|s| s.requests.len()), 1);

    // Its echo changes nothing; the provider's next update (Security Hub keeps SUPPRESSED)
    // is stored and asks for nothing more.
    let keys = keys_of(std::slice::from_ref(&lab));
    let before = versions(&d.store, &keys).await;
    for e in sh.take_events() {
        assert_eq!(process(&d, e).await.unwrap().duplicates, 1);
    }
    assert_eq!(versions(&d.store, &keys).await, before);
    let mut next = sh.finding(lab["Id"].as_str().unwrap()).unwrap();
    next["UpdatedAt"] = json!("2026-11-18T02:00:00.000Z");
    let s = process(&d, envelope("ev-lab-2", vec![next])).await.unwrap();
    assert_eq!(s.suppressed + s.updated, 1, "{s:?}");
    let records = poll(&mut poller).await;
    let (r, _) = forward::forward_records(&dispatcher, None, &records, None).await;
    assert_eq!(r.first_failed, None);
    assert_eq!(sh.with(|s| s.requests.len()), 1, "written back once");
}

async fn poll(
    poller: &mut vigil_aws_streams::StreamPoller,
) -> Vec<aws_lambda_events::event::dynamodb::EventRecord> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.extend(poller.poll(100).await.unwrap());
    }
    out
}
