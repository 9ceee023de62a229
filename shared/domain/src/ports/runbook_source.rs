//! Where a deployed runbook comes from when it does not fit an environment variable: an object
//! store (S3). The ingest function polls it (see `ingest::live`); the adapter is
//! `vigil-aws-s3`.

use futures::future::BoxFuture;
use thiserror::Error;

/// Reading the runbook's object failed. Retryable errors are tried again at the next poll;
/// either way the last good runbook stays in force.
#[derive(Debug, Error)]
#[error("runbook source {location}: {message}")]
pub struct RunbookSourceError {
    pub location: String,
    pub message: String,
    /// Throttling, timeouts, 5xx: the next poll may succeed. Not found or access denied: fix
    /// the deployment.
    pub retryable: bool,
    /// The object does not exist (none uploaded yet, or deleted).
    pub not_found: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// A runbook object: its entity tag (changes with every new version) and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunbookObject {
    pub etag: String,
    pub text: String,
}

/// The store holding the deployed runbook.
pub trait RunbookSource: Send + Sync + std::fmt::Debug {
    /// `s3://bucket/key`, for messages.
    fn location(&self) -> String;
    /// The current version's entity tag (a cheap request: `HeadObject`).
    fn etag(&self) -> BoxFuture<'_, Result<String, RunbookSourceError>>;
    /// The current version.
    fn get(&self) -> BoxFuture<'_, Result<RunbookObject, RunbookSourceError>>;
}

/// Reading account facts failed; the facts read before stay in use.
#[derive(Debug, Error)]
#[error("account facts: {message}")]
pub struct DirectoryError {
    pub message: String,
    pub retryable: bool,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// Where account facts come from (AWS Organizations; `vigil-aws-organizations`).
pub trait DirectorySource: Send + Sync + std::fmt::Debug {
    fn read(&self) -> BoxFuture<'_, Result<crate::runbook::AccountDirectory, DirectoryError>>;
}
