//! The `forward` Lambda's handler: a batch of the incident table's stream records in, every
//! forwardable incident version delivered to every configured sink that lacks it, and the
//! partial-batch response out (`ReportBatchItemFailures`), so Lambda retries from the first
//! record some sink did not get.
//!
//! # Layout
//! - [`config`]: [`config::ForwardConfig`] from the environment.
//! - [`stream`]: stream records into forward/skip decisions, and the partial-batch response.
//! - this module: the handler, [`process`] (also used by `vigil forward`) and the metrics.

pub mod config;
pub mod stream;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::event::dynamodb::{Event as DynamoDbEvent, EventRecord};
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use chrono::Utc;
use lambda_runtime::LambdaEvent;
use serde_json::{json, Value};
use vigil_delivery::{BatchReport, Delivery, Dispatcher};
use vigil_domain::ports::FindingCleanup;

use crate::stream::{batch_response, decode, RecordOutcome};

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

pub async fn handle(
    deps: &Deps,
    event: LambdaEvent<DynamoDbEvent>,
) -> Result<DynamoDbEventResponse, lambda_runtime::Diagnostic> {
    let report = process(deps, &event.payload, deadline(&event.context)).await;
    Ok(batch_response(report.first_failed.as_deref()))
}

/// Decodes a batch of stream records, delivers the forwardable incident versions, and deletes
/// the finding records of incidents that left the table.
pub async fn forward_records(
    dispatcher: &Dispatcher,
    cleanup: Option<&dyn FindingCleanup>,
    records: &[EventRecord],
    deadline: Option<Instant>,
) -> BatchReport {
    let mut report = BatchReport {
        records: records.len() as u64,
        ..Default::default()
    };
    let mut deliveries = Vec::new();
    let mut removed: Vec<(usize, String)> = Vec::new();
    for (index, r) in records.iter().enumerate() {
        let item = decode(r);
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
            RecordOutcome::IncidentRemoved(id) => removed.push((index, id)),
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
    let mut report = dispatcher.deliver(deliveries, deadline, report).await;
    for (index, id) in removed {
        let Some(cleanup) = cleanup else {
            report.skipped += 1;
            continue;
        };
        match cleanup.remove_findings_of(&id).await {
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
    report
}

/// The handler without the Lambda envelope (also used by `vigil forward` and `vigil redrive`).
pub async fn process(deps: &Deps, event: &DynamoDbEvent, deadline: Option<Instant>) -> BatchReport {
    let report = forward_records(
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
        for line in emf_lines(&report, Utc::now().timestamp_millis()) {
            println!("{line}");
        }
    }
    report
}

fn emf(timestamp_ms: i64, dims: &[(&str, &str)], metrics: &[(&str, u64)]) -> String {
    let mut v = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Vigil",
                "Dimensions": [dims.iter().map(|(k, _)| *k).collect::<Vec<_>>()],
                "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        },
    });
    for (k, val) in dims {
        v[*k] = Value::from(*val);
    }
    for (n, val) in metrics {
        v[*n] = json!(val);
    }
    v.to_string()
}

/// CloudWatch Embedded Metric Format lines: batch totals, per sink, per severity.
pub fn emf_lines(r: &BatchReport, timestamp_ms: i64) -> Vec<String> {
    let mut out = vec![emf(
        timestamp_ms,
        &[("Function", "forward")],
        &[
            ("RecordsReceived", r.records),
            ("IncidentVersionsForwardable", r.forwardable),
            ("RecordsSkipped", r.skipped),
            ("RecordsMalformed", r.malformed),
            ("BatchesWithFailures", u64::from(r.first_failed.is_some())),
        ],
    )];
    for (sink, s) in &r.per_sink {
        out.push(emf(
            timestamp_ms,
            &[("Function", "forward"), ("Sink", sink)],
            &[
                ("Deliveries", s.delivered),
                ("AlreadyDelivered", s.already_delivered),
                ("DeliveryFailures", s.failed),
                ("DeliveryFailuresRetryable", s.failed_retryable),
                ("DeliveryFailuresConfig", s.failed_config),
                ("DeliveryFailuresData", s.failed_data),
                ("DeliveryRetries", s.retries),
            ],
        ));
    }
    for (sev, n) in &r.by_severity {
        out.push(emf(
            timestamp_ms,
            &[("Function", "forward"), ("Severity", sev)],
            &[("IncidentVersionsForwardable", *n)],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_delivery::SinkStats;

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let mut r = BatchReport {
            records: 3,
            forwardable: 2,
            ..Default::default()
        };
        r.per_sink.insert(
            "splunk".into(),
            SinkStats {
                delivered: 2,
                ..Default::default()
            },
        );
        r.by_severity.insert("HIGH".into(), 2);
        let lines = emf_lines(&r, 1);
        assert_eq!(lines.len(), 3);
        for l in &lines {
            let v: Value = serde_json::from_str(l).unwrap();
            let m = &v["_aws"]["CloudWatchMetrics"][0];
            for d in m["Dimensions"][0].as_array().unwrap() {
                assert!(v[d.as_str().unwrap()].is_string());
            }
            for n in m["Metrics"].as_array().unwrap() {
                assert!(v[n["Name"].as_str().unwrap()].is_number());
            }
        }
        let sink: Value = serde_json::from_str(&lines[1]).unwrap();
        assert_eq!(
            (sink["Sink"].as_str(), sink["Deliveries"].as_u64()),
            (Some("splunk"), Some(2))
        );
    }
}
