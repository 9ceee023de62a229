//! Vigil's domain: everything that turns Security Hub findings into incidents, with no AWS SDK.
//!
//! # Layout
//! - [`asff`]: the finding format (serde), tolerant of every real variant, strict on required
//!   fields; malformed findings give a [`error::FindingError`] naming the finding and field.
//! - [`runbook`]: the customer's YAML runbook (accounts, environments, response targets).
//! - [`enrich`]: account context, GuardDuty type, MITRE tactic, remediation.
//! - [`correlate`]: the correlation key (account + primary entity).
//! - [`incident`]: finding records, correlation heads, incidents and the pure folding rules.
//! - [`engine`]: deduplication and aggregation of a batch through the store port, with
//!   optimistic concurrency.
//! - [`ports`]: the store traits and an in-memory fake with the same conditional semantics.

pub mod asff;
pub mod correlate;
pub mod engine;
pub mod enrich;
pub mod error;
pub mod incident;
pub mod ports;
pub mod runbook;

pub use engine::{ingest, ingest_values, BatchReport, Outcome, Settings};
pub use error::{FindingError, RunbookError, StoreError};
pub use incident::{CorrelationHead, FindingRecord, Incident, IncidentStatus, NormalizedFinding};
pub use ports::{IncidentReader, IncidentStore, MemoryStore};
pub use runbook::Runbook;
