//! Vigil's AWS Security Hub adapter: the domain's [`FindingWriter`] port with
//! `BatchUpdateFindings` (workflow status, note, user-defined fields). Throttling
//! (`LimitExceededException`, 429) is retried by the SDK's standard retry strategy, then
//! reported as retryable; `InvalidAccessException` and access denials are configuration;
//! `InvalidInputException` is the request's own fault.

pub mod admin;
pub mod filters;

pub use admin::ManagedSecurityHub;

use aws_sdk_securityhub::types::{
    AwsSecurityFindingIdentifier, NoteUpdate, WorkflowStatus as SdkWorkflowStatus, WorkflowUpdate,
};
use aws_sdk_securityhub::Client;
use futures::future::BoxFuture;
use vigil_aws::{classify, AwsError, AwsErrorKind};
use vigil_domain::asff::WorkflowStatus;
use vigil_domain::ports::{FindingWriter, Unprocessed, WriteBackError};
use vigil_domain::writeback::{Update, UPDATED_BY};

/// Security Hub write-back.
#[derive(Debug, Clone)]
pub struct SecurityHub {
    client: Client,
}

impl SecurityHub {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client from the standard AWS environment (the function's Region: the aggregation
    /// Region when cross-Region aggregation is on, which updates linked Regions' findings).
    pub async fn from_env() -> Self {
        Self::new(Client::new(&vigil_aws::sdk_config().await))
    }
}

const CONFIG_CODES: &[&str] = &[
    "InvalidAccessException",
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ResourceNotFoundException",
];

/// A failed request as a write-back error.
pub fn writeback_error(e: AwsError) -> WriteBackError {
    let message = e.to_string();
    let config = e.kind == AwsErrorKind::Rejected
        && e.code.as_deref().is_some_and(|c| CONFIG_CODES.contains(&c));
    let retryable = e.is_retryable();
    let source = Some(Box::new(e) as Box<dyn std::error::Error + Send + Sync>);
    if retryable {
        WriteBackError::Unavailable { message, source }
    } else if config {
        WriteBackError::Config { message, source }
    } else {
        WriteBackError::Invalid { message, source }
    }
}

fn workflow(w: WorkflowStatus) -> SdkWorkflowStatus {
    match w {
        WorkflowStatus::New => SdkWorkflowStatus::New,
        WorkflowStatus::Notified => SdkWorkflowStatus::Notified,
        WorkflowStatus::Suppressed => SdkWorkflowStatus::Suppressed,
        WorkflowStatus::Resolved => SdkWorkflowStatus::Resolved,
    }
}

impl FindingWriter for SecurityHub {
    fn batch_update<'a>(
        &'a self,
        u: &'a Update,
    ) -> BoxFuture<'a, Result<Vec<Unprocessed>, WriteBackError>> {
        Box::pin(async move {
            let mut req = self
                .client
                .batch_update_findings()
                .workflow(
                    WorkflowUpdate::builder()
                        .status(workflow(u.workflow))
                        .build(),
                )
                .note(
                    NoteUpdate::builder()
                        .text(&u.note)
                        .updated_by(UPDATED_BY)
                        .build(),
                );
            for (id, product) in &u.findings {
                req = req.finding_identifiers(
                    AwsSecurityFindingIdentifier::builder()
                        .id(id)
                        .product_arn(product)
                        .build(),
                );
            }
            for (k, v) in &u.fields {
                req = req.user_defined_fields(k, v);
            }
            let out = req
                .send()
                .await
                .map_err(|e| writeback_error(classify("BatchUpdateFindings", e, &[])))?;
            Ok(out
                .unprocessed_findings
                .unwrap_or_default()
                .into_iter()
                .map(|x| {
                    let (id, product_arn) = x
                        .finding_identifier
                        .map(|f| (f.id.unwrap_or_default(), f.product_arn.unwrap_or_default()))
                        .unwrap_or_default();
                    Unprocessed {
                        id,
                        product_arn,
                        code: x.error_code.unwrap_or_default(),
                        message: x.error_message.unwrap_or_default(),
                    }
                })
                .collect())
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use aws_sdk_securityhub::config::http::HttpResponse;
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

    fn update() -> Update {
        Update {
            workflow: WorkflowStatus::Notified,
            note: "[Vigil NOTIFIED] in incident inc-1".into(),
            findings: vec![(
                "f-1".into(),
                "arn:aws:securityhub:us-east-1::product/aws/guardduty".into(),
            )],
            fields: vec![("vigil_incident".into(), "inc-1".into())],
        }
    }

    fn error(status: u16, code: &str) -> HttpResponse {
        let mut r = HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(r#"{{"Code": "{code}", "Message": "m"}}"#)),
        );
        r.headers_mut().insert("x-amzn-errortype", code.to_owned());
        r
    }

    #[test]
    fn failures_are_classified_for_the_dispatcher() {
        for (status, code, want) in [
            (429, "LimitExceededException", "retryable"),
            (500, "InternalException", "retryable"),
            (401, "InvalidAccessException", "config"),
            (400, "InvalidInputException", "invalid"),
        ] {
            let rule = mock!(Client::batch_update_findings)
                .then_http_response(move || error(status, code));
            let client = mock_client!(aws_sdk_securityhub, RuleMode::Sequential, [&rule], |c| c
                .retry_config(aws_sdk_securityhub::config::retry::RetryConfig::disabled()));
            let e = block(SecurityHub::new(client).batch_update(&update())).unwrap_err();
            let got = match e {
                WriteBackError::Unavailable { .. } => "retryable",
                WriteBackError::Config { .. } => "config",
                WriteBackError::Invalid { .. } => "invalid",
            };
            assert_eq!(got, want, "{status} {code}: {e}");
        }
    }

    #[test]
    fn throttling_is_retried_by_the_sdk_then_succeeds() {
        let rule = mock!(Client::batch_update_findings)
            .sequence()
            .http_response(|| error(429, "LimitExceededException"))
            .times(2)
            .output(|| {
                aws_sdk_securityhub::operation::batch_update_findings::BatchUpdateFindingsOutput::builder()
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_securityhub, RuleMode::Sequential, [&rule], |c| c
            .retry_config(
                aws_sdk_securityhub::config::retry::RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(std::time::Duration::from_millis(1))
            ));
        assert!(block(SecurityHub::new(client).batch_update(&update()))
            .unwrap()
            .is_empty());
        assert_eq!(rule.num_calls(), 3);
    }
}
