//! Chat channels through incoming webhooks: Slack (Block Kit) and Microsoft Teams workflows
//! (Adaptive Card). One POST per notice (see `vigil_wire::notify`); versions that notify
//! nobody are delivered without a request. Sent one at a time, in order (Slack allows about
//! one message a second per webhook). The URL is the credential: read from the secret, checked,
//! never logged.
//!
//! Neither API has an idempotency key: the per-destination delivery state stops a delivered
//! version from being posted again, but a request that timed out after the channel took it is
//! posted again when retried (at most one duplicate per timeout).

use std::sync::Arc;

use chrono::Utc;
use vigil_wire::notify::{notice, slack, teams, Notice};
use vigil_wire::retry::{Failure, FailureClass};
use vigil_wire::sinks::{check_secret_url, ChatSink};

use crate::message::{
    http_failure, http_outcome, secret_failure, sink_http_client, Delivery, SendResults,
};
use crate::secrets::Secrets;
use crate::tls::TlsError;

/// How long a 429 without `Retry-After` holds the sink.
const THROTTLED: std::time::Duration = std::time::Duration::from_secs(30);

/// Which chat service a [`ChatClient`] posts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatKind {
    Slack,
    Teams,
}

impl ChatKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChatKind::Slack => "slack",
            ChatKind::Teams => "teams",
        }
    }

    /// The message body for a notice.
    pub fn body(self, n: &Notice) -> serde_json::Value {
        match self {
            ChatKind::Slack => slack(n),
            ChatKind::Teams => teams(n),
        }
    }
}

#[derive(Debug)]
pub struct ChatClient {
    kind: ChatKind,
    config: ChatSink,
    secrets: Secrets,
    client: tokio::sync::OnceCell<reqwest::Client>,
}

impl ChatClient {
    pub fn new(kind: ChatKind, config: ChatSink, secrets: Secrets) -> Result<Self, TlsError> {
        Ok(Self {
            kind,
            config,
            secrets,
            client: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &ChatSink {
        &self.config
    }

    pub fn kind(&self) -> ChatKind {
        self.kind
    }

    pub fn refresh_credentials(&self) {
        self.secrets.invalidate(&self.config.webhook_url);
    }

    async fn client(&self) -> Result<&reqwest::Client, Failure> {
        self.client
            .get_or_try_init(|| {
                sink_http_client(&self.config.tls, &self.secrets, self.config.timeout_secs)
            })
            .await
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let now = Utc::now();
        let sel = self.config.selection();
        let notices: Vec<Option<Notice>> = batch
            .iter()
            .map(|d| notice(&sel, &d.payload, now))
            .collect();
        if notices.iter().all(Option::is_none) {
            return vec![Ok(()); batch.len()];
        }
        let client = match self.client().await {
            Ok(c) => c,
            Err(f) => return vec![Err(f); batch.len()],
        };
        let url = match self.secrets.get(&self.config.webhook_url).await {
            Ok(s) => s.expose().trim().to_owned(),
            Err(e) => return vec![Err(secret_failure(&e)); batch.len()],
        };
        if let Err(e) = check_secret_url(&self.config.name, &url, self.config.allow_http) {
            return vec![Err(Failure::config(e.to_string())); batch.len()];
        }
        let mut out = Vec::with_capacity(batch.len());
        for n in notices {
            let r = match n {
                None => Ok(()),
                Some(n) => self.post(client, &url, &n).await,
            };
            // After a failure that may pass the rest wait: their order matters (opened
            // before resolved). A message refused for its content is refused alone.
            let failed = r
                .as_ref()
                .err()
                .filter(|f| f.class != FailureClass::Data)
                .cloned();
            out.push(r);
            if let Some(f) = failed {
                while out.len() < batch.len() {
                    out.push(Err(Failure::retryable(format!(
                        "not sent: an earlier message failed ({})",
                        f.message
                    ))
                    .with_retry_after(f.retry_after)));
                }
                break;
            }
        }
        out
    }

    async fn post(&self, client: &reqwest::Client, url: &str, n: &Notice) -> Result<(), Failure> {
        let body =
            serde_json::to_vec(&self.kind.body(n)).map_err(|e| Failure::data(e.to_string()))?;
        if self.kind == ChatKind::Teams && body.len() > vigil_wire::notify::TEAMS_MAX_BYTES {
            return Err(Failure::data(format!(
                "the Teams card is {} bytes, over the {} byte limit",
                body.len(),
                vigil_wire::notify::TEAMS_MAX_BYTES
            )));
        }
        let resp = client
            .post(url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(http_failure)?;
        // Slack and Teams explain a refusal in a short text or JSON body (never the URL).
        http_outcome(resp, self.kind.as_str(), THROTTLED).await
    }
}
