//! The ingest function's CloudWatch metrics, as Embedded Metric Format lines on stdout (no API
//! call): one line per invocation, and one per (severity, environment) seen.

use serde_json::json;

use crate::Summary;

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
        ("FindingsRejected", s.rejected),
        ("FindingsSuppressed", s.suppressed),
        ("RuleHitWritesFailed", usize::from(s.rule_hits_failed)),
        ("RunbookRejected", s.runbook_rejected as usize),
        ("RunbookFetchFailed", s.runbook_fetch_failed as usize),
        ("AccountFactsFailed", s.account_facts_failed as usize),
        ("IncidentsOpened", s.incidents_opened),
        ("IncidentsChanged", s.incidents_changed),
        ("StoreWrites", s.writes as usize),
        ("StoreConflicts", s.conflicts as usize),
        ("EscalationSteps", s.escalation_steps),
        ("EscalationCovered", s.escalation_covered),
        ("QueueCampaigns", s.queue_campaigns),
        ("QueueDigests", s.queue_digests),
        ("QueueItemsWritten", s.queue_written),
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
                ("FindingsSuppressed", c.suppressed),
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

/// EMF records with the `Rule` dimension, one per runbook rule that matched: `RuleMatches` and
/// `RuleSuppressed` (finding states it suppressed).
pub fn emf_rule_lines(s: &Summary, timestamp_ms: i64) -> Vec<String> {
    s.rule_matches
        .iter()
        .map(|(rule, (matches, suppressed))| {
            json!({
                "_aws": {
                    "Timestamp": timestamp_ms,
                    "CloudWatchMetrics": [{
                        "Namespace": "Vigil",
                        "Dimensions": [["Function", "Rule"]],
                        "Metrics": [
                            {"Name": "RuleMatches", "Unit": "Count"},
                            {"Name": "RuleSuppressed", "Unit": "Count"}
                        ],
                    }]
                },
                "Function": "ingest",
                "Rule": rule,
                "RuleMatches": matches,
                "RuleSuppressed": suppressed,
            })
            .to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{process, tests::deps, tests::event, tests::finding};
    use serde_json::Value;

    #[test]
    fn metrics_are_split_by_severity_and_environment() {
        let d = deps();
        let mut prod = finding("f-1");
        prod["AwsAccountId"] = json!("111111111111");
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let s = rt
            .block_on(process(
                &d,
                &event(
                    "Security Hub Findings - Imported",
                    json!([prod.clone(), prod]),
                )
                .to_string(),
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

    #[test]
    fn incidents_opened_counts_incidents_not_the_findings_that_opened_them() {
        let d = deps();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let s = rt
            .block_on(process(
                &d,
                &event(
                    "Security Hub Findings - Imported",
                    json!([finding("f-1"), finding("f-2"), finding("f-3")]),
                )
                .to_string(),
            ))
            .unwrap();
        let lines = emf_class_lines(&s, 1);
        let v: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(
            (v["FindingsNew"].as_u64(), v["IncidentsOpened"].as_u64()),
            (Some(3), Some(1))
        );
        let v: Value = serde_json::from_str(&emf_line(&s, false, 1)).unwrap();
        assert_eq!(v["IncidentsOpened"], 1);
    }
}
