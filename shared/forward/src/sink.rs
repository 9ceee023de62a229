//! The sinks and what they are handed: one [`Delivery`] per incident version.

use std::sync::Arc;

use serde_json::Value;
use vigil_siem::change::IncidentPayload;
use vigil_siem::config::SinkConfig;
use vigil_siem::retry::Failure;

use crate::secrets::Secrets;
use crate::tls::TlsError;
use crate::{file, hec, syslog, webhook};

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

/// A configured sink. A handful exist per process, so the variants' sizes do not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Sink {
    Hec(hec::HecClient),
    Syslog(syslog::SyslogClient),
    Webhook(webhook::WebhookClient),
    File(file::FileClient),
}

impl Sink {
    /// Builds a sink. Credentials are read lazily, on first send.
    pub fn new(config: &SinkConfig, secrets: &Secrets) -> Result<Self, TlsError> {
        Ok(match config {
            SinkConfig::Hec(c) => Sink::Hec(hec::HecClient::new(c.clone(), secrets.clone())?),
            SinkConfig::Syslog(c) => {
                Sink::Syslog(syslog::SyslogClient::new(c.clone(), secrets.clone())?)
            }
            SinkConfig::Webhook(c) => {
                Sink::Webhook(webhook::WebhookClient::new(c.clone(), secrets.clone())?)
            }
            SinkConfig::File(c) => Sink::File(file::FileClient::new(c.clone())),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Sink::Hec(s) => &s.config().name,
            Sink::Syslog(s) => &s.config().name,
            Sink::Webhook(s) => &s.config().name,
            Sink::File(s) => &s.config().name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Sink::Hec(_) => "hec",
            Sink::Syslog(_) => "syslog",
            Sink::Webhook(_) => "webhook",
            Sink::File(_) => "file",
        }
    }

    pub fn wants_raw_findings(&self) -> bool {
        matches!(self, Sink::Hec(h) if h.config().raw_findings)
    }

    /// Sends the deliveries; one result per delivery.
    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        match self {
            Sink::Hec(s) => s.send(batch).await,
            Sink::Syslog(s) => s.send(batch).await,
            Sink::Webhook(s) => s.send(batch).await,
            Sink::File(s) => s.send(batch).await,
        }
    }

    /// Drops cached credentials after an authentication failure.
    pub fn refresh_credentials(&self) {
        match self {
            Sink::Hec(s) => s.refresh_credentials(),
            Sink::Syslog(s) => s.refresh_credentials(),
            Sink::Webhook(s) => s.refresh_credentials(),
            Sink::File(_) => {}
        }
    }
}

/// The HTTP client of an HTTPS sink (HEC, webhook): its TLS settings, client identity and
/// timeout. A secret store that is unavailable is retryable; anything else is configuration.
pub(crate) async fn sink_http_client(
    tls: &vigil_siem::config::TlsConfig,
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
pub(crate) fn secret_failure(e: &crate::secrets::SecretError) -> Failure {
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
