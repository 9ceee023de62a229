//! The forwarder's ports: per-destination delivery state with a durable outbox, and the
//! incident's recent findings.
//!
//! # The guarantee, and how the state gives it
//! Every version of an incident that a destination wants reaches it, in version order, and no
//! older version after a newer one, whatever fails and for however long, with no operator
//! action; only a version the destination itself rejects as bad data is set aside, alone, as
//! a dead letter (alarmed).
//!
//! Per (incident, destination) the store keeps two numbers ([`DeliveryState`]):
//! - `settled`: the highest version delivered or dead-lettered. Versions are settled in order,
//!   so every version up to it is done.
//! - `queued`: the highest version put in the outbox. `queued > settled` means versions wait in
//!   the outbox, and any later version must queue behind them rather than be sent directly.
//!
//! An [`OutboxEntry`] holds one waiting version's payload and its retry schedule. Entries are
//! drained lowest version first, by one drainer per destination at a time (a [lease]), so two
//! drainers never race to send versions of one incident out of order.
//!
//! [lease]: DeliveryLedger::lease

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;

use crate::error::StoreError;
use crate::finding::FindingRecord;

/// What one destination has of one incident.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryState {
    /// Highest version delivered or dead-lettered; every lower version is done too.
    pub settled: u64,
    /// Highest version put in the outbox (0: never).
    pub queued: u64,
}

impl DeliveryState {
    /// Whether versions of this incident wait in the outbox for this destination.
    pub fn has_pending(&self) -> bool {
        self.queued > self.settled
    }
}

/// Delivery states: incident id -> destination name -> state.
pub type DeliveryStates = HashMap<String, HashMap<String, DeliveryState>>;

/// Delivered versions (the `settled` numbers): incident id -> destination -> version.
pub type Delivered = HashMap<String, HashMap<String, u64>>;

/// One version waiting for one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub incident_id: String,
    pub destination: String,
    pub version: u64,
    /// The payload to send (JSON), exactly as it was when the version was forwarded.
    pub payload: Vec<u8>,
    /// Failed attempts so far.
    pub attempts: u32,
    pub queued_at: DateTime<Utc>,
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, for operators (never a credential).
    pub last_error: Option<String>,
}

/// An entry as the due index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEntry {
    pub incident_id: String,
    pub destination: String,
    pub version: u64,
    pub next_attempt_at: DateTime<Utc>,
    pub queued_at: DateTime<Utc>,
}

/// A version set aside because its destination rejected it as bad data (or it waited longer
/// than the outbox keeps anything).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub incident_id: String,
    pub destination: String,
    pub version: u64,
    pub payload: Vec<u8>,
    pub reason: String,
    pub attempts: u32,
    pub at: DateTime<Utc>,
}

/// Per-destination delivery state and the outbox. Every write is idempotent: a retried batch
/// or an overlapping drain changes nothing twice, and no write ever lowers a state.
pub trait DeliveryLedger: Send + Sync {
    /// The states of these incidents (strongly consistent).
    fn states<'a>(
        &'a self,
        incident_ids: &'a [String],
    ) -> BoxFuture<'a, Result<DeliveryStates, StoreError>>;

    /// Records that `destination` has `version`: `settled = max(settled, version)`.
    fn settle<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Puts a version in the outbox and raises `queued` to it, atomically. Enqueueing an entry
    /// that is already there succeeds and changes nothing.
    fn enqueue<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>>;

    /// The entries waiting for `destination` of one incident, lowest version first (strongly
    /// consistent).
    fn pending<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>>;

    /// Entries whose next attempt is due at `now`, earliest first, at most `limit` (from an
    /// index: may lag writes by a moment; [`DeliveryLedger::pending`] is the truth).
    fn due<'a>(
        &'a self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<DueEntry>, StoreError>>;

    /// Removes a delivered entry and settles its version, atomically; idempotent.
    fn complete<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Stores an entry's new attempt count, next attempt and last error (if it is still there).
    fn reschedule<'a>(&'a self, entry: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Sets a version aside: stores the dead letter, removes its outbox entry if any and
    /// settles the version, atomically, so later versions go on; idempotent.
    fn dead_letter<'a>(&'a self, letter: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Takes or renews the drain lease of `destination` for `owner` until `until`, if it is free
    /// (expired, or already `owner`'s) at `now`. Returns whether `owner` holds it.
    fn lease<'a>(
        &'a self,
        destination: &'a str,
        owner: &'a str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The dead letters (most recent first, at most `limit`), for operators.
    fn dead_letters<'a>(
        &'a self,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>>;
}

/// An incident's findings, for the payload's `top_findings` and HEC raw findings.
pub trait FindingSource: Send + Sync {
    /// The incident's `limit` most recent finding records (by event time), newest first.
    fn recent<'a>(
        &'a self,
        incident_id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<FindingRecord>, StoreError>>;

    /// The finding records of `keys` that exist, in as few reads as the store allows (an
    /// incident names its recent findings, so a whole batch of incidents is one read).
    fn by_keys<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<std::collections::HashMap<String, FindingRecord>, StoreError>>;
}
