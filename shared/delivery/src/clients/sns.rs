//! Amazon SNS: one Publish per notice (see `vigil_wire::notify`), through the domain's
//! [`TopicPublisher`] port (the SNS adapter in production). The message is the notice as text
//! (e-mail, SMS) or the incident payload as JSON (SQS, Lambda, HTTPS subscribers), with string
//! message attributes for subscription filter policies: `severity`, `environment`,
//! `account_id`, `notice`, `route` (when the incident has one) and `incident_id`. A FIFO topic
//! gets the incident id as message group (versions in order) and `<incident id>:<version>` as
//! deduplication id, so a retried Publish within five minutes is not delivered twice; a
//! standard topic may deliver a retried message twice.

use std::sync::Arc;

use chrono::Utc;
use vigil_domain::ports::{PublishError, TopicMessage, TopicPublisher};
use vigil_wire::notify::{notice, sns_subject, text, Notice};
use vigil_wire::payload::IncidentPayload;
use vigil_wire::retry::Failure;
use vigil_wire::sinks::{SnsFormat, SnsSink};

use crate::message::{Delivery, SendResults};

/// SNS's limit for a message with its attributes.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

pub struct SnsClient {
    config: SnsSink,
    publisher: Option<Arc<dyn TopicPublisher>>,
}

impl std::fmt::Debug for SnsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnsClient")
            .field("topic_arn", &self.config.topic_arn)
            .finish()
    }
}

impl SnsClient {
    pub fn new(config: SnsSink) -> Self {
        Self {
            config,
            publisher: None,
        }
    }

    pub fn config(&self) -> &SnsSink {
        &self.config
    }

    /// Where messages go (the SNS adapter, or a test double).
    pub fn set_publisher(&mut self, publisher: Arc<dyn TopicPublisher>) {
        self.publisher = Some(publisher);
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let now = Utc::now();
        let sel = self.config.selection();
        let mut out = Vec::with_capacity(batch.len());
        for d in batch {
            let r = match notice(&sel, &d.payload, now) {
                None => Ok(()),
                Some(n) => self.publish(&n, &d.payload).await,
            };
            out.push(r);
        }
        out
    }

    async fn publish(&self, n: &Notice, p: &IncidentPayload) -> Result<(), Failure> {
        let Some(publisher) = &self.publisher else {
            return Err(Failure::config(
                "no SNS client is configured for this sink (the forwarder builds one at start)",
            ));
        };
        let m = message(&self.config, n, p)?;
        match publisher.publish(&m).await {
            Ok(id) => {
                tracing::debug!(incident_id = %p.incident_id, version = p.version, message_id = %id,
                    sink = %self.config.name, "published");
                Ok(())
            }
            Err(e) => Err(failure(&e)),
        }
    }
}

/// The SNS message of a notice.
pub fn message(config: &SnsSink, n: &Notice, p: &IncidentPayload) -> Result<TopicMessage, Failure> {
    let body = match config.format {
        SnsFormat::Text => text(n),
        SnsFormat::Json => serde_json::to_string(&serde_json::json!({
            "notice": n.kind,
            "headline": n.headline,
            "incident": p,
        }))
        .map_err(|e| Failure::data(e.to_string()))?,
    };
    let mut attributes = vec![
        ("severity".to_owned(), p.severity.as_str().to_owned()),
        ("environment".to_owned(), p.environment.clone()),
        ("account_id".to_owned(), p.account_id.clone()),
        ("notice".to_owned(), n.kind.code().to_owned()),
        ("incident_id".to_owned(), p.incident_id.clone()),
    ];
    if let Some(r) = &p.explanation.route {
        attributes.push(("route".to_owned(), r.clone()));
    }
    let size = body.len()
        + attributes
            .iter()
            .map(|(k, v)| k.len() + v.len() + "String".len())
            .sum::<usize>();
    if size > MAX_MESSAGE_BYTES {
        return Err(Failure::data(format!(
            "the SNS message is {size} bytes, over the {MAX_MESSAGE_BYTES} byte limit"
        )));
    }
    let fifo = config.is_fifo();
    Ok(TopicMessage {
        topic_arn: config.topic_arn.clone(),
        subject: sns_subject(n),
        message: body,
        attributes,
        group_id: fifo.then(|| p.incident_id.clone()),
        deduplication_id: fifo.then(|| p.idempotency_key.clone()),
    })
}

fn failure(e: &PublishError) -> Failure {
    match e {
        PublishError::Unavailable { .. } => Failure::retryable(e.to_string()),
        PublishError::Config { .. } => Failure::config(e.to_string()),
        PublishError::Invalid { .. } => Failure::data(e.to_string()),
    }
}
