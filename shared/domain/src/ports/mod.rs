//! Ports: the small traits the domain needs from the outside world, each with an in-memory
//! fake that keeps the adapter's semantics.
//!
//! # Layout
//! - this module: the incident store ([`IncidentStore`], [`IncidentReader`]): reads by key and
//!   ordered conditional writes.
//! - [`delivery`]: per-destination delivery state with a durable outbox, and the incident's
//!   findings, for the forwarder.
//! - [`secrets`]: where destination credentials come from.
//! - [`publish`]: where notifications to a topic go (Amazon SNS), and Security Hub's
//!   `BatchUpdateFindings` (write-back).
//! - [`memory`]: the in-memory fakes ([`MemoryStore`], [`MemoryLedger`]). They implement exactly
//!   the conditions the DynamoDB adapter sends (`attribute_not_exists` / `version = :v`), so the
//!   engine's concurrency logic is unit-testable without a database.

pub mod delivery;
pub mod memory;
pub mod publish;
pub mod runbook_source;
pub mod secrets;

use std::collections::HashMap;
use std::future::Future;

use crate::correlate::CorrelationHead;
use crate::error::StoreError;
use crate::finding::FindingRecord;
use crate::incident::Incident;

pub use delivery::{
    DeadLetter, Delivered, DeliveryLedger, DeliveryState, DeliveryStates, DueEntry, FindingSource,
    OutboxEntry,
};
pub use memory::{MemoryLedger, MemoryStore};
pub use publish::{
    FindingWriter, PublishError, TopicMessage, TopicPublisher, Unprocessed, WriteBackError,
};
pub use runbook_source::{
    DirectoryError, DirectorySource, RunbookObject, RunbookSource, RunbookSourceError,
};
pub use secrets::{SecretBackend, SecretError};

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

/// Everything one commit writes: heads, then incidents, then finding records, each put
/// conditional on its expectation. Not atomic: a commit that fails may have written a prefix.
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

    /// Writes `changes` in order: every head, then every incident, then every finding record,
    /// each only if its expectation holds. At the first that does not, stops with
    /// [`StoreError::Conflict`], leaving the puts before it written (within one group the
    /// puts may go concurrently, so any subset of that group may be written). The engine's
    /// plans are correct from any such prefix.
    fn commit(&self, changes: &ChangeSet) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Waits before retry `attempt` after a conflict (jittered backoff in real stores).
    fn backoff(&self, attempt: u32) -> impl Future<Output = ()> + Send;

    /// Adds one invocation's runbook rule hits (at most one write per rule).
    fn record_rule_hits(
        &self,
        hits: &crate::triage::RuleHits,
        at: chrono::DateTime<chrono::Utc>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Deletes the finding records an incident held once the incident itself is gone (its TTL
/// expired): finding records in an incident have no TTL of their own, so that they live exactly
/// as long as it does. Idempotent: removing them twice removes nothing the second time.
pub trait FindingCleanup: Send + Sync {
    /// Deletes the finding records of `incident_id`: `listed` (the members its last state
    /// lists) and any others the store finds; returns how many were deleted.
    fn remove_findings_of<'a>(
        &'a self,
        incident_id: &'a str,
        listed: &'a [String],
    ) -> futures::future::BoxFuture<'a, Result<usize, StoreError>>;
}

/// The incidents whose escalation may have a step due (see [`crate::escalation`]): open, with
/// `escalation.next_check` at or before `now`, earliest first.
pub trait EscalationIndex: Send + Sync {
    fn due_escalations(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;
}

/// The stored campaigns and digests (see [`crate::queue_store`]).
pub trait QueueStore: Send + Sync {
    /// Every item still in the queue (not closed).
    fn live_queue(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::queue_store::QueueRecord>, StoreError>> + Send;

    /// The items of these ids that exist, closed or not.
    fn get_queue(
        &self,
        ids: &[String],
    ) -> impl Future<Output = Result<Vec<crate::queue_store::QueueRecord>, StoreError>> + Send;

    /// Writes one item if its expectation holds ([`StoreError::Conflict`] otherwise).
    fn put_queue(
        &self,
        put: &Put<crate::queue_store::QueueRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Read side used by the CLI and tests.
pub trait IncidentReader: Send + Sync {
    /// Every incident, or with `open_only` those an analyst may still act on (open or
    /// acknowledged).
    fn list_incidents(
        &self,
        open_only: bool,
    ) -> impl Future<Output = Result<Vec<Incident>, StoreError>> + Send;

    fn findings_of(
        &self,
        incident_id: &str,
    ) -> impl Future<Output = Result<Vec<FindingRecord>, StoreError>> + Send;

    /// Every runbook rule's hit counts, by rule id.
    fn rule_stats(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::triage::RuleStat>, StoreError>> + Send;
}
