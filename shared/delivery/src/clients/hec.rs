//! Splunk HTTP Event Collector sink: envelopes stacked into bodies of at most
//! `max_body_bytes`, `Authorization: Splunk <token>`, reply codes classified, a data error in a
//! stacked body isolated by re-sending its incidents one by one, and optional indexer
//! acknowledgement (channel header, ack polling).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use vigil_wire::hec_event::{self as hec, classify_reply, HecReply, HecSettings};
use vigil_wire::retry::{parse_retry_after, Failure};
use vigil_wire::sinks::HecSink;

use crate::message::{http_failure, secret_failure, sink_http_client, Delivery, SendResults};
use crate::secrets::Secrets;
use crate::tls::TlsError;

#[derive(Debug)]
pub struct HecClient {
    config: HecSink,
    settings: HecSettings,
    secrets: Secrets,
    client: tokio::sync::OnceCell<reqwest::Client>,
    event_url: String,
    ack_url: String,
    /// Indexer-acknowledgement channel of this container.
    channel: String,
}

fn endpoint(base: &str, path: &str) -> String {
    let b = base.trim_end_matches('/');
    let after_scheme = b.split_once("://").map(|(_, r)| r).unwrap_or(b);
    if after_scheme.contains('/') {
        // A full endpoint was given; the ack endpoint sits beside it.
        match path {
            "/services/collector/ack" => match b.rfind("/services/collector") {
                Some(i) => format!("{}{path}", &b[..i]),
                None => format!("{b}/ack"),
            },
            _ => b.to_owned(),
        }
    } else {
        format!("{b}{path}")
    }
}

impl HecClient {
    pub fn new(config: HecSink, secrets: Secrets) -> Result<Self, TlsError> {
        let settings = HecSettings {
            index: config.index.clone(),
            host: config.host.clone(),
            source: config.source.clone(),
            max_body_bytes: config.max_body_bytes,
        };
        Ok(Self {
            event_url: endpoint(&config.url, "/services/collector/event"),
            ack_url: endpoint(&config.url, "/services/collector/ack"),
            channel: uuid::Uuid::new_v4().to_string(),
            settings,
            secrets,
            client: tokio::sync::OnceCell::new(),
            config,
        })
    }

    pub fn config(&self) -> &HecSink {
        &self.config
    }

    pub fn refresh_credentials(&self) {
        self.secrets.invalidate(&self.config.token);
    }

    async fn client(&self) -> Result<&reqwest::Client, Failure> {
        self.client
            .get_or_try_init(|| {
                sink_http_client(&self.config.tls, &self.secrets, self.config.timeout_secs)
            })
            .await
    }

    fn envelopes(&self, d: &Delivery) -> Vec<(String, Value)> {
        let now = Utc::now();
        let key = d.key().to_owned();
        let mut v = vec![(
            key.clone(),
            hec::incident_envelope(&self.settings, &d.payload, now),
        )];
        if self.config.raw_findings {
            for f in &d.raw_findings {
                let env = hec::finding_envelope(&self.settings, &d.payload, f.clone(), now);
                // A raw finding that cannot fit in a body is left out (the incident still goes).
                let size = env.to_string().len();
                if size > self.config.max_body_bytes {
                    tracing::warn!(sink = %self.config.name, incident_id = %d.payload.incident_id,
                        size, max = self.config.max_body_bytes,
                        finding_id = f.get("Id").and_then(serde_json::Value::as_str).unwrap_or(""),
                        "raw finding larger than max_body_bytes; sent without it");
                    continue;
                }
                v.push((key.clone(), env));
            }
        }
        v
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let mut results: Vec<Result<(), Failure>> = vec![Ok(()); batch.len()];
        let client = match self.client().await {
            Ok(c) => c,
            Err(f) => return vec![Err(f); batch.len()],
        };
        let token = match self.secrets.get(&self.config.token).await {
            Ok(t) => t,
            Err(e) => return vec![Err(secret_failure(&e)); batch.len()],
        };
        let index_of: BTreeMap<&str, usize> = batch
            .iter()
            .enumerate()
            .map(|(i, d)| (d.key(), i))
            .collect();
        let envs: Vec<(String, Value)> = batch.iter().flat_map(|d| self.envelopes(d)).collect();
        let bodies = match hec::pack(&envs, self.config.max_body_bytes) {
            Ok(b) => b,
            Err(e) => {
                // One incident alone is above the limit: send the others, fail that one.
                let hec::HecError::EventTooLarge { key, .. } = &e;
                let mut out = Vec::with_capacity(batch.len());
                for d in batch {
                    if d.key() == key {
                        // Data error for this incident alone (only possible when the limit is
                        // set below one incident's envelope).
                        out.push(Err(Failure::data(e.to_string())));
                    } else {
                        let mut r = Box::pin(self.send(std::slice::from_ref(d))).await;
                        out.push(r.pop().unwrap_or(Ok(())));
                    }
                }
                return out;
            }
        };
        for body in bodies {
            let r = self.post(client, token.expose(), body.bytes.clone()).await;
            match r {
                Ok(()) => {}
                Err((failure, _))
                    if failure.class != vigil_wire::retry::FailureClass::Data
                        || body.keys.len() == 1 =>
                {
                    for k in &body.keys {
                        if let Some(&i) = index_of.get(k.as_str()) {
                            results[i] = Err(failure.clone());
                        }
                    }
                }
                Err((failure, bad)) => {
                    // A data error in a stacked body: whether the events before the bad one
                    // were indexed is not documented, so re-send each incident on its own (a
                    // duplicate is possible and carries the same idempotency key).
                    tracing::warn!(sink = %self.config.name, error = %failure, invalid_event = ?bad,
                        "HEC rejected an event in a batch; isolating it");
                    for k in &body.keys {
                        let Some(&i) = index_of.get(k.as_str()) else {
                            continue;
                        };
                        results[i] = self.post_one(client, token.expose(), &batch[i]).await;
                    }
                }
            }
        }
        results
    }

    /// One incident's envelopes on their own, in as many bodies as the limit needs.
    async fn post_one(
        &self,
        client: &reqwest::Client,
        token: &str,
        d: &Delivery,
    ) -> Result<(), Failure> {
        let bodies = hec::pack(&self.envelopes(d), self.config.max_body_bytes)
            .map_err(|e| Failure::data(e.to_string()))?;
        for b in bodies {
            self.post(client, token, b.bytes)
                .await
                .map_err(|(f, _)| f)?;
        }
        Ok(())
    }

    /// One POST (and, with acknowledgement on, the wait for the indexers).
    async fn post(
        &self,
        client: &reqwest::Client,
        token: &str,
        body: String,
    ) -> Result<(), (Failure, Option<usize>)> {
        let mut req = client
            .post(&self.event_url)
            .header("Authorization", format!("Splunk {token}"))
            .header("Content-Type", "application/json")
            .body(body);
        if self.config.ack.is_some() {
            req = req.header("X-Splunk-Request-Channel", &self.channel);
        }
        let resp = req.send().await.map_err(|e| (http_failure(e), None))?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, Utc::now()));
        let text = resp.text().await.map_err(|e| (http_failure(e), None))?;
        match classify_reply(status, &text, retry_after) {
            HecReply::Accepted { ack_id } => match (&self.config.ack, ack_id) {
                (Some(_), Some(id)) => self
                    .wait_for_ack(client, token, id)
                    .await
                    .map_err(|f| (f, None)),
                (Some(_), None) => Err((
                    Failure::config(
                        "ack is configured but HEC returned no ackId: is useACK on for this token?",
                    ),
                    None,
                )),
                (None, _) => Ok(()),
            },
            HecReply::Failed {
                failure,
                invalid_event,
            } => Err((failure, invalid_event)),
        }
    }

    async fn wait_for_ack(
        &self,
        client: &reqwest::Client,
        token: &str,
        id: u64,
    ) -> Result<(), Failure> {
        let Some(ack) = &self.config.ack else {
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(ack.timeout_secs);
        loop {
            tokio::time::sleep(Duration::from_millis(ack.poll_interval_ms)).await;
            let resp = client
                .post(format!("{}?channel={}", self.ack_url, self.channel))
                .header("Authorization", format!("Splunk {token}"))
                .header("X-Splunk-Request-Channel", &self.channel)
                .header("Content-Type", "application/json")
                .body(serde_json::json!({ "acks": [id] }).to_string())
                .send()
                .await
                .map_err(http_failure)?;
            let status = resp.status().as_u16();
            let text = resp.text().await.map_err(http_failure)?;
            if !(200..300).contains(&status) {
                if let HecReply::Failed { failure, .. } = classify_reply(status, &text, None) {
                    return Err(failure);
                }
            }
            // An acknowledged id is consumed on first read: record it now.
            if hec::parse_acks(&text).and_then(|a| a.get(&id).copied()) == Some(true) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Failure::retryable(format!(
                    "HEC ack {id} not confirmed within {}s; the request will be re-sent",
                    ack.timeout_secs
                )));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_are_derived_from_a_base_or_a_full_url() {
        assert_eq!(
            endpoint("https://h:8088", "/services/collector/event"),
            "https://h:8088/services/collector/event"
        );
        assert_eq!(
            endpoint("https://h:8088/", "/services/collector/ack"),
            "https://h:8088/services/collector/ack"
        );
        assert_eq!(
            endpoint(
                "https://h/services/collector/event/1.0",
                "/services/collector/event"
            ),
            "https://h/services/collector/event/1.0"
        );
        assert_eq!(
            endpoint(
                "https://h/services/collector/event",
                "/services/collector/ack"
            ),
            "https://h/services/collector/ack"
        );
    }
}
