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
pub use vigil_domain::queue::Kind;
use vigil_domain::queue::{Count, Link};
use vigil_domain::queue_store::QueueRecord;
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
    if new.campaign != old.campaign {
        push("campaign");
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

/// Whether a campaign's or digest's change is forwarded: every version the queue run wrote is
/// (it writes only on material change), except a replayed record whose version is not newer.
pub fn classify_queue(old: Option<&QueueRecord>, new: &QueueRecord) -> Option<Change> {
    if old.is_some_and(|o| new.version <= o.version) {
        return None;
    }
    if old.is_none() && new.changed.is_empty() {
        return Some(Change {
            kind: ChangeKind::Opened,
            changed: Vec::new(),
        });
    }
    let kind = if new.changed.iter().any(|c| c == "status") {
        ChangeKind::StatusChanged
    } else {
        ChangeKind::Updated
    };
    Some(Change {
        kind,
        changed: new.changed.clone(),
    })
}

/// Most member incidents and links a campaign's or digest's payload lists (the counts are
/// always given).
pub const MAX_MEMBERS_IN_PAYLOAD: usize = 100;

fn default_kind() -> Kind {
    Kind::Incident
}

/// An incident, campaign or digest as sent to every sink: bounded in size whatever its size.
/// `kind` says which (`incident`, `campaign`, `digest`; read as `incident` when absent, as
/// versions queued before it have it); a campaign's and a digest's id is in
/// `incident_id` (`CMP-...`, `DIG-...`), their members in `incident_ids`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IncidentPayload {
    /// `<id>:<version>`: receivers drop duplicates on it.
    pub idempotency_key: String,
    #[serde(default = "default_kind")]
    pub kind: Kind,
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
    /// The campaign the incident is in (its calls to action come from the campaign), or the
    /// digest it is rolled up in (it is never paged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest_id: Option<String>,
    /// A campaign's or digest's members (at most [`MAX_MEMBERS_IN_PAYLOAD`]) and their number,
    /// its accounts, and why it exists.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incident_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub incident_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accounts: Vec<String>,
    /// A campaign's links (member, with, via: the indicator or `signal`), its lead incident.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead_incident_id: Option<String>,
    /// A digest's most frequent entities and sources, and how many entities it has.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Count>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub entity_count: u64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_sources: Vec<Count>,
    /// Why a campaign or digest closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_why: Option<String>,
    /// Keys of the incident's most recent findings, newest first, for reading them in one
    /// batch (not sent).
    #[serde(skip)]
    pub recent_keys: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
            kind: Kind::Incident,
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
            campaign_id: inc.campaign.clone(),
            digest_id: inc.digest.clone(),
            incident_ids: Vec::new(),
            incident_count: 0,
            accounts: Vec::new(),
            links: Vec::new(),
            lead_incident_id: None,
            entities: Vec::new(),
            entity_count: 0,
            top_sources: Vec::new(),
            closed_why: None,
            recent_keys: inc.recent.iter().map(|m| m.key.clone()).collect(),
        }
    }

    /// The payload of a stored campaign or digest.
    pub fn from_queue(r: &QueueRecord, change: Change) -> Self {
        let q = &r.item;
        let d = &r.detail;
        let members = q.incident_ids.len();
        let entity = match q.kind {
            Kind::Digest => format!("{} entities", q.entity_count),
            _ => format!("{members} incidents"),
        };
        Self {
            idempotency_key: format!("{}:{}", q.id, r.version),
            kind: q.kind,
            incident_id: q.id.clone(),
            version: r.version,
            change,
            title: q.title.clone(),
            severity: q.severity,
            status: q.status,
            response_deadline: q.response_deadline,
            acknowledged_at: None,
            acknowledged_by: None,
            last_transition: None,
            notify: Vec::new(),
            account_id: q.account_id.clone(),
            account_name: d.account_name.clone(),
            environment: d.environment.clone(),
            owner: d.owner.clone(),
            entity,
            correlation_reason: q.reason.clone(),
            finding_count: q.finding_count,
            active_finding_count: q.finding_count,
            finding_types: d.finding_types.clone(),
            finding_types_total: d.finding_types_total,
            tactics: d.tactics.clone(),
            products: d.products.clone(),
            first_seen: q.first_seen,
            last_seen: q.last_seen,
            updated_at: r.updated_at,
            lead_finding_id: d.lead_finding_id.clone(),
            lead_finding_type: d.lead_finding_type.clone(),
            remediation: d.remediation.clone(),
            remediation_url: d.remediation_url.clone(),
            top_findings: Vec::new(),
            explanation: IncidentTriage {
                route: d.route.clone(),
                ..IncidentTriage::default()
            },
            campaign_id: None,
            digest_id: None,
            incident_ids: q
                .incident_ids
                .iter()
                .take(MAX_MEMBERS_IN_PAYLOAD)
                .cloned()
                .collect(),
            incident_count: members as u64,
            accounts: q.accounts.clone(),
            links: q
                .links
                .iter()
                .take(MAX_MEMBERS_IN_PAYLOAD)
                .cloned()
                .collect(),
            lead_incident_id: q.lead.clone(),
            entities: q.entities.clone(),
            entity_count: q.entity_count,
            top_sources: q.top_sources.clone(),
            closed_why: r.closed_why.clone(),
            recent_keys: Vec::new(),
        }
    }

    /// Whether this is a campaign's or digest's payload (not an incident's).
    pub fn is_group(&self) -> bool {
        self.kind != Kind::Incident
    }

    /// Whether this version pages or notifies nobody: a digest, and an incident rolled up in
    /// one (people read digests in the queue and the SIEM).
    pub fn never_paged(&self) -> bool {
        self.kind == Kind::Digest || (self.kind == Kind::Incident && self.digest_id.is_some())
    }

    /// Whether an incident's calls to action (opened, reopened, raised) come from its campaign
    /// instead; its escalation steps notify only when the campaign escalates through it.
    pub fn in_campaign(&self) -> bool {
        self.kind == Kind::Incident && self.campaign_id.is_some()
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
    fn a_stored_campaign_is_forwarded_with_its_kind_members_and_a_replay_is_not() {
        use vigil_domain::queue_store::{ItemDetail, QueueRecord};
        let a = incident("a");
        let item = vigil_domain::queue::QueueItem {
            kind: Kind::Campaign,
            id: "CMP-1".into(),
            severity: SeverityLabel::High,
            status: IncidentStatus::Open,
            account_id: a.account_id.clone(),
            accounts: vec![a.account_id.clone()],
            finding_count: 3,
            incident_ids: (0..150).map(|i| format!("inc-{i:03}")).collect(),
            reason: "share ip:198.51.100.7".into(),
            title: "Campaign".into(),
            response_deadline: a.response_deadline,
            first_seen: a.first_seen,
            last_seen: a.last_seen,
            lead: Some("inc-000".into()),
            links: Vec::new(),
            entities: Vec::new(),
            entity_count: 0,
            top_sources: Vec::new(),
        };
        let rec = QueueRecord {
            item,
            detail: ItemDetail::default(),
            version: 1_000,
            created_at: a.created_at,
            updated_at: a.created_at,
            closed_at: None,
            changed: Vec::new(),
            closed_why: None,
        };
        let c = classify_queue(None, &rec).unwrap();
        assert_eq!(c.kind, ChangeKind::Opened);
        let p = IncidentPayload::from_queue(&rec, c);
        assert_eq!(p.idempotency_key, "CMP-1:1000");
        assert_eq!(p.incident_ids.len(), MAX_MEMBERS_IN_PAYLOAD);
        assert_eq!(p.incident_count, 150);
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["kind"], "campaign");
        assert!(p.is_group() && !p.never_paged());
        assert_eq!(classify_queue(Some(&rec), &rec), None, "a replayed record");
        let mut closed = rec.clone();
        closed.version = 2_000;
        closed.item.status = IncidentStatus::Resolved;
        closed.changed = vec!["closed".into(), "status".into()];
        assert_eq!(
            classify_queue(Some(&rec), &closed).unwrap().kind,
            ChangeKind::StatusChanged
        );
        // An incident's payload says so, and names its campaign.
        let mut m = incident("m");
        m.campaign = Some("CMP-1".into());
        let v =
            serde_json::to_value(IncidentPayload::new(&m, classify(None, &m).unwrap())).unwrap();
        assert_eq!(v["kind"], "incident");
        assert_eq!(v["campaign_id"], "CMP-1");
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
