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

use crate::asff::{RecordState, SeverityLabel, WorkflowStatus};
use crate::correlate::IncidentWindow;
use crate::enrich::{RemediationAdvice, RemediationSource};
use crate::finding::{clip_title, short_hash, FindingRecord, NormalizedFinding, StateRank};
use crate::runbook::{Environment, HumanDuration, Runbook};

/// Most entries kept in an incident's `finding_types`, `tactics` and `products`.
pub const MAX_LIST_ENTRIES: usize = 256;

/// How many of its most recent findings an incident names ([`Incident::recent`]), so that the
/// forwarder reads them by key, for a whole batch of incidents at once.
pub const RECENT_FINDINGS: usize = 10;

/// How many member keys an incident lists itself ([`Members`]).
pub const INLINE_MEMBERS: usize = 16;

/// The first [`INLINE_MEMBERS`] members of an incident, by key: where the store finds them
/// without an index (later members are indexed instead; see `FindingRecord::indexed`).
///
/// Bookkeeping, not part of what an incident is (which members come first depends on arrival
/// order): two incidents are equal whatever their lists hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Members(pub Vec<String>);

impl PartialEq for Members {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Members {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn contains(&self, key: &str) -> bool {
        self.0.iter().any(|k| k == key)
    }
    /// Lists `key` if there is room.
    fn add(&mut self, key: &str) {
        if self.0.len() < INLINE_MEMBERS && !self.contains(key) {
            self.0.push(key.to_owned());
        }
    }
}

/// A member finding, by key and event time (see [`Incident::recent`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRef {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "t")]
    pub event_time: DateTime<Utc>,
}

/// One finding state folded into an incident, kept until the finding's own record is known to
/// hold it (see [`Journal`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folded {
    #[serde(rename = "k")]
    pub key: String,
    #[serde(rename = "u")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<DateTime<Utc>>,
    #[serde(rename = "w")]
    pub workflow_status: WorkflowStatus,
    #[serde(rename = "r")]
    pub record_state: RecordState,
    #[serde(rename = "s")]
    pub severity: SeverityLabel,
    #[serde(rename = "ss")]
    pub severity_since: DateTime<Utc>,
    /// Wall-clock time it was folded in.
    #[serde(rename = "at")]
    pub folded_at: DateTime<Utc>,
}

impl Folded {
    pub fn of(record: &FindingRecord, now: DateTime<Utc>) -> Self {
        Folded {
            key: record.key.clone(),
            updated_at: record.updated_at,
            processed_at: record.processed_at,
            workflow_status: record.workflow_status,
            record_state: record.record_state,
            severity: record.severity,
            severity_since: record.severity_since,
            folded_at: now,
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

    /// `record` (the finding's stored record, if any; else `like`, a record of the delivery)
    /// with this folded state: what the incident already counts for the finding.
    pub fn as_record(
        &self,
        incident_id: &str,
        record: Option<&FindingRecord>,
        like: impl FnOnce() -> FindingRecord,
    ) -> FindingRecord {
        let mut r = match record {
            Some(r) => r.clone(),
            None => {
                let mut r = like();
                r.version = 0;
                r
            }
        };
        r.updated_at = self.updated_at;
        r.processed_at = self.processed_at;
        r.workflow_status = self.workflow_status;
        r.record_state = self.record_state;
        r.severity = self.severity;
        r.severity_since = self.severity_since;
        r.incident_id = Some(incident_id.to_owned());
        r
    }
}

/// The finding states an incident has folded in whose finding records may not be written yet.
///
/// An ingest writes an incident before the finding records it folds in (one conditional write
/// per item, no transaction). If it stops in between, the retry must not fold the same states
/// in twice: it finds them here, and only writes the records. An entry is dropped once the
/// finding's record holds that state or a newer one, which the next write of the incident
/// sees (it reads those records); so the journal holds about one write's worth of entries.
///
/// Bookkeeping, not part of what an incident is: two incidents are equal whatever their
/// journals hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Journal(pub Vec<Folded>);

impl PartialEq for Journal {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Journal {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The newest state folded in for `key`.
    pub fn get(&self, key: &str) -> Option<&Folded> {
        self.0
            .iter()
            .filter(|f| f.key == key)
            .max_by(|a, b| a.state_rank().cmp(&b.state_rank()))
    }

    /// Records that `state` is folded in (replacing older entries of its finding).
    pub fn record(&mut self, state: Folded) {
        self.0.retain(|f| f.key != state.key);
        self.0.push(state);
    }

    /// Keeps only entries whose state the finding's record (`stored(key)`: its rank, if the
    /// record was read and names this incident) does not hold yet, and that are younger than
    /// `horizon`.
    pub fn prune(
        &mut self,
        stored: impl Fn(&str) -> Option<StateRank>,
        horizon: DateTime<Utc>,
    ) -> usize {
        let before = self.0.len();
        self.0.retain(|f| {
            let held = stored(&f.key).is_some_and(|r| r >= f.state_rank());
            !held && f.folded_at > horizon
        });
        before - self.0.len()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|f| f.key.as_str())
    }
}

/// Inserts `value` if the set has room; whether it did.
fn insert_capped(set: &mut BTreeSet<String>, value: &str) -> bool {
    if set.len() < MAX_LIST_ENTRIES && !set.contains(value) {
        set.insert(value.to_owned());
        return true;
    }
    false
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IncidentStatus {
    /// Waiting for an analyst.
    Open,
    /// An analyst has it (its response deadline is met).
    Acknowledged,
    /// Closed: by an analyst, or because all its findings are archived, resolved or
    /// suppressed in Security Hub.
    Resolved,
    /// Closed as a false positive or accepted risk, with its reason.
    Suppressed,
}

impl IncidentStatus {
    pub const ALL: [IncidentStatus; 4] = [
        Self::Open,
        Self::Acknowledged,
        Self::Resolved,
        Self::Suppressed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::Acknowledged => "ACKNOWLEDGED",
            Self::Resolved => "RESOLVED",
            Self::Suppressed => "SUPPRESSED",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for IncidentStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
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
    /// Its [`RECENT_FINDINGS`] most recent findings by event time, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recent: Vec<MemberRef>,
    /// Its first members, listed (see [`Members`]).
    #[serde(default, skip_serializing_if = "Members::is_empty")]
    pub members: Members,
    /// Finding states folded in whose records may not be written yet (see [`Journal`]).
    #[serde(default, skip_serializing_if = "Journal::is_empty")]
    pub journal: Journal,
    /// Why it has its severity, environment and deadline, and what runbook rules added.
    #[serde(default, skip_serializing_if = "IncidentTriage::is_empty")]
    pub triage: IncidentTriage,
    /// Every change of status, oldest first (see [`crate::lifecycle`]); at most
    /// [`crate::lifecycle::MAX_HISTORY`], `history_dropped` counts the older ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<crate::lifecycle::Transition>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_dropped: u64,
    /// When it was first acknowledged, and by whom: its response deadline is met by this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
    /// Its escalation: the policy, the steps done, when to look again.
    #[serde(
        default,
        skip_serializing_if = "crate::escalation::Escalation::is_empty"
    )]
    pub escalation: crate::escalation::Escalation,
    /// Its findings' observables, `kind:value`, at most
    /// [`crate::indicators::MAX_PER_INCIDENT`] (campaigns link incidents by them).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub indicators: BTreeSet<String>,
    /// For an attack sequence: the finding keys of the signals it names.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub signals: BTreeSet<String>,
    /// The digest it rolls up into ([`crate::queue::QueueSpec::digest_id`]), set as its
    /// findings fold in: a rolled-up incident is never paged or escalated on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The campaign it is a member of, as the last queue run saw it
    /// ([`crate::queue_store`]): notices that call for action then come from the campaign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// An incident's explanation and the runbook's additions: the reasons for its severity,
/// environment and deadline (from the finding that set each), the rules that matched its
/// findings, their notes for the analyst, and the route notifications use.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IncidentTriage {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub severity: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub environment: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub deadline: String,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub rules: BTreeSet<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<crate::triage::Note>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The last re-evaluation of the incident under a new runbook version
    /// (`vigil runbook apply --retroactive`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reevaluated: Option<Reevaluation>,
}

/// A re-evaluation of an open incident's findings under a runbook version other than the one
/// that decided about them when they were delivered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reevaluation {
    /// The runbook version (content hash) applied.
    pub runbook: String,
    pub at: DateTime<Utc>,
    /// What changed, e.g. "severity MEDIUM -> HIGH; 3 findings suppressed by rule scanners".
    pub changes: String,
}

impl IncidentTriage {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
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
            recent: Vec::new(),
            members: Members::default(),
            journal: Journal::default(),
            triage: IncidentTriage {
                environment: f.explanation.environment.clone(),
                ..Default::default()
            },
            history: Vec::new(),
            history_dropped: 0,
            acknowledged_at: None,
            acknowledged_by: None,
            escalation: Default::default(),
            indicators: BTreeSet::new(),
            signals: BTreeSet::new(),
            digest: None,
            campaign: None,
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

    /// [`Incident::apply_at`] at the incident's `updated_at` (tests, tools).
    pub fn apply(
        &mut self,
        prev: Option<&FindingRecord>,
        f: &NormalizedFinding,
        runbook: &Runbook,
    ) -> bool {
        let now = self.updated_at;
        self.apply_at(prev, f, runbook, now)
    }

    /// Folds one finding state into the incident at `now`. `prev` is the finding's previous
    /// stored state, if any. Returns whether anything an analyst sees changed.
    pub fn apply_at(
        &mut self,
        prev: Option<&FindingRecord>,
        f: &NormalizedFinding,
        runbook: &Runbook,
        now: DateTime<Utc>,
    ) -> bool {
        // Tracks every field it changes (all of them material), instead of cloning the
        // incident to compare: this runs once per finding state.
        let mut changed = false;
        let active = f.is_active();
        let severity_before = self.severity;
        let member_before = prev.is_some_and(|p| p.incident_id.as_deref() == Some(&self.id));
        // A finding that joins active, or a member that becomes active again.
        let mut activated = !member_before && active;
        if member_before {
            let was_active = prev.is_some_and(FindingRecord::is_active);
            match (was_active, active) {
                (false, true) => {
                    self.active_finding_count += 1;
                    activated = true;
                    changed = true;
                }
                (true, false) => {
                    let n = self.active_finding_count.saturating_sub(1);
                    changed |= n != self.active_finding_count;
                    self.active_finding_count = n;
                }
                _ => {}
            }
        } else {
            self.finding_count += 1;
            if active {
                self.active_finding_count += 1;
            }
            self.members.add(&f.key);
            changed = true;
        }
        changed |= insert_capped(&mut self.finding_types, &f.finding_type);
        changed |= crate::indicators::merge_capped(
            &mut self.indicators,
            &f.indicators,
            crate::indicators::MAX_PER_INCIDENT,
        );
        changed |= crate::indicators::merge_capped(
            &mut self.signals,
            &f.signals,
            crate::indicators::MAX_SIGNALS,
        );
        if let Some(t) = f.tactic {
            changed |= insert_capped(&mut self.tactics, t);
        }
        let product = f.finding.product();
        if !self.products.contains(product) {
            changed |= insert_capped(
                &mut self.products,
                &crate::bounds::clip(product, crate::bounds::MAX_LABEL_CHARS),
            );
        }
        let (first, last) = (
            self.first_seen.min(f.finding.event_time()),
            self.last_seen.max(f.finding.last_event_time()),
        );
        changed |= (first, last) != (self.first_seen, self.last_seen);
        (self.first_seen, self.last_seen) = (first, last);
        changed |= self.note_recent(&f.key, f.finding.event_time());
        if f.account.environment > self.environment {
            self.environment = f.account.environment;
            self.triage.environment = f.explanation.environment.clone();
            changed = true;
        }
        changed |= self.note_triage(f);

        if active {
            if f.severity > self.severity {
                self.severity = f.severity;
                if !f.explanation.severity.is_empty() {
                    self.triage.severity = crate::bounds::clip(
                        &format!("{} (finding {})", f.explanation.severity, f.finding.id),
                        crate::bounds::MAX_TEXT_CHARS,
                    );
                }
                changed = true;
            }
            // The clock for this finding's severity starts when the finding was created, or
            // when an update changed its severity; later updates at the same severity keep it.
            let start = f.severity_since(prev);
            if let Some(target) = runbook.deadline_for(f.account.environment, f.severity) {
                if let Some(d) = start.checked_add_signed(target) {
                    let deadline = Some(match self.response_deadline {
                        Some(old) => old.min(d),
                        None => d,
                    });
                    if deadline != self.response_deadline {
                        changed = true;
                        if !f.explanation.deadline.is_empty() {
                            self.triage.deadline = crate::bounds::clip(
                                &format!(
                                    "{}, from {} (finding {})",
                                    f.explanation.deadline,
                                    start.format("%Y-%m-%dT%H:%M:%SZ"),
                                    f.finding.id
                                ),
                                crate::bounds::MAX_TEXT_CHARS,
                            );
                        }
                    }
                    self.response_deadline = deadline;
                }
            }
            // The lead is the most severe finding ever seen; a newer state of the lead at the
            // same or higher severity refreshes its title, a downgrade does not demote it.
            let (sev, at) = (f.severity, f.finding.event_time());
            let beats = (
                self.lead.severity,
                std::cmp::Reverse(self.lead.event_time),
                std::cmp::Reverse(self.lead.key.as_str()),
            ) < (
                sev,
                std::cmp::Reverse(at),
                std::cmp::Reverse(f.key.as_str()),
            );
            if beats || (f.key == self.lead.key && sev >= self.lead.severity) {
                let cand = lead_of(f);
                changed |= cand != self.lead;
                self.lead = cand;
            }
        } else if self.lead.key == f.key && self.finding_count == 1 {
            let cand = lead_of(f);
            changed |= cand != self.lead;
            self.lead = cand;
        }
        if self.title != self.lead.title {
            self.title = self.lead.title.clone();
            changed = true;
        }
        changed |= self.settle(activated, member_before, severity_before, f, runbook, now);
        if self.is_live() {
            let digest = runbook.queue.digest_id(self);
            changed |= digest != self.digest;
            self.digest = digest;
        }
        changed
    }

    /// The automatic transitions (see [`crate::runbook::Lifecycle`]), after `f` was folded in.
    fn settle(
        &mut self,
        activated: bool,
        member_before: bool,
        severity_before: SeverityLabel,
        f: &NormalizedFinding,
        runbook: &Runbook,
        now: DateTime<Utc>,
    ) -> bool {
        use IncidentStatus::*;
        let rules = &runbook.lifecycle;
        let how = if member_before {
            "became active again"
        } else {
            "joined"
        };
        let to = match self.status {
            Open | Acknowledged if self.active_finding_count == 0 && rules.auto_resolve => Some((
                Resolved,
                "every finding is archived, resolved or suppressed in Security Hub".to_owned(),
            )),
            Resolved if activated && rules.auto_reopen => {
                Some((Open, format!("finding {} {how}", f.finding.id)))
            }
            // A false positive stays one, unless something more severe joins it.
            Suppressed if activated && rules.auto_reopen && f.severity > severity_before => Some((
                Open,
                format!(
                    "finding {} {how} at {}, above the {} it was suppressed at",
                    f.finding.id, f.severity, severity_before
                ),
            )),
            _ => None,
        };
        let Some((to, why)) = to else {
            return false;
        };
        let from = self.status;
        self.record(crate::lifecycle::Transition {
            at: now,
            from,
            to,
            by: crate::lifecycle::BY_VIGIL.to_owned(),
            source: "ingest".to_owned(),
            why: crate::bounds::clip(&why, crate::bounds::MAX_TEXT_CHARS),
            reference: None,
        });
        self.status = to;
        true
    }

    /// Adds what the runbook's rules decided about `f`: its rules, notes and route (the route
    /// of the lead finding wins, else the first one seen).
    fn note_triage(&mut self, f: &NormalizedFinding) -> bool {
        let mut changed = false;
        for m in &f.decisions.rules {
            changed |= insert_capped(&mut self.triage.rules, &m.id);
        }
        for n in &f.decisions.notes {
            if self.triage.notes.len() < crate::triage::MAX_NOTES
                && !self.triage.notes.iter().any(|x| x.text == n.text)
            {
                self.triage.notes.push(n.clone());
                changed = true;
            }
        }
        if let Some(r) = &f.decisions.route {
            let lead = self.lead.key == f.key || f.severity > self.severity;
            if self.triage.route.is_none() || (lead && self.triage.route.as_ref() != Some(&r.value))
            {
                self.triage.route = Some(r.value.clone());
                changed = true;
            }
        }
        changed
    }

    /// Keeps `key` among the [`RECENT_FINDINGS`] most recent members (newest event time first,
    /// then smallest key): a function of the members alone, whatever the order they came in.
    fn note_recent(&mut self, key: &str, event_time: DateTime<Utc>) -> bool {
        if let Some(m) = self.recent.iter_mut().find(|m| m.key == key) {
            if m.event_time == event_time {
                return false;
            }
            m.event_time = event_time;
        } else {
            let full = self.recent.len() >= RECENT_FINDINGS;
            if full
                && self.recent.last().is_some_and(|l| {
                    (std::cmp::Reverse(l.event_time), l.key.as_str())
                        < (std::cmp::Reverse(event_time), key)
                })
            {
                return false;
            }
            self.recent.push(MemberRef {
                key: key.to_owned(),
                event_time,
            });
        }
        self.recent.sort_by(|a, b| {
            b.event_time
                .cmp(&a.event_time)
                .then_with(|| a.key.cmp(&b.key))
        });
        self.recent.truncate(RECENT_FINDINGS);
        true
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

    /// `apply` says it changed something exactly when the incident is materially different.
    #[test]
    fn apply_reports_a_change_exactly_when_the_incident_changed() {
        let rb = Runbook::default();
        let sevs = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
        let first = nf("f0", "LOW", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z");
        let mut inc = Incident::open(&first, &rb, Utc::now(), Duration::days(1));
        let mut records: std::collections::HashMap<String, FindingRecord> = Default::default();
        let mut seed: u64 = 7;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for step in 0..400 {
            let id = format!("f{}", next(14));
            let created = format!("2026-11-20T{:02}:00:00Z", 10 + next(3));
            let updated = format!("2026-11-20T{:02}:{:02}:00Z", 13 + next(5), next(60));
            let mut f = nf(&id, sevs[next(4) as usize], &created, &updated);
            if next(4) == 0 {
                f.finding.record_state = Some("ARCHIVED".into());
            }
            let prev = records.get(&f.key).cloned();
            let before = inc.clone();
            let said = inc.apply(prev.as_ref(), &f, &rb);
            assert_eq!(said, !inc.material_eq(&before), "step {step}: {id}");
            records.insert(f.key.clone(), record_of(&f, &inc.id));
        }
        assert!(inc.finding_count > 10);
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
