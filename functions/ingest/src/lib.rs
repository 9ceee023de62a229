//! The `ingest` Lambda: Security Hub findings from EventBridge -> incidents in DynamoDB.
//!
//! `main.rs` is wiring only. [`handle`] is the whole handler: it checks the event is a Security
//! Hub findings event, hands `detail.findings` to the domain engine, logs one line per finding
//! (finding id, account, severity, incident id) and one Embedded Metric Format line per
//! invocation. `vigil replay` calls [`process_event`], the same code, outside Lambda.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use serde_json::{json, Value};
use thiserror::Error;
use vigil_domain::asff::{is_findings_detail_type, FindingsDetail};
use vigil_domain::{BatchReport, IncidentStore, Outcome, Runbook, Settings, StoreError};

/// Everything the handler needs, built once per cold start.
#[derive(Debug)]
pub struct Deps<S> {
    pub store: S,
    pub runbook: Runbook,
    pub settings: Settings,
    /// Print a CloudWatch Embedded Metric Format line per invocation (on in Lambda).
    pub emit_metrics: bool,
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
    pub updated: usize,
    pub duplicates: usize,
    pub incidents_opened: usize,
}

/// The Lambda handler.
pub async fn handle<S: IncidentStore>(
    deps: &Deps<S>,
    event: LambdaEvent<Value>,
) -> Result<Summary, IngestError> {
    let result = process_event(deps, event.payload).await;
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
    }
    result
}

/// Processes one EventBridge event (as JSON).
pub async fn process_event<S: IncidentStore>(
    deps: &Deps<S>,
    payload: Value,
) -> Result<Summary, IngestError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(payload).map_err(|e| IngestError::NotAnEvent(e.to_string()))?;
    let event_id = event.id.clone().unwrap_or_default();
    let detail_type = event.detail_type.clone();
    let mut summary = Summary {
        event_id: event_id.clone(),
        detail_type: detail_type.clone(),
        ..Default::default()
    };
    if !is_findings_detail_type(&detail_type) {
        tracing::warn!(
            event_id,
            detail_type,
            source = event.source,
            "ignoring event that is not a Security Hub findings event"
        );
        summary.ignored = true;
        return Ok(summary);
    }
    let detail: FindingsDetail = match serde_json::from_value(event.detail) {
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
    let report = vigil_domain::ingest_values(
        &deps.store,
        &deps.runbook,
        &deps.settings,
        &detail.findings,
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
    log_outcomes(&event_id, &report);
    summary.new = report.new_findings();
    summary.updated = report.updated();
    summary.duplicates = report.duplicates();
    summary.stale = report.stale();
    summary.invalid = report.invalid();
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
            Outcome::Duplicate | Outcome::Stale => c.duplicates += 1,
            Outcome::Invalid(_) => {}
        }
    }
    tracing::info!(
        event_id,
        received = summary.received,
        new = summary.new,
        updated = summary.updated,
        duplicates = summary.duplicates,
        invalid = summary.invalid,
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
            Outcome::Duplicate => tracing::debug!(
                event_id,
                finding_id,
                account,
                "duplicate delivery; nothing changed"
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

/// One CloudWatch Embedded Metric Format record for an invocation.
pub fn emf_line(s: &Summary, failed: bool, timestamp_ms: i64) -> String {
    let metrics = [
        ("InvocationsFailed", usize::from(failed)),
        ("FindingsReceived", s.received),
        ("FindingsNew", s.new),
        ("FindingsUpdated", s.updated),
        ("FindingsDuplicate", s.duplicates),
        ("FindingsStale", s.stale),
        ("FindingsInvalid", s.invalid),
        ("IncidentsOpened", s.incidents_opened),
        ("IncidentsChanged", s.incidents_changed),
        ("StoreWrites", s.writes as usize),
        ("StoreConflicts", s.conflicts as usize),
    ];
    let mut v = json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Vigil",
                "Dimensions": [["Function"]],
                "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
            }]
        },
        "Function": "ingest",
    });
    for (n, val) in metrics {
        v[n] = json!(val);
    }
    v.to_string()
}

/// EMF records with the `Severity` and `Environment` dimensions (one per pair seen), so
/// dashboards and alarms can split findings and new incidents by them.
pub fn emf_class_lines(s: &Summary, timestamp_ms: i64) -> Vec<String> {
    s.by_severity_environment
        .iter()
        .map(|((sev, env), c)| {
            let metrics = [
                ("FindingsNew", c.new),
                ("FindingsUpdated", c.updated),
                ("FindingsDuplicate", c.duplicates),
                ("IncidentsOpened", c.incidents_opened),
            ];
            let mut v = json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": "Vigil",
                        "Dimensions": [["Function", "Severity", "Environment"]],
                        "Metrics": metrics.iter().map(|(n, _)| json!({"Name": n, "Unit": "Count"})).collect::<Vec<_>>(),
                    }]
                },
                "Function": "ingest",
                "Severity": sev,
                "Environment": env,
            });
            for (n, val) in metrics {
                v[n] = json!(val);
            }
            v.to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_runtime::Context;
    use vigil_domain::MemoryStore;

    fn deps() -> Deps<MemoryStore> {
        Deps {
            store: MemoryStore::new(),
            runbook: Runbook::default(),
            settings: Settings::default(),
            emit_metrics: false,
        }
    }

    fn event(detail_type: &str, findings: Value) -> Value {
        json!({
            "version": "0", "id": "e-1", "detail-type": detail_type,
            "source": "aws.securityhub", "account": "999999999999",
            "time": "2026-11-20T10:00:00Z", "region": "us-east-1", "resources": [],
            "detail": {"findings": findings}
        })
    }

    fn finding(id: &str) -> Value {
        json!({
            "SchemaVersion": "2018-10-08", "Id": id,
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "GeneratorId": "g", "AwsAccountId": "111111111111",
            "Types": ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"],
            "CreatedAt": "2026-11-20T10:00:00Z", "UpdatedAt": "2026-11-20T10:00:00Z",
            "Severity": {"Label": "HIGH"}, "Title": "t", "Description": "d",
            "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-1"}]
        })
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
        let ev = LambdaEvent::new(
            event(
                "Security Hub Findings - Imported",
                json!([finding("a"), finding("b")]),
            ),
            Context::default(),
        );
        let s = block(handle(&d, ev)).unwrap();
        assert_eq!(
            (s.received, s.new, s.incidents_opened, s.writes),
            (2, 2, 1, 1)
        );
        let s = block(process_event(
            &d,
            event(
                "Security Hub Findings - Custom Action",
                json!([finding("a")]),
            ),
        ))
        .unwrap();
        assert_eq!(s.duplicates, 1);
    }

    #[test]
    fn other_detail_types_are_ignored_and_zero_findings_is_fine() {
        let d = deps();
        let s = block(process_event(
            &d,
            event("Security Hub Insight Results", json!([finding("a")])),
        ))
        .unwrap();
        assert!(s.ignored);
        assert!(d.store.incidents().is_empty());
        let s = block(process_event(
            &d,
            event("Security Hub Findings - Imported", json!([])),
        ))
        .unwrap();
        assert_eq!(s.received, 0);
    }

    #[test]
    fn a_payload_that_is_not_an_event_is_a_non_retryable_error() {
        let d = deps();
        let e = block(process_event(&d, json!({"hello": "world"}))).unwrap_err();
        assert!(!e.is_retryable());
        let diag: Diagnostic = e.into();
        assert_eq!(diag.error_type, "NonRetryable");
        let e = block(process_event(&d, json!("just a string"))).unwrap_err();
        assert!(matches!(e, IngestError::NotAnEvent(_)));
    }

    #[test]
    fn a_detail_without_a_findings_list_is_logged_and_skipped() {
        let d = deps();
        let mut ev = event("Security Hub Findings - Imported", json!([]));
        ev["detail"] = json!({"findings": "nope"});
        let s = block(process_event(&d, ev)).unwrap();
        assert_eq!(s.invalid, 1);
    }

    #[test]
    fn metrics_are_split_by_severity_and_environment() {
        let d = deps();
        let mut prod = finding("f-1");
        prod["AwsAccountId"] = json!("111111111111");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let s = rt
            .block_on(process_event(
                &d,
                event(
                    "Security Hub Findings - Imported",
                    json!([prod.clone(), prod]),
                ),
            ))
            .unwrap();
        let lines = emf_class_lines(&s, 1);
        assert_eq!(lines.len(), 1, "{lines:?}");
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["Severity"], "HIGH");
        assert!(v["Environment"].is_string());
        assert_eq!(
            (v["FindingsNew"].as_u64(), v["IncidentsOpened"].as_u64()),
            (Some(1), Some(1))
        );
        assert_eq!(v["FindingsDuplicate"], 1);
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0],
            json!(["Function", "Severity", "Environment"])
        );
    }

    #[test]
    fn emf_lines_declare_every_metric_they_carry() {
        let s = Summary {
            received: 3,
            new: 2,
            duplicates: 1,
            writes: 1,
            ..Default::default()
        };
        let v: Value = serde_json::from_str(&emf_line(&s, false, 1)).unwrap();
        let declared = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for m in declared {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name}");
        }
        assert_eq!(v["FindingsReceived"], 3);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Vigil");
    }
}
