//! The configured sinks: one enum over the clients, so the dispatcher treats them alike.

use std::sync::Arc;

use vigil_wire::sinks::SinkConfig;

use crate::clients::{chat, file, hec, pagerduty, securityhub, sns, syslog, webhook};
use crate::message::{Delivery, SendResults};
use crate::secrets::Secrets;
use crate::tls::TlsError;

/// A configured sink. A handful exist per process, so the variants' sizes do not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Sink {
    Hec(hec::HecClient),
    Syslog(syslog::SyslogClient),
    Webhook(webhook::WebhookClient),
    PagerDuty(pagerduty::PagerDutyClient),
    Chat(chat::ChatClient),
    Sns(sns::SnsClient),
    SecurityHub(securityhub::SecurityHubClient),
    File(file::FileClient),
}

impl Sink {
    /// Builds a sink. Credentials are read lazily, on first send.
    pub fn new(config: &SinkConfig, secrets: &Secrets) -> Result<Self, TlsError> {
        Ok(match config {
            SinkConfig::Hec(c) => Sink::Hec(hec::HecClient::new(c.clone(), secrets.clone())?),
            SinkConfig::Syslog(c) => {
                Sink::Syslog(syslog::SyslogClient::new(c.clone(), secrets.clone())?)
            }
            SinkConfig::Webhook(c) => {
                Sink::Webhook(webhook::WebhookClient::new(c.clone(), secrets.clone())?)
            }
            SinkConfig::PagerDuty(c) => {
                Sink::PagerDuty(pagerduty::PagerDutyClient::new(c.clone(), secrets.clone())?)
            }
            SinkConfig::Slack(c) => Sink::Chat(chat::ChatClient::new(
                chat::ChatKind::Slack,
                c.clone(),
                secrets.clone(),
            )?),
            SinkConfig::Teams(c) => Sink::Chat(chat::ChatClient::new(
                chat::ChatKind::Teams,
                c.clone(),
                secrets.clone(),
            )?),
            SinkConfig::Sns(c) => Sink::Sns(sns::SnsClient::new(c.clone())),
            SinkConfig::SecurityHub(c) => {
                Sink::SecurityHub(securityhub::SecurityHubClient::new(c.clone()))
            }
            SinkConfig::File(c) => Sink::File(file::FileClient::new(c.clone())),
        })
    }

    pub fn name(&self) -> &str {
        match self {
            Sink::Hec(s) => &s.config().name,
            Sink::Syslog(s) => &s.config().name,
            Sink::Webhook(s) => &s.config().name,
            Sink::PagerDuty(s) => &s.config().name,
            Sink::Chat(s) => &s.config().name,
            Sink::Sns(s) => &s.config().name,
            Sink::SecurityHub(s) => &s.config().name,
            Sink::File(s) => &s.config().name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Sink::Hec(_) => "hec",
            Sink::Syslog(_) => "syslog",
            Sink::Webhook(_) => "webhook",
            Sink::PagerDuty(_) => "pagerduty",
            Sink::Chat(s) => s.kind().as_str(),
            Sink::Sns(_) => "sns",
            Sink::SecurityHub(_) => "securityhub",
            Sink::File(_) => "file",
        }
    }

    pub fn wants_raw_findings(&self) -> bool {
        matches!(self, Sink::Hec(h) if h.config().raw_findings)
    }

    /// Sends the deliveries; one result per delivery.
    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        match self {
            Sink::Hec(s) => s.send(batch).await,
            Sink::Syslog(s) => s.send(batch).await,
            Sink::Webhook(s) => s.send(batch).await,
            Sink::PagerDuty(s) => s.send(batch).await,
            Sink::Chat(s) => s.send(batch).await,
            Sink::Sns(s) => s.send(batch).await,
            Sink::SecurityHub(s) => s.send(batch).await,
            Sink::File(s) => s.send(batch).await,
        }
    }

    /// Drops cached credentials after an authentication failure.
    pub fn refresh_credentials(&self) {
        match self {
            Sink::Hec(s) => s.refresh_credentials(),
            Sink::Syslog(s) => s.refresh_credentials(),
            Sink::Webhook(s) => s.refresh_credentials(),
            Sink::PagerDuty(s) => s.refresh_credentials(),
            Sink::Chat(s) => s.refresh_credentials(),
            Sink::Sns(_) | Sink::SecurityHub(_) | Sink::File(_) => {}
        }
    }
}
