//! The incident lifecycle: OPEN -> ACKNOWLEDGED -> RESOLVED, SUPPRESSED (a false positive or
//! accepted risk, with its reason), and reopening. Every change of status, by an analyst or
//! automatic, is one [`Transition`] in the incident's append-only `history`: who, when, why and
//! from where.
//!
//! Analysts act through `vigil incident ack|resolve|suppress|reopen` or Security Hub custom
//! actions ([`Action::from_action_target`]). [`act`] is pure: the caller writes its result
//! conditionally on the version it read, so a retried or replayed action is applied once (an
//! action carrying a reference, such as an event id, that the history already holds is a
//! no-op, and so is asking for the status the incident already has).
//!
//! Automatic transitions (see [`crate::runbook::Lifecycle`]) happen as findings are folded in
//! ([`crate::incident::Incident::apply_at`]).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::incident::{Incident, IncidentStatus};

/// Most transitions an incident keeps; older ones are dropped (and counted) first.
pub const MAX_HISTORY: usize = 100;

/// Longest `by`, `source`, `why` and `reference` kept.
const MAX_FIELD_CHARS: usize = 512;

/// Who changed an incident's status for an automatic transition.
pub const BY_VIGIL: &str = "vigil";

/// An analyst's action on an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Acknowledge,
    Resolve,
    /// A false positive or accepted risk; needs a reason.
    Suppress,
    Reopen,
}

/// The Security Hub action targets `make deploy` creates, by their `Id` (the last part of the
/// action target ARN, `arn:aws:securityhub:<region>:<account>:action/custom/<Id>`).
pub const ACTION_TARGETS: [(&str, Action); 4] = [
    ("VigilAcknowledge", Action::Acknowledge),
    ("VigilResolve", Action::Resolve),
    ("VigilFalsePositive", Action::Suppress),
    ("VigilReopen", Action::Reopen),
];

impl Action {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ack" | "acknowledge" => Some(Self::Acknowledge),
            "resolve" => Some(Self::Resolve),
            "suppress" | "false-positive" => Some(Self::Suppress),
            "reopen" => Some(Self::Reopen),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
            Self::Suppress => "suppress",
            Self::Reopen => "reopen",
        }
    }

    /// The action a Security Hub custom action target stands for, from its ARN.
    pub fn from_action_target(arn: &str) -> Option<Self> {
        let id = arn.rsplit_once("action/custom/")?.1;
        ACTION_TARGETS
            .iter()
            .find(|(t, _)| *t == id)
            .map(|(_, a)| *a)
    }

    fn target(self) -> IncidentStatus {
        match self {
            Self::Acknowledge => IncidentStatus::Acknowledged,
            Self::Resolve => IncidentStatus::Resolved,
            Self::Suppress => IncidentStatus::Suppressed,
            Self::Reopen => IncidentStatus::Open,
        }
    }
}

/// One change of an incident's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    pub at: DateTime<Utc>,
    pub from: IncidentStatus,
    pub to: IncidentStatus,
    /// The analyst (`--by`), [`BY_VIGIL`] for an automatic transition, or the console user
    /// when known (a Security Hub custom action does not name its user).
    pub by: String,
    /// Where it came from: `cli`, `security-hub-action:<Id>`, `ingest`, `runbook-apply`.
    pub source: String,
    /// The analyst's note, a suppression's reason, or what caused an automatic transition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// What requested it, once: a custom action's event id, a CLI request id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// Who asks for a transition, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub by: String,
    pub source: String,
    pub reference: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LifecycleError {
    #[error("incident {incident_id} is {status}: it cannot be {verb}; reopen it first")]
    NotAllowed {
        incident_id: String,
        status: &'static str,
        verb: &'static str,
    },
    #[error("suppressing incident {incident_id} needs a reason (--note)")]
    ReasonRequired { incident_id: String },
}

impl LifecycleError {
    /// Never: the request itself is wrong for the incident's state.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

fn clip(s: &str) -> String {
    crate::bounds::clip(s, MAX_FIELD_CHARS)
}

/// The incident after `action` by `actor` at `now`, or `None` when there is nothing to do (it
/// already has that status, or this very request was applied before). The caller bumps the
/// version and writes it conditionally.
pub fn act(
    inc: &Incident,
    action: Action,
    actor: &Actor,
    note: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Option<Incident>, LifecycleError> {
    if let Some(r) = &actor.reference {
        if inc
            .history
            .iter()
            .any(|t| t.reference.as_deref() == Some(r.as_str()))
        {
            return Ok(None);
        }
    }
    let to = action.target();
    if inc.status == to {
        return Ok(None);
    }
    use IncidentStatus::*;
    let allowed = match action {
        Action::Acknowledge => inc.status == Open,
        Action::Resolve => matches!(inc.status, Open | Acknowledged | Suppressed),
        Action::Suppress => matches!(inc.status, Open | Acknowledged | Resolved),
        Action::Reopen => matches!(inc.status, Resolved | Suppressed),
    };
    if !allowed {
        return Err(LifecycleError::NotAllowed {
            incident_id: inc.id.clone(),
            status: inc.status.as_str(),
            verb: match action {
                Action::Acknowledge => "acknowledged",
                Action::Resolve => "resolved",
                Action::Suppress => "suppressed",
                Action::Reopen => "reopened",
            },
        });
    }
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    if action == Action::Suppress && note.is_none() {
        return Err(LifecycleError::ReasonRequired {
            incident_id: inc.id.clone(),
        });
    }
    let mut next = inc.clone();
    if action == Action::Acknowledge && next.acknowledged_at.is_none() {
        next.acknowledged_at = Some(now);
        next.acknowledged_by = Some(clip(&actor.by));
    }
    next.record(Transition {
        at: now,
        from: inc.status,
        to,
        by: clip(&actor.by),
        source: clip(&actor.source),
        why: note.map(clip).unwrap_or_default(),
        reference: actor.reference.as_deref().map(clip),
    });
    next.status = to;
    // Escalation stops with the wait for an analyst; a reopened incident is looked at again
    // at once (the escalation run computes its next step).
    next.escalation.notify.clear();
    next.escalation.next_check = (to == IncidentStatus::Open).then_some(now);
    Ok(Some(next))
}

impl Incident {
    /// Appends `t` to the history, dropping the oldest beyond [`MAX_HISTORY`].
    pub fn record(&mut self, t: Transition) {
        self.history.push(t);
        if self.history.len() > MAX_HISTORY {
            let over = self.history.len() - MAX_HISTORY;
            self.history.drain(..over);
            self.history_dropped += over as u64;
        }
    }

    /// Whether it still waits for an analyst: open and not acknowledged.
    pub fn awaits_acknowledgement(&self) -> bool {
        self.status == IncidentStatus::Open
    }

    /// Whether an analyst may still act on it (open or acknowledged).
    pub fn is_live(&self) -> bool {
        matches!(
            self.status,
            IncidentStatus::Open | IncidentStatus::Acknowledged
        )
    }
}

/// What [`transition`] did.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Changed and written (the incident as written).
    Changed(Box<Incident>),
    /// Nothing to do: it already had that status, or this request was applied before.
    Unchanged(Box<Incident>),
    NotFound,
}

#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error(transparent)]
    Refused(#[from] LifecycleError),
    #[error(transparent)]
    Store(#[from] crate::error::StoreError),
}

impl TransitionError {
    /// Whether trying again later may succeed (the store was unavailable).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Refused(e) => e.is_retryable(),
            Self::Store(e) => e.is_retryable(),
        }
    }
}

/// Applies `action` to incident `id` in `store`: read, [`act`], write conditionally on the
/// version read, again on a conflicting concurrent write (an ingest folding a finding in, or
/// another analyst), at most `max_attempts` times.
pub async fn transition<S: crate::ports::IncidentStore>(
    store: &S,
    id: &str,
    action: Action,
    actor: &Actor,
    note: Option<&str>,
    now: DateTime<Utc>,
    max_attempts: u32,
) -> Result<Outcome, TransitionError> {
    use crate::error::StoreError;
    use crate::ports::{ChangeSet, Expect, Put};
    for attempt in 0..max_attempts.max(1) {
        let Some(inc) = store.get_incidents(&[id.to_owned()]).await?.remove(id) else {
            return Ok(Outcome::NotFound);
        };
        let Some(mut next) = act(&inc, action, actor, note, now)? else {
            return Ok(Outcome::Unchanged(Box::new(inc)));
        };
        next.version = inc.version + 1;
        next.updated_at = now;
        let c = ChangeSet {
            incidents: vec![Put {
                item: next.clone(),
                expect: Expect::Version(inc.version),
            }],
            ..Default::default()
        };
        match store.commit(&c).await {
            Ok(()) => {
                tracing::info!(incident_id = %id, action = action.as_str(), by = %actor.by,
                    source = %actor.source, from = inc.status.as_str(), to = next.status.as_str(),
                    "incident status changed");
                return Ok(Outcome::Changed(Box::new(next)));
            }
            Err(StoreError::Conflict { .. }) => store.backoff(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Unavailable {
        message: format!("incident {id} kept changing under {max_attempts} attempts"),
        source: None,
    }
    .into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{at_minutes, incident};

    fn alice(reference: Option<&str>) -> Actor {
        Actor {
            by: "alice@example.com".into(),
            source: "cli".into(),
            reference: reference.map(str::to_owned),
        }
    }

    #[test]
    fn ack_resolve_reopen_suppress_each_recorded_once() {
        let inc = incident("f", "t", 1);
        let a = act(
            &inc,
            Action::Acknowledge,
            &alice(None),
            Some("on it"),
            at_minutes(5),
        )
        .unwrap()
        .unwrap();
        assert_eq!(a.status, IncidentStatus::Acknowledged);
        assert_eq!(a.acknowledged_at, Some(at_minutes(5)));
        assert_eq!(a.history.len(), 1);
        assert_eq!(a.history[0].why, "on it");
        // Asking again: nothing to do.
        assert_eq!(
            act(&a, Action::Acknowledge, &alice(None), None, at_minutes(6)),
            Ok(None)
        );
        let r = act(&a, Action::Resolve, &alice(None), None, at_minutes(9))
            .unwrap()
            .unwrap();
        assert_eq!(r.status, IncidentStatus::Resolved);
        assert_eq!(
            act(&r, Action::Acknowledge, &alice(None), None, at_minutes(10)),
            Err(LifecycleError::NotAllowed {
                incident_id: r.id.clone(),
                status: "RESOLVED",
                verb: "acknowledged"
            })
        );
        let o = act(
            &r,
            Action::Reopen,
            &alice(None),
            Some("recurred"),
            at_minutes(11),
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.status, IncidentStatus::Open);
        assert_eq!(
            o.acknowledged_at,
            Some(at_minutes(5)),
            "the first ack is kept"
        );
        assert!(act(
            &o,
            Action::Suppress,
            &alice(None),
            Some("  "),
            at_minutes(12)
        )
        .is_err());
        let s = act(
            &o,
            Action::Suppress,
            &alice(None),
            Some("test traffic"),
            at_minutes(12),
        )
        .unwrap()
        .unwrap();
        let path: Vec<(IncidentStatus, IncidentStatus)> =
            s.history.iter().map(|t| (t.from, t.to)).collect();
        use IncidentStatus::*;
        assert_eq!(
            path,
            [
                (Open, Acknowledged),
                (Acknowledged, Resolved),
                (Resolved, Open),
                (Open, Suppressed)
            ]
        );
    }

    #[test]
    fn a_replayed_request_is_applied_once() {
        let inc = incident("f", "t", 1);
        let r = act(
            &inc,
            Action::Resolve,
            &alice(Some("ev-1")),
            None,
            at_minutes(1),
        )
        .unwrap()
        .unwrap();
        let o = act(
            &r,
            Action::Reopen,
            &alice(Some("ev-2")),
            None,
            at_minutes(2),
        )
        .unwrap()
        .unwrap();
        // ev-1 delivered again after the reopen: not resolved a second time.
        assert_eq!(
            act(
                &o,
                Action::Resolve,
                &alice(Some("ev-1")),
                None,
                at_minutes(3)
            ),
            Ok(None)
        );
    }

    #[test]
    fn the_history_is_bounded_and_counts_what_it_dropped() {
        let mut inc = incident("f", "t", 1);
        for i in 0..(MAX_HISTORY as i64 + 5) {
            let action = if i % 2 == 0 {
                Action::Resolve
            } else {
                Action::Reopen
            };
            inc = act(&inc, action, &alice(None), None, at_minutes(i))
                .unwrap()
                .unwrap();
        }
        assert_eq!(inc.history.len(), MAX_HISTORY);
        assert_eq!(inc.history_dropped, 5);
        assert_eq!(inc.history[0].at, at_minutes(5));
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn concurrent_analysts_and_ingest_each_apply_once() {
        use crate::ports::MemoryStore;
        use crate::testing::Asff;
        use crate::{ingest_values, Runbook, Settings};
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(4)
            .build()
            .unwrap();
        rt.block_on(async {
            let s = std::sync::Arc::new(MemoryStore::new());
            let rb = Runbook::default();
            ingest_values(
                &*s,
                &rb,
                &Settings::default(),
                &[Asff::guardduty("a").json()],
                at_minutes(1),
            )
            .await
            .unwrap();
            let id = s.incidents()[0].id.clone();
            let mut tasks = Vec::new();
            for n in 0..6 {
                let (s1, id) = (s.clone(), id.clone());
                tasks.push(tokio::spawn(async move {
                    let s = s1;
                    let who = Actor {
                        by: format!("analyst{n}"),
                        source: "cli".into(),
                        reference: None,
                    };
                    transition(&*s, &id, Action::Acknowledge, &who, None, at_minutes(2), 30)
                        .await
                        .unwrap()
                }));
                let s = s.clone();
                tasks.push(tokio::spawn(async move {
                    let f = Asff::guardduty(&format!("b{n}")).json();
                    ingest_values(
                        &*s,
                        &Runbook::default(),
                        &Settings::default(),
                        &[f],
                        at_minutes(2),
                    )
                    .await
                    .unwrap();
                    Outcome::NotFound
                }));
            }
            let mut changed = 0;
            for t in tasks {
                if matches!(t.await.unwrap(), Outcome::Changed(_)) {
                    changed += 1;
                }
            }
            assert_eq!(
                changed, 1,
                "one analyst acknowledges; the others find it done"
            );
            let inc = &s.incidents()[0];
            assert_eq!(inc.status, IncidentStatus::Acknowledged);
            assert_eq!(
                inc.finding_count, 7,
                "no finding lost to a racing status write"
            );
            assert_eq!(inc.history.len(), 1);
        });
    }

    #[test]
    fn incidents_resolve_and_reopen_on_their_own_as_the_runbook_says() {
        use crate::ports::MemoryStore;
        use crate::testing::Asff;
        use crate::{ingest_values, Runbook, Settings};
        async fn deliver(s: &MemoryStore, rb: &Runbook, v: serde_json::Value, t: i64) {
            ingest_values(s, rb, &Settings::default(), &[v], at_minutes(t))
                .await
                .unwrap();
        }
        block(async {
            let rb = Runbook::default();
            let s = MemoryStore::new();
            deliver(&s, &rb, Asff::guardduty("a").severity("MEDIUM").json(), 1).await;
            let id = s.incidents()[0].id.clone();
            transition(
                &s,
                &id,
                Action::Acknowledge,
                &alice(None),
                None,
                at_minutes(2),
                3,
            )
            .await
            .unwrap();
            // Archived in GuardDuty: an acknowledged incident resolves on its own.
            let archived = Asff::guardduty("a")
                .severity("MEDIUM")
                .updated("2026-11-20T10:05:00Z")
                .archived()
                .json();
            deliver(&s, &rb, archived, 3).await;
            let inc = &s.incidents()[0];
            assert_eq!(inc.status, IncidentStatus::Resolved);
            let last = inc.history.last().unwrap();
            assert_eq!(
                (last.by.as_str(), last.source.as_str()),
                (BY_VIGIL, "ingest")
            );
            // A new active finding joins within the window: reopened, and the first ack kept.
            deliver(&s, &rb, Asff::guardduty("b").severity("MEDIUM").json(), 4).await;
            let inc = &s.incidents()[0];
            assert_eq!(inc.status, IncidentStatus::Open);
            assert!(inc.history.last().unwrap().why.contains("joined"));
            // A false positive stays one when a finding as severe joins; a more severe one
            // reopens it.
            transition(
                &s,
                &id,
                Action::Suppress,
                &alice(None),
                Some("pen test"),
                at_minutes(5),
                3,
            )
            .await
            .unwrap();
            deliver(&s, &rb, Asff::guardduty("c").severity("MEDIUM").json(), 6).await;
            assert_eq!(s.incidents()[0].status, IncidentStatus::Suppressed);
            deliver(&s, &rb, Asff::guardduty("d").severity("HIGH").json(), 7).await;
            let inc = &s.incidents()[0];
            assert_eq!(inc.status, IncidentStatus::Open);
            assert!(
                inc.history.last().unwrap().why.contains("above the MEDIUM"),
                "{:?}",
                inc.history
            );

            // With auto_resolve off, an incident stays open until an analyst closes it.
            let manual = Runbook::from_yaml("lifecycle: { auto_resolve: false }", "m").unwrap();
            let s = MemoryStore::new();
            deliver(&s, &manual, Asff::guardduty("a").json(), 1).await;
            let archived = Asff::guardduty("a")
                .updated("2026-11-20T10:05:00Z")
                .archived()
                .json();
            deliver(&s, &manual, archived, 2).await;
            let inc = &s.incidents()[0];
            assert_eq!(
                (inc.status, inc.active_finding_count),
                (IncidentStatus::Open, 0)
            );
            assert!(inc.history.is_empty());
        });
    }

    #[test]
    fn a_missing_incident_is_reported_and_a_refusal_is_not_retryable() {
        use crate::ports::MemoryStore;
        block(async {
            let s = MemoryStore::new();
            let r = transition(
                &s,
                "inc-x",
                Action::Resolve,
                &alice(None),
                None,
                at_minutes(1),
                3,
            )
            .await
            .unwrap();
            assert_eq!(r, Outcome::NotFound);
        });
    }

    #[test]
    fn custom_action_targets_name_their_action() {
        assert_eq!(
            Action::from_action_target(
                "arn:aws:securityhub:us-east-1:999999999999:action/custom/VigilAcknowledge"
            ),
            Some(Action::Acknowledge)
        );
        assert_eq!(
            Action::from_action_target(
                "arn:aws:securityhub:us-east-1:999999999999:action/custom/SendToJira"
            ),
            None
        );
        for (id, _) in ACTION_TARGETS {
            assert!(id.len() <= 20 && id.chars().all(|c| c.is_ascii_alphanumeric()));
        }
    }
}
