//! PagerDuty Events API v2: one POST per incident version that pages (see
//! `vigil_wire::pagerduty`); versions that page nobody are delivered without a request. 202 is
//! success; 400 is bad data (dead-lettered alone); 429 and 5xx are retried, 429 for minutes
//! (PagerDuty's own advice), through the outbox when the invocation cannot wait.

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use vigil_wire::pagerduty::event;
use vigil_wire::retry::Failure;
use vigil_wire::sinks::PagerDutySink;

use crate::message::{
    http_failure, http_outcome, secret_failure, sink_http_client, Delivery, SendResults,
};
use crate::secrets::Secrets;
use crate::tls::TlsError;

/// Requests in flight at once per batch (PagerDuty allows about 120 a minute per key).
const CONCURRENCY: usize = 4;
/// How long a 429 without `Retry-After` holds the sink.
const THROTTLED: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Debug)]
pub struct PagerDutyClient {
    config: PagerDutySink,
    secrets: Secrets,
    client: tokio::sync::OnceCell<reqwest::Client>,
}

impl PagerDutyClient {
    pub fn new(config: PagerDutySink, secrets: Secrets) -> Result<Self, TlsError> {
        Ok(Self {
            config,
            secrets,
            client: tokio::sync::OnceCell::new(),
        })
    }

    pub fn config(&self) -> &PagerDutySink {
        &self.config
    }

    pub fn refresh_credentials(&self) {
        self.secrets.invalidate(&self.config.routing_key);
    }

    async fn client(&self) -> Result<&reqwest::Client, Failure> {
        self.client
            .get_or_try_init(|| {
                sink_http_client(&self.config.tls, &self.secrets, self.config.timeout_secs)
            })
            .await
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        // Nothing to page: no client, no secret needed.
        let events: Vec<Option<&Delivery>> = batch
            .iter()
            .map(|d| event(&self.config, "", &d.payload).map(|_| d.as_ref()))
            .collect();
        if events.iter().all(Option::is_none) {
            return vec![Ok(()); batch.len()];
        }
        let client = match self.client().await {
            Ok(c) => c,
            Err(f) => return vec![Err(f); batch.len()],
        };
        let key = match self.secrets.get(&self.config.routing_key).await {
            Ok(s) => s.expose().trim().to_owned(),
            Err(e) => return vec![Err(secret_failure(&e)); batch.len()],
        };
        stream::iter(events)
            .map(|d| {
                let key = key.as_str();
                async move {
                    match d {
                        None => Ok(()),
                        Some(d) => self.post(client, key, d).await,
                    }
                }
            })
            .buffered(CONCURRENCY)
            .collect()
            .await
    }

    async fn post(&self, client: &reqwest::Client, key: &str, d: &Delivery) -> Result<(), Failure> {
        let Some(ev) = event(&self.config, key, &d.payload) else {
            return Ok(());
        };
        let body = serde_json::to_vec(&ev).map_err(|e| Failure::data(e.to_string()))?;
        let resp = client
            .post(&self.config.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(http_failure)?;
        // The body never holds the routing key; it names what PagerDuty refused (400: bad data,
        // dead-lettered alone).
        http_outcome(resp, "PagerDuty", THROTTLED).await
    }
}
