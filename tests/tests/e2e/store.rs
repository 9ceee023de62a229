//! The DynamoDB store and the ingest handler against DynamoDB Local.

use chrono::Utc;
use ingest::{Deps, IngestError};
use serde_json::{json, Value};
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::incident::Incident;
use vigil_domain::ports::{ChangeSet, Expect, Put};
use vigil_domain::{CorrelationHead, FindingRecord};
use vigil_domain::{IncidentReader, IncidentStore, Runbook, Settings, StoreError};
use vigil_e2e::process;
use vigil_e2e::{ddb_endpoint, envelope, fresh_store, gd_finding};

fn deps(store: DynamoStore) -> Deps<DynamoStore> {
    Deps {
        store,
        runbook: Runbook::default(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    }
}

async fn one_incident_state(store: &DynamoStore) -> (Incident, FindingRecord, CorrelationHead) {
    let incs: Vec<Incident> = store.scan_kind("incident").await.unwrap();
    let recs: Vec<FindingRecord> = store.scan_kind("finding").await.unwrap();
    let heads: Vec<CorrelationHead> = store.scan_kind("head").await.unwrap();
    assert_eq!((incs.len(), recs.len(), heads.len()), (1, 1, 1));
    (incs[0].clone(), recs[0].clone(), heads[0].clone())
}

#[tokio::test]
async fn items_round_trip_through_dynamodb_and_conditions_reject_stale_writers() {
    let Some(ep) = ddb_endpoint() else { return };
    let store = fresh_store(&ep, "cond").await;
    let d = deps(store);
    process(
        &d,
        envelope("e1", vec![gd_finding("a", "111111111111", 1, 0, "HIGH")]),
    )
    .await
    .unwrap();
    let (inc, rec, head) = one_incident_state(&d.store).await;
    // Reads by key return exactly what was written.
    let got = d
        .store
        .get_incidents(std::slice::from_ref(&inc.id))
        .await
        .unwrap();
    assert_eq!(got[&inc.id], inc);
    let got = d
        .store
        .get_findings(std::slice::from_ref(&rec.key))
        .await
        .unwrap();
    assert_eq!(got[&rec.key], rec);
    let got = d
        .store
        .get_heads(std::slice::from_ref(&head.key))
        .await
        .unwrap();
    assert_eq!(got[&head.key], head);

    // A second creator of the same incident loses.
    let dup = ChangeSet {
        incidents: vec![Put {
            item: inc.clone(),
            expect: Expect::Absent,
        }],
        ..Default::default()
    };
    assert!(matches!(
        d.store.commit(&dup).await,
        Err(StoreError::Conflict { .. })
    ));
    // A writer holding an old version loses, atomically with the rest of its transaction.
    let mut rec2 = rec.clone();
    rec2.title = "changed".into();
    let stale = ChangeSet {
        findings: vec![Put {
            item: rec2.clone(),
            expect: Expect::Version(rec.version),
        }],
        incidents: vec![Put {
            item: inc.clone(),
            expect: Expect::Version(inc.version + 7),
        }],
        ..Default::default()
    };
    assert!(matches!(
        d.store.commit(&stale).await,
        Err(StoreError::Conflict { .. })
    ));
    let got = d
        .store
        .get_findings(std::slice::from_ref(&rec.key))
        .await
        .unwrap();
    assert_eq!(
        got[&rec.key].title, rec.title,
        "a cancelled transaction writes nothing"
    );
    // The right version wins.
    let mut inc2 = inc.clone();
    inc2.version += 1;
    let ok = ChangeSet {
        findings: vec![Put {
            item: rec2,
            expect: Expect::Version(rec.version),
        }],
        incidents: vec![Put {
            item: inc2,
            expect: Expect::Version(inc.version),
        }],
        ..Default::default()
    };
    d.store.commit(&ok).await.unwrap();
}

#[tokio::test]
async fn a_retried_event_writes_nothing_and_counts_nothing_twice() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "retry").await);
    let ev = envelope(
        "e1",
        vec![
            gd_finding("a", "111111111111", 1, 0, "HIGH"),
            gd_finding("b", "111111111111", 1, 30, "MEDIUM"),
        ],
    );
    let s = process(&d, ev.clone()).await.unwrap();
    assert_eq!((s.new, s.writes), (2, 1));
    let writes = d.store.write_requests();
    let (before, _, _) = {
        let incs: Vec<Incident> = d.store.scan_kind("incident").await.unwrap();
        (incs, (), ())
    };
    let s = process(&d, ev).await.unwrap();
    assert_eq!((s.duplicates, s.writes), (2, 0));
    assert_eq!(
        d.store.write_requests(),
        writes,
        "a duplicate sends no write request"
    );
    let after: Vec<Incident> = d.store.scan_kind("incident").await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after[0].finding_count, 2);
    assert_eq!(after[0].version, 1);
}

#[tokio::test]
async fn an_update_refreshes_the_finding_and_raises_severity_but_an_older_state_is_ignored() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "update").await);
    let v1 = gd_finding("a", "111111111111", 1, 0, "MEDIUM");
    let mut v2 = v1.clone();
    v2["UpdatedAt"] = json!("2026-11-18T02:00:00.000Z");
    v2["LastObservedAt"] = json!("2026-11-18T02:00:00.000Z");
    v2["Severity"] = json!({"Label": "CRITICAL"});
    process(&d, envelope("e1", vec![v1.clone()])).await.unwrap();
    let s = process(&d, envelope("e2", vec![v2])).await.unwrap();
    assert_eq!(s.updated, 1);
    let s = process(&d, envelope("e3", vec![v1])).await.unwrap();
    assert_eq!((s.stale, s.writes), (1, 0));
    let (inc, rec, _) = one_incident_state(&d.store).await;
    assert_eq!(inc.severity.as_str(), "CRITICAL");
    assert_eq!(inc.finding_count, 1);
    assert_eq!(inc.version, 2);
    assert_eq!(rec.severity.as_str(), "CRITICAL");
    assert_eq!(rec.version, 2);
    // Critical raised at 02:00 → 30 min target.
    assert_eq!(
        inc.response_deadline.map(|d| d.to_rfc3339()),
        Some("2026-11-18T02:30:00+00:00".into())
    );
    let stored: Value = serde_json::from_str(&rec.raw).unwrap();
    assert_eq!(
        stored["Severity"]["Label"], "CRITICAL",
        "the stored finding is the newest, intact"
    );
}

#[tokio::test]
async fn bad_input_is_logged_and_skipped_without_losing_the_good_findings_beside_it() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "bad").await);
    let good = |id: &str| gd_finding(id, "111111111111", 7, 0, "HIGH");
    let mut no_id = good("x");
    no_id.as_object_mut().unwrap().remove("Id");
    let mut no_account = good("no-account");
    no_account.as_object_mut().unwrap().remove("AwsAccountId");
    let mut no_severity = good("no-severity");
    no_severity.as_object_mut().unwrap().remove("Severity");
    let mut wrong_types = good("wrong-types");
    wrong_types["Resources"] = json!({"Type": "AwsEc2Instance"});
    let mut bad_time = good("bad-time");
    bad_time["UpdatedAt"] = json!(12345);
    let mut big = good("big-240kb");
    big["Description"] = json!("A".repeat(240 * 1024 - 2048));
    let mut unicode = good("unicode-Ωμέγα-🚨");
    unicode["Title"] = json!("Ключ доступа использован из Tor 🚨 – 不正アクセス");
    let mut unknown_product = good("third-party");
    unknown_product["ProductArn"] =
        json!("arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default");
    unknown_product["Types"] = json!(["Unusual Behaviors/Application"]);
    let batch = vec![
        good("g1"),
        no_id,
        no_account,
        json!("a string"),
        no_severity,
        wrong_types,
        bad_time,
        big,
        unicode,
        unknown_product,
        good("g2"),
    ];
    let s = process(&d, envelope("mixed", batch)).await.unwrap();
    assert_eq!((s.received, s.new, s.invalid), (11, 5, 6));
    let recs: Vec<FindingRecord> = d.store.scan_kind("finding").await.unwrap();
    let mut ids: Vec<String> = recs
        .iter()
        .map(|r| {
            r.finding_id
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["big-240kb", "g1", "g2", "third-party", "unicode-Ωμέγα-🚨"]
    );
    let uni = recs.iter().find(|r| r.finding_id.ends_with("🚨")).unwrap();
    assert_eq!(
        uni.title,
        "Ключ доступа использован из Tor 🚨 – 不正アクセス"
    );

    // Wrong detail-type: ignored; zero findings: fine; not an event: a non-retryable error.
    let mut other = envelope("o", vec![good("g3")]);
    other["detail-type"] = json!("GuardDuty Finding");
    assert!(process(&d, other).await.unwrap().ignored);
    assert_eq!(
        process(&d, envelope("z", vec![])).await.unwrap().received,
        0
    );
    let e = process(&d, json!([1, 2, 3])).await.unwrap_err();
    assert!(matches!(e, IngestError::NotAnEvent(_)) && !e.is_retryable());
}

#[tokio::test]
async fn a_hundred_findings_in_one_event_are_stored_in_a_few_transactions() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "hundred").await);
    let findings: Vec<Value> = (0..100)
        .map(|i| {
            gd_finding(
                &format!("f{i:03}"),
                "222222222222",
                i % 4,
                i as i64,
                if i % 10 == 0 { "HIGH" } else { "LOW" },
            )
        })
        .collect();
    let s = process(&d, envelope("big", findings)).await.unwrap();
    assert_eq!(s.new, 100);
    assert!(s.writes <= 8, "{} writes", s.writes);
    let incs: Vec<Incident> = d.store.scan_kind("incident").await.unwrap();
    assert_eq!(incs.len(), 4);
    assert_eq!(incs.iter().map(|i| i.finding_count).sum::<u64>(), 100);
    // Indexes answer the CLI's questions.
    let open = d.store.list_incidents(true).await.unwrap();
    assert_eq!(open.len(), 4);
    let members = d.store.findings_of(&incs[0].id).await.unwrap();
    assert_eq!(members.len() as u64, incs[0].finding_count);
}

#[tokio::test]
async fn a_missing_table_is_a_non_retryable_store_error() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(DynamoStore::new(vigil_e2e::client(&ep), "no-such-table"));
    let e = process(
        &d,
        envelope("e", vec![gd_finding("a", "111111111111", 1, 0, "HIGH")]),
    )
    .await
    .unwrap_err();
    assert!(!e.is_retryable(), "{e}");
    let _ = Utc::now();
}

/// The DynamoDB delivery ledger and outbox keep the port's semantics (the dispatcher's tests use
/// the in-memory one): idempotent enqueue that raises `queued`, ordered pending entries, the due
/// index, reschedule, complete, dead letters and exclusive leases.
#[tokio::test]
async fn the_dynamodb_outbox_keeps_the_ports_semantics() {
    use chrono::Duration;
    use vigil_aws_dynamodb::DynamoLedger;
    use vigil_domain::ports::{DeadLetter, DeliveryLedger, OutboxEntry};
    let Some(ep) = ddb_endpoint() else { return };
    let store = fresh_store(&ep, "outbox").await;
    let l = DynamoLedger::new(store.client().clone(), store.table(), Duration::days(1));
    // Stored to the millisecond.
    let now = chrono::DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).unwrap();
    let entry = |v: u64, next: i64| OutboxEntry {
        incident_id: "inc-1".into(),
        destination: "splunk".into(),
        version: v,
        payload: format!("{{\"v\":{v}}}").into_bytes(),
        attempts: 1,
        queued_at: now,
        next_attempt_at: now + Duration::seconds(next),
        last_error: Some("503".into()),
    };
    for v in [3, 2] {
        l.enqueue(&entry(v, 60)).await.unwrap();
    }
    l.enqueue(&entry(2, 999)).await.unwrap(); // a retried batch: no change
    let st = l.states(&["inc-1".into()]).await.unwrap()["inc-1"]["splunk"];
    assert_eq!((st.settled, st.queued), (0, 3));
    let pending = l.pending("inc-1", "splunk").await.unwrap();
    assert_eq!(
        pending.iter().map(|e| e.version).collect::<Vec<_>>(),
        [2, 3]
    );
    assert_eq!(
        pending[0],
        entry(2, 60),
        "round-trips; the retry did not overwrite"
    );
    assert!(l.pending("inc-1", "soar").await.unwrap().is_empty());
    // Due: nothing yet; in a minute both, earliest first.
    assert!(l.due(now, 10).await.unwrap().is_empty());
    let due = l.due(now + Duration::seconds(61), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[0].queued_at.timestamp_millis(), now.timestamp_millis());
    // Rescheduled later: no longer due at +61 s.
    let mut e2 = entry(2, 600);
    e2.attempts = 2;
    l.reschedule(&e2).await.unwrap();
    let due = l.due(now + Duration::seconds(61), 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.version).collect::<Vec<_>>(), [3]);
    // Complete settles and removes; twice is harmless; settled never goes down.
    l.complete(&e2).await.unwrap();
    l.complete(&e2).await.unwrap();
    l.settle("inc-1", "splunk", 1).await.unwrap();
    let st = l.states(&["inc-1".into()]).await.unwrap()["inc-1"]["splunk"];
    assert_eq!((st.settled, st.queued), (2, 3));
    l.reschedule(&e2).await.unwrap(); // gone: nothing to reschedule, no error
                                      // A dead letter settles its version and leaves nothing pending.
    let letter = DeadLetter {
        incident_id: "inc-1".into(),
        destination: "splunk".into(),
        version: 3,
        payload: b"{}".to_vec(),
        reason: "HEC 400 code 6: rejected".into(),
        attempts: 4,
        at: now,
    };
    l.dead_letter(&letter).await.unwrap();
    l.dead_letter(&letter).await.unwrap();
    let st = l.states(&["inc-1".into()]).await.unwrap()["inc-1"]["splunk"];
    assert!(!st.has_pending());
    assert!(l.pending("inc-1", "splunk").await.unwrap().is_empty());
    let mut got = l.dead_letters(10).await.unwrap();
    got[0].at = now;
    assert_eq!(got, vec![letter]);
    // One drainer per sink: a live lease excludes others until it expires.
    let until = now + Duration::seconds(90);
    assert!(l.lease("splunk", "a", now, until).await.unwrap());
    assert!(
        l.lease("splunk", "a", now, until).await.unwrap(),
        "renewed by its owner"
    );
    assert!(!l.lease("splunk", "b", now, until).await.unwrap());
    assert!(l.lease("soar", "b", now, until).await.unwrap(), "per sink");
    assert!(l
        .lease("splunk", "b", until, until + Duration::seconds(90))
        .await
        .unwrap());
}
