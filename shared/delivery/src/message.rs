//! What the clients are handed and give back, shared by every client: one [`Delivery`] per
//! incident version, per-delivery results, and the conversions of transport, TLS and secret
//! failures into delivery failures. A leaf module: it knows no client.

use serde_json::Value;
use vigil_wire::payload::IncidentPayload;
use vigil_wire::retry::Failure;

use vigil_domain::ports::SecretError;

use crate::secrets::Secrets;
use crate::tls::TlsError;

/// One incident version to deliver.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Position in the stream batch (for the partial-batch response).
    pub index: usize,
    pub sequence_number: Option<String>,
    pub payload: IncidentPayload,
    /// Raw ASFF of the incident's most recent findings (HEC `raw_findings`).
    pub raw_findings: Vec<Value>,
}

impl Delivery {
    pub fn key(&self) -> &str {
        &self.payload.idempotency_key
    }
}

/// Per-delivery results of one send, in the order of the deliveries given.
pub type SendResults = Vec<Result<(), Failure>>;

/// The HTTP client of an HTTPS sink (HEC, webhook): its TLS settings, client identity and
/// timeout. A secret store that is unavailable is retryable; anything else is configuration.
pub(crate) async fn sink_http_client(
    tls: &vigil_wire::sinks::TlsConfig,
    secrets: &Secrets,
    timeout_secs: u64,
) -> Result<reqwest::Client, Failure> {
    let id = crate::tls::client_identity(tls, secrets)
        .await
        .map_err(|e| tls_failure(&e))?;
    crate::tls::http_client(
        tls,
        id.as_deref(),
        std::time::Duration::from_secs(timeout_secs),
    )
    .map_err(|e| tls_failure(&e))
}

/// A TLS setup failure as a delivery failure.
pub(crate) fn tls_failure(e: &TlsError) -> Failure {
    match e {
        TlsError::Secret(s) => secret_failure(s),
        e => Failure::config(e.to_string()),
    }
}

/// A secret failure as a delivery failure (the secret's value is never in the message).
pub(crate) fn secret_failure(e: &SecretError) -> Failure {
    if e.is_retryable() {
        Failure::retryable(e.to_string())
    } else {
        Failure::config(e.to_string())
    }
}

/// A transport error from reqwest, without the URL's query (where tokens could be).
pub(crate) fn http_failure(e: reqwest::Error) -> Failure {
    let e = e.without_url();
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "transport error"
    };
    let mut msg = format!("{what}: {e}");
    let mut src = std::error::Error::source(&e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    if msg.contains("certificate") || msg.contains("UnknownIssuer") {
        Failure::config(msg)
    } else {
        Failure::retryable(msg)
    }
}

/// An HTTP sink's response as a delivery result (PagerDuty, Slack, Teams): 2xx is success; 429
/// is retryable after its `Retry-After`, or `throttled` without one; other statuses by
/// [`vigil_wire::retry::http_status_class`]. The message is `what`, the status and the start
/// of the body (receivers explain a refusal there; it never holds the request's credential).
pub(crate) async fn http_outcome(
    resp: reqwest::Response,
    what: &str,
    throttled: std::time::Duration,
) -> Result<(), Failure> {
    use vigil_wire::retry::{http_status_class, parse_retry_after, FailureClass};
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
    let text: String = resp
        .text()
        .await
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect();
    let msg = format!("{what} {status}: {}", text.trim());
    if status == 429 {
        return Err(Failure::retryable(msg).with_retry_after(retry_after.or(Some(throttled))));
    }
    let f = match http_status_class(status) {
        None => return Ok(()),
        Some(FailureClass::Retryable) => Failure::retryable(msg),
        Some(FailureClass::Config) => Failure::config(msg),
        Some(FailureClass::Data) => Failure::data(msg),
    };
    Err(f.with_retry_after(retry_after))
}
