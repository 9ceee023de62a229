//! The ingest engine: parse, enrich, deduplicate and aggregate a batch of findings into
//! incidents through an [`IncidentStore`], correctly under at-least-once, concurrent delivery.
//!
//! Per correlation key, a slice of the batch is processed as one optimistic transaction:
//! read the findings' stored states, the key's correlation head and the incidents involved;
//! fold the new states in with the pure rules of [`crate::incident`]; commit every change in one
//! conditional write. If another invocation changed any of those items first, the commit fails
//! as a whole and the slice is re-read and re-planned. Deliveries that are not newer than the
//! stored state write nothing at all.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use crate::asff::{finding_id_of, parse_finding, SeverityLabel};
use crate::error::{FindingError, StoreError};
use crate::incident::{CorrelationHead, FindingRecord, Incident, NormalizedFinding};
use crate::ports::{ChangeSet, Expect, IncidentStore, Put};
use crate::runbook::Runbook;

/// Largest finding Vigil stores. ASFF caps findings at 240 KB; DynamoDB items at 400 KB.
pub const MAX_FINDING_BYTES: usize = 300 * 1024;

/// Tunables, normally from the environment (`VIGIL_FINDING_TTL_DAYS`, ...).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long deduplication records are kept after their last update.
    pub finding_ttl: Duration,
    /// How long incidents are kept after their last change.
    pub incident_retention: Duration,
    /// Commit attempts per slice before giving up with a retryable error.
    pub max_attempts: u32,
    /// Findings per write (DynamoDB transactions hold at most 100 items).
    pub max_findings_per_write: usize,
    /// Bytes of finding JSON per write (DynamoDB transactions hold at most 4 MB).
    pub max_bytes_per_write: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            finding_ttl: Duration::days(90),
            incident_retention: Duration::days(400),
            max_attempts: 30,
            max_findings_per_write: 40,
            max_bytes_per_write: 3 * 1024 * 1024,
        }
    }
}

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
    /// Older than the stored state: ignored.
    Stale,
    /// Malformed: logged and skipped.
    Invalid(FindingError),
}

#[derive(Debug, Clone)]
pub struct FindingOutcome {
    pub finding_id: Option<String>,
    pub account_id: Option<String>,
    pub severity: Option<SeverityLabel>,
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
    pub fn duplicates(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Duplicate))
    }
    pub fn stale(&self) -> usize {
        self.count(|o| matches!(o, Outcome::Stale))
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
    }
}

/// Parses and enriches raw findings; malformed ones come back as errors, never panics.
pub fn normalize_all(
    values: &[Value],
    runbook: &Runbook,
) -> (Vec<NormalizedFinding>, Vec<FindingError>) {
    let mut ok = Vec::with_capacity(values.len());
    let mut bad = Vec::new();
    for v in values {
        match normalize_one(v, runbook) {
            Ok(f) => ok.push(f),
            Err(e) => bad.push(e),
        }
    }
    (ok, bad)
}

pub fn normalize_one(v: &Value, runbook: &Runbook) -> Result<NormalizedFinding, FindingError> {
    let f = parse_finding(v)?;
    let nf = NormalizedFinding::new(f, runbook);
    if nf.raw.len() > MAX_FINDING_BYTES {
        return Err(FindingError::Invalid {
            finding_id: finding_id_of(v),
            field: "<finding>".into(),
            reason: format!(
                "{} bytes exceeds the {} byte limit (ASFF allows 240 KB)",
                nf.raw.len(),
                MAX_FINDING_BYTES
            ),
        });
    }
    Ok(nf)
}

/// Processes a batch of normalized findings. Idempotent: running it again, or concurrently with
/// itself, leaves the same incidents. A `StoreError` that [`StoreError::is_retryable`] means
/// the caller (Lambda) may safely retry the whole batch.
pub async fn ingest<S: IncidentStore>(
    store: &S,
    runbook: &Runbook,
    settings: &Settings,
    findings: Vec<NormalizedFinding>,
    now: DateTime<Utc>,
) -> Result<BatchReport, StoreError> {
    // Within one batch keep only the newest state of each finding.
    let mut newest: BTreeMap<String, NormalizedFinding> = BTreeMap::new();
    let mut report = BatchReport::default();
    for f in findings {
        match newest.get(&f.key) {
            Some(existing) if existing.state_rank() >= f.state_rank() => {
                report.outcomes.push(outcome_of(&f, Outcome::Duplicate));
            }
            Some(existing) => {
                report
                    .outcomes
                    .push(outcome_of(existing, Outcome::Duplicate));
                newest.insert(f.key.clone(), f);
            }
            None => {
                newest.insert(f.key.clone(), f);
            }
        }
    }
    // Group by correlation key, then slice to fit one transaction.
    let mut groups: BTreeMap<String, Vec<NormalizedFinding>> = BTreeMap::new();
    for f in newest.into_values() {
        groups.entry(f.correlation_key.clone()).or_default().push(f);
    }
    for (_, group) in groups {
        let mut slice: Vec<NormalizedFinding> = Vec::new();
        let mut bytes = 0usize;
        for f in group {
            if !slice.is_empty()
                && (slice.len() >= settings.max_findings_per_write
                    || bytes + f.raw.len() > settings.max_bytes_per_write)
            {
                report.merge(ingest_slice(store, runbook, settings, &slice, now).await?);
                slice.clear();
                bytes = 0;
            }
            bytes += f.raw.len();
            slice.push(f);
        }
        if !slice.is_empty() {
            report.merge(ingest_slice(store, runbook, settings, &slice, now).await?);
        }
    }
    Ok(report)
}

fn outcome_of(f: &NormalizedFinding, outcome: Outcome) -> FindingOutcome {
    FindingOutcome {
        finding_id: Some(f.finding.id.clone()),
        account_id: Some(f.account.account_id.clone()),
        severity: Some(f.severity),
        outcome,
    }
}

/// Whether `f` is a newer state than what is stored.
fn is_newer(f: &NormalizedFinding, stored: Option<&FindingRecord>) -> bool {
    stored.is_none_or(|s| f.state_rank() > s.state_rank())
}

async fn ingest_slice<S: IncidentStore>(
    store: &S,
    runbook: &Runbook,
    settings: &Settings,
    slice: &[NormalizedFinding],
    now: DateTime<Utc>,
) -> Result<BatchReport, StoreError> {
    let keys: Vec<String> = slice.iter().map(|f| f.key.clone()).collect();
    let window = runbook.window();
    let mut conflicts = 0u64;
    for attempt in 0..settings.max_attempts {
        let records = store.get_findings(&keys).await?;
        let mut report = BatchReport {
            conflicts,
            ..Default::default()
        };
        let mut pending: Vec<&NormalizedFinding> = Vec::new();
        for f in slice {
            let stored = records.get(&f.key);
            if is_newer(f, stored) {
                pending.push(f);
            } else if stored.is_some_and(|s| s.state_rank() == f.state_rank()) {
                report.outcomes.push(outcome_of(f, Outcome::Duplicate));
            } else {
                report.outcomes.push(outcome_of(f, Outcome::Stale));
            }
        }
        if pending.is_empty() {
            return Ok(report);
        }

        // Heads of the slice's keys, then every incident a pending finding may touch.
        let head_keys: Vec<String> = pending
            .iter()
            .map(|f| f.correlation_key.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut heads = store.get_heads(&head_keys).await?;
        let mut ids: BTreeSet<String> = BTreeSet::new();
        for f in &pending {
            if let Some(id) = records.get(&f.key).and_then(|r| r.incident_id.clone()) {
                ids.insert(id);
            }
            if let Some(h) = heads.get(&f.correlation_key) {
                for w in &h.windows {
                    if w.admits(f.finding.event_time(), window) {
                        ids.insert(w.incident_id.clone());
                    }
                }
            }
        }
        let ids: Vec<String> = ids.into_iter().collect();
        let incidents = store.get_incidents(&ids).await?;
        let extra: Vec<String> = incidents
            .values()
            .map(|i| i.correlation_key.clone())
            .filter(|k| !heads.contains_key(k) && !head_keys.contains(k))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !extra.is_empty() {
            heads.extend(store.get_heads(&extra).await?);
        }

        let plan = plan(
            &pending, &records, &heads, &incidents, runbook, settings, now,
        );
        match store.commit(&plan.changes).await {
            Ok(()) => {
                report.writes += 1;
                report.outcomes.extend(plan.outcomes);
                report.incidents_opened = plan.opened;
                report.incidents_changed = plan.changed;
                return Ok(report);
            }
            Err(StoreError::Conflict { what }) => {
                conflicts += 1;
                tracing::debug!(attempt, %what, "conflicting concurrent write; re-reading");
                store.backoff(attempt).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(StoreError::Unavailable {
        message: format!(
            "gave up after {} conflicting concurrent writes on one correlation key",
            settings.max_attempts
        ),
        source: None,
    })
}

/// The changes one slice makes, computed without I/O.
#[derive(Debug, Default)]
pub struct Plan {
    pub changes: ChangeSet,
    pub outcomes: Vec<FindingOutcome>,
    pub opened: BTreeSet<String>,
    pub changed: BTreeSet<String>,
}

/// Folds `pending` (each newer than its stored state) into the loaded state.
pub fn plan(
    pending: &[&NormalizedFinding],
    records: &HashMap<String, FindingRecord>,
    heads: &HashMap<String, CorrelationHead>,
    incidents: &HashMap<String, Incident>,
    runbook: &Runbook,
    settings: &Settings,
    now: DateTime<Utc>,
) -> Plan {
    let window = runbook.window();
    let mut work_heads: BTreeMap<String, CorrelationHead> = BTreeMap::new();
    let mut work_incidents: BTreeMap<String, Incident> = BTreeMap::new();
    let mut changed_heads: BTreeSet<String> = BTreeSet::new();
    let mut changed_incidents: BTreeSet<String> = BTreeSet::new();
    let mut opened: BTreeSet<String> = BTreeSet::new();
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
                    opened.insert(id.clone());
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
        let record = FindingRecord {
            key: f.key.clone(),
            finding_id: f.finding.id.clone(),
            product_arn: f.finding.product_arn.clone(),
            account_id: f.account.account_id.clone(),
            updated_at: f.finding.updated_at.at(),
            workflow_status: f.finding.workflow_status(),
            record_state: f.finding.record_state(),
            severity: f.severity,
            finding_type: f.finding_type.clone(),
            title: f.finding.title.clone(),
            product: f.finding.product().to_owned(),
            correlation_key: f.correlation_key.clone(),
            incident_id: target.clone(),
            created_at: f.finding.created_at.at(),
            event_time: f.finding.event_time(),
            last_event_time: f.finding.last_event_time(),
            raw: f.raw.clone(),
            version: prev.map_or(1, |p| p.version + 1),
            ingested_at: now,
            expires_at: now + settings.finding_ttl,
        };
        out.changes.findings.push(Put {
            item: record,
            expect: prev.map_or(Expect::Absent, |p| Expect::Version(p.version)),
        });
        let outcome = match prev {
            None => Outcome::New {
                opened: target.as_ref().is_some_and(|t| opened.contains(t)),
                incident_id: target,
            },
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
        h.expires_at = now + settings.finding_ttl;
        out.changes.heads.push(Put { item: h, expect });
    }
    out.opened = opened;
    out.changed = changed_incidents;
    out
}

/// Parses, enriches and ingests raw findings (the `detail.findings` of one event). Malformed
/// findings are reported as [`Outcome::Invalid`] and do not stop the others.
pub async fn ingest_values<S: IncidentStore>(
    store: &S,
    runbook: &Runbook,
    settings: &Settings,
    values: &[Value],
    now: DateTime<Utc>,
) -> Result<BatchReport, StoreError> {
    let mut good = Vec::with_capacity(values.len());
    let mut invalid = Vec::new();
    for v in values {
        match normalize_one(v, runbook) {
            Ok(f) => good.push(f),
            Err(e) => invalid.push(FindingOutcome {
                finding_id: e.finding_id().map(str::to_owned),
                account_id: v
                    .get("AwsAccountId")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                severity: None,
                outcome: Outcome::Invalid(e),
            }),
        }
    }
    let mut report = ingest(store, runbook, settings, good, now).await?;
    report.outcomes.extend(invalid);
    Ok(report)
}
