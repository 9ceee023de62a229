//! In-memory fakes of the ports, with the adapters' conditional semantics.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use futures::future::BoxFuture;

use crate::correlate::CorrelationHead;
use crate::error::StoreError;
use crate::finding::FindingRecord;
use crate::incident::Incident;
use crate::ports::delivery::{
    DeadLetter, DeliveryLedger, DeliveryState, DeliveryStates, DueEntry, OutboxEntry,
};
use crate::ports::{ChangeSet, Expect, FindingCleanup, IncidentReader, IncidentStore};

#[derive(Debug, Default)]
struct Tables {
    findings: HashMap<String, FindingRecord>,
    heads: HashMap<String, CorrelationHead>,
    incidents: BTreeMap<String, Incident>,
    rule_stats: BTreeMap<String, crate::triage::RuleStat>,
    queue: BTreeMap<String, crate::queue_store::QueueRecord>,
}

/// DynamoDB's limits that the fake enforces like the real table: partition key bytes and item
/// bytes (the fake measures items by their strings; see `erased::Size`).
pub const MAX_KEY_BYTES: usize = 2048;
pub const MAX_ITEM_BYTES: usize = 400 * 1024;

type RejectFn = Box<dyn Fn(&ChangeSet) -> Option<String> + Send + Sync>;

/// In-memory store with the same conditional semantics and limits as the DynamoDB adapter.
pub struct MemoryStore {
    tables: Mutex<Tables>,
    commits: AtomicU64,
    conflicts: AtomicU64,
    /// Fault injection: a commit this returns `Some(reason)` for is rejected, as DynamoDB
    /// rejects an invalid request.
    reject: Option<RejectFn>,
    /// Fault injection: puts left before the commit in progress is interrupted (the function
    /// timing out or crashing between two writes); `u64::MAX` when not armed.
    interrupt_in: AtomicU64,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("commits", &self.commits())
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self {
            tables: Mutex::default(),
            commits: AtomicU64::new(0),
            conflicts: AtomicU64::new(0),
            reject: None,
            interrupt_in: AtomicU64::new(u64::MAX),
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Arms a one-shot interruption: after `puts` more puts land, the commit in progress fails
    /// with a retryable error, its later puts unwritten, as when the function dies between two
    /// writes.
    pub fn interrupt_after(&self, puts: u64) {
        self.interrupt_in.store(puts, Ordering::SeqCst);
    }

    /// Whether an armed interruption is still pending.
    pub fn interruption_pending(&self) -> bool {
        self.interrupt_in.load(Ordering::SeqCst) != u64::MAX
    }

    fn interruption(&self) -> Result<(), StoreError> {
        let left = self.interrupt_in.load(Ordering::SeqCst);
        if left == u64::MAX {
            return Ok(());
        }
        if left == 0 {
            self.interrupt_in.store(u64::MAX, Ordering::SeqCst);
            return Err(StoreError::Unavailable {
                message: "interrupted between two writes (injected)".into(),
                source: None,
            });
        }
        self.interrupt_in.store(left - 1, Ordering::SeqCst);
        Ok(())
    }

    /// A store that rejects (non-retryably) every commit `reject` names a reason for.
    pub fn rejecting(
        reject: impl Fn(&ChangeSet) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        Self {
            reject: Some(Box::new(reject)),
            ..Self::default()
        }
    }

    /// Deletes what DynamoDB's TTL would have deleted by `now`: every item whose `expires_at`
    /// has passed. (DynamoDB deletes within days of expiry; this deletes at once.)
    pub fn expire(&self, now: chrono::DateTime<chrono::Utc>) {
        let mut t = self.lock();
        t.findings
            .retain(|_, r| r.expires_at.is_none_or(|at| at > now));
        t.heads.retain(|_, h| h.expires_at > now);
        t.incidents.retain(|_, i| i.expires_at > now);
    }

    /// Removes an incident, as its TTL deletion does, and (as the forwarder does on the stream's
    /// REMOVE record, through [`FindingCleanup`]) the finding records it held.
    pub fn remove_incident(&self, id: &str) {
        self.lock().incidents.remove(id);
        self.remove_members(id);
    }

    fn remove_members(&self, id: &str) -> usize {
        let mut t = self.lock();
        let before = t.findings.len();
        t.findings
            .retain(|_, r| r.incident_id.as_deref() != Some(id));
        before - t.findings.len()
    }
    /// Successful commits (one per slice; each is one conditional put per changed item).
    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Ordering::Relaxed)
    }
    pub fn incidents(&self) -> Vec<Incident> {
        self.lock().incidents.values().cloned().collect()
    }
    pub fn finding_records(&self) -> Vec<FindingRecord> {
        let mut v: Vec<_> = self.lock().findings.values().cloned().collect();
        v.sort_by(|a, b| a.key.cmp(&b.key));
        v
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // A poisoned lock only means another test thread panicked; the data is still usable.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// DynamoDB's key and item size limits, checked the way the table would reject a request.
fn limits(c: &ChangeSet) -> Result<(), StoreError> {
    fn item(what: &str, pk: &str, size: usize) -> Result<(), StoreError> {
        let rejected = |message: String| StoreError::Rejected {
            message,
            source: None,
        };
        if pk.len() + 2 > MAX_KEY_BYTES {
            return Err(rejected(format!(
                "{what}: partition key of {} bytes exceeds {MAX_KEY_BYTES}",
                pk.len() + 2
            )));
        }
        if size > MAX_ITEM_BYTES {
            return Err(rejected(format!(
                "{what}: item of {size} bytes exceeds {MAX_ITEM_BYTES}"
            )));
        }
        Ok(())
    }
    let json = |v: &dyn erased::Size| v.size();
    for p in &c.findings {
        item("finding", &p.item.key, json(&p.item))?;
    }
    for p in &c.incidents {
        item("incident", &p.item.id, json(&p.item))?;
    }
    for p in &c.heads {
        item("correlation head", &p.item.key, json(&p.item))?;
    }
    Ok(())
}

mod erased {
    use super::*;

    /// An item's size as the fake counts it: the lengths of its strings plus a margin for the
    /// rest (encoding every item to measure it would make the fake slower than the code it
    /// tests).
    pub(super) trait Size {
        fn size(&self) -> usize;
    }
    impl Size for FindingRecord {
        fn size(&self) -> usize {
            let r = self;
            let strings = [
                &r.key,
                &r.finding_id,
                &r.product_arn,
                &r.account_id,
                &r.finding_type,
                &r.title,
                &r.product,
                &r.correlation_key,
            ];
            512 + r.raw.len()
                + strings.iter().map(|s| s.len()).sum::<usize>()
                + r.incident_id.as_ref().map_or(0, String::len)
                + r.clamped.iter().map(String::len).sum::<usize>()
        }
    }
    impl Size for Incident {
        fn size(&self) -> usize {
            let i = self;
            let set = |s: &std::collections::BTreeSet<String>| -> usize {
                s.iter().map(|x| x.len() + 3).sum()
            };
            let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
            1024 + i.id.len()
                + i.title.len()
                + opt(&i.account_name)
                + opt(&i.owner)
                + i.correlation_key.len()
                + i.correlation_reason.len()
                + i.entity.len()
                + set(&i.finding_types)
                + set(&i.tactics)
                + set(&i.products)
                + i.lead.key.len()
                + i.lead.finding_id.len()
                + i.lead.title.len()
                + i.lead.finding_type.len()
                + i.lead.remediation.text.len()
                + opt(&i.lead.remediation.url)
                + i.recent.len() * 64
                + i.members.0.len() * 40
                + i.journal.0.len() * 160
        }
    }
    impl Size for CorrelationHead {
        fn size(&self) -> usize {
            256 + self.key.len()
                + self
                    .windows
                    .iter()
                    .map(|w| w.incident_id.len() + 80)
                    .sum::<usize>()
        }
    }
}

fn check(expect: Expect, stored: Option<u64>, what: &str) -> Result<(), StoreError> {
    match (expect, stored) {
        (Expect::Absent, None) => Ok(()),
        (Expect::Version(v), Some(s)) if v == s => Ok(()),
        _ => Err(StoreError::Conflict {
            what: what.to_owned(),
        }),
    }
}

impl IncidentStore for MemoryStore {
    async fn record_rule_hits(
        &self,
        hits: &crate::triage::RuleHits,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        for (id, h) in hits {
            let s = t.rule_stats.entry(id.clone()).or_default();
            s.rule = id.clone();
            s.add(h, at);
        }
        Ok(())
    }

    async fn get_findings(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, FindingRecord>, StoreError> {
        let t = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| t.findings.get(k).map(|r| (k.clone(), r.clone())))
            .collect())
    }

    async fn get_heads(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CorrelationHead>, StoreError> {
        let t = self.lock();
        Ok(keys
            .iter()
            .filter_map(|k| t.heads.get(k).map(|r| (k.clone(), r.clone())))
            .collect())
    }

    async fn get_incidents(&self, ids: &[String]) -> Result<HashMap<String, Incident>, StoreError> {
        let t = self.lock();
        Ok(ids
            .iter()
            .filter_map(|k| t.incidents.get(k).map(|r| (k.clone(), r.clone())))
            .collect())
    }

    async fn commit(&self, c: &ChangeSet) -> Result<(), StoreError> {
        limits(c)?;
        if let Some(reason) = self.reject.as_ref().and_then(|r| r(c)) {
            return Err(StoreError::Rejected {
                message: reason,
                source: None,
            });
        }
        // One put at a time, in the store's order, as separate conditional writes land.
        let conflict = |e: StoreError| {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            e
        };
        for p in &c.heads {
            self.interruption()?;
            let mut t = self.lock();
            let stored = t.heads.get(&p.item.key).map(|r| r.version);
            check(
                p.expect,
                stored,
                &format!("correlation head {}", p.item.key),
            )
            .map_err(conflict)?;
            t.heads.insert(p.item.key.clone(), p.item.clone());
        }
        for p in &c.incidents {
            self.interruption()?;
            let mut t = self.lock();
            let stored = t.incidents.get(&p.item.id).map(|r| r.version);
            check(p.expect, stored, &format!("incident {}", p.item.id)).map_err(conflict)?;
            t.incidents.insert(p.item.id.clone(), p.item.clone());
        }
        for p in &c.findings {
            self.interruption()?;
            let mut t = self.lock();
            let stored = t.findings.get(&p.item.key).map(|r| r.version);
            check(p.expect, stored, &format!("finding {}", p.item.finding_id)).map_err(conflict)?;
            t.findings.insert(p.item.key.clone(), p.item.clone());
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn backoff(&self, _attempt: u32) {
        std::thread::yield_now();
    }
}

impl super::QueueStore for MemoryStore {
    async fn live_queue(&self) -> Result<Vec<crate::queue_store::QueueRecord>, StoreError> {
        Ok(self
            .lock()
            .queue
            .values()
            .filter(|r| r.is_live())
            .cloned()
            .collect())
    }

    async fn get_queue(
        &self,
        ids: &[String],
    ) -> Result<Vec<crate::queue_store::QueueRecord>, StoreError> {
        let t = self.lock();
        Ok(ids.iter().filter_map(|i| t.queue.get(i).cloned()).collect())
    }

    async fn put_queue(
        &self,
        p: &super::Put<crate::queue_store::QueueRecord>,
    ) -> Result<(), StoreError> {
        self.interruption()?;
        let mut t = self.lock();
        let stored = t.queue.get(&p.item.item.id).map(|r| r.version);
        check(p.expect, stored, &format!("queue item {}", p.item.item.id)).inspect_err(|_| {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
        })?;
        t.queue.insert(p.item.item.id.clone(), p.item.clone());
        Ok(())
    }
}

impl MemoryStore {
    /// Every stored campaign and digest, closed or not.
    pub fn queue_records(&self) -> Vec<crate::queue_store::QueueRecord> {
        self.lock().queue.values().cloned().collect()
    }
}

impl super::EscalationIndex for MemoryStore {
    async fn due_escalations(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut due: Vec<(chrono::DateTime<chrono::Utc>, String)> = self
            .incidents()
            .into_iter()
            .filter(|i| i.awaits_acknowledgement())
            .filter_map(|i| {
                i.escalation
                    .next_check
                    .filter(|t| *t <= now)
                    .map(|t| (t, i.id))
            })
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, id)| id).collect())
    }
}

impl IncidentReader for MemoryStore {
    async fn rule_stats(&self) -> Result<Vec<crate::triage::RuleStat>, StoreError> {
        Ok(self.lock().rule_stats.values().cloned().collect())
    }

    async fn list_incidents(&self, open_only: bool) -> Result<Vec<Incident>, StoreError> {
        Ok(self
            .incidents()
            .into_iter()
            .filter(|i| !open_only || i.is_live())
            .collect())
    }

    async fn findings_of(&self, incident_id: &str) -> Result<Vec<FindingRecord>, StoreError> {
        Ok(self
            .finding_records()
            .into_iter()
            .filter(|r| r.incident_id.as_deref() == Some(incident_id))
            .collect())
    }
}

impl FindingCleanup for MemoryStore {
    fn remove_findings_of<'a>(
        &'a self,
        incident_id: &'a str,
        _listed: &'a [String],
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move { Ok(self.remove_members(incident_id)) })
    }
}

#[derive(Debug, Default)]
struct LedgerTables {
    states: HashMap<String, HashMap<String, DeliveryState>>,
    /// (incident, destination, version) -> entry.
    outbox: BTreeMap<(String, String, u64), OutboxEntry>,
    dead: BTreeMap<(String, String, u64), DeadLetter>,
    /// destination -> (owner, until).
    leases: HashMap<String, (String, chrono::DateTime<chrono::Utc>)>,
}

/// In-memory delivery ledger and outbox with the DynamoDB adapter's semantics (unit tests,
/// local runs): states never go down, enqueue and complete are atomic and idempotent.
#[derive(Debug, Default)]
pub struct MemoryLedger {
    t: Mutex<LedgerTables>,
    /// Fault injection: while set, every write fails as a store outage would.
    failing: std::sync::atomic::AtomicBool,
}

impl MemoryLedger {
    /// The settled version of an incident for a destination.
    pub fn get(&self, incident_id: &str, destination: &str) -> Option<u64> {
        self.state(incident_id, destination).map(|s| s.settled)
    }

    pub fn state(&self, incident_id: &str, destination: &str) -> Option<DeliveryState> {
        self.t.lock().ok().and_then(|t| {
            t.states
                .get(incident_id)
                .and_then(|m| m.get(destination))
                .copied()
        })
    }

    /// Every outbox entry, in (incident, destination, version) order.
    pub fn outbox(&self) -> Vec<OutboxEntry> {
        self.t
            .lock()
            .map(|t| t.outbox.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Makes every write fail (retryably) until called with `false`.
    pub fn fail_writes(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    fn write(&self) -> Result<std::sync::MutexGuard<'_, LedgerTables>, StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable {
                message: "the memory ledger is failing writes (fault injection)".into(),
                source: None,
            });
        }
        self.t.lock().map_err(|_| poisoned())
    }
}

fn raise(
    t: &mut LedgerTables,
    incident: &str,
    destination: &str,
    f: impl FnOnce(&mut DeliveryState),
) {
    let s = t
        .states
        .entry(incident.to_owned())
        .or_default()
        .entry(destination.to_owned())
        .or_default();
    f(s);
}

impl DeliveryLedger for MemoryLedger {
    fn states<'a>(
        &'a self,
        ids: &'a [String],
    ) -> BoxFuture<'a, Result<DeliveryStates, StoreError>> {
        Box::pin(async move {
            let t = self.t.lock().map_err(|_| poisoned())?;
            Ok(ids
                .iter()
                .filter_map(|id| t.states.get(id).map(|m| (id.clone(), m.clone())))
                .collect())
        })
    }

    fn settle<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut t = self.write()?;
            raise(&mut t, incident_id, destination, |s| {
                s.settled = s.settled.max(version)
            });
            Ok(())
        })
    }

    fn enqueue<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut t = self.write()?;
            let key = (e.incident_id.clone(), e.destination.clone(), e.version);
            t.outbox.entry(key).or_insert_with(|| e.clone());
            raise(&mut t, &e.incident_id, &e.destination, |s| {
                s.queued = s.queued.max(e.version)
            });
            Ok(())
        })
    }

    fn pending<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async move {
            let t = self.t.lock().map_err(|_| poisoned())?;
            Ok(t.outbox
                .values()
                .filter(|e| e.incident_id == incident_id && e.destination == destination)
                .cloned()
                .collect())
        })
    }

    fn due<'a>(
        &'a self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<DueEntry>, StoreError>> {
        Box::pin(async move {
            let t = self.t.lock().map_err(|_| poisoned())?;
            let mut v: Vec<DueEntry> = t
                .outbox
                .values()
                .filter(|e| e.next_attempt_at <= now)
                .map(|e| DueEntry {
                    incident_id: e.incident_id.clone(),
                    destination: e.destination.clone(),
                    version: e.version,
                    next_attempt_at: e.next_attempt_at,
                    queued_at: e.queued_at,
                })
                .collect();
            v.sort_by(|a, b| {
                (a.next_attempt_at, &a.incident_id, a.version).cmp(&(
                    b.next_attempt_at,
                    &b.incident_id,
                    b.version,
                ))
            });
            v.truncate(limit);
            Ok(v)
        })
    }

    fn complete<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut t = self.write()?;
            t.outbox
                .remove(&(e.incident_id.clone(), e.destination.clone(), e.version));
            raise(&mut t, &e.incident_id, &e.destination, |s| {
                s.settled = s.settled.max(e.version)
            });
            Ok(())
        })
    }

    fn reschedule<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut t = self.write()?;
            if let Some(stored) =
                t.outbox
                    .get_mut(&(e.incident_id.clone(), e.destination.clone(), e.version))
            {
                stored.attempts = e.attempts;
                stored.next_attempt_at = e.next_attempt_at;
                stored.last_error = e.last_error.clone();
            }
            Ok(())
        })
    }

    fn dead_letter<'a>(&'a self, d: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut t = self.write()?;
            let key = (d.incident_id.clone(), d.destination.clone(), d.version);
            t.outbox.remove(&key);
            t.dead.entry(key).or_insert_with(|| d.clone());
            raise(&mut t, &d.incident_id, &d.destination, |s| {
                s.settled = s.settled.max(d.version)
            });
            Ok(())
        })
    }

    fn lease<'a>(
        &'a self,
        destination: &'a str,
        owner: &'a str,
        now: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut t = self.write()?;
            let free = match t.leases.get(destination) {
                None => true,
                Some((o, u)) => o == owner || *u <= now,
            };
            if free {
                t.leases
                    .insert(destination.to_owned(), (owner.to_owned(), until));
            }
            Ok(free)
        })
    }

    fn dead_letters<'a>(
        &'a self,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async move {
            let t = self.t.lock().map_err(|_| poisoned())?;
            let mut v: Vec<DeadLetter> = t.dead.values().cloned().collect();
            v.sort_by_key(|d| std::cmp::Reverse(d.at));
            v.truncate(limit);
            Ok(v)
        })
    }
}

fn poisoned() -> StoreError {
    StoreError::Corrupt {
        key: "memory ledger".into(),
        message: "lock poisoned by a panicking thread".into(),
    }
}
