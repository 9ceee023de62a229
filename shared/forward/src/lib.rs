//! Vigil's SIEM forwarder, without the AWS SDK: sinks, per-sink delivery state, retries.
//!
//! # Layout
//! - [`forwarder`]: [`Forwarder::forward`], a stream batch in, a [`BatchReport`] (with the
//!   partial-batch response) out.
//! - [`sink`]: the sinks, [`hec`], [`syslog`], [`webhook`] and [`file`].
//! - [`ledger`]: the per-sink delivery state port ([`DeliveryLedger`]) and the findings port.
//! - [`secrets`]: credentials from Secrets Manager (through a port), env, file or inline;
//!   cached, refreshed on authentication failure, never printed.
//! - [`tls`]: rustls settings (private CA, mutual TLS).

pub mod file;
pub mod forwarder;
pub mod hec;
pub mod ledger;
pub mod secrets;
pub mod sink;
pub mod syslog;
pub mod tls;
pub mod webhook;

pub use forwarder::{BatchReport, Forwarder, SinkStats};
pub use ledger::{DeliveryLedger, FindingSource, LedgerError, MemoryLedger};
pub use secrets::{Secret, SecretBackend, SecretError, Secrets};
