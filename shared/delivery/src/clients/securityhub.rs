//! Security Hub write-back: per incident version, one or more `BatchUpdateFindings` requests
//! through the domain's [`FindingWriter`] port (see `vigil_domain::writeback` for what is
//! written and how its echo is ignored). Versions are written one at a time, in order (a
//! `RESOLVED` must not be overtaken by an older `NOTIFIED`), paced to the sink's
//! `requests_per_second`, at most 100 findings per request. Findings Security Hub reports as
//! unprocessed are tried again when the reason is transient (`ConcurrentUpdateError`,
//! `InternalFailure`), then the version is retried through the outbox; findings it no longer
//! has (`FindingNotFound`, expired or in another Region) or will never take are logged and left.
//! The same request sent twice sets the same values: retries are harmless.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil_domain::incident::IncidentStatus;
use vigil_domain::ports::{FindingSource, FindingWriter, WriteBackError};
use vigil_domain::writeback::{updates, Update, Version};
use vigil_wire::payload::{ChangeKind, IncidentPayload};
use vigil_wire::retry::{Failure, FailureClass};
use vigil_wire::sinks::SecurityHubSink;

use crate::message::{Delivery, SendResults};

/// How long a version waits for its findings' records to be readable.
const MEMBERS_SETTLE: chrono::Duration = chrono::Duration::minutes(2);

/// Rounds of retrying transiently unprocessed findings inside one send.
const UNPROCESSED_ROUNDS: u32 = 3;

pub struct SecurityHubClient {
    config: SecurityHubSink,
    writer: Option<Arc<dyn FindingWriter>>,
    findings: Option<Arc<dyn FindingSource>>,
    last_request: tokio::sync::Mutex<Option<Instant>>,
}

impl std::fmt::Debug for SecurityHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityHubClient")
            .field("name", &self.config.name)
            .finish()
    }
}

impl SecurityHubClient {
    pub fn new(config: SecurityHubSink) -> Self {
        Self {
            config,
            writer: None,
            findings: None,
            last_request: tokio::sync::Mutex::new(None),
        }
    }

    pub fn config(&self) -> &SecurityHubSink {
        &self.config
    }

    pub fn set_writer(&mut self, writer: Arc<dyn FindingWriter>) {
        self.writer = Some(writer);
    }

    pub fn set_findings(&mut self, findings: Arc<dyn FindingSource>) {
        self.findings = Some(findings);
    }

    pub async fn send(&self, batch: &[Arc<Delivery>]) -> SendResults {
        let mut out = Vec::with_capacity(batch.len());
        for d in batch {
            let r = self.write_back(&d.payload).await;
            let failed = r
                .as_ref()
                .err()
                .filter(|f| f.class != FailureClass::Data)
                .cloned();
            out.push(r);
            if let Some(f) = failed {
                while out.len() < batch.len() {
                    out.push(Err(Failure::retryable(format!(
                        "not written: an earlier version failed ({})",
                        f.message
                    ))
                    .with_retry_after(f.retry_after)));
                }
                break;
            }
        }
        out
    }

    /// Sets `SUPPRESSED`, with the rule and its reason, on findings a runbook rule suppressed.
    /// `Err(i)`: record `i` failed transiently (retry from it); findings Security Hub will not
    /// take, or a configuration failure, are logged.
    pub async fn suppress(&self, records: &[&vigil_domain::FindingRecord]) -> Result<(), usize> {
        if !self.config.suppressed {
            return Ok(());
        }
        let Some(writer) = &self.writer else {
            tracing::error!(sink = %self.config.name, "no Security Hub client; suppressed findings not written back");
            return Ok(());
        };
        for (i, r) in records.iter().enumerate() {
            let Some(s) = r.explanation.decisions.suppressed.as_ref() else {
                continue;
            };
            if r.severity < self.config.min_severity {
                continue;
            }
            let u = vigil_domain::writeback::suppressed_by_rule(r, &s.rule, &s.reason);
            match self.apply(writer.as_ref(), u, "-").await {
                Ok(()) => {}
                Err(f) if f.class == FailureClass::Retryable => {
                    tracing::warn!(finding_id = %r.finding_id, error = %f.message,
                        "suppressed finding not written back yet; the stream retries it");
                    return Err(i);
                }
                Err(f) => {
                    tracing::error!(finding_id = %r.finding_id, rule = %s.rule, error = %f.message,
                        error_class = ?f.class, "suppressed finding not written back to Security Hub");
                }
            }
        }
        Ok(())
    }

    /// The write-back version `p` asks for, if any.
    fn version<'p>(&self, p: &'p IncidentPayload) -> Option<Version<'p>> {
        // A campaign's or digest's findings are its members': each member writes its own.
        if p.is_group() || p.severity < self.config.min_severity {
            return None;
        }
        let changed = |f: &str| p.change.changed.iter().any(|c| c == f);
        let all_members =
            matches!(p.change.kind, ChangeKind::Opened | ChangeKind::Resync) || changed("status");
        let wanted = match p.status {
            IncidentStatus::Open | IncidentStatus::Acknowledged => {
                self.config.notified && (all_members || changed("finding_count"))
            }
            IncidentStatus::Resolved => self.config.resolved && all_members,
            IncidentStatus::Suppressed => self.config.suppressed && all_members,
        };
        wanted.then(|| Version {
            incident_id: &p.incident_id,
            status: p.status,
            severity: p.severity,
            deadline: p.response_deadline,
            updated_at: p.updated_at,
            all_members,
            why: p
                .last_transition
                .as_ref()
                .map(|t| t.why.as_str())
                .filter(|w| !w.is_empty()),
        })
    }

    async fn write_back(&self, p: &IncidentPayload) -> Result<(), Failure> {
        let Some(v) = self.version(p) else {
            return Ok(());
        };
        let (Some(writer), Some(findings)) = (&self.writer, &self.findings) else {
            return Err(Failure::config(
                "the Security Hub sink has no Security Hub client or finding reader (the forwarder builds them at start)",
            ));
        };
        let members = findings
            .recent(&p.incident_id, usize::MAX)
            .await
            .map_err(|e| Failure::retryable(format!("reading the incident's findings: {e}")))?;
        // Ingest writes an incident before its findings' records, and the member index
        // follows: a version seen at once may find some of them missing. Wait for them (the
        // outbox retries) while the version is young; later, write what is there.
        let found = members
            .iter()
            .filter(|r| r.incident_id.as_deref() == Some(p.incident_id.as_str()))
            .count() as u64;
        if found < p.finding_count && chrono::Utc::now() - p.updated_at < MEMBERS_SETTLE {
            return Err(Failure::retryable(format!(
                "{found} of the incident's {} finding records readable yet",
                p.finding_count
            ))
            .with_retry_after(Some(Duration::from_secs(5))));
        }
        for u in updates(&v, &members) {
            self.apply(writer.as_ref(), u, &p.incident_id).await?;
        }
        Ok(())
    }

    async fn apply(
        &self,
        writer: &dyn FindingWriter,
        mut u: Update,
        incident: &str,
    ) -> Result<(), Failure> {
        for round in 0..=UNPROCESSED_ROUNDS {
            self.pace().await;
            let unprocessed = writer.batch_update(&u).await.map_err(|e| failure(&e))?;
            let (retry, drop): (Vec<_>, Vec<_>) =
                unprocessed.into_iter().partition(|x| x.is_retryable());
            for x in &drop {
                tracing::warn!(incident_id = %incident, finding_id = %x.id, code = %x.code,
                    message = %x.message, "Security Hub did not update this finding; left as it is");
            }
            let written = u.findings.len() - retry.len() - drop.len();
            tracing::info!(incident_id = %incident, workflow = u.workflow.as_str(), written,
                retrying = retry.len(), "written back to Security Hub");
            if retry.is_empty() {
                return Ok(());
            }
            if round == UNPROCESSED_ROUNDS {
                return Err(Failure::retryable(format!(
                    "{} findings still unprocessed ({})",
                    retry.len(),
                    retry[0].code
                )));
            }
            u.findings = retry.into_iter().map(|x| (x.id, x.product_arn)).collect();
            tokio::time::sleep(Duration::from_millis(200 << round)).await;
        }
        Ok(())
    }

    /// Waits so that requests keep to `requests_per_second`.
    async fn pace(&self) {
        let interval = Duration::from_secs(1) / self.config.requests_per_second.max(1);
        let mut last = self.last_request.lock().await;
        if let Some(at) = *last {
            let next = at + interval;
            let now = Instant::now();
            if next > now {
                tokio::time::sleep(next - now).await;
            }
        }
        *last = Some(Instant::now());
    }
}

fn failure(e: &WriteBackError) -> Failure {
    match e {
        WriteBackError::Unavailable { .. } => {
            Failure::retryable(e.to_string()).with_retry_after(Some(Duration::from_secs(1)))
        }
        WriteBackError::Config { .. } => Failure::config(e.to_string()),
        WriteBackError::Invalid { .. } => Failure::data(e.to_string()),
    }
}
