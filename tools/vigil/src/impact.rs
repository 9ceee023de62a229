//! `vigil runbook impact FILE [--since 30d]`: what a runbook version would change, before it is
//! deployed, measured on the findings the table holds: per rule, the finding states it would
//! match, suppress, or give another severity, environment, owner or route than they have now,
//! and which open incidents those findings are in. Read-only.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use chrono::{DateTime, Duration, Utc};
use vigil_domain::engine::normalize_one;
use vigil_domain::{FindingRecord, Incident, Runbook};

/// What one rule would do to the stored findings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RuleImpact {
    pub matches: usize,
    /// Would suppress a finding that is not suppressed now.
    pub newly_suppressed: usize,
    /// Would set a severity other than the one stored.
    pub severity_changed: usize,
    /// Would set another environment, owner or route.
    pub other_changes: usize,
    /// Open incidents holding a finding it would suppress or re-rate.
    pub open_incidents: BTreeSet<String>,
}

/// The whole report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Impact {
    pub findings: usize,
    pub unreadable: usize,
    pub rules: BTreeMap<String, RuleImpact>,
    /// Findings suppressed now that the new version would no longer suppress.
    pub no_longer_suppressed: usize,
}

/// Evaluates `rb` on `records` (those stored since `now - since`) at `now`.
pub fn impact(
    rb: &Runbook,
    records: &[FindingRecord],
    incidents: &BTreeMap<String, Incident>,
    since: Duration,
    now: DateTime<Utc>,
) -> Impact {
    let mut out = Impact::default();
    for r in records.iter().filter(|r| r.ingested_at >= now - since) {
        out.findings += 1;
        let Ok(mut f) = normalize_one(&r.raw, rb) else {
            out.unreadable += 1;
            continue;
        };
        f.triage(rb, now);
        let open = r
            .incident_id
            .as_ref()
            .filter(|id| incidents.get(*id).is_some_and(|i| i.is_live()));
        if r.suppressed_by().is_some() && f.decisions.suppressed.is_none() {
            out.no_longer_suppressed += 1;
        }
        for m in &f.decisions.rules {
            let e = out.rules.entry(m.id.clone()).or_default();
            e.matches += 1;
            let mut serious = false;
            if m.actions.iter().any(|a| a == "suppress") && r.suppressed_by().is_none() {
                e.newly_suppressed += 1;
                serious = true;
            }
            if m.actions.iter().any(|a| a == "set_severity") && f.severity != r.severity {
                e.severity_changed += 1;
                serious = true;
            }
            if m.actions
                .iter()
                .any(|a| a == "set_environment" || a == "set_owner" || a == "route")
            {
                e.other_changes += 1;
            }
            if let (true, Some(id)) = (serious, open) {
                e.open_incidents.insert(id.clone());
            }
        }
    }
    out
}

/// Prints the report.
pub fn print(i: &Impact, out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{} stored finding states evaluated ({} unreadable)",
        i.findings, i.unreadable
    )?;
    writeln!(
        out,
        "{:<32} {:>8} {:>11} {:>9} {:>7}  open incidents affected",
        "rule", "matches", "suppresses", "severity", "other"
    )?;
    for (id, r) in &i.rules {
        let incidents: Vec<&str> = r
            .open_incidents
            .iter()
            .map(String::as_str)
            .take(10)
            .collect();
        writeln!(
            out,
            "{:<32} {:>8} {:>11} {:>9} {:>7}  {}{}",
            id,
            r.matches,
            r.newly_suppressed,
            r.severity_changed,
            r.other_changes,
            incidents.join(" "),
            if r.open_incidents.len() > 10 {
                format!(" (+{})", r.open_incidents.len() - 10)
            } else {
                String::new()
            }
        )?;
    }
    if i.no_longer_suppressed > 0 {
        writeln!(
            out,
            "{} findings suppressed now would no longer be suppressed",
            i.no_longer_suppressed
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_domain::testing::Asff;
    use vigil_domain::{ingest_values, MemoryStore, Settings};

    #[tokio::test]
    async fn impact_counts_what_a_new_version_would_change_on_stored_findings() {
        let store = MemoryStore::new();
        let old = Runbook::default();
        let now = vigil_domain::testing::at_minutes(60);
        let values = vec![
            Asff::guardduty("a").severity("LOW").json(),
            Asff::guardduty("b")
                .severity("MEDIUM")
                .instance("i-2")
                .json(),
            Asff::control("c", "S3.8").json(),
        ];
        ingest_values(&store, &old, &Settings::default(), &values, now)
            .await
            .unwrap();
        let new = Runbook::from_yaml(
            r#"
defaults: { environment: dev }
rules:
  - { id: quiet-low, description: d, owner: o, created: 2026-11-01, match: { severity: LOW },
      actions: { suppress: true }, reason: r }
  - { id: raise-s3, description: d, owner: o, created: 2026-11-01, match: { control_id: S3.8 },
      actions: { set_severity: HIGH }, reason: r }
"#,
            "new",
        )
        .unwrap();
        let incidents: BTreeMap<String, Incident> = store
            .incidents()
            .into_iter()
            .map(|i| (i.id.clone(), i))
            .collect();
        let i = impact(
            &new,
            &store.finding_records(),
            &incidents,
            Duration::days(30),
            now,
        );
        assert_eq!(i.findings, 3);
        assert_eq!(i.rules["quiet-low"].newly_suppressed, 1);
        assert_eq!(i.rules["quiet-low"].open_incidents.len(), 1);
        assert_eq!(i.rules["raise-s3"].severity_changed, 1);
        let mut text = Vec::new();
        print(&i, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("quiet-low"), "{text}");
        // Outside the window: nothing evaluated.
        let later = now + Duration::days(40);
        assert_eq!(
            impact(
                &new,
                &store.finding_records(),
                &incidents,
                Duration::days(30),
                later
            )
            .findings,
            0
        );
    }
}
