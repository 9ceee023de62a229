//! `vigil runbook apply --retroactive` against DynamoDB Local: open incidents delivered under
//! a runbook without rules, re-evaluated under the example runbook (a scanner's port probe
//! leaves its incident, root credential use becomes HIGH and routed), through the CLI and the
//! library, with concurrent deliveries; a second run changes nothing.

use ingest::Deps;
use serde_json::Value;
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::asff::SeverityLabel;
use vigil_domain::engine::retro::reevaluate_open;
use vigil_domain::incident::Incident;
use vigil_domain::{FindingRecord, IncidentReader, IncidentStatus, Runbook, Settings};
use vigil_e2e::{ddb_endpoint, envelope, example_runbook, fresh_store, process, root};

fn example_event(name: &str) -> Value {
    let p = root().join("examples/findings").join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The example runbook without its rules (and the tests that need them): what was deployed
/// before.
fn without_rules() -> Runbook {
    let text = std::fs::read_to_string(root().join("examples/runbook.yaml")).unwrap();
    let mut v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    let m = v.as_mapping_mut().unwrap();
    m.remove("rules");
    m.remove("tests");
    Runbook::from_yaml(&serde_yaml_ng::to_string(&v).unwrap(), "before").unwrap()
}

fn deps(store: DynamoStore, runbook: Runbook) -> Deps<DynamoStore> {
    Deps {
        store,
        runbook,
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

fn vigil_cli(store: &DynamoStore, ep: &str) -> Option<std::process::Command> {
    vigil_e2e::vigil_cli(store.table(), ep)
}

#[tokio::test]
async fn the_cli_reevaluates_open_incidents_under_a_new_version_once() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "retro").await, without_rules());
    for name in EXAMPLES {
        process(&d, example_event(name)).await.unwrap();
    }
    let before: Vec<Incident> = d.store.list_incidents(true).await.unwrap();
    assert_eq!(before.len(), 2, "{before:#?}");
    let Some(_) = vigil_cli(&d.store, &ep) else {
        return;
    };
    let run = |args: &[&str]| {
        let out = vigil_cli(&d.store, &ep)
            .unwrap()
            .args(["runbook", "apply", "examples/runbook.yaml"])
            .args(args)
            .output()
            .unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };

    // Only on request.
    let (ok, text) = run(&[]);
    assert!(!ok && text.contains("--retroactive"), "{text}");
    // A dry run says what would change and writes nothing.
    let (ok, text) = run(&["--retroactive", "--dry-run"]);
    assert!(ok, "{text}");
    assert!(text.contains("2 would change"), "{text}");
    assert!(text.contains("1 finding would be suppressed"), "{text}");
    assert_eq!(d.store.list_incidents(true).await.unwrap(), before);

    let (ok, text) = run(&["--retroactive"]);
    assert!(ok, "{text}");
    assert!(text.contains("severity LOW -> HIGH"), "{text}");
    assert!(
        text.contains("1 finding suppressed by rule scanner-port-probes"),
        "{text}"
    );

    let recs: Vec<FindingRecord> = d.store.scan_kind("finding").await.unwrap();
    let scanner = recs.iter().find(|r| r.suppressed_by().is_some()).unwrap();
    assert_eq!(scanner.suppressed_by(), Some("scanner-port-probes"));
    assert_eq!(scanner.incident_id, None);
    assert!(
        scanner.explanation.grouping.starts_with("left incident"),
        "{:?}",
        scanner.explanation
    );
    let version = example_runbook().version;
    assert_eq!(scanner.explanation.runbook, version);
    let incidents = d.store.list_incidents(true).await.unwrap();
    assert_eq!(incidents.len(), 2);
    for i in &incidents {
        assert_eq!(i.finding_count, 1, "{i:#?}");
        assert_eq!(i.triage.reevaluated.as_ref().unwrap().runbook, version);
        // Each incident holds exactly the records that name it.
        let members = d.store.findings_of(&i.id).await.unwrap();
        assert_eq!(members.len(), 1);
    }
    let root_inc = incidents
        .iter()
        .find(|i| i.severity == SeverityLabel::High)
        .unwrap();
    assert_eq!(root_inc.triage.route.as_deref(), Some("secops-pager"));
    assert_eq!(root_inc.status, IncidentStatus::Open);

    // `vigil explain` shows the re-evaluation.
    let mut out = Vec::new();
    vigil::explain::explain(&d.store, &root_inc.id, None, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("reevaluated  under runbook version"),
        "{text}"
    );

    // Again: nothing changes.
    let (ok, text) = run(&["--retroactive"]);
    assert!(ok, "{text}");
    assert!(text.contains("0 changed, 2 unchanged"), "{text}");
    assert_eq!(d.store.list_incidents(true).await.unwrap(), incidents);
}

#[tokio::test]
async fn deliveries_racing_a_reevaluation_are_counted_once() {
    let Some(ep) = ddb_endpoint() else { return };
    let store = fresh_store(&ep, "retro-race").await;
    let table = store.table().to_owned();
    let old = std::sync::Arc::new(deps(store, without_rules()));
    // Forty port probes on one instance, from the scanner and elsewhere: more than an incident
    // lists (the rest are indexed) and more than one write of records.
    let probe = |n: u32, scanner: bool| {
        let mut ev = example_event(if scanner {
            "scanner-portprobe-payments-prod.json"
        } else {
            "unknown-portprobe-payments-prod.json"
        });
        let f = &mut ev["detail"]["findings"][0];
        f["Id"] = Value::String(format!("{}-{n}", f["Id"].as_str().unwrap()));
        envelope(&format!("ev-{n}"), vec![f.clone()])
    };
    for n in 0..40 {
        process(&old, probe(n, n % 3 == 0)).await.unwrap();
    }
    let new = std::sync::Arc::new(deps(
        DynamoStore::new(vigil_e2e::client(&ep), table.clone()),
        example_runbook(),
    ));
    // Live deliveries under the new version (new probes and redeliveries) while it runs.
    let mut tasks = Vec::new();
    for n in 30..50 {
        let new = new.clone();
        let ev = probe(n, n % 3 == 0);
        tasks.push(tokio::spawn(
            async move { process(&new, ev).await.unwrap() },
        ));
    }
    let retro = {
        let store = DynamoStore::new(vigil_e2e::client(&ep), table.clone());
        tokio::spawn(async move {
            reevaluate_open(
                &store,
                &example_runbook(),
                &Settings::default(),
                chrono::Utc::now(),
                false,
            )
            .await
            .unwrap()
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    retro.await.unwrap();
    // A last run finishes whatever lost a race; then every count is exact.
    let r = reevaluate_open(
        &new.store,
        &example_runbook(),
        &Settings::default(),
        chrono::Utc::now() + chrono::Duration::minutes(2),
        false,
    )
    .await
    .unwrap();
    assert!(r.skipped.is_empty(), "{r:?}");
    let recs: Vec<FindingRecord> = new.store.scan_kind("finding").await.unwrap();
    let incidents: Vec<Incident> = new.store.scan_kind("incident").await.unwrap();
    let scanner = (0..50).filter(|n| n % 3 == 0).count();
    assert_eq!(recs.len(), 50);
    let in_incidents: u64 = incidents.iter().map(|i| i.finding_count).sum();
    assert_eq!(in_incidents as usize, 50 - scanner, "{incidents:#?}");
    for i in &incidents {
        let members = recs
            .iter()
            .filter(|r| r.incident_id.as_deref() == Some(i.id.as_str()))
            .count();
        assert_eq!(i.finding_count as usize, members, "{}", i.id);
    }
    assert!(recs
        .iter()
        .filter(|r| r.suppressed_by().is_some())
        .all(|r| r.incident_id.is_none()));
}
