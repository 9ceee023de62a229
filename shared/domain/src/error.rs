//! Error types. Each says whether the caller should retry.

use thiserror::Error;

/// A finding that cannot be processed. Never retryable: the same bytes fail the same way, so the
/// finding is logged and skipped, and its neighbours in the event are processed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FindingError {
    #[error("finding {} is invalid: field {field}: {reason}", finding_id.as_deref().unwrap_or("<no Id>"))]
    Invalid {
        finding_id: Option<String>,
        field: String,
        reason: String,
    },
}

impl FindingError {
    pub fn finding_id(&self) -> Option<&str> {
        match self {
            Self::Invalid { finding_id, .. } => finding_id.as_deref(),
        }
    }
    pub fn field(&self) -> &str {
        match self {
            Self::Invalid { field, .. } => field,
        }
    }
}

/// Errors from the incident store port.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A conditional write lost a race with another writer; re-read and re-apply.
    #[error("concurrent update of {what}; re-read and retry")]
    Conflict { what: String },
    /// Throttling, timeouts, 5xx: the whole invocation can be retried (it is idempotent).
    #[error("store temporarily unavailable: {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store rejected this request (validation: an item or key too large, a bad value):
    /// retrying the same request fails the same way, but other requests can succeed, so the
    /// engine skips just the findings that caused it.
    #[error("store rejected the request: {message}")]
    Rejected {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The store cannot be used at all (no such table, access denied): fix the deployment.
    /// Nothing is skipped: the whole event fails, is retried and then dead-lettered.
    #[error("store unusable: {message}")]
    Unusable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A stored item that does not decode: data corruption or an incompatible schema.
    #[error("stored item {key} does not decode: {message}")]
    Corrupt { key: String, message: String },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Conflict { .. } | Self::Unavailable { .. })
    }
}

/// Errors loading the runbook. Configuration errors: fix the file, retrying will not help.
#[derive(Debug, Error)]
pub enum RunbookError {
    #[error("runbook {origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("cannot read runbook {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}
