//! Failure classes and the retry schedule shared by every sink.
//!
//! - **Retryable**: timeouts, connection errors, 408, 429, 5xx other than 501, HEC busy codes.
//!   Retried with exponential backoff and full jitter; a `Retry-After` is honoured when it fits
//!   the budget, otherwise the version goes to the outbox and is retried from there.
//! - **Config**: authentication and configuration errors (401/403, bad token, unknown index).
//!   Not retried hot: the secret is refreshed once, then the sink is parked for a while.
//! - **Data**: the receiver rejects this event (4xx data errors). Not retried: the version is
//!   dead-lettered for that sink alone, and later versions go on.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Retries inside one invocation; Lambda's own retries of the stream batch come on top.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    /// Attempts per delivery in one invocation (1 = no retry).
    #[serde(default = "default_attempts")]
    pub attempts: u32,
    #[serde(default = "default_base_ms")]
    pub base_delay_ms: u64,
    #[serde(default = "default_max_ms")]
    pub max_delay_ms: u64,
    /// A `Retry-After` longer than this ends the attempts in this invocation; the version waits
    /// in the outbox.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: u64,
    /// After a configuration error (bad token, unknown index), the sink is not called again by
    /// this container for this long.
    #[serde(default = "default_park_secs")]
    pub park_secs: u64,
}

fn default_attempts() -> u32 {
    4
}
fn default_base_ms() -> u64 {
    200
}
fn default_max_ms() -> u64 {
    5000
}
fn default_max_retry_after() -> u64 {
    30
}
fn default_park_secs() -> u64 {
    60
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            attempts: default_attempts(),
            base_delay_ms: default_base_ms(),
            max_delay_ms: default_max_ms(),
            max_retry_after_secs: default_max_retry_after(),
            park_secs: default_park_secs(),
        }
    }
}

impl RetryConfig {
    pub fn park(&self) -> Duration {
        Duration::from_secs(self.park_secs)
    }
}

/// The outbox: how versions that could not be delivered at once are retried, across
/// invocations, until their destination takes them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// First retry after about this long (full jitter), doubling per failed attempt.
    #[serde(default = "default_outbox_base")]
    pub base_delay_secs: u64,
    /// Retries are never further apart than this.
    #[serde(default = "default_outbox_max")]
    pub max_delay_secs: u64,
    /// A version still undelivered this long after it was queued is dead-lettered (alarmed)
    /// instead of retried.
    #[serde(default = "default_outbox_give_up")]
    pub give_up_after_hours: u64,
    /// Most due entries one drain run takes.
    #[serde(default = "default_outbox_batch")]
    pub drain_batch: usize,
}

fn default_outbox_base() -> u64 {
    30
}
fn default_outbox_max() -> u64 {
    900
}
fn default_outbox_give_up() -> u64 {
    24 * 7
}
fn default_outbox_batch() -> usize {
    500
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            base_delay_secs: default_outbox_base(),
            max_delay_secs: default_outbox_max(),
            give_up_after_hours: default_outbox_give_up(),
            drain_batch: default_outbox_batch(),
        }
    }
}

impl OutboxConfig {
    /// The wait before the next attempt of an entry that has failed `attempts` times (from 1),
    /// given a random number in `[0, 1)`: full jitter over `base * 2^(attempts-1)`, capped,
    /// never under one second; or the receiver's `Retry-After` when it asks for longer (within
    /// the cap).
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>, jitter: f64) -> Duration {
        let ceiling = self
            .base_delay_secs
            .saturating_mul(1u64 << attempts.saturating_sub(1).min(20))
            .min(self.max_delay_secs);
        let backoff = Duration::from_secs_f64(ceiling as f64 * jitter.clamp(0.0, 1.0))
            .max(Duration::from_secs(1));
        match retry_after {
            Some(after) => backoff.max(after.min(Duration::from_secs(self.max_delay_secs))),
            None => backoff,
        }
    }

    pub fn give_up_after(&self) -> Duration {
        Duration::from_secs(self.give_up_after_hours * 3600)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    Retryable,
    Config,
    Data,
}

impl FailureClass {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::Retryable => "retryable",
            FailureClass::Config => "config",
            FailureClass::Data => "data",
        }
    }
}

/// Why a delivery failed. `message` never contains credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub class: FailureClass,
    pub message: String,
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Retryable,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Config,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn data(message: impl Into<String>) -> Self {
        Self {
            class: FailureClass::Data,
            message: message.into(),
            retry_after: None,
        }
    }
    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} error: {}", self.class.as_str(), self.message)
    }
}

/// The class of an HTTP status for a JSON-over-HTTPS sink (webhook; HEC refines it with its
/// own codes). `None`: success. 409 Conflict means the receiver already has this key.
pub fn http_status_class(status: u16) -> Option<FailureClass> {
    match status {
        200..=299 | 409 => None,
        408 | 429 => Some(FailureClass::Retryable),
        401 | 403 | 404 | 405 | 407 | 410 => Some(FailureClass::Config),
        501 => Some(FailureClass::Config),
        500..=599 => Some(FailureClass::Retryable),
        _ => Some(FailureClass::Data),
    }
}

/// Parses `Retry-After`: delta-seconds or an HTTP date (RFC 9110 §10.2.3).
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Give up in this invocation.
    GiveUp,
}

/// The delay before attempt `attempt + 1` (`attempt` counts from 1), given the failure and a
/// random number in `[0, 1)` for the jitter: full jitter over an exponential ceiling, or the
/// server's `Retry-After` when it asks for longer.
pub fn next_attempt(cfg: &RetryConfig, attempt: u32, failure: &Failure, jitter: f64) -> Next {
    if failure.class != FailureClass::Retryable || attempt >= cfg.attempts {
        return Next::GiveUp;
    }
    let ceiling = cfg
        .base_delay_ms
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(20))
        .min(cfg.max_delay_ms);
    let backoff = Duration::from_millis((ceiling as f64 * jitter.clamp(0.0, 1.0)) as u64);
    match failure.retry_after {
        Some(after) if after > Duration::from_secs(cfg.max_retry_after_secs) => Next::GiveUp,
        Some(after) => Next::RetryAfter(after.max(backoff)),
        None => Next::RetryAfter(backoff),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_retries_back_off_with_jitter_to_a_ceiling_and_honour_retry_after() {
        let c = OutboxConfig::default();
        assert_eq!(
            c.delay(1, None, 0.0),
            Duration::from_secs(1),
            "never under a second"
        );
        assert_eq!(
            c.delay(1, None, 0.999_999),
            Duration::from_secs_f64(30.0 * 0.999_999)
        );
        assert!(c.delay(3, None, 0.999_999) <= Duration::from_secs(120));
        assert!(c.delay(30, None, 0.999_999) <= Duration::from_secs(900));
        assert_eq!(
            c.delay(1, Some(Duration::from_secs(300)), 0.1),
            Duration::from_secs(300)
        );
        assert_eq!(
            c.delay(1, Some(Duration::from_secs(99_999)), 0.1),
            Duration::from_secs(900),
            "capped"
        );
        assert_eq!(c.give_up_after(), Duration::from_secs(7 * 24 * 3600));
    }

    #[test]
    fn statuses_are_classified_like_mature_clients_do() {
        assert_eq!(http_status_class(200), None);
        assert_eq!(http_status_class(204), None);
        assert_eq!(http_status_class(409), None);
        for s in [408, 429, 500, 502, 503, 504] {
            assert_eq!(http_status_class(s), Some(FailureClass::Retryable), "{s}");
        }
        for s in [401, 403, 404, 501] {
            assert_eq!(http_status_class(s), Some(FailureClass::Config), "{s}");
        }
        for s in [400, 413, 422] {
            assert_eq!(http_status_class(s), Some(FailureClass::Data), "{s}");
        }
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = DateTime::parse_from_rfc3339("2026-11-27T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 10:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Fri, 27 Nov 2026 09:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_is_capped_jittered_and_honours_retry_after() {
        let cfg = RetryConfig {
            attempts: 8,
            base_delay_ms: 100,
            max_delay_ms: 1000,
            max_retry_after_secs: 10,
            park_secs: 60,
        };
        let f = Failure::retryable("503");
        let ms = |n| Next::RetryAfter(Duration::from_millis(n));
        assert_eq!(next_attempt(&cfg, 1, &f, 0.999_999), ms(99));
        assert_eq!(next_attempt(&cfg, 3, &f, 0.5), ms(200));
        assert_eq!(next_attempt(&cfg, 4, &f, 0.999_999), ms(799));
        assert_eq!(next_attempt(&cfg, 6, &f, 0.999_999), ms(999), "capped");
        assert_eq!(next_attempt(&cfg, 8, &f, 0.5), Next::GiveUp);
        assert_eq!(next_attempt(&cfg, 1, &f, 0.0), ms(0));
        let slow = f.clone().with_retry_after(Some(Duration::from_secs(2)));
        assert_eq!(next_attempt(&cfg, 1, &slow, 0.5), ms(2000));
        let too_slow = f.with_retry_after(Some(Duration::from_secs(60)));
        assert_eq!(next_attempt(&cfg, 1, &too_slow, 0.5), Next::GiveUp);
        assert_eq!(
            next_attempt(&cfg, 1, &Failure::config("401"), 0.5),
            Next::GiveUp
        );
        assert_eq!(
            next_attempt(&cfg, 1, &Failure::data("400"), 0.5),
            Next::GiveUp
        );
    }
}
