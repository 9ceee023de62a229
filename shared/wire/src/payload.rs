//! Which incident changes a SIEM needs, and the payload it gets.
//!
//! The table's stream carries every write. A SIEM wants an incident when it is opened, when
//! something an analyst acts on changes (severity, finding types, finding count, status,
//! deadline), and nothing else: a `last_seen` that moved by itself is not news.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use vigil_domain::asff::{RecordState, SeverityLabel};
use vigil_domain::incident::{Incident, IncidentStatus, IncidentTriage};
use vigil_domain::FindingRecord;

/// Why an incident version is forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Opened,
    Updated,
    StatusChanged,
    /// Re-sent by an operator's catch-up (`vigil catch-up`): the incident's current state.
    Resync,
}

/// What changed between two versions, for the receiver's benefit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub kind: ChangeKind,
    /// Field names that changed (`severity`, `finding_types`, `finding_count`, `status`,
    /// `response_deadline`); empty for `opened`.
    pub changed: Vec<String>,
}

/// Decides whether the change from `old` to `new` is forwarded. `None`: not SIEM-relevant
/// (including a replayed stream record whose version is not newer).
pub fn classify(old: Option<&Incident>, new: &Incident) -> Option<Change> {
    let Some(old) = old else {
        return Some(Change {
            kind: ChangeKind::Opened,
            changed: Vec::new(),
        });
    };
    if new.version <= old.version {
        return None;
    }
    let mut changed: Vec<String> = Vec::new();
    let mut push = |f: &str| changed.push(f.to_owned());
    if new.severity != old.severity {
        push("severity");
    }
    if new.finding_types != old.finding_types {
        push("finding_types");
    }
    if new.finding_count != old.finding_count {
        push("finding_count");
    }
    if new.response_deadline != old.response_deadline {
        push("response_deadline");
    }
    if !new.escalation.notify.is_empty() && new.escalation.done.len() > old.escalation.done.len() {
        push("escalation");
    }
    if new.status != old.status {
        push("status");
        return Some(Change {
            kind: ChangeKind::StatusChanged,
            changed,
        });
    }
    (!changed.is_empty()).then_some(Change {
        kind: ChangeKind::Updated,
        changed,
    })
}

/// Most finding types listed in a payload; the total is always given.
pub const MAX_TYPES_IN_PAYLOAD: usize = 50;

/// The incident as sent to every sink: bounded in size whatever the incident's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPayload {
    /// `<incident id>:<version>`: receivers drop duplicates on it.
    pub idempotency_key: String,
    pub incident_id: String,
    pub version: u64,
    pub change: Change,
    pub title: String,
    pub severity: SeverityLabel,
    pub status: IncidentStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_deadline: Option<DateTime<Utc>>,
    /// The first acknowledgement (it meets the deadline when not later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// The last change of status: who, when, why, from where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition: Option<vigil_domain::lifecycle::Transition>,
    /// The runbook routes an escalation step of this version notifies (see
    /// `vigil_domain::escalation`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify: Vec<String>,
    pub account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_name: Option<String>,
    pub environment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    pub entity: String,
    pub correlation_reason: String,
    pub finding_count: u64,
    pub active_finding_count: u64,
    pub finding_types: Vec<String>,
    pub finding_types_total: usize,
    pub tactics: Vec<String>,
    pub products: Vec<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// When this version was written.
    #[serde(default = "epoch")]
    pub updated_at: DateTime<Utc>,
    pub lead_finding_id: String,
    pub lead_finding_type: String,
    pub remediation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remediation_url: Option<String>,
    /// The incident's most severe recent findings (at most the configured number); the
    /// incident's own counts give the total.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_findings: Vec<FindingSummary>,
    /// Why the incident has its severity, environment and deadline, and the runbook rules,
    /// notes (guidance for the analyst) and route of its findings.
    #[serde(default, skip_serializing_if = "IncidentTriage::is_empty")]
    pub explanation: IncidentTriage,
    /// Keys of the incident's most recent findings, newest first, for reading them in one
    /// batch (not sent).
    #[serde(skip)]
    pub recent_keys: Vec<String>,
}

/// One finding, in brief, inside a payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingSummary {
    pub id: String,
    #[serde(rename = "type")]
    pub finding_type: String,
    pub severity: SeverityLabel,
    pub title: String,
    pub product: String,
    pub record_state: RecordState,
    pub last_seen: DateTime<Utc>,
}

/// The `n` findings a payload lists: most severe first, then most recent.
pub fn top_findings(records: &[FindingRecord], n: usize) -> Vec<FindingSummary> {
    let mut v: Vec<&FindingRecord> = records.iter().collect();
    v.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then(b.last_event_time.cmp(&a.last_event_time))
            .then(a.finding_id.cmp(&b.finding_id))
    });
    v.into_iter()
        .take(n)
        .map(|r| FindingSummary {
            id: r.finding_id.clone(),
            finding_type: r.finding_type.clone(),
            severity: r.severity,
            title: r.title.clone(),
            product: r.product.clone(),
            record_state: r.record_state,
            last_seen: r.last_event_time,
        })
        .collect()
}

fn epoch() -> DateTime<Utc> {
    DateTime::UNIX_EPOCH
}

fn first_n(set: &BTreeSet<String>, n: usize) -> Vec<String> {
    set.iter().take(n).cloned().collect()
}

impl IncidentPayload {
    pub fn new(inc: &Incident, change: Change) -> Self {
        Self {
            idempotency_key: format!("{}:{}", inc.id, inc.version),
            incident_id: inc.id.clone(),
            version: inc.version,
            change,
            title: inc.title.clone(),
            severity: inc.severity,
            status: inc.status,
            response_deadline: inc.response_deadline,
            acknowledged_at: inc.acknowledged_at,
            acknowledged_by: inc.acknowledged_by.clone(),
            last_transition: inc.history.last().cloned(),
            notify: inc.escalation.notify.clone(),
            account_id: inc.account_id.clone(),
            account_name: inc.account_name.clone(),
            environment: inc.environment.as_str().to_owned(),
            owner: inc.owner.clone(),
            entity: inc.entity.clone(),
            correlation_reason: inc.correlation_reason.clone(),
            finding_count: inc.finding_count,
            active_finding_count: inc.active_finding_count,
            finding_types: first_n(&inc.finding_types, MAX_TYPES_IN_PAYLOAD),
            finding_types_total: inc.finding_types.len(),
            tactics: inc.tactics.iter().cloned().collect(),
            products: inc.products.iter().cloned().collect(),
            first_seen: inc.first_seen,
            last_seen: inc.last_seen,
            updated_at: inc.updated_at,
            lead_finding_id: inc.lead.finding_id.clone(),
            lead_finding_type: inc.lead.finding_type.clone(),
            remediation: inc.lead.remediation.text.clone(),
            remediation_url: inc.lead.remediation.url.clone(),
            top_findings: Vec::new(),
            explanation: inc.triage.clone(),
            recent_keys: inc.recent.iter().map(|m| m.key.clone()).collect(),
        }
    }
}

/// Syslog severity (RFC 5424) for an incident severity.
pub fn syslog_severity(s: SeverityLabel) -> u8 {
    match s {
        SeverityLabel::Critical => 2,
        SeverityLabel::High => 3,
        SeverityLabel::Medium => 4,
        SeverityLabel::Low => 5,
        SeverityLabel::Informational => 6,
    }
}

/// CEF severity (0-10) for an incident severity.
pub fn cef_severity(s: SeverityLabel) -> u8 {
    match s {
        SeverityLabel::Critical => 10,
        SeverityLabel::High => 8,
        SeverityLabel::Medium => 5,
        SeverityLabel::Low => 3,
        SeverityLabel::Informational => 1,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use vigil_domain::Runbook;

    pub(crate) fn incident(title: &str) -> Incident {
        let v = vigil_domain::testing::Asff::guardduty("f-1")
            .set("Id", serde_json::json!("f-1"))
            .title(title)
            .json();
        let f = vigil_domain::testing::normalized(&v);
        let rb = Runbook::default();
        let mut inc = Incident::open(&f, &rb, Utc::now(), chrono::Duration::days(1));
        inc.apply(None, &f, &rb);
        inc.version = 1;
        inc
    }

    #[test]
    fn a_new_incident_is_opened_and_a_replayed_version_is_not_resent() {
        let inc = incident("t");
        assert_eq!(classify(None, &inc).unwrap().kind, ChangeKind::Opened);
        assert_eq!(classify(Some(&inc), &inc), None);
    }

    #[test]
    fn material_updates_and_status_changes_are_forwarded_but_a_moved_last_seen_is_not() {
        let old = incident("t");
        let mut new = old.clone();
        new.version = 2;
        new.last_seen += chrono::Duration::minutes(5);
        assert_eq!(classify(Some(&old), &new), None);
        new.severity = SeverityLabel::Critical;
        new.finding_count = 2;
        let c = classify(Some(&old), &new).unwrap();
        assert_eq!(
            (c.kind, c.changed),
            (
                ChangeKind::Updated,
                vec!["severity".to_owned(), "finding_count".to_owned()]
            )
        );
        new.status = IncidentStatus::Resolved;
        assert_eq!(
            classify(Some(&old), &new).unwrap().kind,
            ChangeKind::StatusChanged
        );
    }

    #[test]
    fn payloads_carry_the_idempotency_key_and_stay_bounded() {
        let mut inc = incident("t");
        for i in 0..200 {
            inc.finding_types.insert(format!("type-{i:03}"));
        }
        let p = IncidentPayload::new(&inc, classify(None, &inc).unwrap());
        assert_eq!(p.idempotency_key, format!("{}:1", inc.id));
        assert_eq!(p.finding_types.len(), MAX_TYPES_IN_PAYLOAD);
        assert_eq!(p.finding_types_total, 201);
    }
}
