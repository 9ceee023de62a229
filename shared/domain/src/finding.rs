//! One finding as Vigil sees it: parsed and enriched ([`NormalizedFinding`]), and as stored
//! ([`FindingRecord`], the deduplication record).
//!
//! A finding's identity is (`ProductArn`, `Id`), hashed into [`finding_key`]. Its states are
//! ordered by [`StateRank`]: newer `UpdatedAt` first, then newer `ProcessedAt` (analysts'
//! `BatchUpdateFindings` changes keep `UpdatedAt`), then workflow, record state and severity,
//! so reordered deliveries converge on the same state.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::asff::{Finding, RecordState, SeverityLabel, WorkflowStatus};
use crate::bounds::{clip, MAX_LABEL_CHARS, MAX_TEXT_CHARS};
use crate::correlate::{correlation_key, Entity};
use crate::enrich::{
    account_context, finding_type, mitre_tactic, remediation, AccountContext, GuardDutyType,
    RemediationAdvice,
};
use crate::runbook::Runbook;

/// Hex SHA-256 prefix used for stable ids.
pub fn short_hash(parts: &[&str], len: usize) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    let digest = h.finalize();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(len + 1);
    for b in digest.iter() {
        if s.len() >= len {
            break;
        }
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    s.truncate(len);
    s
}

/// A parsed finding with everything Vigil derives from it; borrows from the event's bytes.
#[derive(Debug, Clone)]
pub struct NormalizedFinding<'a> {
    /// Stable identity hash of (`ProductArn`, `Id`).
    pub key: String,
    pub finding: Finding<'a>,
    pub severity: SeverityLabel,
    pub account: AccountContext,
    pub guardduty_type: Option<GuardDutyType>,
    pub finding_type: String,
    pub tactic: Option<&'static str>,
    pub remediation: RemediationAdvice,
    pub entity: Entity,
    pub correlation_key: String,
    /// The original finding JSON, stored and forwarded as it arrived.
    pub raw: &'a str,
    /// `ProcessedAt` (it orders states that share `UpdatedAt`).
    pub processed_at: Option<DateTime<Utc>>,
    /// Timestamps that were later than the delivery time plus the clock-skew allowance and
    /// were clamped to it (see [`NormalizedFinding::clamp_times`]).
    pub clamped: Vec<String>,
    /// What the runbook's rules decided ([`NormalizedFinding::triage`]).
    pub decisions: crate::triage::Decisions,
    /// Why it is handled as it is (grouping is added when it is planned).
    pub explanation: crate::triage::Explanation,
    /// Its observables, `kind:value` (see [`crate::indicators`]).
    pub indicators: Vec<String>,
    /// For an attack sequence: the finding keys of the signals it names.
    pub signals: Vec<String>,
}

impl<'a> NormalizedFinding<'a> {
    pub fn new(finding: Finding<'a>, runbook: &Runbook) -> Self {
        let key = finding_key(&finding.product_arn, &finding.id);
        let severity = finding
            .severity_label()
            .unwrap_or(SeverityLabel::Informational);
        let mut account = account_context(runbook, &finding);
        account.name = account.name.map(|n| clip(&n, MAX_LABEL_CHARS));
        account.owner = account.owner.map(|o| clip(&o, MAX_LABEL_CHARS));
        let guardduty_type = GuardDutyType::from_finding(&finding);
        let finding_type = clip(
            &finding_type(&finding, guardduty_type.as_ref()),
            MAX_LABEL_CHARS,
        );
        let tactic = mitre_tactic(&finding, guardduty_type.as_ref());
        let mut remediation = remediation(&finding, guardduty_type.as_ref());
        remediation.text = clip(&remediation.text, MAX_TEXT_CHARS);
        remediation.url = remediation.url.map(|u| clip(&u, MAX_TEXT_CHARS));
        let (correlation_key, entity) = correlation_key(&finding);
        let raw = finding.raw;
        let processed_at = finding.processed_at;
        let (indicators, signals) = crate::indicators::of(&finding);
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
            clamped: Vec::new(),
            decisions: crate::triage::Decisions::default(),
            explanation: crate::triage::Explanation::default(),
            indicators,
            signals,
        }
    }

    /// Applies the runbook's rules at `now` (the delivery time) and writes the explanation of
    /// the finding's severity, environment, owner and response target.
    pub fn triage(&mut self, runbook: &Runbook, now: DateTime<Utc>) {
        let product = self.severity;
        runbook.rules().apply(self, now);
        let severity = match &self.decisions.severity {
            Some(c) => format!(
                "{}: {} from {} by rule {} ({})",
                c.to,
                if c.to > c.from { "raised" } else { "lowered" },
                c.from,
                c.rule,
                c.reason
            ),
            None => format!("{product}: as the product reported it"),
        };
        let environment = match &self.decisions.environment {
            Some(e) => format!(
                "{}: set by rule {} (the account's: {})",
                e.value, e.rule, self.account.environment_why
            ),
            None => self.account.environment_why.clone(),
        };
        let owner = match &self.decisions.owner {
            Some(o) => format!("{}: set by rule {}", o.value, o.rule),
            None => self.account.owner_why.clone(),
        };
        self.explanation = crate::triage::Explanation {
            severity,
            environment,
            owner,
            deadline: runbook.deadline_explained(self.account.environment, self.severity),
            grouping: String::new(),
            decisions: self.decisions.clone(),
            runbook: runbook.version.clone(),
        };
    }

    /// The rule that suppresses this finding, if any.
    pub fn suppressed_by(&self) -> Option<&crate::triage::Suppression> {
        self.decisions.suppressed.as_ref()
    }

    /// Clamps every event time later than `limit` (the delivery time plus the clock-skew
    /// allowance) to `limit`, and records which. A product (or a member account) can send
    /// `LastObservedAt: 9999-12-31`, which would otherwise keep the incident's window open
    /// forever, or a far-future `UpdatedAt`, which would freeze the finding against every real
    /// update. The original text stays in the raw finding.
    pub fn clamp_times(&mut self, limit: DateTime<Utc>) {
        let f = &mut self.finding;
        let mut clamped: Vec<&'static str> = Vec::new();
        let mut clamp = |t: &mut DateTime<Utc>, field: &'static str| {
            if *t > limit {
                *t = limit;
                clamped.push(field);
            }
        };
        clamp(&mut f.created_at, "CreatedAt");
        clamp(&mut f.updated_at, "UpdatedAt");
        if let Some(t) = f.first_observed_at.as_mut() {
            clamp(t, "FirstObservedAt");
        }
        if let Some(t) = f.last_observed_at.as_mut() {
            clamp(t, "LastObservedAt");
        }
        if self.processed_at.is_some_and(|t| t > limit) {
            self.processed_at = Some(limit);
            clamped.push("ProcessedAt");
        }
        if !clamped.is_empty() {
            tracing::warn!(finding_id = %self.finding.id, account = %self.account.account_id,
                fields = ?clamped, limit = %limit,
                "finding times in the future beyond the clock-skew allowance were clamped to the delivery time");
        }
        self.clamped = clamped.into_iter().map(str::to_owned).collect();
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
            self.finding.updated_at,
            self.processed_at,
            self.finding.workflow_status(),
            self.finding.record_state(),
            self.severity,
        )
    }

    /// Whether this is the state `stored` holds (same `UpdatedAt`, workflow, record state and
    /// severity), whatever its `ProcessedAt`: nothing an analyst sees differs.
    pub fn same_state_as(&self, stored: &FindingRecord) -> bool {
        let (u, _, w, r, sev) = self.state_rank();
        (u, w, r, sev)
            == (
                stored.updated_at,
                stored.workflow_status,
                stored.record_state,
                stored.severity,
            )
    }

    /// Since when this state's severity has held: the finding's `CreatedAt` for a new finding,
    /// the previous state's start when the severity is unchanged, else this state's `UpdatedAt`.
    pub fn severity_since(&self, prev: Option<&FindingRecord>) -> DateTime<Utc> {
        match prev {
            None => self.finding.created_at,
            Some(p) if p.severity == self.severity => p.severity_since,
            Some(_) => self.finding.updated_at,
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

/// A title as stored: at most [`crate::bounds::MAX_TITLE_CHARS`].
pub fn clip_title(s: &str) -> String {
    crate::bounds::clip(s, crate::bounds::MAX_TITLE_CHARS)
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
    /// The original finding JSON (shared: records are cloned between the store and a plan).
    pub raw: std::sync::Arc<str>,
    pub version: u64,
    /// When Vigil stored this state (wall clock).
    pub ingested_at: DateTime<Utc>,
    /// When the record may be deleted (TTL). `None` while it belongs to an incident: it then
    /// lives exactly as long as that incident, and is deleted with it (the forwarder does so
    /// on the incident's removal from the table).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// Timestamp fields that were in the future beyond the clock-skew allowance and were
    /// clamped to the delivery time (their original text stays in `raw`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clamped: Vec<String>,
    /// In an incident that does not list it among its first members
    /// ([`crate::incident::Members`]): the store indexes it by incident instead.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub indexed: bool,
    /// Why it was handled as it was: rules, sources of its values, grouping.
    #[serde(default, skip_serializing_if = "is_default")]
    pub explanation: crate::triage::Explanation,
    /// When a re-evaluation under a new runbook version (`vigil runbook apply --retroactive`)
    /// last rewrote this state's decisions. Its incident's `triage.reevaluated.at` is at least
    /// this once that re-evaluation has rebuilt the incident too; a later one means it has not
    /// yet (the next run does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reevaluated_at: Option<DateTime<Utc>>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

impl FindingRecord {
    /// The record of state `f`, the successor of `prev`, in `incident_id` (if any), stored at
    /// `now`; kept for `ttl` when it is in no incident, else as long as its incident.
    pub fn of(
        f: &NormalizedFinding,
        prev: Option<&FindingRecord>,
        incident_id: Option<String>,
        now: DateTime<Utc>,
        ttl: chrono::Duration,
    ) -> Self {
        FindingRecord {
            key: f.key.clone(),
            finding_id: f.finding.id.to_string(),
            product_arn: f.finding.product_arn.to_string(),
            account_id: f.account.account_id.clone(),
            updated_at: f.finding.updated_at,
            workflow_status: f.finding.workflow_status(),
            record_state: f.finding.record_state(),
            severity: f.severity,
            severity_since: f.severity_since(prev),
            processed_at: f.processed_at,
            finding_type: f.finding_type.clone(),
            title: clip_title(&f.finding.title),
            product: clip(f.finding.product(), MAX_LABEL_CHARS),
            correlation_key: f.correlation_key.clone(),
            created_at: f.finding.created_at,
            event_time: f.finding.event_time(),
            last_event_time: f.finding.last_event_time(),
            raw: std::sync::Arc::from(f.raw),
            version: prev.map_or(1, |p| p.version + 1),
            ingested_at: now,
            expires_at: incident_id.is_none().then(|| now + ttl),
            incident_id,
            clamped: f.clamped.clone(),
            indexed: false,
            explanation: f.explanation.clone(),
            reevaluated_at: None,
        }
    }

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

    /// The rule that suppressed this state, if any.
    pub fn suppressed_by(&self) -> Option<&str> {
        self.explanation
            .decisions
            .suppressed
            .as_ref()
            .map(|s| s.rule.as_str())
    }
}
