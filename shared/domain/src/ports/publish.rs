//! Where notifications to a topic go (Amazon SNS in production, behind [`TopicPublisher`]), and
//! where write-backs to findings go (Security Hub, behind [`FindingWriter`]).

use futures::future::BoxFuture;
use thiserror::Error;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One message to a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMessage {
    pub topic_arn: String,
    /// E-mail subject (under 100 characters, one line).
    pub subject: String,
    pub message: String,
    /// String message attributes, for subscription filter policies (at most 10).
    pub attributes: Vec<(String, String)>,
    /// FIFO topics: the message group and deduplication id.
    pub group_id: Option<String>,
    pub deduplication_id: Option<String>,
}

/// Why a message was not published.
#[derive(Debug, Error)]
pub enum PublishError {
    /// Throttled, unavailable, a network error: retry later.
    #[error("publishing to {topic} failed (retryable): {message}")]
    Unavailable {
        topic: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// The topic does not exist, access is denied, a KMS key is unusable: fix the
    /// configuration.
    #[error("publishing to {topic} is not possible: {message}")]
    Config {
        topic: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// This message can never be accepted (too large, invalid): sending it again fails again.
    #[error("{topic} refused the message: {message}")]
    Invalid {
        topic: String,
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

impl PublishError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, PublishError::Unavailable { .. })
    }
}

/// Publishes a message to a topic; the message id on success.
pub trait TopicPublisher: Send + Sync {
    fn publish<'a>(
        &'a self,
        message: &'a TopicMessage,
    ) -> BoxFuture<'a, Result<String, PublishError>>;
}

/// A finding `BatchUpdateFindings` did not update, with Security Hub's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unprocessed {
    pub id: String,
    pub product_arn: String,
    pub code: String,
    pub message: String,
}

impl Unprocessed {
    /// Codes worth another try: a racing import, a transient failure.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.code.as_str(),
            "ConcurrentUpdateError" | "InternalFailure"
        )
    }
}

/// Why a `BatchUpdateFindings` request failed as a whole.
#[derive(Debug, Error)]
pub enum WriteBackError {
    /// Throttled (`LimitExceededException`), a 5xx, a network error: retry later.
    #[error("Security Hub is unavailable (retryable): {message}")]
    Unavailable {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// Access denied, no hub: fix the configuration.
    #[error("Security Hub refuses Vigil's updates: {message}")]
    Config {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
    /// This request can never succeed (`InvalidInputException`).
    #[error("Security Hub rejected the update: {message}")]
    Invalid {
        message: String,
        #[source]
        source: Option<BoxError>,
    },
}

/// Security Hub's `BatchUpdateFindings` (the Security Hub adapter in production).
pub trait FindingWriter: Send + Sync {
    /// Applies `update`; the findings it did not update.
    fn batch_update<'a>(
        &'a self,
        update: &'a crate::writeback::Update,
    ) -> BoxFuture<'a, Result<Vec<Unprocessed>, WriteBackError>>;
}
