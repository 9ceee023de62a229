//! The incident model and the pure rules that fold findings into incidents.
//!
//! Three kinds of stored state, all versioned for optimistic concurrency:
//! - [`FindingRecord`]: the latest state of one finding (identity `ProductArn` + `Id`), and the
//!   incident it belongs to. It is the deduplication record.
//! - [`CorrelationHead`]: per correlation key, the time windows of its recent incidents, so a new
//!   finding can find the incident it belongs to.
//! - [`Incident`]: what analysts and the SIEM see.
//!
//! Rules (all in event time, so that a replay gives the same incidents as live processing):
//! - a finding joins an incident of its key when its event time is within the window of the
//!   incident's first and last seen times; otherwise an active finding opens a new incident;
//!   an inactive (archived, resolved, suppressed) finding never opens one;
//! - severity is the highest among the incident's active findings' states, and never decreases;
//! - the response deadline is the earliest of `start + target(severity, environment)` over the
//!   states folded in, where `start` is the finding's `CreatedAt`, or the `UpdatedAt` of the
//!   update that raised its severity. A raise can only move the deadline earlier.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::asff::{Finding, RecordState, SeverityLabel, WorkflowStatus};
use crate::correlate::{correlation_key, Entity};
use crate::enrich::{
    account_context, finding_type, mitre_tactic, remediation, AccountContext, GuardDutyType,
    RemediationAdvice, RemediationSource,
};
use crate::runbook::{Environment, Runbook};

/// Hex SHA-256 prefix used for stable ids.
pub fn short_hash(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    let mut s = String::with_capacity(len);
    for b in digest.iter() {
        s.push_str(&format!("{b:02x}"));
        if s.len() >= len {
            break;
        }
    }
    s.truncate(len);
    s
}

/// A parsed finding with everything Vigil derives from it.
#[derive(Debug, Clone)]
pub struct NormalizedFinding {
    /// Stable identity hash of (`ProductArn`, `Id`).
    pub key: String,
    pub finding: Finding,
    pub severity: SeverityLabel,
    pub account: AccountContext,
    pub guardduty_type: Option<GuardDutyType>,
    pub finding_type: String,
    pub tactic: Option<&'static str>,
    pub remediation: RemediationAdvice,
    pub entity: Entity,
    pub correlation_key: String,
    /// The original finding JSON, forwarded intact.
    pub raw: String,
    /// `ProcessedAt`, parsed once (it orders states on the hot path).
    pub processed_at: Option<DateTime<Utc>>,
}

impl NormalizedFinding {
    pub fn new(finding: Finding, runbook: &Runbook) -> Self {
        let key = finding_key(&finding.product_arn, &finding.id);
        let severity = finding
            .severity_label()
            .unwrap_or(SeverityLabel::Informational);
        let account = account_context(runbook, &finding);
        let guardduty_type = GuardDutyType::from_finding(&finding);
        let finding_type = finding_type(&finding, guardduty_type.as_ref());
        let tactic = mitre_tactic(&finding, guardduty_type.as_ref());
        let remediation = remediation(&finding, guardduty_type.as_ref());
        let (correlation_key, entity) = correlation_key(&finding);
        let raw = serde_json::to_string(&finding).unwrap_or_default();
        let processed_at = finding
            .other
            .get("ProcessedAt")
            .and_then(|v| v.as_str())
            .and_then(crate::asff::Timestamp::parse)
            .map(|t| t.at());
        Self {
            key,
            finding,
            severity,
            account,
            guardduty_type,
            finding_type,
            tactic,
            remediation,
            entity,
            correlation_key,
            raw,
            processed_at,
        }
    }

    pub fn is_active(&self) -> bool {
        is_active(self.finding.record_state(), self.finding.workflow_status())
    }

    /// Ordering of finding states: newer `UpdatedAt` wins. `BatchUpdateFindings` (analysts'
    /// workflow, severity and record-state changes) does not move `UpdatedAt`, so at equal
    /// `UpdatedAt` the newer `ProcessedAt` wins, then the state further along the workflow, then
    /// the higher severity: reordered deliveries converge on the same state.
    pub fn state_rank(&self) -> StateRank {
        (
            self.finding.updated_at.at(),
            self.processed_at,
            self.finding.workflow_status(),
            self.finding.record_state(),
            self.severity,
        )
    }

    /// Since when this state's severity has held: the finding's `CreatedAt` for a new finding,
    /// the previous state's start when the severity is unchanged, else this state's `UpdatedAt`.
    pub fn severity_since(&self, prev: Option<&FindingRecord>) -> DateTime<Utc> {
        match prev {
            None => self.finding.created_at.at(),
            Some(p) if p.severity == self.severity => p.severity_since,
            Some(_) => self.finding.updated_at.at(),
        }
    }
}

/// See [`NormalizedFinding::state_rank`].
pub type StateRank = (
    DateTime<Utc>,
    Option<DateTime<Utc>>,
    WorkflowStatus,
    RecordState,
    SeverityLabel,
);

/// Longest title Vigil stores (ASFF allows 256 characters; this guards item sizes).
pub const MAX_TITLE_CHARS: usize = 512;

/// Most entries kept in an incident's `finding_types`, `tactics` and `products`.
pub const MAX_LIST_ENTRIES: usize = 256;

pub fn clip_title(s: &str) -> String {
    s.chars().take(MAX_TITLE_CHARS).collect()
}

fn insert_capped(set: &mut BTreeSet<String>, value: &str) {
    if set.len() < MAX_LIST_ENTRIES && !set.contains(value) {
        set.insert(value.to_owned());
    }
}

pub fn is_active(record: RecordState, workflow: WorkflowStatus) -> bool {
    record == RecordState::Active
        && !matches!(
            workflow,
            WorkflowStatus::Resolved | WorkflowStatus::Suppressed
        )
}

/// Identity of a finding: Security Hub identifies findings by (`ProductArn`, `Id`).
pub fn finding_key(product_arn: &str, id: &str) -> String {
    short_hash(&[product_arn, id], 32)
}

/// The stored state of one finding: the deduplication record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRecord {
    pub key: String,
    pub finding_id: String,
    pub product_arn: String,
    pub account_id: String,
    pub updated_at: DateTime<Utc>,
    pub workflow_status: WorkflowStatus,
    pub record_state: RecordState,
    pub severity: SeverityLabel,
    /// Since when the finding has had this severity (its deadline clock).
    pub severity_since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
    pub finding_type: String,
    pub title: String,
    pub product: String,
    pub correlation_key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub event_time: DateTime<Utc>,
    pub last_event_time: DateTime<Utc>,
    /// The original finding JSON.
    pub raw: String,
    pub version: u64,
    /// When Vigil stored this state (wall clock).
    pub ingested_at: DateTime<Utc>,
    /// When the record may be deleted (TTL).
    pub expires_at: DateTime<Utc>,
}

impl FindingRecord {
    pub fn state_rank(&self) -> StateRank {
        (
            self.updated_at,
            self.processed_at,
            self.workflow_status,
            self.record_state,
            self.severity,
        )
    }
    pub fn is_active(&self) -> bool {
        is_active(self.record_state, self.workflow_status)
    }
}

/// The time span of one incident of a correlation key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentWindow {
    pub incident_id: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

impl IncidentWindow {
    pub fn admits(&self, t: DateTime<Utc>, window: Duration) -> bool {
        let lo = self
            .first_seen
            .checked_sub_signed(window)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let hi = self
            .last_seen
            .checked_add_signed(window)
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        t >= lo && t <= hi
    }
}

/// How many incident windows a head remembers per correlation key.
pub const HEAD_WINDOWS: usize = 32;

/// Per correlation key: the windows of its most recent incidents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorrelationHead {
    pub key: String,
    pub windows: Vec<IncidentWindow>,
    pub version: u64,
    pub expires_at: DateTime<Utc>,
}

impl CorrelationHead {
    pub fn new(key: &str) -> Self {
        Self {
            key: key.to_owned(),
            windows: Vec::new(),
            version: 0,
            expires_at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    /// The incident a finding seen at `t` joins: among windows admitting `t`, the latest one.
    pub fn find(&self, t: DateTime<Utc>, window: Duration) -> Option<&IncidentWindow> {
        self.windows
            .iter()
            .filter(|w| w.admits(t, window))
            .max_by(|a, b| {
                a.last_seen
                    .cmp(&b.last_seen)
                    .then_with(|| b.incident_id.cmp(&a.incident_id))
            })
    }

    /// Records an incident's span; keeps the most recent [`HEAD_WINDOWS`].
    pub fn upsert(&mut self, w: IncidentWindow) {
        match self
            .windows
            .iter_mut()
            .find(|x| x.incident_id == w.incident_id)
        {
            Some(x) => *x = w,
            None => self.windows.push(w),
        }
        self.windows.sort_by(|a, b| {
            b.last_seen
                .cmp(&a.last_seen)
                .then(a.incident_id.cmp(&b.incident_id))
        });
        self.windows.truncate(HEAD_WINDOWS);
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

impl Serialize for Environment {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

fn lead_of(f: &NormalizedFinding) -> LeadFinding {
    LeadFinding {
        key: f.key.clone(),
        finding_id: f.finding.id.clone(),
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
            human(window),
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
        insert_capped(&mut self.products, f.finding.product());
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

/// `24h`, `30m`, `1h30m`.
pub fn human(d: Duration) -> String {
    let mins = d.num_minutes();
    match (mins / 60, mins % 60) {
        (0, m) => format!("{m}m"),
        (h, 0) => format!("{h}h"),
        (h, m) => format!("{h}h{m}m"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::asff::parse_finding;
    use serde_json::json;

    pub(crate) fn nf(id: &str, sev: &str, created: &str, updated: &str) -> NormalizedFinding {
        let v = json!({
            "SchemaVersion": "2018-10-08",
            "Id": id,
            "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty",
            "GeneratorId": "g", "AwsAccountId": "111111111111",
            "Types": ["TTPs/Initial Access/UnauthorizedAccess:EC2-SSHBruteForce"],
            "CreatedAt": created, "UpdatedAt": updated,
            "Severity": {"Label": sev}, "Title": format!("{sev} {id}"), "Description": "d",
            "Resources": [{"Type": "AwsEc2Instance", "Id": "arn:aws:ec2:us-east-1:111111111111:instance/i-1"}]
        });
        NormalizedFinding::new(parse_finding(&v).unwrap(), &Runbook::default())
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
        archived.finding.updated_at =
            crate::asff::Timestamp::parse("2026-11-20T11:00:00Z").unwrap();
        inc.apply(Some(&record_of(&a, &inc.id)), &archived, &rb);
        assert_eq!(inc.status, IncidentStatus::Resolved);
        assert_eq!((inc.finding_count, inc.active_finding_count), (1, 0));
        let mut again = a.clone();
        again.finding.updated_at = crate::asff::Timestamp::parse("2026-11-20T12:00:00Z").unwrap();
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

    #[test]
    fn head_windows_admit_findings_within_the_window_either_side() {
        let w = IncidentWindow {
            incident_id: "i".into(),
            first_seen: t("2026-11-20T10:00:00Z"),
            last_seen: t("2026-11-20T12:00:00Z"),
        };
        let win = Duration::hours(24);
        assert!(w.admits(t("2026-11-21T12:00:00Z"), win));
        assert!(!w.admits(t("2026-11-21T12:00:01Z"), win));
        assert!(w.admits(t("2026-11-19T10:00:00Z"), win));
        assert!(!w.admits(t("2026-11-19T09:59:59Z"), win));
    }

    #[test]
    fn heads_keep_only_the_most_recent_windows() {
        let mut h = CorrelationHead::new("k");
        for i in 0..(HEAD_WINDOWS as i64 + 5) {
            h.upsert(IncidentWindow {
                incident_id: format!("i{i}"),
                first_seen: t("2026-01-01T00:00:00Z") + Duration::days(i * 3),
                last_seen: t("2026-01-01T00:00:00Z") + Duration::days(i * 3),
            });
        }
        assert_eq!(h.windows.len(), HEAD_WINDOWS);
        assert!(h.windows.iter().all(|w| w.incident_id != "i0"));
    }

    pub(crate) fn record_of(f: &NormalizedFinding, incident: &str) -> FindingRecord {
        FindingRecord {
            key: f.key.clone(),
            finding_id: f.finding.id.clone(),
            product_arn: f.finding.product_arn.clone(),
            account_id: f.account.account_id.clone(),
            updated_at: f.finding.updated_at.at(),
            workflow_status: f.finding.workflow_status(),
            record_state: f.finding.record_state(),
            severity: f.severity,
            severity_since: f.finding.created_at.at(),
            processed_at: None,
            finding_type: f.finding_type.clone(),
            title: f.finding.title.clone(),
            product: f.finding.product().to_owned(),
            correlation_key: f.correlation_key.clone(),
            incident_id: Some(incident.to_owned()),
            created_at: f.finding.created_at.at(),
            event_time: f.finding.event_time(),
            last_event_time: f.finding.last_event_time(),
            raw: f.raw.clone(),
            version: 1,
            ingested_at: Utc::now(),
            expires_at: Utc::now(),
        }
    }
}
