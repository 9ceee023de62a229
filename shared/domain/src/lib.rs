//! Vigil's domain: everything that turns Security Hub findings into incidents, with no AWS SDK.
//! Every other crate depends on this one; it depends on none of them.
//!
//! # Layout
//! - [`bounds`]: bounds on every stored string, and hashing of long key parts.
//! - [`asff`]: the finding format (serde), tolerant of every real variant, strict on required
//!   fields; malformed findings give a [`error::FindingError`] naming the finding and field.
//! - [`runbook`]: the customer's YAML runbook (accounts, environments, response targets).
//! - [`triage`]: the runbook's rules (suppress, severity, environment, owner, route, note),
//!   compiled at load and applied to every finding, and the explanations they leave.
//! - [`enrich`]: account context, GuardDuty type, MITRE tactic, remediation.
//! - [`correlate`]: the correlation key (account + primary entity) and the per-key windows of
//!   recent incidents ([`CorrelationHead`]).
//! - [`finding`]: a parsed and enriched finding, and its stored state ([`FindingRecord`]).
//! - [`incident`]: incidents and the pure rules that fold finding states into them.
//! - [`engine`]: deduplication and aggregation of a batch through the store port, with
//!   optimistic concurrency; its pure core is [`engine::plan`].
//! - [`lifecycle`], [`escalation`], [`sla`]: the response clock: status transitions and their
//!   history, escalation steps before and after deadlines, SLA figures and clock events.
//! - [`writeback`]: what Vigil writes back on findings in Security Hub, and how its own echo
//!   is recognised (loop-free).
//! - [`manage`]: managed GuardDuty and Security Hub: the runbook's `manage:` declaration, a
//!   pure planner (desired vs actual), and the apply and scheduled runs through ports.
//! - [`ports`]: the traits the domain needs (store, delivery state, secrets) and in-memory
//!   fakes with the adapters' semantics.
//! - [`testing`] (tests and the `test-util` feature): one ASFF builder for every crate's tests.

pub mod asff;
pub mod bounds;
pub mod correlate;
pub mod engine;
pub mod enrich;
pub mod error;
pub mod escalation;
pub mod finding;
pub mod incident;
pub mod indicators;
pub mod lifecycle;
pub mod manage;
pub mod ports;
pub mod queue;
pub mod queue_store;
pub mod runbook;
pub mod sla;
#[cfg(any(test, feature = "test-util"))]
#[allow(clippy::unwrap_used, clippy::expect_used)]
pub mod testing;
pub mod triage;
pub mod writeback;

pub use correlate::CorrelationHead;
pub use engine::{ingest, ingest_raw, ingest_values, BatchReport, Outcome, Settings};
pub use error::{FindingError, RunbookError, StoreError};
pub use finding::{FindingRecord, NormalizedFinding};
pub use incident::{Incident, IncidentStatus};
pub use ports::{IncidentReader, IncidentStore, MemoryStore};
pub use runbook::Runbook;
