//! What happened to each finding of a batch, for logs, metrics and the Lambda's response.

use std::collections::BTreeSet;

use crate::asff::SeverityLabel;
use crate::error::FindingError;
use crate::finding::NormalizedFinding;

/// What happened to one finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// First time seen; joined or opened `incident_id` (none when inactive and unmatched).
    New {
        incident_id: Option<String>,
        opened: bool,
    },
    /// A newer state of a known finding.
    Updated { incident_id: Option<String> },
    /// Same state as stored: nothing written.
    Duplicate,
    /// The stored state again, delivered later (a newer `ProcessedAt`): nothing an analyst
    /// sees changed; only the record's `ProcessedAt` advanced (one write).
    Refreshed,
    /// Older than the stored state: ignored.
    Stale,
    /// A new state suppressed by a runbook rule: stored with the rule and reason, in no
    /// incident.
    Suppressed { rule: String },
    /// Malformed: logged and skipped.
    Invalid(FindingError),
    /// The store rejected this finding's write (a request it can never accept): logged,
    /// counted and skipped; its neighbours are stored.
    Rejected(String),
}

#[derive(Debug, Clone)]
pub struct FindingOutcome {
    pub finding_id: Option<String>,
    pub account_id: Option<String>,
    pub severity: Option<SeverityLabel>,
    /// The account's environment (`production`, ...), when the finding parsed.
    pub environment: Option<&'static str>,
    pub outcome: Outcome,
}

/// The result of one batch, for logs and metrics.
#[derive(Debug, Clone, Default)]
pub struct BatchReport {
    pub outcomes: Vec<FindingOutcome>,
    /// Successful commits (each one DynamoDB write request).
    pub writes: u64,
    /// Commits that lost a race and were re-planned.
    pub conflicts: u64,
    pub incidents_opened: BTreeSet<String>,
    pub incidents_changed: BTreeSet<String>,
    /// What each runbook rule did to the finding states stored.
    pub rule_hits: crate::triage::RuleHits,
}

impl BatchReport {
    fn count(&self, f: impl Fn(&Outcome) -> bool) -> usize {
        self.outcomes.iter().filter(|o| f(&o.outcome)).count()
    }
    pub fn new_findings(&self) -> usize {
        self.count(|o| matches!(o, Outcome::New { .. }))
    }
    pub fn updated(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Updated { .. }))
    }
    /// Deliveries that changed nothing an analyst sees: exact duplicates and refreshes.
    pub fn duplicates(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Duplicate | Outcome::Refreshed))
    }
    pub fn refreshed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Refreshed))
    }
    pub fn stale(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Stale))
    }
    pub fn rejected(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Rejected(_)))
    }
    pub fn suppressed(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Suppressed { .. }))
    }
    pub fn invalid(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Invalid(_)))
    }
    pub fn merge(&mut self, other: BatchReport) {
        self.outcomes.extend(other.outcomes);
        self.writes += other.writes;
        self.conflicts += other.conflicts;
        self.incidents_opened.extend(other.incidents_opened);
        self.incidents_changed.extend(other.incidents_changed);
        for (id, h) in other.rule_hits {
            let mine = self.rule_hits.entry(id).or_default();
            mine.matches += h.matches;
            mine.refused += h.refused;
            for (a, n) in h.actions {
                *mine.actions.entry(a).or_default() += n;
            }
        }
    }
}

pub(crate) fn outcome_of(f: &NormalizedFinding<'_>, outcome: Outcome) -> FindingOutcome {
    FindingOutcome {
        finding_id: Some(f.finding.id.to_string()),
        account_id: Some(f.account.account_id.clone()),
        severity: Some(f.severity),
        environment: Some(f.account.environment.as_str()),
        outcome,
    }
}
