//! Vigil's AWS Secrets Manager adapter: the domain's [`SecretBackend`] port with
//! `GetSecretValue` (string secrets). Used by the forwarder for destination credentials.

use aws_sdk_secretsmanager::Client;
use futures::future::BoxFuture;
use vigil_aws::{classify, AwsError};
use vigil_domain::ports::{SecretBackend, SecretError};

/// Sink secrets from AWS Secrets Manager.
#[derive(Debug, Clone)]
pub struct SecretsManager {
    client: Client,
}

impl SecretsManager {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client from the standard AWS environment.
    pub async fn from_env() -> Self {
        Self::new(Client::new(&vigil_aws::sdk_config().await))
    }
}

/// A Secrets Manager failure as a secret error: throttling and server errors are retryable;
/// a missing secret, a denied read or a bad request is configuration.
pub fn secret_error(what: String, e: AwsError) -> SecretError {
    let message = e.to_string();
    if e.is_retryable() {
        SecretError::Unavailable {
            what,
            message,
            source: Some(Box::new(e)),
        }
    } else {
        SecretError::Invalid {
            what,
            message,
            source: Some(Box::new(e)),
        }
    }
}

impl SecretBackend for SecretsManager {
    fn fetch<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<String, SecretError>> {
        Box::pin(async move {
            let what = format!("secret {id}");
            let resp = self
                .client
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| secret_error(what.clone(), classify("GetSecretValue", e, &[])))?;
            resp.secret_string.ok_or_else(|| {
                SecretError::invalid(
                    what,
                    "has no SecretString (binary secrets are not supported)",
                )
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use aws_sdk_secretsmanager::config::http::HttpResponse;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
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

    /// An awsJson1.1 error response, as Secrets Manager sends it on the wire.
    fn error(status: u16, code: &str) -> HttpResponse {
        HttpResponse::new(
            StatusCode::try_from(status).unwrap(),
            SdkBody::from(format!(
                r#"{{"__type":"com.amazonaws.secretsmanager#{code}","message":"from the mock"}}"#
            )),
        )
    }

    fn one_attempt(
        b: aws_sdk_secretsmanager::config::Builder,
    ) -> aws_sdk_secretsmanager::config::Builder {
        b.retry_config(aws_sdk_secretsmanager::config::retry::RetryConfig::disabled())
    }

    #[test]
    fn a_missing_or_denied_secret_is_configuration_and_keeps_its_cause() {
        for (status, code) in [
            (400, "ResourceNotFoundException"),
            (400, "AccessDeniedException"),
        ] {
            let rule =
                mock!(Client::get_secret_value).then_http_response(move || error(status, code));
            let client = mock_client!(
                aws_sdk_secretsmanager,
                RuleMode::Sequential,
                [&rule],
                one_attempt
            );
            let e = block(SecretsManager::new(client).fetch("vigil/hec")).unwrap_err();
            assert!(!e.is_retryable(), "{code}: {e}");
            assert!(
                e.to_string().contains("vigil/hec") && e.to_string().contains(code),
                "{e}"
            );
            assert!(
                std::error::Error::source(&e).is_some(),
                "the SDK error is kept"
            );
        }
    }

    #[test]
    fn throttling_and_service_faults_are_retryable() {
        for (status, code) in [
            (400, "ThrottlingException"),
            (500, "InternalServiceError"),
            (503, "ServiceUnavailable"),
        ] {
            let rule =
                mock!(Client::get_secret_value).then_http_response(move || error(status, code));
            let client = mock_client!(
                aws_sdk_secretsmanager,
                RuleMode::Sequential,
                [&rule],
                one_attempt
            );
            let e = block(SecretsManager::new(client).fetch("vigil/hec")).unwrap_err();
            assert!(e.is_retryable(), "{code}: {e}");
        }
    }

    #[test]
    fn a_binary_secret_is_a_configuration_error_and_a_string_is_returned() {
        let bin = mock!(Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().name("x").build());
        let ok = mock!(Client::get_secret_value)
            .then_output(|| GetSecretValueOutput::builder().secret_string("tok").build());
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, [&bin, &ok]);
        let sm = SecretsManager::new(client);
        assert!(!block(sm.fetch("a")).unwrap_err().is_retryable());
        assert_eq!(block(sm.fetch("a")).unwrap(), "tok");
    }
}
