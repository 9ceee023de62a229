//! The pure heart of ingestion: given the stored state a slice of findings touches
//! ([`Loaded`]), fold the slice's new finding states in and say what to write ([`Plan`]).
//! No I/O, so every rule is unit-testable without a store.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};

use crate::correlate::CorrelationHead;
use crate::engine::report::{outcome_of, FindingOutcome, Outcome};
use crate::engine::Settings;
use crate::finding::{FindingRecord, NormalizedFinding};
use crate::incident::Incident;
use crate::ports::{ChangeSet, Expect, Put};
use crate::runbook::Runbook;

/// The changes one slice makes, computed without I/O.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: ChangeSet,
    pub outcomes: Vec<FindingOutcome>,
    pub opened: BTreeSet<String>,
    pub changed: BTreeSet<String>,
}

/// The stored state a slice touches, read before planning: the slice's finding records, the
/// heads of its correlation keys and every incident a finding may join.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub records: HashMap<String, FindingRecord>,
    pub heads: HashMap<String, CorrelationHead>,
    pub incidents: HashMap<String, Incident>,
}

/// Folds `pending` (each newer than its stored state) into the loaded state.
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
        let prev = records.get(&f.key);
        let known = |id: &String| work_incidents.contains_key(id) || incidents.contains_key(id);
        let mut target = prev.and_then(|p| p.incident_id.clone()).filter(known);
        if target.is_none() {
            let head = work_heads
                .entry(f.correlation_key.clone())
                .or_insert_with(|| {
                    heads
                        .get(&f.correlation_key)
                        .cloned()
                        .unwrap_or_else(|| CorrelationHead::new(&f.correlation_key))
                });
            target = head
                .find(f.finding.event_time(), window)
                .map(|w| w.incident_id.clone())
                .filter(|id| work_incidents.contains_key(id) || incidents.contains_key(id));
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
        if let Some(id) = &target {
            let inc = work_incidents.entry(id.clone()).or_insert_with(|| {
                incidents
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| Incident::open(f, runbook, now, settings.incident_retention))
            });
            let before = inc.window();
            if inc.apply(prev, f, runbook) {
                changed_incidents.insert(id.clone());
            }
            let after = inc.window();
            let key = inc.correlation_key.clone();
            let head = work_heads.entry(key.clone()).or_insert_with(|| {
                heads
                    .get(&key)
                    .cloned()
                    .unwrap_or_else(|| CorrelationHead::new(&key))
            });
            let listed = head
                .windows
                .iter()
                .any(|w| w.incident_id == after.incident_id);
            if before != after || !listed {
                head.upsert(after);
                changed_heads.insert(key);
            }
        }
        let record = FindingRecord::of(f, prev, target.clone(), now, settings.finding_ttl);
        out.changes.findings.push(Put {
            item: record,
            expect: prev.map_or(Expect::Absent, |p| Expect::Version(p.version)),
        });
        let outcome = match prev {
            None => Outcome::New {
                opened: target
                    .as_ref()
                    .is_some_and(|t| opened.get(t) == Some(&f.key)),
                incident_id: target,
            },
            Some(p) if f.same_state_as(p) => Outcome::Refreshed,
            Some(_) => Outcome::Updated {
                incident_id: target,
            },
        };
        out.outcomes.push(outcome_of(f, outcome));
    }

    for id in &changed_incidents {
        let Some(inc) = work_incidents.get(id) else {
            continue;
        };
        let mut inc = inc.clone();
        let expect = match incidents.get(id) {
            Some(stored) => Expect::Version(stored.version),
            None => Expect::Absent,
        };
        inc.version = incidents.get(id).map_or(1, |s| s.version + 1);
        inc.updated_at = now;
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
        // A head outlives every incident it lists, so a late finding still finds them.
        h.expires_at = now + settings.incident_retention;
        out.changes.heads.push(Put { item: h, expect });
    }
    out.opened = opened.into_keys().collect();
    out.changed = changed_incidents;
    out
}
