//! What Vigil's AWS adapters share, and nothing service-specific: SDK configuration from the
//! standard AWS environment, the retry classification of SDK errors, and backoff.
//!
//! Each AWS service Vigil calls has its own adapter crate beside this one
//! (`shared/aws/<service>`), which depends on this crate and on the domain's ports only, so
//! that a function compiles the SDKs it calls and no others.
//!
//! # Layout
//! - [`sdk_config`]: region, credentials and endpoints from the environment (so
//!   `AWS_ENDPOINT_URL_DYNAMODB` points a client at DynamoDB Local).
//! - [`AwsError`], [`classify`]: an SDK error as the caller should treat it (throttled,
//!   unavailable, conflict, rejected), with the SDK error kept as its source.
//! - [`backoff`]: exponential backoff with full jitter.
//! - [`env`]: reading a function's settings from its environment.

pub mod env;

/// The shared SDK configuration, for adapters that build their own per-Region clients.
pub use aws_config::SdkConfig;

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// The SDK configuration from the standard AWS environment (region, credentials, endpoint
/// overrides such as `AWS_ENDPOINT_URL_<SERVICE>`).
///
/// AWS service endpoints present Amazon Trust Services certificates, so the TLS trust store is
/// those roots, compiled in ([`AWS_ROOTS_PEM`]): loading the platform's store reads and parses
/// every certificate file on the machine at each cold start, several times the rest of the
/// start-up. `VIGIL_TLS_NATIVE_ROOTS=1` uses the platform's store instead (for a network that
/// re-signs TLS with its own authority).
pub async fn sdk_config() -> aws_config::SdkConfig {
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    let native = std::env::var("VIGIL_TLS_NATIVE_ROOTS").is_ok_and(|v| v == "1");
    let loader = if native {
        loader
    } else {
        loader.http_client(aws_http_client())
    };
    loader.load().await
}

/// The roots of Amazon Trust Services (Amazon Root CA 1-4, and Starfield Services Root G2 that
/// cross-signs them), from the Mozilla CA bundle.
pub const AWS_ROOTS_PEM: &str = include_str!("../certs/aws-roots.pem");

/// Each certificate of [`AWS_ROOTS_PEM`], as PEM.
pub fn aws_root_certificates() -> Vec<&'static str> {
    AWS_ROOTS_PEM
        .split_inclusive("-----END CERTIFICATE-----\n")
        .filter_map(|p| p.find("-----BEGIN CERTIFICATE-----").map(|at| &p[at..]))
        .collect()
}

/// The SDK's HTTPS client (rustls, aws-lc) trusting [`AWS_ROOTS_PEM`] only.
pub fn aws_http_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode, TlsContext, TrustStore};
    let mut trust = TrustStore::empty().with_native_roots(false);
    for pem in aws_root_certificates() {
        trust.add_pem_certificate(pem.as_bytes());
    }
    let tls = TlsContext::builder()
        .with_trust_store(trust)
        .build()
        .unwrap_or_default();
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc))
        .tls_context(tls)
        .build_https()
}

/// How a failed AWS call should be treated by its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The service throttled the call: retry later, with backoff.
    Throttled,
    /// A 5xx, a timeout or a network failure: retry later.
    Unavailable,
    /// A conditional write lost to another writer (codes the caller names as conflicts).
    Conflict,
    /// The service rejected the request (validation, permissions, missing resource): retrying
    /// the same request fails the same way.
    Rejected,
}

impl AwsErrorKind {
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Throttled | Self::Unavailable | Self::Conflict)
    }
}

/// A failed AWS call: which operation, the service's error code, how to treat it, and the SDK
/// error as its source.
#[derive(Debug)]
pub struct AwsError {
    pub op: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub kind: AwsErrorKind,
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{}: {code}: {}", self.op, self.message),
            None => write!(f, "{}: {}", self.op, self.message),
        }
    }
}

impl std::error::Error for AwsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(self.source.as_ref())
    }
}

impl AwsError {
    pub fn is_retryable(&self) -> bool {
        self.kind.is_retryable()
    }
}

/// Error codes that mean "slow down" across the AWS services Vigil calls.
pub const THROTTLING_CODES: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
    "RequestThrottled",
    "PriorRequestNotComplete",
    "TransactionInProgressException",
];

/// Error codes of transient server-side failures.
pub const TRANSIENT_CODES: &[&str] = &[
    "InternalServerError",
    "InternalServerException",
    "InternalFailure",
    "InternalServiceError",
    "InternalServiceErrorException",
    "InternalException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
];

/// Classifies an SDK error. `conflicts` lists the error codes that mean a conditional write
/// lost a race (for DynamoDB: `ConditionalCheckFailedException`, ...).
pub fn classify<E>(op: &'static str, e: SdkError<E, Response>, conflicts: &[&str]) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message, kind) = match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().map(str::to_owned);
            let message = se.err().message().unwrap_or_default().to_owned();
            let c = code.as_deref().unwrap_or_default();
            let kind = if conflicts.contains(&c) {
                AwsErrorKind::Conflict
            } else if THROTTLING_CODES.contains(&c) || se.raw().status().as_u16() == 429 {
                AwsErrorKind::Throttled
            } else if TRANSIENT_CODES.contains(&c) || se.raw().status().is_server_error() {
                AwsErrorKind::Unavailable
            } else {
                AwsErrorKind::Rejected
            };
            (code, message, kind)
        }
        SdkError::ConstructionFailure(_) => (
            None,
            format!("cannot build the request: {}", error_chain(&e)),
            AwsErrorKind::Rejected,
        ),
        // Timeouts, connection failures, unreadable responses.
        _ => (None, error_chain(&e), AwsErrorKind::Unavailable),
    };
    AwsError {
        op,
        code,
        message,
        kind,
        source: Box::new(e),
    }
}

/// An error and its causes, `: `-separated (the SDK's own `Display` is terse).
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = c.source();
    }
    s
}

/// Sleeps before retry `attempt` (0-based): exponential backoff with full jitter, from 5 ms
/// doubling to a 400 ms ceiling.
pub async fn backoff(attempt: u32) {
    tokio::time::sleep(backoff_delay(attempt, jitter())).await;
}

/// The delay [`backoff`] sleeps for `attempt`, given a random number in `[0, 1)`.
pub fn backoff_delay(attempt: u32, jitter: f64) -> std::time::Duration {
    let cap = (5u64 << attempt.min(7)).min(400);
    let ms = 1 + ((cap as f64) * jitter.clamp(0.0, 1.0)) as u64;
    std::time::Duration::from_millis(ms.min(cap))
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    f64::from(nanos % 1_000_000) / 1_000_000.0
}

#[cfg(test)]
mod roots {
    #[test]
    fn the_compiled_in_roots_are_the_five_amazon_trust_services_roots() {
        let certs = super::aws_root_certificates();
        assert_eq!(certs.len(), 5);
        assert!(certs
            .iter()
            .all(|c| c.starts_with("-----BEGIN CERTIFICATE-----")
                && c.trim_end().ends_with("-----END CERTIFICATE-----")));
        // The client builds with them.
        let _ = super::aws_http_client();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_ceiling_and_stays_positive() {
        assert_eq!(backoff_delay(0, 0.0).as_millis(), 1);
        assert!(backoff_delay(0, 0.99).as_millis() <= 5);
        assert!(backoff_delay(3, 0.99).as_millis() <= 40);
        assert_eq!(backoff_delay(30, 0.999).as_millis(), 400);
    }
}
