//! The `forward` Lambda. Two triggers, one handler:
//! - a batch of the incident table's stream records: every forwardable incident version goes
//!   to every configured sink that lacks it, now or through the outbox; the partial-batch
//!   response (`ReportBatchItemFailures`) names the first record whose fate is not durable (a
//!   store write failed), so Lambda retries from it; then, while time is left, the outbox is
//!   drained;
//! - a schedule (`{"vigil": "drain"}`, every minute): the outbox is drained.
//!
//! # Layout
//! - [`config`]: [`config::ForwardConfig`] from the environment.
//! - [`stream`]: stream records into forward/skip decisions, and the partial-batch response.
//! - [`metrics`]: the EMF lines.
//! - this module: the handler, [`process`] and [`drain`] (also used by `vigil forward`).

pub mod config;
pub mod metrics;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use vigil_delivery::dispatch::DrainReport;
use vigil_delivery::{BatchReport, Delivery, Dispatcher};
use vigil_domain::ports::FindingCleanup;

use crate::stream::{batch_response, decode, ClockSample, RecordOutcome};
use vigil_domain::sla::ClockEvent;

pub struct Deps {
    pub dispatcher: Dispatcher,
    /// Deletes the finding records of incidents that left the table (TTL).
    pub cleanup: Option<Arc<dyn FindingCleanup>>,
    /// Print CloudWatch EMF lines (off in unit tests).
    pub emit_metrics: bool,
}

/// The invocation deadline as an `Instant`.
fn deadline(ctx: &lambda_runtime::Context) -> Option<Instant> {
    let now_ms = Utc::now().timestamp_millis();
    let left = i64::try_from(ctx.deadline).ok()?.checked_sub(now_ms)?;
    (left > 0).then(|| Instant::now() + Duration::from_millis(left.unsigned_abs()))
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deps")
            .field("dispatcher", &self.dispatcher)
            .field("cleanup", &self.cleanup.is_some())
            .finish_non_exhaustive()
    }
}

/// How long a stream invocation drains the outbox after its batch, at most.
const AFTER_BATCH_DRAIN: Duration = Duration::from_secs(20);

/// What invoked the function.
#[derive(Debug)]
pub enum Trigger {
    Stream(DynamoDbEvent),
    /// The schedule (an EventBridge Scheduler or rule target with input `{"vigil": "drain"}`).
    Drain,
}

/// Tells the two triggers apart: a stream batch has `Records`; the schedule sends
/// `{"vigil": "drain"}`.
pub fn trigger(payload: Value) -> Result<Trigger, lambda_runtime::Diagnostic> {
    if payload.get("vigil").and_then(Value::as_str) == Some("drain") {
        return Ok(Trigger::Drain);
    }
    serde_json::from_value::<DynamoDbEvent>(payload)
        .map(Trigger::Stream)
        .map_err(|e| lambda_runtime::Diagnostic {
            error_type: "NonRetryable".into(),
            error_message: format!("neither a DynamoDB stream batch nor a drain request: {e}"),
        })
}

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<Value>,
) -> Result<Value, lambda_runtime::Diagnostic> {
    let deadline = deadline(&event.context);
    let owner = if event.context.request_id.is_empty() {
        format!("forward-{}", uuid_like())
    } else {
        event.context.request_id.clone()
    };
    match trigger(event.payload)? {
        Trigger::Stream(batch) => {
            let report = process(deps, &batch, deadline).await;
            // The outbox drains after the batch for a while; the schedule does the rest.
            let budget = Instant::now() + AFTER_BATCH_DRAIN;
            let drain_deadline = Some(deadline.map_or(budget, |d| d.min(budget)));
            drain(deps, Utc::now(), drain_deadline, &owner).await;
            serde_json::to_value(batch_response(report.first_failed.as_deref())).map_err(|e| {
                lambda_runtime::Diagnostic {
                    error_type: "NonRetryable".into(),
                    error_message: format!("response: {e}"),
                }
            })
        }
        Trigger::Drain => {
            let r = drain(deps, Utc::now(), deadline, &owner).await;
            Ok(json!({ "due": r.due, "incomplete": r.incomplete, "sinks": r.drained_sinks }))
        }
    }
}

/// A run identifier when Lambda gave none (local runs).
fn uuid_like() -> String {
    format!("{:016x}", fastrand::u64(..))
}

/// Drains the outbox: due versions to their sinks, lowest first, under per-sink leases.
pub async fn drain(
    deps: &Deps,
    now: chrono::DateTime<Utc>,
    deadline: Option<Instant>,
    owner: &str,
) -> DrainReport {
    let r = deps.dispatcher.drain(now, deadline, owner).await;
    if r.due > 0 || r.incomplete {
        tracing::info!(due = r.due, incomplete = r.incomplete, oldest_age_secs = r.oldest_age_secs,
            drained = ?r.drained_sinks, leased_elsewhere = ?r.leased_elsewhere,
            per_sink = %serde_json::to_string(&r.per_sink).unwrap_or_default(),
            "outbox drained");
    }
    if deps.emit_metrics {
        for line in metrics::drain_lines(&r, Utc::now().timestamp_millis()) {
            println!("{line}");
        }
    }
    r
}

/// Decodes a batch of stream records, delivers the forwardable incident versions, and deletes
/// the finding records of incidents that left the table.
pub async fn forward_records(
    dispatcher: &Dispatcher,
    cleanup: Option<&dyn FindingCleanup>,
    records: &[EventRecord],
    deadline: Option<Instant>,
) -> (BatchReport, Vec<ClockSample>) {
    let mut report = BatchReport {
        records: records.len() as u64,
        ..Default::default()
    };
    let mut deliveries = Vec::new();
    let mut removed: Vec<(usize, String, Vec<String>)> = Vec::new();
    let mut clock = Vec::new();
    let mut suppressed: Vec<(usize, vigil_domain::FindingRecord)> = Vec::new();
    for (index, r) in records.iter().enumerate() {
        let item = decode(r);
        for c in &item.clock {
            match c.event {
                ClockEvent::Breached => tracing::warn!(incident_id = %c.incident_id,
                    severity = %c.severity, "response deadline breached"),
                ClockEvent::Acknowledged { seconds } => tracing::info!(
                    incident_id = %c.incident_id, severity = %c.severity,
                    time_to_acknowledge_secs = seconds, "incident acknowledged"),
            }
        }
        clock.extend(item.clock);
        match item.outcome {
            RecordOutcome::Forward(p) => {
                *report
                    .by_severity
                    .entry(p.severity.as_str().to_owned())
                    .or_default() += 1;
                deliveries.push(Delivery {
                    index,
                    sequence_number: item.sequence_number,
                    payload: *p,
                    raw_findings: Vec::new(),
                });
            }
            RecordOutcome::IncidentRemoved { id, listed } => removed.push((index, id, listed)),
            RecordOutcome::Suppressed(rec) => suppressed.push((index, *rec)),
            RecordOutcome::Skip(why) => {
                report.skipped += 1;
                tracing::debug!(sequence_number = ?item.sequence_number, reason = why, "record skipped");
            }
            RecordOutcome::Malformed(e) => {
                report.malformed += 1;
                tracing::error!(sequence_number = ?item.sequence_number, event_id = %r.event_id,
                    error = %e, "stream record is not a decodable incident; skipped (retrying cannot fix it)");
            }
        }
    }
    let mut report = dispatcher.forward(deliveries, deadline, report).await;
    // Findings a runbook rule suppressed: written back to Security Hub here. A transient
    // failure retries the stream from that record (the other sinks skip what they have).
    if !suppressed.is_empty() {
        let recs: Vec<&vigil_domain::FindingRecord> = suppressed.iter().map(|(_, r)| r).collect();
        if let Err(at) = dispatcher.write_back_suppressed(&recs).await {
            let seq = records[suppressed[at].0].change.sequence_number.clone();
            let earlier = |a: &str, b: &str| (a.len(), a) < (b.len(), b);
            report.first_failed = match (report.first_failed.take(), seq) {
                (Some(f), Some(s)) => Some(if earlier(&s, &f) { s } else { f }),
                (f, s) => f.or(s),
            };
        }
    }
    for (index, id, listed) in removed {
        let Some(cleanup) = cleanup else {
            report.skipped += 1;
            continue;
        };
        match cleanup.remove_findings_of(&id, &listed).await {
            Ok(n) => {
                report.incidents_removed += 1;
                tracing::info!(incident_id = %id, findings = n, "incident left the table; its finding records were deleted");
            }
            Err(e) => {
                tracing::error!(incident_id = %id, error = %e, retryable = e.is_retryable(),
                    "deleting the finding records of a removed incident failed; the record is retried");
                // Lambda retries from the earliest record not fully handled.
                let seq = records[index].change.sequence_number.clone();
                let earlier = |a: &str, b: &str| (a.len(), a) < (b.len(), b);
                report.first_failed = match (report.first_failed.take(), seq) {
                    (Some(f), Some(s)) => Some(if earlier(&s, &f) { s } else { f }),
                    (f, s) => f.or(s),
                };
            }
        }
    }
    (report, clock)
}

/// The handler without the Lambda envelope (also used by `vigil forward` and `vigil redrive`).
pub async fn process(deps: &Deps, event: &DynamoDbEvent, deadline: Option<Instant>) -> BatchReport {
    let (report, clock) = forward_records(
        &deps.dispatcher,
        deps.cleanup.as_deref(),
        &event.records,
        deadline,
    )
    .await;
    tracing::info!(
        records = report.records,
        forwardable = report.forwardable,
        skipped = report.skipped,
        malformed = report.malformed,
        incidents_removed = report.incidents_removed,
        first_failed = ?report.first_failed,
        per_sink = %serde_json::to_string(&report.per_sink).unwrap_or_default(),
        "stream batch forwarded"
    );
    if deps.emit_metrics {
        let ts = Utc::now().timestamp_millis();
        for line in metrics::batch_lines(&report, ts)
            .into_iter()
            .chain(metrics::clock_lines(&clock, ts))
        {
            println!("{line}");
        }
    }
    report
}
