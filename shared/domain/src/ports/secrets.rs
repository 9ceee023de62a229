//! Where destination credentials (HEC tokens, signing secrets, client keys) come from: a
//! secret store such as AWS Secrets Manager, behind [`SecretBackend`].

use futures::future::BoxFuture;
use thiserror::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a secret could not be read. Never contains the secret's value.
#[derive(Debug, Error)]
pub enum SecretError {
    /// The secret store failed or throttled: retry later.
    #[error("reading {what} failed (retryable): {message}")]
    Unavailable {
        what: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The secret does not exist, access is denied or its shape is wrong: fix the configuration.
    #[error("{what} is not usable: {message}")]
    Invalid {
        what: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl SecretError {
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            what: what.into(),
            message: message.into(),
            source: None,
        }
    }

    pub fn is_retryable(&self) -> bool {
        matches!(self, SecretError::Unavailable { .. })
    }
}

/// Fetches a secret string by ARN or name (AWS Secrets Manager in production).
pub trait SecretBackend: Send + Sync {
    fn fetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<String, SecretError>>;
}
