//! The forward function's CloudWatch metrics, as Embedded Metric Format lines on stdout:
//! per stream batch (totals, per sink, per severity) and per drain run (totals, per sink).

use serde_json::{json, Value};
use vigil_delivery::dispatch::DrainReport;
use vigil_delivery::BatchReport;

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
pub fn batch_lines(r: &BatchReport, timestamp_ms: i64) -> Vec<String> {
    let mut out = vec![emf(
        timestamp_ms,
        &[("Function", "forward")],
        &[
            ("RecordsReceived", r.records),
            ("IncidentVersionsForwardable", r.forwardable),
            ("RecordsSkipped", r.skipped),
            ("RecordsMalformed", r.malformed),
            ("IncidentsRemoved", r.incidents_removed),
            ("Queued", r.per_sink.values().map(|s| s.queued).sum()),
            (
                "DeadLettered",
                r.per_sink.values().map(|s| s.dead_lettered).sum(),
            ),
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
                ("Queued", s.queued),
                ("DeadLettered", s.dead_lettered),
                ("StoreErrors", s.store_errors),
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

/// EMF lines of the response clock: per acknowledgement a `TimeToAcknowledge` (seconds) and
/// per breach a `DeadlineBreached` (count), by severity (the `CriticalDeadlineBreachAlarm`
/// watches CRITICAL).
pub fn clock_lines(samples: &[crate::stream::ClockSample], timestamp_ms: i64) -> Vec<String> {
    use vigil_domain::sla::ClockEvent;
    samples
        .iter()
        .map(|c| {
            let sev = c.severity.as_str();
            let (name, unit, value) = match c.event {
                ClockEvent::Acknowledged { seconds } => {
                    ("TimeToAcknowledge", "Seconds", seconds.max(0) as u64)
                }
                ClockEvent::Breached => ("DeadlineBreached", "Count", 1),
            };
            let mut v = json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": "Vigil",
                        "Dimensions": [["Severity"]],
                        "Metrics": [{"Name": name, "Unit": unit}],
                    }]
                },
                "Severity": sev,
                "IncidentId": c.incident_id,
            });
            v[name] = json!(value);
            v.to_string()
        })
        .collect()
}

/// EMF lines of one drain run: totals (due entries, oldest age) and per sink.
pub fn drain_lines(r: &DrainReport, timestamp_ms: i64) -> Vec<String> {
    let mut out = vec![emf(
        timestamp_ms,
        &[("Function", "forward")],
        &[
            ("OutboxDue", r.due),
            ("OutboxPending", r.pending),
            ("OutboxOldestAgeSeconds", r.oldest_age_secs),
            ("OutboxDrainsIncomplete", u64::from(r.incomplete)),
            (
                "DeadLettered",
                r.per_sink.values().map(|s| s.dead_lettered).sum(),
            ),
        ],
    )];
    for (sink, s) in &r.per_sink {
        out.push(emf(
            timestamp_ms,
            &[("Function", "forward"), ("Sink", sink)],
            &[
                ("OutboxDeliveries", s.delivered),
                ("OutboxRescheduled", s.rescheduled),
                ("DeadLettered", s.dead_lettered),
                ("DeliveryFailures", s.failed),
                ("StoreErrors", s.store_errors),
            ],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_delivery::SinkStats;

    #[test]
    fn clock_lines_carry_seconds_and_breaches_by_severity() {
        use crate::stream::ClockSample;
        use vigil_domain::asff::SeverityLabel;
        use vigil_domain::sla::ClockEvent;
        let lines = clock_lines(
            &[
                ClockSample {
                    incident_id: "inc-1".into(),
                    severity: SeverityLabel::Critical,
                    event: ClockEvent::Acknowledged { seconds: 1140 },
                },
                ClockSample {
                    incident_id: "inc-2".into(),
                    severity: SeverityLabel::Critical,
                    event: ClockEvent::Breached,
                },
            ],
            7,
        );
        let v: Vec<Value> = lines
            .iter()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["TimeToAcknowledge"], 1140);
        assert_eq!(
            v[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"],
            "Seconds"
        );
        assert_eq!(v[1]["DeadlineBreached"], 1);
        assert_eq!(v[1]["Severity"], "CRITICAL");
        assert_eq!(
            v[1]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Severity"
        );
        assert_eq!(v[1]["IncidentId"], "inc-2", "a property, not a dimension");
    }

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
        let lines = batch_lines(&r, 1);
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
