//! Vigil's wire formats, without I/O: what each destination receives and how it is framed.
//! `vigil-delivery` sends these; nothing here opens a socket.
//!
//! # Layout
//! - [`payload`]: which incident versions a destination gets ([`payload::classify`]) and the
//!   bounded payload every sink carries, keyed by `<incident id>:<version>`.
//! - [`syslog_message`]: CEF and LEEF 2.0 records in RFC 5424 messages with octet-counting
//!   framing.
//! - [`hec_event`]: Splunk HEC envelopes (CIM Alerts names), request bodies within a size
//!   limit, reply codes and indexer acknowledgements.
//! - [`webhook_signature`]: Standard Webhooks signatures.
//! - [`pagerduty`]: PagerDuty Events API v2 events that follow an incident's lifecycle.
//! - [`notify`]: notices to people (Slack Block Kit, Teams Adaptive Cards, SNS text and
//!   attributes) for the versions that are news.
//! - [`sinks`]: the sink configuration (`VIGIL_SINKS`).
//! - [`retry`]: failure classes, `Retry-After`, the retry configuration and backoff with full
//!   jitter.

pub mod hec_event;
pub mod notify;
pub mod pagerduty;
pub mod payload;
pub mod retry;
pub mod sinks;
pub mod syslog_message;
pub mod webhook_signature;
