//! Ports: the small traits the domain needs from storage, and an in-memory fake.
//!
//! The store offers reads by key and one atomic, conditional commit. The fake implements exactly
//! the conditions the DynamoDB adapter sends (`attribute_not_exists` / `version = :v`), so the
//! engine's concurrency logic is unit-testable without a database.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use crate::error::StoreError;
use crate::incident::{CorrelationHead, FindingRecord, Incident, IncidentStatus};

/// What a conditional write expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// The item must not exist yet.
    Absent,
    /// The stored item must still have this version.
    Version(u64),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Put<T> {
    pub item: T,
    pub expect: Expect,
}

/// Everything one commit writes, atomically: all or nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeSet {
    pub findings: Vec<Put<FindingRecord>>,
    pub incidents: Vec<Put<Incident>>,
    pub heads: Vec<Put<CorrelationHead>>,
}

impl ChangeSet {
    pub fn is_empty(&self) -> bool {
        self.findings.is_empty() && self.incidents.is_empty() && self.heads.is_empty()
    }
    pub fn len(&self) -> usize {
        self.findings.len() + self.incidents.len() + self.heads.len()
    }
}

/// Storage for findings, correlation heads and incidents.
pub trait IncidentStore: Send + Sync {
    fn get_findings(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, FindingRecord>, StoreError>> + Send;

    fn get_heads(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<HashMap<String, CorrelationHead>, StoreError>> + Send;

    fn get_incidents(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<HashMap<String, Incident>, StoreError>> + Send;

    /// Writes all of `changes` atomically if every expectation holds, else nothing and
    /// [`StoreError::Conflict`].
    fn commit(&self, changes: &ChangeSet) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Waits before retry `attempt` after a conflict (jittered backoff in real stores).
    fn backoff(&self, attempt: u32) -> impl Future<Output = ()> + Send;
}

/// Read side used by the CLI and tests.
pub trait IncidentReader: Send + Sync {
    fn list_incidents(
        &self,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<Incident>, StoreError>> + Send;

    fn findings_of(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<FindingRecord>, StoreError>> + Send;
}

#[derive(Debug, Default)]
struct Tables {
    findings: HashMap<String, FindingRecord>,
    heads: HashMap<String, CorrelationHead>,
    incidents: BTreeMap<String, Incident>,
}

/// In-memory store with the same conditional semantics as the DynamoDB adapter.
#[derive(Debug, Default)]
pub struct MemoryStore {
    tables: Mutex<Tables>,
    commits: AtomicU64,
    conflicts: AtomicU64,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
    /// Successful commits (one write request each).
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
        let mut t = self.lock();
        let result = (|| {
            for p in &c.findings {
                let stored = t.findings.get(&p.item.key).map(|r| r.version);
                check(p.expect, stored, &format!("finding {}", p.item.finding_id))?;
            }
            for p in &c.incidents {
                let stored = t.incidents.get(&p.item.id).map(|r| r.version);
                check(p.expect, stored, &format!("incident {}", p.item.id))?;
            }
            for p in &c.heads {
                let stored = t.heads.get(&p.item.key).map(|r| r.version);
                check(
                    p.expect,
                    stored,
                    &format!("correlation head {}", p.item.key),
                )?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.conflicts.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
        for p in &c.findings {
            t.findings.insert(p.item.key.clone(), p.item.clone());
        }
        for p in &c.incidents {
            t.incidents.insert(p.item.id.clone(), p.item.clone());
        }
        for p in &c.heads {
            t.heads.insert(p.item.key.clone(), p.item.clone());
        }
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn backoff(&self, _attempt: u32) {
        std::thread::yield_now();
    }
}

impl IncidentReader for MemoryStore {
    async fn list_incidents(&self, open_only: bool) -> Result<Vec<Incident>, StoreError> {
        Ok(self
            .incidents()
            .into_iter()
            .filter(|i| !open_only || i.status == IncidentStatus::Open)
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
