//! The forwarder's sink configuration (`VIGIL_SINKS`, YAML or JSON).
//!
//! ```yaml
//! sinks:
//!   - type: hec
//!     name: splunk
//!     url: https://splunk.example.com:8088
//!     token: { secret_arn: "arn:aws:secretsmanager:...:secret:vigil/hec", key: token }
//!     index: security
//!   - type: syslog
//!     name: arcsight
//!     host: syslog.example.com
//!     port: 6514
//!     format: cef
//!   - type: webhook
//!     name: soar
//!     url: https://soar.example.com/hooks/vigil
//!     secret: { secret_arn: "arn:aws:secretsmanager:...:secret:vigil/webhook" }
//! retry: { attempts: 4, base_delay_ms: 200, max_delay_ms: 5000 }
//! ```
//!
//! Secrets are references ([`SecretRef`]), never values in the configuration, except the
//! explicit `value:` form meant for local runs.

use serde::Deserialize;
use thiserror::Error;

use crate::retry::{OutboxConfig, RetryConfig};
use crate::syslog_message::DEFAULT_PEN;

#[derive(Debug, Error)]
pub enum SinkConfigError {
    #[error("sink configuration is not valid YAML/JSON: {0}")]
    Parse(String),
    #[error("sink {sink}: {message}")]
    Invalid { sink: String, message: String },
    #[error("two sinks are named {0:?}; names key the delivery state and must be unique")]
    DuplicateName(String),
}

/// Where a secret comes from. Its value is fetched at run time and never logged; `Debug`
/// shows [`SecretRef::describe`], never an inline value.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// AWS Secrets Manager secret ARN (or name).
    #[serde(default)]
    pub secret_arn: Option<String>,
    /// Environment variable holding the value (local runs).
    #[serde(default)]
    pub env: Option<String>,
    /// File holding the value (local runs, mounted secrets).
    #[serde(default)]
    pub file: Option<String>,
    /// The value itself: for local demos and tests only.
    #[serde(default)]
    pub value: Option<String>,
    /// When the secret is a JSON object, the field holding the value.
    #[serde(default)]
    pub key: Option<String>,
}

impl std::fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretRef({})", self.describe())
    }
}

impl SecretRef {
    /// A short description for logs and errors (never the value).
    pub fn describe(&self) -> String {
        let base = match (&self.secret_arn, &self.env, &self.file, &self.value) {
            (Some(a), _, _, _) => format!("secret {a}"),
            (_, Some(e), _, _) => format!("env {e}"),
            (_, _, Some(f), _) => format!("file {f}"),
            _ => "inline value".to_owned(),
        };
        match &self.key {
            Some(k) => format!("{base} key {k}"),
            None => base,
        }
    }

    fn check(&self, sink: &str, field: &str) -> Result<(), SinkConfigError> {
        let n = [
            self.secret_arn.is_some(),
            self.env.is_some(),
            self.file.is_some(),
            self.value.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if n != 1 {
            return Err(invalid(
                sink,
                format!("{field} needs exactly one of secret_arn, env, file, value"),
            ));
        }
        Ok(())
    }
}

/// TLS settings of an HTTPS or syslog sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Extra CA certificates (PEM) trusted for the server, besides the system roots.
    #[serde(default)]
    pub ca_pem: Option<String>,
    /// A file with extra CA certificates (PEM).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// Trust only the configured CA, not the system roots.
    #[serde(default)]
    pub ca_only: bool,
    /// Client certificate chain and private key (PEM, both in one secret) for mutual TLS.
    #[serde(default)]
    pub client_identity: Option<SecretRef>,
    /// Name checked against the server certificate when it differs from the host.
    #[serde(default)]
    pub server_name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecAck {
    /// How often to poll `/services/collector/ack`.
    #[serde(default = "default_ack_poll_ms")]
    pub poll_interval_ms: u64,
    /// How long to wait for the indexers before the request counts as failed (and is re-sent).
    #[serde(default = "default_ack_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_ack_poll_ms() -> u64 {
    1000
}
fn default_ack_timeout_secs() -> u64 {
    30
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HecSink {
    pub name: String,
    /// Base URL, e.g. `https://splunk.example.com:8088` (the path `/services/collector/event` is
    /// added unless the URL already has a path).
    pub url: String,
    pub token: SecretRef,
    #[serde(default)]
    pub index: Option<String>,
    #[serde(default = "default_source")]
    pub source: String,
    #[serde(default = "default_source")]
    pub host: String,
    /// Also send the incident's most recent findings, raw ASFF, under `aws:securityhub:finding`.
    #[serde(default)]
    pub raw_findings: bool,
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Indexer acknowledgement (Splunk Enterprise tokens with `useACK`); off by default.
    #[serde(default)]
    pub ack: Option<HecAck>,
    #[serde(default)]
    pub tls: TlsConfig,
    /// Allow `http://` (a local collector); refused otherwise.
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_source() -> String {
    "vigil".into()
}
fn default_max_body() -> usize {
    crate::hec_event::DEFAULT_MAX_BODY_BYTES
}
fn default_timeout_secs() -> u64 {
    10
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SyslogPayload {
    #[default]
    Cef,
    Leef,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogSink {
    pub name: String,
    pub host: String,
    #[serde(default = "default_syslog_port")]
    pub port: u16,
    #[serde(default)]
    pub format: SyslogPayload,
    /// RFC 5424 facility number (16 = local0).
    #[serde(default = "default_facility")]
    pub facility: u8,
    #[serde(default = "default_source")]
    pub hostname: String,
    #[serde(default = "default_source")]
    pub app_name: String,
    /// Private enterprise number in the structured-data id.
    #[serde(default = "default_pen")]
    pub pen: u32,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

fn default_syslog_port() -> u16 {
    6514
}
fn default_facility() -> u8 {
    16
}
fn default_pen() -> u32 {
    DEFAULT_PEN
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSink {
    pub name: String,
    pub url: String,
    /// Standard Webhooks signing secret (`whsec_<base64>`).
    pub secret: SecretRef,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

/// PagerDuty Events API v2 (see [`crate::pagerduty`]): an alert per incident, triggered,
/// acknowledged and resolved with it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutySink {
    pub name: String,
    /// The integration's routing key (32 characters).
    pub routing_key: SecretRef,
    #[serde(default = "default_pagerduty_url")]
    pub url: String,
    /// Only incidents at least this severe page.
    #[serde(default = "default_min_severity")]
    pub min_severity: vigil_domain::asff::SeverityLabel,
    /// Only incidents on one of these runbook routes (empty: any).
    #[serde(default)]
    pub routes: Vec<String>,
    /// Only incidents in one of these environments (empty: any).
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl PagerDutySink {
    pub fn selection(&self) -> crate::notify::Selection<'_> {
        crate::notify::Selection {
            min_severity: self.min_severity,
            routes: &self.routes,
            environments: &self.environments,
        }
    }
}

/// A chat channel's incoming webhook: Slack (Block Kit) or a Microsoft Teams workflow
/// (Adaptive Card); see [`crate::notify`]. A message per notice; the URL is the secret.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatSink {
    pub name: String,
    /// The webhook URL (it holds the credential, so it is a secret).
    pub webhook_url: SecretRef,
    /// Only incidents at least this severe notify (an escalation step to one of `routes`
    /// notifies whatever the severity).
    #[serde(default = "default_min_severity")]
    pub min_severity: vigil_domain::asff::SeverityLabel,
    /// Only incidents on one of these runbook routes (empty: any).
    #[serde(default)]
    pub routes: Vec<String>,
    /// Only incidents in one of these environments (empty: any).
    #[serde(default)]
    pub environments: Vec<String>,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub allow_http: bool,
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
}

impl ChatSink {
    pub fn selection(&self) -> crate::notify::Selection<'_> {
        crate::notify::Selection {
            min_severity: self.min_severity,
            routes: &self.routes,
            environments: &self.environments,
        }
    }
}

/// What an SNS notification's `Message` holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SnsFormat {
    /// The notice as text (e-mail, SMS, chat bots).
    #[default]
    Text,
    /// The incident payload as JSON (SQS, Lambda, HTTPS subscribers).
    Json,
}

/// An Amazon SNS topic (see [`crate::notify`]): a message per notice, with message attributes
/// for subscription filter policies.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnsSink {
    pub name: String,
    /// The topic's ARN (same Region as the function). A FIFO topic (`.fifo`) gets the
    /// incident id as message group and `<incident id>:<version>` as deduplication id.
    pub topic_arn: String,
    #[serde(default)]
    pub format: SnsFormat,
    #[serde(default = "default_min_severity")]
    pub min_severity: vigil_domain::asff::SeverityLabel,
    #[serde(default)]
    pub routes: Vec<String>,
    #[serde(default)]
    pub environments: Vec<String>,
}

impl SnsSink {
    pub fn selection(&self) -> crate::notify::Selection<'_> {
        crate::notify::Selection {
            min_severity: self.min_severity,
            routes: &self.routes,
            environments: &self.environments,
        }
    }

    pub fn is_fifo(&self) -> bool {
        self.topic_arn.ends_with(".fifo")
    }
}

/// Security Hub write-back (`BatchUpdateFindings`, see `vigil_domain::writeback`): the
/// findings of notified incidents go to `NOTIFIED` with a note naming the incident and its
/// deadline, of resolved incidents to `RESOLVED`, of suppressed ones to `SUPPRESSED`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecurityHubSink {
    pub name: String,
    /// Only incidents at least this severe are written back.
    #[serde(default = "default_writeback_severity")]
    pub min_severity: vigil_domain::asff::SeverityLabel,
    /// Set `NOTIFIED` on the findings of open and acknowledged incidents.
    #[serde(default = "yes")]
    pub notified: bool,
    /// Set `RESOLVED` on the findings of resolved incidents.
    #[serde(default = "yes")]
    pub resolved: bool,
    /// Set `SUPPRESSED` on the findings of suppressed incidents.
    #[serde(default = "yes")]
    pub suppressed: bool,
    /// Requests per second (Security Hub allows 10, burst 30, per account and Region; leave
    /// room for analysts and other tools).
    #[serde(default = "default_writeback_rate")]
    pub requests_per_second: u32,
}

fn default_writeback_severity() -> vigil_domain::asff::SeverityLabel {
    vigil_domain::asff::SeverityLabel::Informational
}
fn yes() -> bool {
    true
}
fn default_writeback_rate() -> u32 {
    5
}

fn default_pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}
fn default_min_severity() -> vigil_domain::asff::SeverityLabel {
    vigil_domain::asff::SeverityLabel::High
}

/// JSON lines to a file (or `-` for stdout): local runs and debugging.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSink {
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum SinkConfig {
    Hec(HecSink),
    Syslog(SyslogSink),
    Webhook(WebhookSink),
    #[serde(rename = "pagerduty")]
    PagerDuty(PagerDutySink),
    Slack(ChatSink),
    Teams(ChatSink),
    Sns(SnsSink),
    #[serde(rename = "securityhub")]
    SecurityHub(SecurityHubSink),
    File(FileSink),
}

impl SinkConfig {
    pub fn name(&self) -> &str {
        match self {
            SinkConfig::Hec(s) => &s.name,
            SinkConfig::Syslog(s) => &s.name,
            SinkConfig::Webhook(s) => &s.name,
            SinkConfig::PagerDuty(s) => &s.name,
            SinkConfig::Slack(s) | SinkConfig::Teams(s) => &s.name,
            SinkConfig::Sns(s) => &s.name,
            SinkConfig::SecurityHub(s) => &s.name,
            SinkConfig::File(s) => &s.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SinkConfig::Hec(_) => "hec",
            SinkConfig::Syslog(_) => "syslog",
            SinkConfig::Webhook(_) => "webhook",
            SinkConfig::PagerDuty(_) => "pagerduty",
            SinkConfig::Slack(_) => "slack",
            SinkConfig::Teams(_) => "teams",
            SinkConfig::Sns(_) => "sns",
            SinkConfig::SecurityHub(_) => "securityhub",
            SinkConfig::File(_) => "file",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinksConfig {
    pub sinks: Vec<SinkConfig>,
    /// Retries inside one invocation, before a version goes to the outbox.
    #[serde(default)]
    pub retry: RetryConfig,
    /// Retries of queued versions across invocations.
    #[serde(default)]
    pub outbox: OutboxConfig,
    /// How many of an incident's most recent findings a payload lists (and HEC `raw_findings`
    /// sends).
    #[serde(default = "default_top_findings")]
    pub top_findings: usize,
}

fn default_top_findings() -> usize {
    10
}

fn invalid(sink: &str, message: impl Into<String>) -> SinkConfigError {
    SinkConfigError::Invalid {
        sink: sink.to_owned(),
        message: message.into(),
    }
}

fn check_url(sink: &str, url: &str, allow_http: bool) -> Result<(), SinkConfigError> {
    if url.starts_with("https://") {
        return Ok(());
    }
    if url.starts_with("http://") {
        return if allow_http {
            Ok(())
        } else {
            Err(invalid(
                sink,
                "http:// sends credentials in clear text; use https:// or set allow_http: true",
            ))
        };
    }
    Err(invalid(sink, format!("url {url:?} is not http(s)")))
}

fn check_environments(sink: &str, environments: &[String]) -> Result<(), SinkConfigError> {
    for e in environments {
        if vigil_domain::runbook::Environment::parse(e).is_none() {
            return Err(invalid(
                sink,
                format!("environments: unknown environment {e:?}"),
            ));
        }
    }
    Ok(())
}

/// Checks a URL read from a secret (a chat webhook's): https, or http when allowed.
pub fn check_secret_url(sink: &str, url: &str, allow_http: bool) -> Result<(), SinkConfigError> {
    check_url(sink, url, allow_http).map_err(|_| {
        invalid(
            sink,
            if allow_http {
                "the webhook URL in the secret is not http(s)"
            } else {
                "the webhook URL in the secret is not https:// (set allow_http: true for a local receiver)"
            },
        )
    })
}

fn check_tls(sink: &str, t: &TlsConfig) -> Result<(), SinkConfigError> {
    if t.ca_only && t.ca_pem.is_none() && t.ca_file.is_none() {
        return Err(invalid(sink, "tls.ca_only needs ca_pem or ca_file"));
    }
    if let Some(id) = &t.client_identity {
        id.check(sink, "tls.client_identity")?;
    }
    Ok(())
}

impl SinksConfig {
    pub fn parse(text: &str) -> Result<Self, SinkConfigError> {
        let c: SinksConfig =
            serde_yaml_ng::from_str(text).map_err(|e| SinkConfigError::Parse(e.to_string()))?;
        c.validate()?;
        Ok(c)
    }

    pub fn validate(&self) -> Result<(), SinkConfigError> {
        let mut names = std::collections::BTreeSet::new();
        for s in &self.sinks {
            let name = s.name();
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(invalid(
                    name,
                    "name must be 1-64 characters of [A-Za-z0-9_-]",
                ));
            }
            if !names.insert(name) {
                return Err(SinkConfigError::DuplicateName(name.to_owned()));
            }
            match s {
                SinkConfig::Hec(h) => {
                    check_url(name, &h.url, h.allow_http)?;
                    h.token.check(name, "token")?;
                    check_tls(name, &h.tls)?;
                    if h.max_body_bytes < 16 * 1024 {
                        return Err(invalid(name, "max_body_bytes below 16 KiB"));
                    }
                    check_range(name, "timeout_secs", h.timeout_secs, 1, 60)?;
                    if let Some(a) = &h.ack {
                        // The wait happens inside the invocation (120 s), after the send.
                        check_range(name, "ack.timeout_secs", a.timeout_secs, 1, 60)?;
                        check_range(name, "ack.poll_interval_ms", a.poll_interval_ms, 1, 10_000)?;
                    }
                }
                SinkConfig::Syslog(y) => {
                    if y.host.is_empty() {
                        return Err(invalid(name, "host is empty"));
                    }
                    if y.facility > 23 {
                        return Err(invalid(name, "facility must be 0-23"));
                    }
                    check_range(name, "timeout_secs", y.timeout_secs, 1, 60)?;
                    check_tls(name, &y.tls)?;
                }
                SinkConfig::Webhook(w) => {
                    check_url(name, &w.url, w.allow_http)?;
                    w.secret.check(name, "secret")?;
                    check_tls(name, &w.tls)?;
                    check_range(name, "timeout_secs", w.timeout_secs, 1, 60)?;
                }
                SinkConfig::PagerDuty(d) => {
                    check_url(name, &d.url, d.allow_http)?;
                    d.routing_key.check(name, "routing_key")?;
                    check_tls(name, &d.tls)?;
                    check_range(name, "timeout_secs", d.timeout_secs, 1, 60)?;
                    check_environments(name, &d.environments)?;
                }
                SinkConfig::Slack(c) | SinkConfig::Teams(c) => {
                    // The URL itself is a secret: checked when it is read (`check_url`).
                    c.webhook_url.check(name, "webhook_url")?;
                    check_tls(name, &c.tls)?;
                    check_range(name, "timeout_secs", c.timeout_secs, 1, 60)?;
                    check_environments(name, &c.environments)?;
                }
                SinkConfig::Sns(t) => {
                    let parts: Vec<&str> = t.topic_arn.split(':').collect();
                    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sns" {
                        return Err(invalid(
                            name,
                            format!("topic_arn {:?} is not an SNS topic ARN", t.topic_arn),
                        ));
                    }
                    check_environments(name, &t.environments)?;
                }
                SinkConfig::SecurityHub(h) => {
                    check_range(
                        name,
                        "requests_per_second",
                        u64::from(h.requests_per_second),
                        1,
                        10,
                    )?;
                }
                SinkConfig::File(f) => {
                    if f.path.is_empty() {
                        return Err(invalid(name, "path is empty"));
                    }
                }
            }
        }
        let r = &self.retry;
        check_range("retry", "attempts", u64::from(r.attempts), 1, 10)?;
        check_range("retry", "base_delay_ms", r.base_delay_ms, 1, 10_000)?;
        check_range(
            "retry",
            "max_delay_ms",
            r.max_delay_ms,
            r.base_delay_ms,
            60_000,
        )?;
        check_range(
            "retry",
            "max_retry_after_secs",
            r.max_retry_after_secs,
            0,
            120,
        )?;
        check_range("retry", "park_secs", r.park_secs, 1, 3600)?;
        let o = &self.outbox;
        check_range("outbox", "base_delay_secs", o.base_delay_secs, 1, 3600)?;
        check_range(
            "outbox",
            "max_delay_secs",
            o.max_delay_secs,
            o.base_delay_secs,
            6 * 3600,
        )?;
        check_range(
            "outbox",
            "give_up_after_hours",
            o.give_up_after_hours,
            1,
            24 * 30,
        )?;
        check_range("outbox", "drain_batch", o.drain_batch as u64, 1, 10_000)?;
        if self.top_findings > 100 {
            return Err(invalid("top_findings", "at most 100"));
        }
        Ok(())
    }
}

fn check_range(
    sink: &str,
    setting: &str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<(), SinkConfigError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(invalid(
            sink,
            format!("{setting} is {value}; it must be {min}-{max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect: `park_secs` and `ack.timeout_secs` were taken as given: a zero park hammers a
    /// misconfigured sink, and an acknowledgement wait longer than the function's timeout
    /// makes every batch time out.
    #[test]
    fn timings_out_of_range_are_errors_naming_the_setting() {
        let base = "sinks: [{type: hec, name: s, url: 'https://h:8088', token: {value: t}, ack: ACK}]\nretry: RETRY";
        let parse = |ack: &str, retry: &str| {
            SinksConfig::parse(&base.replace("ACK", ack).replace("RETRY", retry))
        };
        assert!(parse("{}", "{}").is_ok());
        for (ack, retry, named) in [
            ("{timeout_secs: 0}", "{}", "timeout_secs"),
            ("{timeout_secs: 600}", "{}", "timeout_secs"),
            ("{poll_interval_ms: 0}", "{}", "poll_interval_ms"),
            ("{}", "{park_secs: 0}", "park_secs"),
            ("{}", "{park_secs: 86400}", "park_secs"),
            ("{}", "{base_delay_ms: 0}", "base_delay_ms"),
            (
                "{}",
                "{base_delay_ms: 500, max_delay_ms: 100}",
                "max_delay_ms",
            ),
            ("{}", "{max_retry_after_secs: 3600}", "max_retry_after_secs"),
        ] {
            let e = parse(ack, retry).unwrap_err().to_string();
            assert!(e.contains(named), "{ack} {retry}: {e}");
        }
        let e = SinksConfig::parse("sinks: [{type: webhook, name: w, url: 'https://h', secret: {value: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}, timeout_secs: 0}]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("timeout_secs"), "{e}");
    }

    #[test]
    fn a_full_configuration_parses_with_defaults() {
        let c = SinksConfig::parse(
            r#"
sinks:
  - type: hec
    name: splunk
    url: https://splunk.example.com:8088
    token: { secret_arn: "arn:aws:secretsmanager:us-east-1:1:secret:hec", key: token }
    index: security
    ack: {}
  - type: syslog
    name: arcsight
    host: syslog.example.com
    format: leef
    tls: { ca_file: /opt/ca.pem, client_identity: { env: SYSLOG_IDENTITY } }
  - type: webhook
    name: soar
    url: https://soar.example.com/hook
    secret: { env: WEBHOOK_SECRET }
  - type: file
    name: local
    path: "-"
retry: { attempts: 2 }
"#,
        )
        .unwrap();
        assert_eq!(c.sinks.len(), 4);
        let SinkConfig::Hec(h) = &c.sinks[0] else {
            panic!()
        };
        assert_eq!(h.max_body_bytes, 1024 * 1024);
        assert_eq!(h.ack.as_ref().unwrap().timeout_secs, 30);
        let SinkConfig::Syslog(s) = &c.sinks[1] else {
            panic!()
        };
        assert_eq!((s.port, s.format), (6514, SyslogPayload::Leef));
        assert_eq!(c.retry.attempts, 2);
        assert_eq!(c.retry.max_delay_ms, 5000);
        assert_eq!(c.top_findings, 10);
    }

    #[test]
    fn unsafe_or_ambiguous_configurations_are_refused() {
        let cases = [
            (
                "sinks: [{type: hec, name: a, url: 'http://x', token: {env: T}}]",
                "clear text",
            ),
            (
                "sinks: [{type: hec, name: a, url: 'https://x', token: {env: T, value: v}}]",
                "exactly one",
            ),
            (
                "sinks: [{type: file, name: a, path: x}, {type: file, name: a, path: y}]",
                "two sinks",
            ),
            ("sinks: [{type: file, name: 'a b', path: x}]", "name must"),
            (
                "sinks: [{type: webhook, name: a, url: 'https://x', secret: {env: S}, tokn: 1}]",
                "unknown field",
            ),
            ("sinks: [{type: kafka, name: a}]", "unknown variant"),
            (
                "sinks: [{type: syslog, name: a, host: h, tls: {ca_only: true}}]",
                "ca_only",
            ),
        ];
        for (text, want) in cases {
            let e = SinksConfig::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn secret_descriptions_never_contain_values() {
        let r = SecretRef {
            secret_arn: None,
            env: None,
            file: None,
            value: Some("s3cr3t".into()),
            key: None,
        };
        assert!(!r.describe().contains("s3cr3t"));
    }
}
