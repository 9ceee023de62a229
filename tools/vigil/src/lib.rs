//! The operator side of Vigil, as a library for the `vigil` command and its tests: what the
//! CLI does beyond calling the functions' own code.
//!
//! # Layout
//! - [`replay`]: event files through the ingest function's code.
//! - [`redrive`]: re-forwarding stream records from on-failure messages, and catch-up.
//! - [`report`]: the SLA report (`vigil report`) as text and CSV.
//! - [`manage_cli`]: `vigil manage plan|apply|run` (managed GuardDuty and Security Hub).
//! - [`retro`]: the report of `vigil runbook apply --retroactive`.

pub mod explain;
pub mod impact;
pub mod manage_cli;
pub mod queue_cli;
pub mod redrive;
pub mod replay;
pub mod report;
pub mod retro;
pub mod runbook_cli;
