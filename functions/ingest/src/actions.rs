//! Security Hub custom actions ("Vigil: acknowledge", "Vigil: resolve", "Vigil: false
//! positive", "Vigil: reopen"; `make deploy` creates their action targets): the action applies
//! to the incidents of the selected findings, once per event (the event id is the transition's
//! reference, so a redelivered event changes nothing). Such an event does not name the console
//! user; the history records the action and its source.

use chrono::{DateTime, Utc};
use vigil_domain::error::StoreError;
use vigil_domain::finding::finding_key;
use vigil_domain::lifecycle::{transition, Action, Actor, Outcome, TransitionError};
use vigil_domain::{IncidentStore, Settings};

/// Who a custom action's transition is recorded as.
pub const CONSOLE_USER: &str = "Security Hub console user (not named in the event)";

#[derive(serde::Deserialize)]
struct Identifiers<'a> {
    #[serde(rename = "Id", borrow)]
    id: std::borrow::Cow<'a, str>,
    #[serde(rename = "ProductArn", borrow)]
    product_arn: std::borrow::Cow<'a, str>,
}

/// Applies the custom action `target` (its ARN) to the incidents of `findings` (their JSON
/// texts). Returns (applied, refused). Only a store failure is an error (the event is retried;
/// what was applied is not applied again).
pub async fn apply<S: IncidentStore>(
    store: &S,
    settings: &Settings,
    event_id: &str,
    target: &str,
    action_name: Option<&str>,
    findings: &[&str],
    now: DateTime<Utc>,
) -> Result<(usize, usize), StoreError> {
    let Some(action) = Action::from_action_target(target) else {
        tracing::info!(
            event_id,
            target,
            action_name,
            "custom action is not one of Vigil's; its findings were ingested, no incident changed"
        );
        return Ok((0, 0));
    };
    let id = target.rsplit('/').next().unwrap_or(target);
    let keys: Vec<String> = findings
        .iter()
        .filter_map(|raw| serde_json::from_str::<Identifiers>(raw).ok())
        .map(|f| finding_key(&f.product_arn, &f.id))
        .collect();
    let records = store.get_findings(&keys).await?;
    let mut incidents: Vec<String> = Vec::new();
    let mut refused = 0;
    for k in &keys {
        match records.get(k).and_then(|r| r.incident_id.clone()) {
            Some(i) if !incidents.contains(&i) => incidents.push(i),
            Some(_) => {}
            None => {
                refused += 1;
                tracing::warn!(event_id, finding_key = %k, action = action.as_str(),
                    "custom action on a finding that is in no incident (suppressed, archived or not stored); nothing to change");
            }
        }
    }
    let actor = Actor {
        by: CONSOLE_USER.to_owned(),
        source: format!("security-hub-action:{id}"),
        reference: (!event_id.is_empty()).then(|| event_id.to_owned()),
    };
    let note = format!("Security Hub custom action {}", action_name.unwrap_or(id));
    let mut applied = 0;
    for incident_id in &incidents {
        match transition(
            store,
            incident_id,
            action,
            &actor,
            Some(&note),
            now,
            settings.max_attempts,
        )
        .await
        {
            Ok(Outcome::Changed(_)) => applied += 1,
            Ok(Outcome::Unchanged(_)) => {
                tracing::info!(event_id, incident_id = %incident_id, action = action.as_str(), "already done");
            }
            Ok(Outcome::NotFound) => {
                refused += 1;
                tracing::warn!(event_id, incident_id = %incident_id, "custom action on an incident that is no longer stored");
            }
            Err(TransitionError::Refused(e)) => {
                refused += 1;
                tracing::warn!(event_id, incident_id = %incident_id, error = %e, "custom action refused");
            }
            Err(TransitionError::Store(e)) => return Err(e),
        }
    }
    Ok((applied, refused))
}

#[cfg(test)]
mod tests {
    use crate::process;
    use crate::tests::{deps, event, finding};
    use serde_json::json;
    use vigil_domain::IncidentStatus;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn action(id: &str, event_id: &str, target: &str) -> String {
        let mut e = event(
            "Security Hub Findings - Custom Action",
            json!([finding(id)]),
        );
        e["id"] = json!(event_id);
        e["resources"] = json!([format!(
            "arn:aws:securityhub:us-east-1:999999999999:action/custom/{target}"
        )]);
        e["detail"]["actionName"] = json!(format!("Vigil: {target}"));
        e.to_string()
    }

    #[test]
    fn custom_actions_change_the_incidents_of_their_findings_once_per_event() {
        let d = deps();
        let imported = event("Security Hub Findings - Imported", json!([finding("a")]));
        block(process(&d, &imported.to_string())).unwrap();
        let s = block(process(&d, &action("a", "ev-ack", "VigilAcknowledge"))).unwrap();
        assert_eq!((s.actions_applied, s.actions_refused), (1, 0));
        let inc = &d.store.incidents()[0];
        assert_eq!(inc.status, IncidentStatus::Acknowledged);
        let t = inc.history.last().unwrap();
        assert_eq!(t.source, "security-hub-action:VigilAcknowledge");
        assert_eq!(t.by, super::CONSOLE_USER);
        assert_eq!(t.reference.as_deref(), Some("ev-ack"));
        // The same event delivered again: nothing changes.
        let version = inc.version;
        let s = block(process(&d, &action("a", "ev-ack", "VigilAcknowledge"))).unwrap();
        assert_eq!(s.actions_applied, 0);
        assert_eq!(d.store.incidents()[0].version, version);
        // False positive, with the action as its reason; then an ack is refused, not retried.
        block(process(&d, &action("a", "ev-fp", "VigilFalsePositive"))).unwrap();
        let inc = &d.store.incidents()[0];
        assert_eq!(inc.status, IncidentStatus::Suppressed);
        assert!(inc
            .history
            .last()
            .unwrap()
            .why
            .contains("VigilFalsePositive"));
        let s = block(process(&d, &action("a", "ev-ack2", "VigilAcknowledge"))).unwrap();
        assert_eq!((s.actions_applied, s.actions_refused), (0, 1));
        // Someone else's action target: findings ingested, no incident changed.
        let s = block(process(&d, &action("a", "ev-jira", "SendToJira"))).unwrap();
        assert_eq!((s.actions_applied, s.actions_refused), (0, 0));
        // A finding in no incident (archived when first seen).
        let mut e: serde_json::Value =
            serde_json::from_str(&action("zzz", "ev-x", "VigilResolve")).unwrap();
        e["detail"]["findings"][0] = vigil_domain::testing::Asff::guardduty("zzz")
            .set("Id", json!("zzz"))
            .instance("i-77")
            .archived()
            .json();
        let s = block(process(&d, &e.to_string())).unwrap();
        assert_eq!((s.actions_applied, s.actions_refused), (0, 1));
    }
}
