//! Vigil's Amazon SNS adapter: the domain's [`TopicPublisher`] port with `Publish` (string
//! message attributes; message group and deduplication ids for FIFO topics). Used by the
//! forwarder's SNS sinks.

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;
use futures::future::BoxFuture;
use vigil_aws::{classify, AwsError, AwsErrorKind};
use vigil_domain::ports::{PublishError, TopicMessage, TopicPublisher};

/// Notifications through Amazon SNS.
#[derive(Debug, Clone)]
pub struct Sns {
    client: Client,
}

impl Sns {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client from the standard AWS environment.
    pub async fn from_env() -> Self {
        Self::new(Client::new(&vigil_aws::sdk_config().await))
    }
}

/// Error codes that mean the topic or its key is not usable as configured.
const CONFIG_CODES: &[&str] = &[
    "NotFound",
    "NotFoundException",
    "AuthorizationError",
    "AuthorizationErrorException",
    "KMSAccessDenied",
    "KMSAccessDeniedException",
    "KMSDisabled",
    "KMSDisabledException",
    "KMSInvalidState",
    "KMSInvalidStateException",
    "KMSNotFound",
    "KMSNotFoundException",
    "KMSOptInRequired",
    "EndpointDisabled",
    "InvalidSecurity",
    "InvalidClientTokenId",
    "AccessDenied",
    "AccessDeniedException",
];

/// An SNS failure as a publish error: throttling and server errors are retryable; a missing
/// topic, a denied call or an unusable KMS key is configuration; anything else the service
/// rejected (a message too large, a bad attribute) is this message's problem.
pub fn publish_error(topic: &str, e: AwsError) -> PublishError {
    let message = e.to_string();
    let topic = topic.to_owned();
    let config = e.kind == AwsErrorKind::Rejected
        && e.code.as_deref().is_some_and(|c| CONFIG_CODES.contains(&c));
    let retryable = e.is_retryable();
    let source = Some(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
    if retryable {
        PublishError::Unavailable {
            topic,
            message,
            source,
        }
    } else if config {
        PublishError::Config {
            topic,
            message,
            source,
        }
    } else {
        PublishError::Invalid {
            topic,
            message,
            source,
        }
    }
}

impl TopicPublisher for Sns {
    fn publish<'a>(&'a self, m: &'a TopicMessage) -> BoxFuture<'a, Result<String, PublishError>> {
        Box::pin(async move {
            let mut req = self
                .client
                .publish()
                .topic_arn(&m.topic_arn)
                .subject(&m.subject)
                .message(&m.message)
                .set_message_group_id(m.group_id.clone())
                .set_message_deduplication_id(m.deduplication_id.clone());
            for (k, v) in &m.attributes {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(v)
                    .build()
                    .map_err(|e| PublishError::Invalid {
                        topic: m.topic_arn.clone(),
                        message: format!("attribute {k}: {e}"),
                        source: None,
                    })?;
                req = req.message_attributes(k, value);
            }
            let out = req
                .send()
                .await
                .map_err(|e| publish_error(&m.topic_arn, classify("Publish", e, &[])))?;
            Ok(out.message_id.unwrap_or_default())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use aws_sdk_sns::config::http::HttpResponse;
    use aws_sdk_sns::operation::publish::PublishOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn msg() -> TopicMessage {
        TopicMessage {
            topic_arn: "arn:aws:sns:eu-west-1:111111111111:vigil".into(),
            subject: "Vigil [HIGH] x: opened".into(),
            message: "text".into(),
            attributes: vec![("severity".into(), "HIGH".into())],
            group_id: None,
            deduplication_id: None,
        }
    }

    fn error_response(status: u16, code: &str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>m</Message></Error></ErrorResponse>"
            )),
        )
    }

    #[test]
    fn failures_are_classified_for_the_dispatcher() {
        let cases = [
            (400, "Throttling", "retryable"),
            (500, "InternalError", "retryable"),
            (404, "NotFound", "config"),
            (403, "AuthorizationError", "config"),
            (400, "KMSDisabled", "config"),
            (400, "InvalidParameter", "invalid"),
        ];
        for (status, code, want) in cases {
            let rule =
                mock!(Client::publish).then_http_response(move || error_response(status, code));
            let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule], |c| c
                .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled()));
            let e = block(Sns::new(client).publish(&msg())).unwrap_err();
            let got = match e {
                PublishError::Unavailable { .. } => "retryable",
                PublishError::Config { .. } => "config",
                PublishError::Invalid { .. } => "invalid",
            };
            assert_eq!(got, want, "{status} {code}: {e}");
        }
    }

    #[test]
    fn a_published_message_returns_its_id() {
        let rule = mock!(Client::publish)
            .match_requests(|r| {
                r.message_attributes()
                    .and_then(|a| a.get("severity"))
                    .and_then(|v| v.string_value())
                    == Some("HIGH")
            })
            .then_output(|| PublishOutput::builder().message_id("m-1").build());
        let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, [&rule]);
        assert_eq!(block(Sns::new(client).publish(&msg())).unwrap(), "m-1");
    }
}
