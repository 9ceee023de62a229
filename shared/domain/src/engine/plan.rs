//! The pure heart of ingestion: given the stored state a slice of findings touches
//! ([`Loaded`]), fold the slice's new finding states in and say what to write ([`Plan`]).
//! No I/O, so every rule is unit-testable without a store.
//!
//! The writes are not one transaction: the store applies them in order (heads, then
//! incidents, then finding records), each conditional on the version read, and may stop after
//! any of them (a lost race, a crash). The plan is built so that every prefix of its writes is
//! a state the next plan continues from correctly:
//! - a head naming an incident not stored yet: another ingest is in flight (wait for it), or
//!   was interrupted (ignore it; that ingest's retry reopens it under the same id, or joins
//!   what was built meanwhile);
//! - an incident written without the finding records it folded in: its [`Journal`] says which
//!   states it holds, so they are not counted again, and the records are written from the
//!   delivery when it comes again (the retry).
//!
//! [`Journal`]: crate::incident::Journal

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};

use crate::correlate::{choose, CorrelationHead, IncidentWindow};
use crate::engine::report::{outcome_of, FindingOutcome, Outcome};
use crate::engine::Settings;
use crate::finding::{FindingRecord, NormalizedFinding};
use crate::incident::{incident_id, Folded, Incident};
use crate::ports::{ChangeSet, Expect, Put};
use crate::runbook::Runbook;

/// How long a head may name an incident that is not stored before the ingest that named it is
/// taken for interrupted. An ingest writes the incident milliseconds after the head, but a
/// throttled one may retry for seconds; this is longer than the function's timeout (60 s), so
/// an ingest still writing after it has been stopped by Lambda.
pub const IN_FLIGHT: Duration = Duration::seconds(90);

/// How long a journal entry whose finding record never caught up is kept. The delivery that
/// would write that record is retried by Lambda and EventBridge for at most a day, and a
/// dead-letter queue keeps it 14 days.
pub const JOURNAL_HORIZON: Duration = Duration::days(15);

/// The changes one slice makes, computed without I/O.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: ChangeSet,
    pub outcomes: Vec<FindingOutcome>,
    pub opened: BTreeSet<String>,
    pub changed: BTreeSet<String>,
    /// A head names an incident another ingest is writing right now: re-read after a pause
    /// instead of writing.
    pub wait: bool,
    /// The rules that matched the finding states this plan stores.
    pub rule_hits: crate::triage::RuleHits,
}

/// The stored state a slice touches, read before planning: the slice's finding records (and
/// those of the journal entries of the incidents read), the heads of its correlation keys and
/// every incident a finding may join.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub records: HashMap<String, FindingRecord>,
    pub heads: HashMap<String, CorrelationHead>,
    pub incidents: HashMap<String, Incident>,
}

impl Loaded {
    /// Keys of journal entries whose finding records were not read yet.
    pub fn unread_journal_keys(&self) -> Vec<String> {
        let keys: BTreeSet<&str> = self
            .incidents
            .values()
            .flat_map(|i| i.journal.keys())
            .filter(|k| !self.records.contains_key(*k))
            .collect();
        keys.into_iter().map(str::to_owned).collect()
    }

    /// The newest state of `key` that a loaded incident has folded in, and that incident.
    fn folded(&self, key: &str) -> Option<(&str, &Folded)> {
        self.incidents
            .values()
            .filter_map(|i| i.journal.get(key).map(|f| (i.id.as_str(), f)))
            .max_by(|a, b| a.1.state_rank().cmp(&b.1.state_rank()))
    }

    /// A state of `key` that a loaded incident folded in, while the finding's record holds a
    /// state at least as new that names no incident: written by an ingest that read the store
    /// before that incident existed, and whose state joined none (inactive or suppressed), so
    /// that its write did not conflict with the incident's. The finding is still the
    /// incident's member: the incident counts it, and its next state must move it there, not
    /// join it again. A re-evaluation that moved the finding out is not this (its record says
    /// which incident it left, and the incident is rebuilt without its journal).
    pub fn orphaned(&self, key: &str) -> Option<(&str, &Folded)> {
        let r = self.records.get(key)?;
        if r.incident_id.is_some() {
            return None;
        }
        self.folded(key).filter(|(id, j)| {
            r.state_rank() >= j.state_rank()
                && r.reevaluated_at.is_none_or(|at| at < j.folded_at)
                && !r
                    .explanation
                    .grouping
                    .starts_with(&format!("left incident {id}:"))
        })
    }

    /// The records of every [`Loaded::orphaned`] finding.
    pub fn orphans(&self) -> Vec<&FindingRecord> {
        let mut keys: Vec<&str> = self
            .incidents
            .values()
            .flat_map(|i| i.journal.keys())
            .filter(|k| self.orphaned(k).is_some())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| self.records.get(k))
            .collect()
    }
}

/// What the store holds for a finding: its record, and the state the incidents count for it
/// (the record's, or a newer one from a journal when the record was not written yet).
struct Known<'l> {
    record: Option<&'l FindingRecord>,
    effective: Option<Cow<'l, FindingRecord>>,
    /// The journal entry that is newer than the record, if any.
    ahead: Option<&'l Folded>,
}

fn known<'l>(
    f: &NormalizedFinding,
    loaded: &'l Loaded,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Known<'l> {
    let record = loaded.records.get(&f.key);
    let ahead = loaded
        .folded(&f.key)
        .filter(|(_, j)| record.is_none_or(|r| j.state_rank() > r.state_rank()));
    match ahead {
        Some((incident, j)) => {
            let effective = j.as_record(incident, record, || {
                FindingRecord::of(
                    f,
                    None,
                    Some(incident.to_owned()),
                    now,
                    settings.finding_ttl,
                )
            });
            Known {
                record,
                effective: Some(Cow::Owned(effective)),
                ahead: Some(j),
            }
        }
        None => match loaded.orphaned(&f.key) {
            // Counted by that incident in the state it folded in (see [`Loaded::orphaned`]).
            Some((incident, j)) => Known {
                effective: Some(Cow::Owned(j.as_record(incident, record, || {
                    FindingRecord::of(
                        f,
                        None,
                        Some(incident.to_owned()),
                        now,
                        settings.finding_ttl,
                    )
                }))),
                record,
                ahead: None,
            },
            None => Known {
                effective: record.map(Cow::Borrowed),
                record,
                ahead: None,
            },
        },
    }
}

fn expect_of(record: Option<&FindingRecord>) -> Expect {
    record.map_or(Expect::Absent, |r| Expect::Version(r.version))
}

/// Why a finding state is in its incident, or in none (its explanation's `grouping`).
fn grouping(
    f: &NormalizedFinding,
    target: Option<&str>,
    member_before: bool,
    opened: bool,
    incident: Option<&Incident>,
) -> String {
    match (target, incident) {
        (Some(id), _) if opened => format!(
            "opened incident {id}: the first active finding on {} in account {}",
            f.entity.label, f.account.account_id
        ),
        (Some(id), _) if member_before => format!("in incident {id} since its first state"),
        (Some(id), Some(inc)) => format!("joined incident {id}: {}", inc.correlation_reason),
        (Some(id), None) => format!("joined incident {id}"),
        (None, _) => match f.suppressed_by() {
            Some(s) => format!(
                "in no incident: suppressed by rule {} ({})",
                s.rule, s.reason
            ),
            None => format!(
                "in no incident: {} and {} when first seen, so it opened none",
                f.finding.record_state().as_str(),
                f.finding.workflow_status().as_str()
            ),
        },
    }
}

/// Folds `pending` (each newer than its stored record) into the loaded state.
pub fn plan(
    pending: &[&NormalizedFinding],
    loaded: &Loaded,
    runbook: &Runbook,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Plan {
    let Loaded {
        records,
        heads,
        incidents,
    } = loaded;
    let window = runbook.window();
    let mut work_heads: BTreeMap<String, CorrelationHead> = BTreeMap::new();
    let mut work_incidents: BTreeMap<String, Incident> = BTreeMap::new();
    let mut changed_heads: BTreeSet<String> = BTreeSet::new();
    let mut changed_incidents: BTreeSet<String> = BTreeSet::new();
    // Incident id -> the key of the finding that opened it in this plan.
    let mut opened: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Plan::default();

    // Event-time order makes the result independent of the order findings arrived in.
    let mut order: Vec<&&NormalizedFinding> = pending.iter().collect();
    order.sort_by(|a, b| (a.finding.event_time(), &a.key).cmp(&(b.finding.event_time(), &b.key)));

    for f in order {
        let Known {
            record,
            effective,
            ahead,
        } = known(f, loaded, settings, now);
        let prev: Option<&FindingRecord> = effective.as_deref();

        // Not newer than what the incidents already count: at most the record is behind.
        if let Some(j) = ahead.filter(|j| j.state_rank() >= f.state_rank()) {
            if j.state_rank() == f.state_rank() {
                // The incident holds this state; its record was never written: write it now.
                let incident = prev.and_then(|p| p.incident_id.clone());
                let mut rec =
                    FindingRecord::of(f, record, incident.clone(), now, settings.finding_ttl);
                rec.severity_since = j.severity_since;
                rec.indexed = incident.as_ref().is_some_and(|id| {
                    incidents
                        .get(id)
                        .is_none_or(|i| !i.members.contains(&f.key))
                });
                crate::triage::count_hits(&mut out.rule_hits, &rec.explanation.decisions);
                out.changes.findings.push(Put {
                    item: rec,
                    expect: expect_of(record),
                });
                let outcome = match record {
                    None => Outcome::New {
                        opened: incident.as_deref().is_some_and(|id| {
                            id == incident_id(&f.correlation_key, &f.key, f.finding.event_time())
                        }),
                        incident_id: incident,
                    },
                    Some(_) => Outcome::Updated {
                        incident_id: incident,
                    },
                };
                out.outcomes.push(outcome_of(f, outcome));
            } else {
                out.outcomes.push(outcome_of(f, Outcome::Stale));
            }
            continue;
        }

        let is_known = |id: &String| work_incidents.contains_key(id) || incidents.contains_key(id);
        let mut target = prev.and_then(|p| p.incident_id.clone()).filter(is_known);
        let member_before = target.is_some();
        // A suppressed finding never joins or opens an incident (one already in an incident
        // stays there: a new rule applies to new findings).
        let suppressed = target.is_none() && f.suppressed_by().is_some();
        if target.is_none() && !suppressed {
            let head = work_heads
                .entry(f.correlation_key.clone())
                .or_insert_with(|| {
                    heads
                        .get(&f.correlation_key)
                        .cloned()
                        .unwrap_or_else(|| CorrelationHead::new(&f.correlation_key))
                });
            let t = f.finding.event_time();
            let own = incident_id(&f.correlation_key, &f.key, t);
            let mut exact: Vec<IncidentWindow> = Vec::new();
            let mut in_flight = false;
            for w in head.candidates(t, window) {
                match work_incidents
                    .get(&w.incident_id)
                    .or_else(|| incidents.get(&w.incident_id))
                {
                    Some(inc) => exact.push(inc.window()),
                    // Not stored: the incident this finding opens, named by an earlier attempt
                    // of this very delivery (opening it again below recreates it), or another
                    // finding's, still being written (wait), or left by an interrupted ingest
                    // (ignored: that ingest's retry joins whatever this one builds).
                    None if w.incident_id == own => {}
                    None => in_flight |= head.changed_at > now - IN_FLIGHT,
                }
            }
            target = choose(exact.iter(), t, window).map(|w| w.incident_id.clone());
            if target.is_none() && in_flight {
                out.wait = true;
                return out;
            }
            if target.is_none() && f.is_active() {
                let inc = Incident::open(f, runbook, now, settings.incident_retention);
                let id = inc.id.clone();
                // A retried plan can re-derive the id of an incident that already exists.
                if !incidents.contains_key(&id) {
                    opened.insert(id.clone(), f.key.clone());
                    work_incidents.insert(id.clone(), inc);
                }
                target = Some(id);
            }
        }
        let mut new_record = FindingRecord::of(f, prev, target.clone(), now, settings.finding_ttl);
        new_record.explanation.grouping = grouping(
            f,
            target.as_deref(),
            member_before,
            target
                .as_ref()
                .is_some_and(|t| opened.get(t) == Some(&f.key)),
            target
                .as_ref()
                .and_then(|t| work_incidents.get(t).or_else(|| incidents.get(t))),
        );
        if let Some(id) = &target {
            let inc = work_incidents.entry(id.clone()).or_insert_with(|| {
                incidents
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| Incident::open(f, runbook, now, settings.incident_retention))
            });
            if inc.apply_at(prev, f, runbook, now) {
                changed_incidents.insert(id.clone());
                inc.journal.record(Folded::of(&new_record, now));
            }
            new_record.indexed = !inc.members.contains(&f.key);
            let after = inc.window().coarse();
            let key = inc.correlation_key.clone();
            let head = work_heads.entry(key.clone()).or_insert_with(|| {
                heads
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| CorrelationHead::new(&key))
            });
            let recorded = head
                .windows
                .iter()
                .find(|w| w.incident_id == after.incident_id);
            if recorded != Some(&after) {
                head.upsert(after);
                changed_heads.insert(key);
            }
        }
        let outcome = match prev {
            Some(p) if f.same_state_as(p) => Outcome::Refreshed,
            _ if suppressed => Outcome::Suppressed {
                rule: f
                    .suppressed_by()
                    .map(|s| s.rule.clone())
                    .unwrap_or_default(),
            },
            None => Outcome::New {
                opened: target
                    .as_ref()
                    .is_some_and(|t| opened.get(t) == Some(&f.key)),
                incident_id: target,
            },
            Some(_) => Outcome::Updated {
                incident_id: target,
            },
        };
        if !matches!(outcome, Outcome::Refreshed) {
            crate::triage::count_hits(&mut out.rule_hits, &f.decisions);
        }
        out.changes.findings.push(Put {
            item: new_record,
            expect: expect_of(record),
        });
        out.outcomes.push(outcome_of(f, outcome));
    }

    let horizon = now - JOURNAL_HORIZON;
    for id in &changed_incidents {
        let Some(inc) = work_incidents.get(id) else {
            continue;
        };
        let mut inc = inc.clone();
        // An entry is held once its finding's record has the state and names this incident.
        let dropped = inc.journal.prune(
            |k| {
                records
                    .get(k)
                    .filter(|r| r.incident_id.as_deref() == Some(id.as_str()))
                    .map(FindingRecord::state_rank)
            },
            horizon,
        );
        if dropped > 0 {
            tracing::debug!(incident_id = %inc.id, dropped, "journal entries held by their records");
        }
        let expect = match incidents.get(id) {
            Some(stored) => Expect::Version(stored.version),
            None => Expect::Absent,
        };
        inc.version = incidents.get(id).map_or(1, |s| s.version + 1);
        inc.updated_at = now;
        // Escalation: when to look again (the deadline or status may have moved); steps are
        // only ever notified by the escalation run's own write.
        inc.escalation.next_check = crate::escalation::next_check(runbook, &inc);
        inc.escalation.notify.clear();
        inc.expires_at = inc.expires_at.max(now + settings.incident_retention);
        out.changes.incidents.push(Put { item: inc, expect });
    }
    for key in &changed_heads {
        let Some(h) = work_heads.get(key) else {
            continue;
        };
        let mut h = h.clone();
        let expect = match heads.get(key) {
            Some(stored) => Expect::Version(stored.version),
            None => Expect::Absent,
        };
        h.version = heads.get(key).map_or(1, |s| s.version + 1);
        h.changed_at = now;
        // A head outlives every incident it lists, so a late finding still finds them: an
        // incident can be written later the same day without its head (the head's windows are
        // whole days), hence the extra day.
        h.expires_at = now
            + settings.incident_retention
            + Duration::seconds(crate::correlate::HEAD_GRANULARITY_SECS);
        out.changes.heads.push(Put { item: h, expect });
    }
    out.opened = opened.into_keys().collect();
    out.changed = changed_incidents;
    out
}
