//! Vigil's SIEM wire formats, without I/O: the groundwork of the `forward` function.
//!
//! # Layout
//! - [`change`]: which incident versions a SIEM gets ([`change::classify`]) and the bounded
//!   payload every sink carries, keyed by `<incident id>:<version>`.
//! - [`syslog`]: CEF and LEEF 2.0 records in RFC 5424 messages with octet-counting framing.
//! - [`hec`]: Splunk HEC envelopes (CIM Alerts names) and request bodies within a size limit.
//! - [`webhook`]: Standard Webhooks signatures.
//! - [`config`]: the sink configuration (`VIGIL_SINKS`).
//! - [`retry`]: failure classes, `Retry-After`, backoff with full jitter.
//! - [`stream`]: the table's DynamoDB stream records into forward/skip decisions, and the
//!   partial-batch response.

pub mod change;
pub mod config;
pub mod hec;
pub mod retry;
pub mod stream;
pub mod syslog;
pub mod webhook;
