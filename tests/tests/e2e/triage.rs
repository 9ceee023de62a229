//! Runbook triage against DynamoDB Local: the example runbook's rules through the ingest
//! handler (suppressed findings stored in no incident, severity raised, explanations kept),
//! rule hit counts in the table under concurrent and repeated delivery, and the CLI's
//! `runbook check|test|explain` and `explain`.

use std::process::Command;

use ingest::Deps;
use serde_json::Value;
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::asff::SeverityLabel;
use vigil_domain::incident::Incident;
use vigil_domain::{FindingRecord, IncidentReader, Settings};
use vigil_e2e::{ddb_endpoint, example_runbook, fresh_store, process, root};

fn example_event(name: &str) -> Value {
    let p = root().join("examples/findings").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn deps(store: DynamoStore) -> Deps<DynamoStore> {
    Deps {
        store,
        runbook: example_runbook(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    }
}

const EXAMPLES: [&str; 3] = [
    "scanner-portprobe-payments-prod.json",
    "unknown-portprobe-payments-prod.json",
    "root-credential-payments-prod.json",
];

#[tokio::test]
async fn rules_suppress_raise_and_explain_through_dynamodb() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "triage").await);
    for name in EXAMPLES {
        process(&d, example_event(name)).await.unwrap();
    }
    let recs: Vec<FindingRecord> = d.store.scan_kind("finding").await.unwrap();
    assert_eq!(recs.len(), 3, "a suppressed finding is stored, not dropped");
    let scanner = recs
        .iter()
        .find(|r| r.finding_id.contains("scanner"))
        .unwrap();
    assert_eq!(scanner.suppressed_by(), Some("scanner-port-probes"));
    assert_eq!(scanner.incident_id, None);
    assert!(scanner.explanation.grouping.contains("SEC-2026-14"));
    let root_rec = recs.iter().find(|r| r.finding_id.contains("root")).unwrap();
    assert_eq!(root_rec.severity, SeverityLabel::High);
    assert!(root_rec
        .explanation
        .severity
        .contains("raised from LOW by rule root-credential-production"));

    let incidents: Vec<Incident> = d.store.scan_kind("incident").await.unwrap();
    assert_eq!(incidents.len(), 2, "{incidents:#?}");
    let root_inc = incidents
        .iter()
        .find(|i| Some(&i.id) == root_rec.incident_id.as_ref())
        .unwrap();
    assert_eq!(root_inc.severity, SeverityLabel::High);
    assert_eq!(root_inc.triage.route.as_deref(), Some("secops-pager"));
    assert_eq!(root_inc.triage.notes.len(), 1);
    assert!(
        root_inc
            .triage
            .deadline
            .contains("HIGH in production: respond within 30m"),
        "{:?}",
        root_inc.triage
    );
    // The forwarded payload carries the incident's explanation.
    let payload = vigil_wire::payload::IncidentPayload::new(
        root_inc,
        vigil_wire::payload::classify(None, root_inc).unwrap(),
    );
    let json = serde_json::to_value(&payload).unwrap();
    assert_eq!(json["explanation"]["route"], "secops-pager");
    assert!(json["explanation"]["severity"]
        .as_str()
        .unwrap()
        .contains("root-credential-production"));

    // `vigil explain` on the incident and on the suppressed finding, from the table.
    let mut out = Vec::new();
    assert!(
        vigil::explain::explain(&d.store, &root_inc.id, None, &mut out)
            .await
            .unwrap()
    );
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("route        secops-pager"), "{text}");
    assert!(
        text.contains("rule         root-credential-production matched: set_severity, route, note"),
        "{text}"
    );
    let mut out = Vec::new();
    assert!(
        vigil::explain::explain(&d.store, &scanner.finding_id, None, &mut out)
            .await
            .unwrap()
    );
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("suppressed   by rule scanner-port-probes"),
        "{text}"
    );
    let mut out = Vec::new();
    assert!(
        !vigil::explain::explain(&d.store, "inc-20000101-000000000000", None, &mut out)
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn rule_hits_are_counted_once_per_state_under_concurrent_and_repeated_delivery() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = std::sync::Arc::new(deps(fresh_store(&ep, "hits").await));
    // Each event delivered four times, by four concurrent invocations, twice over.
    for _ in 0..2 {
        let mut tasks = Vec::new();
        for _ in 0..4 {
            for name in EXAMPLES {
                let d = d.clone();
                let ev = example_event(name);
                tasks.push(tokio::spawn(async move { process(&d, ev).await.unwrap() }));
            }
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let stats = d.store.rule_stats().await.unwrap();
    let get = |id: &str| {
        stats
            .iter()
            .find(|s| s.rule == id)
            .cloned()
            .unwrap_or_default()
    };
    let scanner = get("scanner-port-probes");
    assert_eq!(
        (scanner.matches, scanner.actions.get("suppress").copied()),
        (1, Some(1)),
        "{stats:?}"
    );
    assert!(scanner.last_match.is_some());
    let root_rule = get("root-credential-production");
    assert_eq!(root_rule.matches, 1, "{stats:?}");
    assert_eq!(root_rule.actions.get("set_severity").copied(), Some(1));
    // Only the incident item kinds reach the forwarder's stream filter.
    let incidents = d.store.list_incidents(false).await.unwrap();
    assert_eq!(incidents.len(), 2);
}

fn vigil() -> Command {
    let bin = std::env::var("VIGIL_CLI_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root().join("target/debug/vigil"));
    let mut c = Command::new(bin);
    c.current_dir(root());
    c
}

#[test]
fn the_cli_checks_tests_and_explains_runbooks() {
    let bin = root().join("target/debug/vigil");
    if std::env::var("VIGIL_CLI_BIN").is_err() && !bin.exists() {
        assert!(
            std::env::var("VIGIL_REQUIRE_SERVICES").is_err(),
            "target/debug/vigil is required; build the workspace first"
        );
        eprintln!("SKIP: target/debug/vigil not built");
        return;
    }
    let out = vigil()
        .args(["runbook", "check", "examples/runbook.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok (3 rules"), "{text}");

    let out = vigil()
        .args(["runbook", "test", "examples/runbook.yaml"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("4 of 4 tests passed"), "{text}");

    let out = vigil()
        .args([
            "runbook",
            "explain",
            "examples/runbook.yaml",
            "examples/findings/scanner-portprobe-payments-prod.json",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUPPRESSED by scanner-port-probes"), "{text}");

    // A bad runbook: the error names the line, and the exit code is 1.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - id: r\n    description: d\n    owner: o\n    created: 2026-11-01\n    match: { severity: { gte: HIGH, lt: LOW } }\n    actions: { note: x }\n",
    )
    .unwrap();
    let out = vigil()
        .args(["runbook", "check"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("line 6") && text.contains("never match"),
        "{text}"
    );

    // A failing runbook test fails the command.
    let failing = dir.path().join("failing.yaml");
    std::fs::write(
        &failing,
        format!(
            "tests:\n  - name: expects a suppression\n    finding_file: {}\n    expect: {{ suppressed: true }}\n",
            root().join("examples/findings/root-credential-payments-prod.json").display()
        ),
    )
    .unwrap();
    let out = vigil()
        .args(["runbook", "test"])
        .arg(&failing)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("FAIL expects a suppression"), "{text}");
}
