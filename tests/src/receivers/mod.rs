//! Local receivers for the forwarder's end-to-end tests: a Splunk HEC that enforces the
//! protocol and injects faults, a Standard Webhooks verifier, a PagerDuty Events API v2
//! receiver, Slack and Teams incoming webhooks, and a real rsyslog over TLS.

pub mod chat;
pub mod hec;
pub mod pagerduty;
pub mod pki;
pub mod rsyslog;
pub mod webhook;

/// A fault a receiver injects into its next request(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this HTTP status (and HEC code where it applies).
    Status(u16),
    /// HEC 503 "Server is busy" (code 9).
    Busy,
    /// 429 with `Retry-After: <secs>`.
    TooMany { retry_after_secs: u64 },
    /// Hold the request this long before answering (longer than the client's timeout).
    Stall(std::time::Duration),
}
