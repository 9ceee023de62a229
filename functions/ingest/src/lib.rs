//! The `ingest` Lambda: Security Hub findings from EventBridge -> incidents in DynamoDB.
//!
//! `main.rs` is wiring only. [`handle`] is the whole handler: it checks the event is a Security
//! Hub findings event, hands `detail.findings` to the domain engine, logs one line per finding
//! (finding id, account, severity, incident id) and one Embedded Metric Format line per
//! invocation. `vigil replay` calls [`process`], the same code, outside Lambda.
//!
//! # Layout
//! - [`config`]: [`config::IngestConfig`] from the environment.
//! - [`event`]: the EventBridge envelope and findings detail.
//! - [`facts`]: account facts from AWS Organizations, cached with a TTL.
//! - [`live`]: the deployed runbook, kept current from S3 without blocking the hot path.
//! - [`metrics`]: the EMF lines.

pub mod actions;
pub mod config;
pub mod event;
pub mod facts;
pub mod live;
pub mod metrics;

use std::collections::BTreeMap;

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::value::RawValue;
use thiserror::Error;
use vigil_domain::ports::{EscalationIndex, IncidentReader, QueueStore};
use vigil_domain::{BatchReport, IncidentStore, Outcome, Runbook, Settings, StoreError};

use crate::event::{is_findings_detail_type, Envelope};
use crate::metrics::{emf_class_lines, emf_line};

/// Everything the handler needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<S> {
    pub store: S,
    pub runbook: Runbook,
    pub settings: Settings,
    /// Print a CloudWatch Embedded Metric Format line per invocation (on in Lambda).
    pub emit_metrics: bool,
    /// The runbook from its object store, when deployed that way (`VIGIL_RUNBOOK_S3_URI`);
    /// it then takes the place of `runbook`.
    pub live: Option<std::sync::Arc<live::LiveRunbook>>,
    /// Account facts from AWS Organizations, when the runbook asks for them.
    pub facts: Option<std::sync::Arc<facts::AccountFactsCache>>,
}

/// The runbook an invocation uses.
#[derive(Debug)]
pub enum RunbookInForce<'a> {
    Static(&'a Runbook),
    Live(std::sync::Arc<Runbook>),
}

impl std::ops::Deref for RunbookInForce<'_> {
    type Target = Runbook;
    fn deref(&self) -> &Runbook {
        match self {
            Self::Static(r) => r,
            Self::Live(r) => r,
        }
    }
}

impl<S> Deps<S> {
    /// The runbook in force now; with a live runbook, also starts a background check for a
    /// new version when one is due (never waits for it).
    pub fn runbook(&self) -> RunbookInForce<'_> {
        let rb = match &self.live {
            Some(l) => {
                l.poll();
                RunbookInForce::Live(l.current())
            }
            None => RunbookInForce::Static(&self.runbook),
        };
        match &self.facts {
            Some(f) => {
                f.poll();
                // The runbook with the current facts (copied once per new version of either).
                RunbookInForce::Live(f.with_facts(&rb))
            }
            None => rb,
        }
    }
}

#[derive(Debug, Error)]
pub enum IngestError {
    /// DynamoDB was unavailable or a write kept conflicting: Lambda retries the event, which
    /// is safe because ingestion is idempotent.
    #[error("store error: {0}")]
    Store(#[from] StoreError),
    /// The payload is not an EventBridge event at all. Retrying cannot help; after Lambda's
    /// retries it lands in the dead-letter queue for inspection.
    #[error("payload is not an EventBridge event: {0}")]
    NotAnEvent(String),
}

impl IngestError {
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Store(e) => e.is_retryable(),
            Self::NotAnEvent(_) => false,
        }
    }
}

impl From<IngestError> for Diagnostic {
    fn from(e: IngestError) -> Self {
        Diagnostic {
            error_type: if e.is_retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .into(),
            error_message: e.to_string(),
        }
    }
}

/// What one invocation did; also the Lambda's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub event_id: String,
    pub detail_type: String,
    pub ignored: bool,
    pub received: usize,
    pub new: usize,
    pub updated: usize,
    pub duplicates: usize,
    pub stale: usize,
    pub invalid: usize,
    /// Findings the store refused to write (over its limits): skipped, logged, counted.
    pub rejected: usize,
    /// New finding states a runbook rule suppressed (stored, in no incident).
    pub suppressed: usize,
    /// Runbook rules that matched stored finding states: rule id -> (matches, suppressed).
    #[serde(skip)]
    pub rule_matches: BTreeMap<String, (u64, u64)>,
    /// Whether adding this invocation's rule hit counts to the table failed (logged; the
    /// findings themselves are stored).
    #[serde(skip)]
    pub rule_hits_failed: bool,
    /// Runbook versions refused (invalid) and failed reads of the runbook object since the
    /// last invocation.
    #[serde(skip)]
    pub runbook_rejected: u64,
    #[serde(skip)]
    pub runbook_fetch_failed: u64,
    /// Failed reads of account facts from Organizations since the last invocation.
    #[serde(skip)]
    pub account_facts_failed: u64,
    /// Security Hub custom actions applied to incidents, and refused (not allowed in the
    /// incident's status, or the finding is in no incident).
    pub actions_applied: usize,
    pub actions_refused: usize,
    /// An escalation run (the schedule): incidents looked at, step occurrences done.
    pub escalation_examined: usize,
    pub escalation_steps: usize,
    /// Steps due on members a campaign escalates for, or on rolled-up incidents: recorded,
    /// notifying nobody.
    pub escalation_covered: usize,
    /// The queue run of the schedule: campaigns and digests in the queue, stored items written
    /// (opened, changed, closed). A failed run fails the invocation, after escalation ran.
    pub queue_campaigns: usize,
    pub queue_digests: usize,
    pub queue_written: usize,
    pub incidents_opened: usize,
    pub incidents_changed: usize,
    pub writes: u64,
    pub conflicts: u64,
    /// Counts by (severity, environment), for the metrics with those dimensions.
    #[serde(skip)]
    pub by_severity_environment: BTreeMap<(&'static str, &'static str), ClassCounts>,
}

/// Per (severity, environment) counts of one invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassCounts {
    pub new: usize,
    pub suppressed: usize,
    pub updated: usize,
    pub duplicates: usize,
    pub incidents_opened: usize,
}

/// What the handler needs of the store: findings and incidents, the escalation index, and
/// the stored queue (the minute schedule).
pub trait Store: IncidentStore + EscalationIndex + IncidentReader + QueueStore {}
impl<T: IncidentStore + EscalationIndex + IncidentReader + QueueStore> Store for T {}

/// The Lambda handler.
pub async fn handle<S: Store>(
    deps: &Deps<S>,
    event: LambdaEvent<Box<RawValue>>,
) -> Result<Summary, IngestError> {
    let result = process(deps, event.payload.get()).await;
    if deps.emit_metrics {
        let summary = match &result {
            Ok(s) => s.clone(),
            Err(_) => Summary::default(),
        };
        let now = Utc::now().timestamp_millis();
        println!("{}", emf_line(&summary, result.is_err(), now));
        for line in emf_class_lines(&summary, now) {
            println!("{line}");
        }
        for line in crate::metrics::emf_rule_lines(&summary, now) {
            println!("{line}");
        }
    }
    result
}

/// Processes one EventBridge event (its JSON text).
pub async fn process<S: Store>(deps: &Deps<S>, payload: &str) -> Result<Summary, IngestError> {
    let mut event = Envelope::parse(payload).map_err(|e| IngestError::NotAnEvent(e.to_string()))?;
    let findings = event.findings();
    let event_id = event.id.as_deref().unwrap_or_default();
    let detail_type = event.detail_type.as_ref();
    let mut summary = Summary {
        event_id: event_id.to_owned(),
        detail_type: detail_type.to_owned(),
        ..Default::default()
    };
    if detail_type == crate::event::DETAIL_TYPE_ESCALATION {
        // The minute schedule: the queue's campaigns and digests stored, then the escalation
        // steps due now, once each (once per campaign).
        let rb = deps.runbook();
        let (queue, escalation) = vigil_domain::queue_store::minute(
            &deps.store,
            &rb,
            Utc::now(),
            deps.settings.max_attempts,
        )
        .await;
        match &queue {
            Ok(q) => {
                summary.queue_campaigns = q.campaigns;
                summary.queue_digests = q.digests;
                summary.queue_written = q.opened + q.changed + q.closed;
                tracing::info!(
                    event_id,
                    campaigns = q.campaigns,
                    digests = q.digests,
                    incidents = q.incidents,
                    opened = q.opened,
                    changed = q.changed,
                    closed = q.closed,
                    marked = q.marked,
                    conflicts = q.conflicts,
                    "queue run"
                );
            }
            Err(e) => {
                tracing::error!(event_id, error = %e, retryable = e.is_retryable(),
                    "queue run failed; escalation ran without campaigns and the next run retries");
            }
        }
        let r = escalation
            .inspect_err(|e| tracing::error!(event_id, error = %e, retryable = e.is_retryable(), "escalation run failed; the next run retries"))?;
        summary.escalation_steps = r.steps;
        summary.escalation_examined = r.examined;
        summary.escalation_covered = r.covered;
        tracing::info!(
            event_id,
            examined = r.examined,
            steps = r.steps,
            covered = r.covered,
            refreshed = r.refreshed,
            conflicts = r.conflicts,
            "escalation run"
        );
        if let Err(e) = queue {
            return Err(e.into());
        }
        return Ok(summary);
    }
    if !is_findings_detail_type(detail_type) {
        tracing::warn!(
            event_id,
            detail_type,
            source = event.source.as_ref(),
            "ignoring event that is not a Security Hub findings event"
        );
        summary.ignored = true;
        return Ok(summary);
    }
    let detail = match findings {
        Ok(d) => d,
        Err(e) => {
            // A findings event whose detail has no findings list: nothing can be recovered.
            tracing::error!(event_id, error = %e, "event detail is not a findings detail; skipping event");
            summary.invalid = 1;
            return Ok(summary);
        }
    };
    summary.received = detail.findings.len();
    if detail.findings.is_empty() {
        tracing::warn!(event_id, "findings event with no findings");
        return Ok(summary);
    }
    let findings: Vec<&str> = detail.findings.iter().map(|f| f.get()).collect();
    let runbook = deps.runbook();
    if let Some(l) = &deps.live {
        (summary.runbook_rejected, summary.runbook_fetch_failed) = l.take_counters();
    }
    if let Some(f) = &deps.facts {
        summary.account_facts_failed = f.take_failed();
    }
    let report = vigil_domain::ingest_raw(
        &deps.store,
        &runbook,
        &deps.settings,
        &findings,
        Utc::now(),
    )
    .await
    .inspect_err(|e| {
        if e.is_retryable() {
            tracing::error!(event_id, error = %e, retryable = true, "store failure; Lambda will retry the event");
        } else {
            tracing::error!(event_id, error = %e, retryable = false, "store rejected the request; the event goes to the dead-letter queue after Lambda's retries");
        }
    })?;
    log_outcomes(event_id, &report);
    if detail_type == crate::event::DETAIL_TYPE_CUSTOM_ACTION {
        let target = event.resources.first().map(|r| r.as_ref()).unwrap_or("");
        let (applied, refused) = crate::actions::apply(
            &deps.store,
            &deps.settings,
            event_id,
            target,
            detail.action_name.as_deref(),
            &findings,
            Utc::now(),
        )
        .await?;
        summary.actions_applied = applied;
        summary.actions_refused = refused;
    }
    if !report.rule_hits.is_empty() {
        // Statistics: a failure here is logged and counted, never a reason to retry the
        // event (its findings are stored; a retry would find them all duplicates).
        if let Err(e) = deps
            .store
            .record_rule_hits(&report.rule_hits, Utc::now())
            .await
        {
            tracing::error!(event_id, error = %e, rules = report.rule_hits.len(),
                "could not add runbook rule hit counts; the findings are stored");
            summary.rule_hits_failed = true;
        }
        for (id, h) in &report.rule_hits {
            let suppressed = h.actions.get("suppress").copied().unwrap_or(0);
            summary
                .rule_matches
                .insert(id.clone(), (h.matches, suppressed));
        }
    }
    summary.new = report.new_findings();
    summary.updated = report.updated();
    summary.duplicates = report.duplicates();
    summary.stale = report.stale();
    summary.invalid = report.invalid();
    summary.rejected = report.rejected();
    summary.suppressed = report.suppressed();
    summary.incidents_opened = report.incidents_opened.len();
    summary.incidents_changed = report.incidents_changed.len();
    summary.writes = report.writes;
    summary.conflicts = report.conflicts;
    for o in &report.outcomes {
        let (Some(sev), Some(env)) = (o.severity, o.environment) else {
            continue;
        };
        let c = summary
            .by_severity_environment
            .entry((sev.as_str(), env))
            .or_default();
        match &o.outcome {
            Outcome::New { opened, .. } => {
                c.new += 1;
                c.incidents_opened += usize::from(*opened);
            }
            Outcome::Updated { .. } => c.updated += 1,
            Outcome::Suppressed { .. } => c.suppressed += 1,
            Outcome::Duplicate | Outcome::Refreshed | Outcome::Stale => c.duplicates += 1,
            Outcome::Invalid(_) | Outcome::Rejected(_) => {}
        }
    }
    tracing::info!(
        event_id,
        received = summary.received,
        new = summary.new,
        updated = summary.updated,
        duplicates = summary.duplicates,
        invalid = summary.invalid,
        rejected = summary.rejected,
        suppressed = summary.suppressed,
        incidents_opened = summary.incidents_opened,
        writes = summary.writes,
        "event processed"
    );
    Ok(summary)
}

fn log_outcomes(event_id: &str, report: &BatchReport) {
    for o in &report.outcomes {
        let finding_id = o.finding_id.as_deref().unwrap_or("<no Id>");
        let account = o.account_id.as_deref().unwrap_or("<unknown>");
        let severity = o.severity.map(|s| s.as_str()).unwrap_or("");
        match &o.outcome {
            Outcome::New {
                incident_id,
                opened,
            } => tracing::info!(
                event_id,
                finding_id,
                account,
                severity,
                incident_id = incident_id.as_deref().unwrap_or(""),
                opened_incident = *opened,
                "new finding"
            ),
            Outcome::Updated { incident_id } => tracing::info!(
                event_id,
                finding_id,
                account,
                severity,
                incident_id = incident_id.as_deref().unwrap_or(""),
                "finding updated"
            ),
            Outcome::Suppressed { rule } => tracing::info!(
                event_id,
                finding_id,
                account,
                severity,
                rule = rule.as_str(),
                "finding suppressed by a runbook rule; stored in no incident"
            ),
            Outcome::Duplicate => tracing::debug!(
                event_id,
                finding_id,
                account,
                "duplicate delivery; nothing changed"
            ),
            Outcome::Refreshed => tracing::debug!(
                event_id,
                finding_id,
                account,
                "same state delivered later; its ProcessedAt advanced"
            ),
            Outcome::Rejected(e) => tracing::error!(
                event_id,
                finding_id,
                account,
                error = %e,
                "the store rejected this finding; skipped"
            ),
            Outcome::Stale => tracing::info!(
                event_id,
                finding_id,
                account,
                "older state than stored; ignored"
            ),
            Outcome::Invalid(e) => tracing::error!(
                event_id, finding_id, account,
                field = e.field(),
                error = %e,
                "malformed finding skipped"
            ),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use lambda_runtime::Context;
    use serde_json::{json, Value};
    use vigil_domain::MemoryStore;

    pub(crate) fn deps() -> Deps<MemoryStore> {
        Deps {
            store: MemoryStore::new(),
            runbook: Runbook::default(),
            settings: Settings::default(),
            emit_metrics: false,
            live: None,
            facts: None,
        }
    }

    pub(crate) fn event(detail_type: &str, findings: Value) -> Value {
        let list = findings.as_array().cloned().unwrap_or_default();
        let mut e = vigil_domain::testing::event("e-1", detail_type, list);
        e["detail"]["findings"] = findings;
        e
    }

    pub(crate) fn finding(id: &str) -> Value {
        vigil_domain::testing::Asff::guardduty(id)
            .set("Id", json!(id))
            .json()
    }

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn the_handler_ingests_a_findings_event_and_reports_what_it_did() {
        let d = deps();
        let text = event(
            "Security Hub Findings - Imported",
            json!([finding("a"), finding("b")]),
        )
        .to_string();
        let ev = LambdaEvent::new(
            serde_json::from_str::<Box<RawValue>>(&text).unwrap(),
            Context::default(),
        );
        let s = block(handle(&d, ev)).unwrap();
        assert_eq!(
            (s.received, s.new, s.incidents_opened, s.writes),
            (2, 2, 1, 1)
        );
        let s = block(process(
            &d,
            &event(
                "Security Hub Findings - Custom Action",
                json!([finding("a")]),
            )
            .to_string(),
        ))
        .unwrap();
        assert_eq!(s.duplicates, 1);
    }

    #[test]
    fn other_detail_types_are_ignored_and_zero_findings_is_fine() {
        let d = deps();
        let s = block(process(
            &d,
            &event("Security Hub Insight Results", json!([finding("a")])).to_string(),
        ))
        .unwrap();
        assert!(s.ignored);
        assert!(d.store.incidents().is_empty());
        let s = block(process(
            &d,
            &event("Security Hub Findings - Imported", json!([])).to_string(),
        ))
        .unwrap();
        assert_eq!(s.received, 0);
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_a_non_retryable_error() {
        let d = deps();
        let e = block(process(&d, r#"{"hello": "world"}"#)).unwrap_err();
        assert!(!e.is_retryable());
        let diag: Diagnostic = e.into();
        assert_eq!(diag.error_type, "NonRetryable");
        let e = block(process(&d, r#""just a string""#)).unwrap_err();
        assert!(matches!(e, IngestError::NotAnEvent(_)));
    }

    #[test]
    fn a_detail_without_a_findings_list_is_logged_and_skipped() {
        let d = deps();
        let mut ev = event("Security Hub Findings - Imported", json!([]));
        ev["detail"] = json!({"findings": "nope"});
        let s = block(process(&d, &ev.to_string())).unwrap();
        assert_eq!(s.invalid, 1);
    }
}
