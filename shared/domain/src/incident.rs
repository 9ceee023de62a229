//! The incident model and the pure rules that fold finding states into incidents.
//!
//! Rules (all in event time, so that a replay gives the same incidents as live processing):
//! - a finding joins an incident of its correlation key when its event time is within the
//!   window of the incident's first and last seen times (see [`crate::correlate`]); otherwise
//!   an active finding opens a new incident; an inactive (archived, resolved, suppressed)
//!   finding never opens one;
//! - severity is the highest among the incident's active findings' states, and never decreases;
//! - the response deadline is the earliest of `start + target(severity, environment)` over the
//!   states folded in, where `start` is the finding's `CreatedAt`, or the `UpdatedAt` of the
//!   update that raised its severity. A raise can only move the deadline earlier.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::asff::SeverityLabel;
use crate::correlate::IncidentWindow;
use crate::enrich::{RemediationAdvice, RemediationSource};
use crate::finding::{clip_title, short_hash, FindingRecord, NormalizedFinding};
use crate::runbook::{Environment, HumanDuration, Runbook};

/// Most entries kept in an incident's `finding_types`, `tactics` and `products`.
pub const MAX_LIST_ENTRIES: usize = 256;

fn insert_capped(set: &mut BTreeSet<String>, value: &str) {
    if set.len() < MAX_LIST_ENTRIES && !set.contains(value) {
        set.insert(value.to_owned());
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    /// At least one of its findings is active.
    Open,
    /// All its findings are archived, resolved or suppressed.
    Resolved,
}

impl IncidentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Resolved => "RESOLVED",
        }
    }
}

/// The finding an incident is named after: the most severe, earliest, then smallest key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadFinding {
    pub key: String,
    pub finding_id: String,
    pub severity: SeverityLabel,
    pub event_time: DateTime<Utc>,
    pub title: String,
    pub finding_type: String,
    pub remediation: RemediationAdvice,
}

impl LeadFinding {
    fn beats(&self, other: &LeadFinding) -> bool {
        (
            other.severity,
            std::cmp::Reverse(other.event_time),
            std::cmp::Reverse(&other.key),
        ) < (
            self.severity,
            std::cmp::Reverse(self.event_time),
            std::cmp::Reverse(&self.key),
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub status: IncidentStatus,
    pub severity: SeverityLabel,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_deadline: Option<DateTime<Utc>>,
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    pub environment: Environment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub correlation_key: String,
    pub correlation_reason: String,
    pub entity: String,
    pub finding_count: u64,
    pub active_finding_count: u64,
    pub finding_types: BTreeSet<String>,
    pub tactics: BTreeSet<String>,
    pub products: BTreeSet<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub lead: LeadFinding,
    /// Wall-clock time Vigil opened the incident.
    pub created_at: DateTime<Utc>,
    /// Wall-clock time of the last material change.
    pub updated_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn lead_of(f: &NormalizedFinding) -> LeadFinding {
    LeadFinding {
        key: f.key.clone(),
        finding_id: f.finding.id.to_string(),
        severity: f.severity,
        event_time: f.finding.event_time(),
        title: clip_title(&f.finding.title),
        finding_type: f.finding_type.clone(),
        remediation: f.remediation.clone(),
    }
}

/// Deterministic incident id from its correlation key and the finding that opened it, so a
/// retried or concurrent invocation names the same incident the same way.
pub fn incident_id(correlation_key: &str, opening_finding_key: &str, at: DateTime<Utc>) -> String {
    format!(
        "inc-{}-{}",
        at.format("%Y%m%d"),
        short_hash(&[correlation_key, opening_finding_key], 12)
    )
}

impl Incident {
    /// Opens an incident from its first finding.
    pub fn open(
        f: &NormalizedFinding,
        runbook: &Runbook,
        now: DateTime<Utc>,
        retention: Duration,
    ) -> Self {
        let window = runbook.window();
        let reason = format!(
            "same account {}{} and {}, each finding within {} of the incident's other findings",
            f.account.account_id,
            f.account
                .name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            f.entity.label,
            HumanDuration(window),
        );
        let mut inc = Incident {
            id: incident_id(&f.correlation_key, &f.key, f.finding.event_time()),
            version: 0,
            title: clip_title(&f.finding.title),
            status: IncidentStatus::Open,
            severity: f.severity,
            response_deadline: None,
            account_id: f.account.account_id.clone(),
            account_name: f.account.name.clone(),
            environment: f.account.environment,
            owner: f.account.owner.clone(),
            correlation_key: f.correlation_key.clone(),
            correlation_reason: reason,
            entity: f.entity.label.clone(),
            finding_count: 0,
            active_finding_count: 0,
            finding_types: BTreeSet::new(),
            tactics: BTreeSet::new(),
            products: BTreeSet::new(),
            first_seen: f.finding.event_time(),
            last_seen: f.finding.last_event_time(),
            lead: lead_of(f),
            created_at: now,
            updated_at: now,
            expires_at: now + retention,
        };
        // The opening finding is folded in by the caller through `apply`, like any other.
        inc.severity = SeverityLabel::Informational;
        inc
    }

    pub fn window(&self) -> IncidentWindow {
        IncidentWindow {
            incident_id: self.id.clone(),
            first_seen: self.first_seen,
            last_seen: self.last_seen,
        }
    }

    /// Folds one finding state into the incident. `prev` is the finding's previous stored state,
    /// if any. Returns whether anything an analyst sees changed.
    pub fn apply(
        &mut self,
        prev: Option<&FindingRecord>,
        f: &NormalizedFinding,
        runbook: &Runbook,
    ) -> bool {
        let before = self.clone();
        let active = f.is_active();
        let member_before = prev.is_some_and(|p| p.incident_id.as_deref() == Some(&self.id));
        if member_before {
            let was_active = prev.is_some_and(FindingRecord::is_active);
            match (was_active, active) {
                (false, true) => self.active_finding_count += 1,
                (true, false) => {
                    self.active_finding_count = self.active_finding_count.saturating_sub(1)
                }
                _ => {}
            }
        } else {
            self.finding_count += 1;
            if active {
                self.active_finding_count += 1;
            }
        }
        insert_capped(&mut self.finding_types, &f.finding_type);
        if let Some(t) = f.tactic {
            insert_capped(&mut self.tactics, t);
        }
        insert_capped(
            &mut self.products,
            &crate::bounds::clip(f.finding.product(), crate::bounds::MAX_LABEL_CHARS),
        );
        self.first_seen = self.first_seen.min(f.finding.event_time());
        self.last_seen = self.last_seen.max(f.finding.last_event_time());
        if f.account.environment > self.environment {
            self.environment = f.account.environment;
        }

        if active {
            if f.severity > self.severity {
                self.severity = f.severity;
            }
            // The clock for this finding's severity starts when the finding was created, or
            // when an update changed its severity; later updates at the same severity keep it.
            let start = f.severity_since(prev);
            if let Some(target) = runbook.deadline_for(f.account.environment, f.severity) {
                if let Some(d) = start.checked_add_signed(target) {
                    self.response_deadline = Some(match self.response_deadline {
                        Some(old) => old.min(d),
                        None => d,
                    });
                }
            }
            // The lead is the most severe finding ever seen; a newer state of the lead at the
            // same or higher severity refreshes its title, a downgrade does not demote it.
            let cand = lead_of(f);
            if cand.beats(&self.lead)
                || (cand.key == self.lead.key && cand.severity >= self.lead.severity)
            {
                self.lead = cand;
            }
        } else if self.lead.key == f.key && self.finding_count == 1 {
            self.lead = lead_of(f);
        }
        self.title = self.lead.title.clone();
        self.status = if self.active_finding_count > 0 {
            IncidentStatus::Open
        } else {
            IncidentStatus::Resolved
        };
        !self.material_eq(&before)
    }

    /// Equality of everything but bookkeeping (version and wall-clock times).
    pub fn material_eq(&self, other: &Incident) -> bool {
        let mut a = self.clone();
        a.version = other.version;
        a.created_at = other.created_at;
        a.updated_at = other.updated_at;
        a.expires_at = other.expires_at;
        &a == other
    }

    pub fn remediation_source(&self) -> RemediationSource {
        self.lead.remediation.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Asff;
    use serde_json::json;

    pub(crate) fn nf(
        id: &str,
        sev: &str,
        created: &str,
        updated: &str,
    ) -> NormalizedFinding<'static> {
        let v = Asff::guardduty(id)
            .set("Id", json!(id))
            .severity(sev)
            .created(created)
            .updated(updated)
            .title(&format!("{sev} {id}"))
            .json();
        crate::testing::normalized(&v)
    }

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn opening_then_applying_the_first_finding_sets_severity_deadline_and_counts() {
        let rb = Runbook::default();
        let f = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&f, &rb, t("2026-11-20T10:01:00Z"), Duration::days(400));
        assert!(inc.apply(None, &f, &rb));
        assert_eq!(inc.severity, SeverityLabel::High);
        assert_eq!(inc.response_deadline, Some(t("2026-11-20T11:00:00Z")));
        assert_eq!((inc.finding_count, inc.active_finding_count), (1, 1));
        assert_eq!(inc.status, IncidentStatus::Open);
        assert!(inc.correlation_reason.contains("EC2 instance i-1"));
        assert!(inc.id.starts_with("inc-20261120-"));
    }

    #[test]
    fn a_more_severe_finding_raises_severity_and_moves_the_deadline_earlier_never_later() {
        let rb = Runbook::default();
        let a = nf(
            "a",
            "MEDIUM",
            "2026-11-20T10:00:00Z",
            "2026-11-20T10:00:00Z",
        );
        let mut inc = Incident::open(&a, &rb, Utc::now(), Duration::days(1));
        inc.apply(None, &a, &rb);
        assert_eq!(inc.response_deadline, Some(t("2026-11-20T14:00:00Z")));
        // Critical 3 h later: its own deadline (13:30) is earlier than 14:00.
        let b = nf(
            "b",
            "CRITICAL",
            "2026-11-20T13:00:00Z",
            "2026-11-20T13:00:00Z",
        );
        inc.apply(None, &b, &rb);
        assert_eq!(inc.severity, SeverityLabel::Critical);
        assert_eq!(inc.response_deadline, Some(t("2026-11-20T13:30:00Z")));
        assert_eq!(inc.title, "CRITICAL b");
        // High at 13:50 would give 14:50: the deadline does not move later.
        let c = nf("c", "HIGH", "2026-11-20T13:50:00Z", "2026-11-20T13:50:00Z");
        inc.apply(None, &c, &rb);
        assert_eq!(inc.response_deadline, Some(t("2026-11-20T13:30:00Z")));
        assert_eq!(inc.severity, SeverityLabel::Critical);
        assert_eq!(inc.finding_count, 3);
    }

    #[test]
    fn an_update_that_raises_severity_starts_the_clock_at_the_update() {
        let rb = Runbook::default();
        let a = nf("a", "LOW", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&a, &rb, Utc::now(), Duration::days(1));
        inc.apply(None, &a, &rb);
        assert_eq!(inc.response_deadline, None);
        let prev = record_of(&a, &inc.id);
        let a2 = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T12:00:00Z");
        assert!(inc.apply(Some(&prev), &a2, &rb));
        assert_eq!(inc.response_deadline, Some(t("2026-11-20T13:00:00Z")));
        assert_eq!(inc.finding_count, 1, "an update is not a new finding");
    }

    #[test]
    fn a_later_update_at_the_same_severity_keeps_the_clock_of_the_raise() {
        let rb = Runbook::default();
        let a = nf("a", "LOW", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&a, &rb, Utc::now(), Duration::days(1));
        inc.apply(None, &a, &rb);
        let a2 = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T12:00:00Z");
        let r1 = record_of(&a, &inc.id);
        inc.apply(Some(&r1), &a2, &rb);
        let mut r2 = record_of(&a2, &inc.id);
        r2.severity_since = a2.severity_since(Some(&r1));
        assert_eq!(r2.severity_since, t("2026-11-20T12:00:00Z"));
        let a3 = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T13:00:00Z");
        inc.apply(Some(&r2), &a3, &rb);
        assert_eq!(inc.response_deadline, Some(t("2026-11-20T13:00:00Z")));
    }

    #[test]
    fn a_downgraded_lead_keeps_the_incident_title_and_lists_are_capped() {
        let rb = Runbook::default();
        let a = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&a, &rb, Utc::now(), Duration::days(1));
        inc.apply(None, &a, &rb);
        let b = nf(
            "b",
            "MEDIUM",
            "2026-11-20T10:30:00Z",
            "2026-11-20T10:30:00Z",
        );
        inc.apply(None, &b, &rb);
        let a_low = nf("a", "LOW", "2026-11-20T10:00:00Z", "2026-11-20T11:00:00Z");
        inc.apply(Some(&record_of(&a, &inc.id)), &a_low, &rb);
        assert_eq!(inc.title, "HIGH a");
        for i in 0..(MAX_LIST_ENTRIES + 10) {
            let mut f = nf(
                &format!("x{i}"),
                "LOW",
                "2026-11-20T10:00:00Z",
                "2026-11-20T10:00:00Z",
            );
            f.finding_type = format!("type-{i}");
            inc.apply(None, &f, &rb);
        }
        assert_eq!(inc.finding_types.len(), MAX_LIST_ENTRIES);
    }

    #[test]
    fn archiving_every_finding_resolves_the_incident_and_reactivation_reopens_it() {
        let rb = Runbook::default();
        let a = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&a, &rb, Utc::now(), Duration::days(1));
        inc.apply(None, &a, &rb);
        let mut archived = a.clone();
        archived.finding.record_state = Some("ARCHIVED".into());
        archived.finding.updated_at = crate::asff::parse_time("2026-11-20T11:00:00Z").unwrap();
        inc.apply(Some(&record_of(&a, &inc.id)), &archived, &rb);
        assert_eq!(inc.status, IncidentStatus::Resolved);
        assert_eq!((inc.finding_count, inc.active_finding_count), (1, 0));
        let mut again = a.clone();
        again.finding.updated_at = crate::asff::parse_time("2026-11-20T12:00:00Z").unwrap();
        inc.apply(Some(&record_of(&archived, &inc.id)), &again, &rb);
        assert_eq!(inc.status, IncidentStatus::Open);
        assert_eq!(inc.active_finding_count, 1);
    }

    #[test]
    fn reapplying_the_same_state_is_not_a_material_change() {
        let rb = Runbook::default();
        let a = nf("a", "HIGH", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&a, &rb, Utc::now(), Duration::days(1));
        inc.apply(None, &a, &rb);
        assert!(!inc.apply(Some(&record_of(&a, &inc.id)), &a, &rb));
    }

    pub(crate) fn record_of(f: &NormalizedFinding, incident: &str) -> FindingRecord {
        let mut r = FindingRecord::of(
            f,
            None,
            Some(incident.to_owned()),
            Utc::now(),
            Duration::days(1),
        );
        r.title = f.finding.title.to_string();
        r.processed_at = None;
        r
    }
}
