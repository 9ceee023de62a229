//! Escalation against DynamoDB Local: the schedule's tick through the ingest handler finds
//! due incidents through the sparse index, does each step once however many ticks overlap,
//! never after an acknowledgement, and the forwarded version names the route it notifies.

use ingest::Deps;
use serde_json::json;
use vigil_aws_dynamodb::DynamoStore;
use vigil_domain::{IncidentReader, Runbook, Settings};
use vigil_e2e::{ddb_endpoint, envelope, fresh_store, gd_finding, process};

const RB: &str = r#"
accounts:
  "111111111111": { environment: production }
routes:
  pager: {}
  lead: {}
escalation:
  - name: production
    environments: [production]
    steps:
      - { id: page, at: open, route: pager }
      - { id: breach, at: deadline, route: lead }
      - { id: overdue, at: deadline+30m, repeat: 30m, max: 3, route: lead }
"#;

fn deps(store: DynamoStore) -> Deps<DynamoStore> {
    Deps {
        store,
        runbook: Runbook::from_yaml(RB, "t").unwrap(),
        settings: Settings::default(),
        emit_metrics: false,
        live: None,
        facts: None,
    }
}

fn tick(n: u32) -> serde_json::Value {
    json!({"id": format!("tick-{n}"), "source": "vigil.scheduler", "detail-type": "Vigil Escalation", "detail": {}})
}

#[tokio::test]
async fn overlapping_ticks_do_each_step_once_and_stop_at_the_acknowledgement() {
    let Some(ep) = ddb_endpoint() else { return };
    let d = std::sync::Arc::new(deps(fresh_store(&ep, "escalation").await));
    // Findings from 2026-11-18: the deadline is long past, so every step is due at once.
    for (n, inst) in [(1, 1), (2, 2)] {
        let f = gd_finding(&format!("esc-{n}"), "111111111111", inst, 0, "HIGH");
        process(&d, envelope(&format!("ev-{n}"), vec![f]))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for n in 0..4 {
        let d = d.clone();
        tasks.push(tokio::spawn(
            async move { process(&d, tick(n)).await.unwrap() },
        ));
    }
    let mut steps = 0;
    for t in tasks {
        steps += t.await.unwrap().escalation_steps;
    }
    // Per incident: page, breach, and the last overdue reminder (the earlier ones skipped).
    assert_eq!(steps, 6, "each step once across overlapping ticks");
    for i in d.store.list_incidents(true).await.unwrap() {
        let fired: Vec<(String, u32, bool)> = i
            .escalation
            .done
            .iter()
            .map(|s| (s.step.clone(), s.n, s.skipped))
            .collect();
        assert_eq!(
            fired,
            [
                ("page".to_owned(), 1, false),
                ("breach".to_owned(), 1, false),
                ("overdue".to_owned(), 1, true),
                ("overdue".to_owned(), 2, true),
                ("overdue".to_owned(), 3, false)
            ],
            "{}",
            i.id
        );
        assert_eq!(
            i.escalation.next_check, None,
            "nothing left: out of the index"
        );
        let mut notify = i.escalation.notify.clone();
        notify.sort();
        assert_eq!(notify, ["lead", "pager"]);
        // The version is forwarded, naming the routes.
        let p = vigil_wire::payload::IncidentPayload::new(
            &i,
            vigil_wire::payload::Change {
                kind: vigil_wire::payload::ChangeKind::Updated,
                changed: vec!["escalation".into()],
            },
        );
        assert_eq!(p.notify.len(), 2);
    }
    // Another tick: nothing.
    assert_eq!(process(&d, tick(9)).await.unwrap().escalation_steps, 0);

    // A new incident acknowledged before the tick: no step at all.
    let f = gd_finding("esc-3", "111111111111", 3, 0, "HIGH");
    process(&d, envelope("ev-3", vec![f])).await.unwrap();
    let id = d
        .store
        .list_incidents(true)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.escalation.done.is_empty())
        .unwrap()
        .id;
    let actor = vigil_domain::lifecycle::Actor {
        by: "alice".into(),
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
        10,
    )
    .await
    .unwrap();
    assert_eq!(process(&d, tick(10)).await.unwrap().escalation_steps, 0);
    let inc = d
        .store
        .list_incidents(true)
        .await
        .unwrap()
        .into_iter()
        .find(|i| i.id == id)
        .unwrap();
    assert!(inc.escalation.done.is_empty());
}
