//! The incident lifecycle against DynamoDB Local: analysts acknowledge, suppress and reopen
//! through the CLI and Security Hub custom actions (through the ingest handler), each recorded
//! once in the incident's history, racing ingest without losing a finding; the live-incident
//! index lists acknowledged incidents.

use ingest::Deps;
use serde_json::{json, Value};
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::{IncidentReader, IncidentStatus, Settings};
use vigil_e2e::{ddb_endpoint, envelope, example_runbook, fresh_store, gd_finding, process};

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

fn custom_action(event_id: &str, target: &str, finding: Value) -> Value {
    let mut e = envelope(event_id, vec![finding]);
    e["detail-type"] = json!("Security Hub Findings - Custom Action");
    e["resources"] = json!([format!(
        "arn:aws:securityhub:us-east-1:999999999999:action/custom/{target}"
    )]);
    e["detail"]["actionName"] = json!(target);
    e
}

fn cli(store: &DynamoStore, ep: &str) -> Option<std::process::Command> {
    vigil_e2e::vigil_cli(store.table(), ep)
}

#[tokio::test]
async fn analysts_act_from_the_cli_and_security_hub_each_once() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = deps(fresh_store(&ep, "lifecycle").await);
    let f = gd_finding("lc-1", "111111111111", 1, 0, "HIGH");
    process(&d, envelope("ev-imp", vec![f.clone()]))
        .await
        .unwrap();
    let id = d.store.list_incidents(true).await.unwrap()[0].id.clone();
    let Some(mut ack) = cli(&d.store, &ep) else {
        return;
    };
    let out = ack
        .args([
            "incident",
            "ack",
            &id,
            "--by",
            "alice@example.com",
            "--note",
            "looking",
        ])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("OPEN -> ACKNOWLEDGED by alice@example.com"),
        "{text}"
    );
    // Acknowledged incidents are still live: listed with --open.
    let live = d.store.list_incidents(true).await.unwrap();
    assert_eq!(live[0].status, IncidentStatus::Acknowledged);
    // Again: nothing to do, exit 0.
    let out = cli(&d.store, &ep)
        .unwrap()
        .args(["incident", "ack", &id, "--by", "bob"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("already ACKNOWLEDGED"));
    // Suppress without a reason is refused.
    let out = cli(&d.store, &ep)
        .unwrap()
        .args(["incident", "suppress", &id, "--by", "bob"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs a reason"));

    // "Vigil: false alarm" in the console, delivered twice.
    let fp = custom_action("ev-fp", "VigilFalsePositive", f.clone());
    let s = process(&d, fp.clone()).await.unwrap();
    assert_eq!(s.actions_applied, 1);
    let s = process(&d, fp).await.unwrap();
    assert_eq!(s.actions_applied, 0);
    let inc = d.store.list_incidents(false).await.unwrap().remove(0);
    assert_eq!(inc.status, IncidentStatus::Suppressed);
    assert_eq!(inc.history.len(), 2, "{:?}", inc.history);
    assert!(d.store.list_incidents(true).await.unwrap().is_empty());
    // Reopened from the console; `vigil explain` tells the story.
    process(&d, custom_action("ev-re", "VigilReopen", f))
        .await
        .unwrap();
    let mut out = Vec::new();
    vigil::explain::explain(&d.store, &id, None, &mut out)
        .await
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("acknowledged") && text.contains("by alice@example.com"),
        "{text}"
    );
    assert!(
        text.contains("ACKNOWLEDGED -> SUPPRESSED by Security Hub console user"),
        "{text}"
    );
    assert!(text.contains("SUPPRESSED -> OPEN"), "{text}");
}

#[tokio::test]
async fn an_acknowledgement_racing_deliveries_loses_no_finding() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = std::sync::Arc::new(deps(fresh_store(&ep, "lifecycle-race").await));
    process(
        &d,
        envelope(
            "ev-0",
            vec![gd_finding("race-0", "111111111111", 2, 0, "MEDIUM")],
        ),
    )
    .await
    .unwrap();
    let id = d.store.list_incidents(true).await.unwrap()[0].id.clone();
    let mut tasks = Vec::new();
    for n in 1..16 {
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let f = gd_finding(&format!("race-{n}"), "111111111111", 2, n, "MEDIUM");
            process(&d, envelope(&format!("ev-{n}"), vec![f]))
                .await
                .unwrap();
        }));
    }
    for n in 0..4 {
        let (d, id) = (d.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            let actor = vigil_domain::lifecycle::Actor {
                by: format!("analyst{n}"),
                source: "cli".into(),
                reference: None,
            };
            vigil_domain::lifecycle::transition(
                &d.store,
                &id,
                vigil_domain::lifecycle::Action::Acknowledge,
                &actor,
                None,
                chrono::Utc::now(),
                30,
            )
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let inc = d.store.list_incidents(true).await.unwrap().remove(0);
    assert_eq!(inc.finding_count, 16);
    assert_eq!(inc.status, IncidentStatus::Acknowledged);
    assert_eq!(inc.history.len(), 1);
}
