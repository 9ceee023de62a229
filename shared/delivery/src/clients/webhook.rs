//! HTTPS webhook signed per Standard Webhooks: one POST per incident version, JSON body,
//! `webhook-id` = the idempotency key (the same on every retry), `webhook-timestamp`,
//! `webhook-signature`. 2xx and 409 (already have it) are success.

use std::sync::Arc;

use chrono::Utc;
use futures::stream::{self, StreamExt};
use vigil_wire::retry::{http_status_class, parse_retry_after, Failure, FailureClass};
use vigil_wire::sinks::WebhookSink;
use vigil_wire::webhook_signature::{sign, WebhookSecret};

use crate::message::{http_failure, secret_failure, sink_http_client, Delivery, SendResults};
use crate::secrets::Secrets;
use crate::tls::TlsError;

/// Requests in flight at once per batch.
const CONCURRENCY: usize = 8;

#[derive(Debug)]
pub struct WebhookClient {
    config: WebhookSink,
    secrets: Secrets,
    client: tokio::sync::OnceCell<reqwest::Client>,
}

impl WebhookClient {
    pub fn new(config: WebhookSink, secrets: Secrets) -> Result<Self, TlsError> {
        Ok(Self {
            config,
            secrets,
            client: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &WebhookSink {
        &self.config
    }

    pub fn refresh_credentials(&self) {
        self.secrets.invalidate(&self.config.secret);
    }

    async fn client(&self) -> Result<&reqwest::Client, Failure> {
        self.client
            .get_or_try_init(|| {
                sink_http_client(&self.config.tls, &self.secrets, self.config.timeout_secs)
            })
            .await
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let client = match self.client().await {
            Ok(c) => c,
            Err(f) => return vec![Err(f); batch.len()],
        };
        let secret = match self.secrets.get(&self.config.secret).await {
            Ok(s) => match WebhookSecret::parse(s.expose()) {
                Ok(w) => w,
                Err(e) => {
                    return vec![Err(Failure::config(format!("webhook secret: {e}"))); batch.len()]
                }
            },
            Err(e) => return vec![Err(secret_failure(&e)); batch.len()],
        };
        stream::iter(batch)
            .map(|d| self.post(client, &secret, d))
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        secret: &WebhookSecret,
        d: &Delivery,
    ) -> Result<(), Failure> {
        let body = serde_json::to_vec(&d.payload).map_err(|e| Failure::data(e.to_string()))?;
        let h = sign(secret, d.key(), Utc::now().timestamp(), &body);
        let resp = client
            .post(&self.config.url)
            .header("content-type", "application/json")
            .header("webhook-id", &h.id)
            .header("webhook-timestamp", h.timestamp.to_string())
            .header("webhook-signature", &h.signature)
            .header("idempotency-key", &h.id)
            .body(body)
            .send()
            .await
            .map_err(http_failure)?;
        let status = resp.status().as_u16();
        let Some(class) = http_status_class(status) else {
            return Ok(());
        };
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let text: String = resp
            .text()
            .await
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        let msg = format!("webhook {status}: {text}");
        let f = match class {
            FailureClass::Retryable => Failure::retryable(msg),
            FailureClass::Config => Failure::config(msg),
            FailureClass::Data => Failure::data(msg),
        };
        Err(f.with_retry_after(retry_after))
    }
}
