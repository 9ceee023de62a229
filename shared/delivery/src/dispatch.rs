//! The dispatcher: incident versions in, each delivered to every sink that does not have it
//! yet, and per-sink results out (the forward function turns them into the stream's
//! partial-batch response).
//!
//! Per sink, versions of one incident go out in order: when a version fails, later versions of
//! the same incident are held back for that sink (the ledger keeps only the highest delivered
//! version, so skipping ahead would lose the failed one). Sinks run concurrently and never
//! wait for, block or duplicate each other.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use serde::Serialize;
use vigil_domain::ports::{Delivered, DeliveryLedger, FindingSource};
use vigil_wire::payload::top_findings;
use vigil_wire::retry::RetryConfig;
use vigil_wire::retry::{next_attempt, Failure, FailureClass, Next};
use vigil_wire::sinks::SinksConfig;

use crate::message::Delivery;
use crate::secrets::Secrets;
use crate::sink::Sink;
use crate::tls::TlsError;

/// Ledger writes in flight at once.
const LEDGER_CONCURRENCY: usize = 16;
/// Time kept back from the invocation deadline when deciding whether a retry still fits.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);

#[derive(Debug)]
struct SinkSlot {
    sink: Sink,
    parked_until: Mutex<Option<Instant>>,
}

impl SinkSlot {
    fn parked(&self) -> Option<Duration> {
        let until = (*self.parked_until.lock().ok()?)?;
        until.checked_duration_since(Instant::now())
    }
    fn park(&self, d: Duration) {
        if let Ok(mut p) = self.parked_until.lock() {
            *p = Some(Instant::now() + d);
        }
    }
}

/// Counters of one sink in one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    pub delivered: u64,
    /// Versions the sink already had (a retried batch).
    pub already_delivered: u64,
    pub failed: u64,
    pub failed_retryable: u64,
    pub failed_config: u64,
    pub failed_data: u64,
    /// Requests retried inside the invocation.
    pub retries: u64,
}

/// The outcome of one batch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchReport {
    pub records: u64,
    pub forwardable: u64,
    pub skipped: u64,
    pub malformed: u64,
    /// Incidents that left the table and whose finding records were deleted.
    pub incidents_removed: u64,
    pub per_sink: BTreeMap<String, SinkStats>,
    /// Sequence number of the first record not delivered to every sink.
    pub first_failed: Option<String>,
    /// Forwardable incident versions by severity (for metrics).
    pub by_severity: BTreeMap<String, u64>,
}

pub struct Dispatcher {
    slots: Vec<SinkSlot>,
    ledger: Arc<dyn DeliveryLedger>,
    findings: Option<Arc<dyn FindingSource>>,
    retry: RetryConfig,
    top_findings: usize,
    /// Redrive mode: re-send a version even when the sink has a later one (see
    /// [`Dispatcher::resending_superseded`]).
    resend_superseded: bool,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("sinks", &self.sink_names())
            .finish()
    }
}

struct Outcome {
    index: usize,
    result: Result<(), Failure>,
}

impl Dispatcher {
    pub fn new(
        config: &SinksConfig,
        secrets: &Secrets,
        ledger: Arc<dyn DeliveryLedger>,
        findings: Option<Arc<dyn FindingSource>>,
    ) -> Result<Self, TlsError> {
        let slots = config
            .sinks
            .iter()
            .map(|c| {
                Ok(SinkSlot {
                    sink: Sink::new(c, secrets)?,
                    parked_until: Mutex::new(None),
                })
            })
            .collect::<Result<Vec<_>, TlsError>>()?;
        Ok(Self {
            slots,
            ledger,
            findings,
            retry: config.retry.clone(),
            top_findings: config.top_findings,
            resend_superseded: false,
        })
    }

    /// For redriving records the event source mapping gave up on: a sink whose recorded
    /// version is *higher* than a record's version got later versions while this one failed,
    /// so it is sent again (a receiver that already has it drops it by its key). Only an
    /// equal recorded version counts as delivered.
    pub fn resending_superseded(mut self) -> Self {
        self.resend_superseded = true;
        self
    }

    pub fn sink_names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.sink.name()).collect()
    }

    /// Delivers incident payloads that do not come from stream records (an operator's
    /// catch-up): `index` orders them; there are no sequence numbers.
    pub async fn forward_payloads(
        &self,
        payloads: Vec<vigil_wire::payload::IncidentPayload>,
        deadline: Option<Instant>,
    ) -> BatchReport {
        let mut report = BatchReport {
            records: payloads.len() as u64,
            ..Default::default()
        };
        let deliveries = payloads
            .into_iter()
            .enumerate()
            .map(|(index, payload)| {
                *report
                    .by_severity
                    .entry(payload.severity.as_str().to_owned())
                    .or_default() += 1;
                Delivery {
                    index,
                    sequence_number: Some(format!("payload-{index}")),
                    payload,
                    raw_findings: Vec::new(),
                }
            })
            .collect();
        self.deliver(deliveries, deadline, report).await
    }

    /// Delivers each delivery to every sink whose recorded version is lower. `report` carries
    /// the caller's counts of the input (records, skipped, malformed).
    pub async fn deliver(
        &self,
        mut deliveries: Vec<Delivery>,
        deadline: Option<Instant>,
        mut report: BatchReport,
    ) -> BatchReport {
        report.forwardable = deliveries.len() as u64;
        if deliveries.is_empty() || self.slots.is_empty() {
            return report;
        }
        self.add_findings(&mut deliveries).await;
        let deliveries: Vec<Arc<Delivery>> = deliveries.into_iter().map(Arc::new).collect();

        let mut ids: Vec<String> = deliveries
            .iter()
            .map(|d| d.payload.incident_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        let delivered = match self.ledger.delivered(&ids).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading the delivery state failed; the batch will be retried");
                report.first_failed = deliveries[0].sequence_number.clone();
                return report;
            }
        };

        let per_sink = futures::future::join_all(
            self.slots
                .iter()
                .map(|slot| self.run_sink(slot, &deliveries, &delivered, deadline)),
        )
        .await;

        let mut failed_index: Option<usize> = None;
        for (slot, (outcomes, stats)) in self.slots.iter().zip(per_sink) {
            for o in outcomes {
                if o.result.is_err() {
                    failed_index = Some(failed_index.map_or(o.index, |f| f.min(o.index)));
                }
            }
            report.per_sink.insert(slot.sink.name().to_owned(), stats);
        }
        report.first_failed = failed_index.and_then(|i| {
            deliveries
                .iter()
                .find(|d| d.index == i)
                .and_then(|d| d.sequence_number.clone())
        });
        report
    }

    async fn add_findings(&self, deliveries: &mut [Delivery]) {
        let Some(src) = &self.findings else { return };
        if self.top_findings == 0 {
            return;
        }
        let raw = self.slots.iter().any(|s| s.sink.wants_raw_findings());
        let n = self.top_findings;
        let fetched: Vec<_> = stream::iter(deliveries.iter())
            .map(|d| src.recent(&d.payload.incident_id, n))
            .buffered(LEDGER_CONCURRENCY)
            .collect()
            .await;
        for (d, f) in deliveries.iter_mut().zip(fetched) {
            match f {
                Ok(mut records) => {
                    // Findings that joined after this version (a retried or replayed record)
                    // are not part of it.
                    records.retain(|r| r.event_time <= d.payload.last_seen);
                    d.payload.top_findings = top_findings(&records, n);
                    if raw {
                        d.raw_findings = records
                            .iter()
                            .filter_map(|r| serde_json::from_str(&r.raw).ok())
                            .collect();
                    }
                }
                Err(e) => tracing::warn!(incident_id = %d.payload.incident_id, error = %e,
                    "could not read the incident's findings; forwarding without top_findings"),
            }
        }
    }

    async fn run_sink(
        &self,
        slot: &SinkSlot,
        deliveries: &[Arc<Delivery>],
        delivered: &Delivered,
        deadline: Option<Instant>,
    ) -> (Vec<Outcome>, SinkStats) {
        let name = slot.sink.name();
        let mut stats = SinkStats::default();
        let mut out = Vec::new();
        let mut remaining: Vec<Arc<Delivery>> = Vec::new();
        for d in deliveries {
            let have = delivered
                .get(&d.payload.incident_id)
                .and_then(|m| m.get(name))
                .copied();
            let delivered = match have {
                Some(v) if self.resend_superseded => v == d.payload.version,
                Some(v) => v >= d.payload.version,
                None => false,
            };
            if delivered {
                stats.already_delivered += 1;
            } else {
                remaining.push(d.clone());
            }
        }
        if let Some(left) = slot.parked() {
            for d in remaining {
                let f = Failure::config(format!(
                    "sink parked for {}s more after a configuration error",
                    left.as_secs()
                ));
                self.count_failure(&mut stats, name, &d, &f);
                out.push(Outcome {
                    index: d.index,
                    result: Err(f),
                });
            }
            return (out, stats);
        }
        let mut failed_incidents: HashSet<String> = HashSet::new();
        while !remaining.is_empty() {
            // One version per incident per round, in stream order.
            let mut round = Vec::new();
            let mut rest = Vec::new();
            let mut seen = HashSet::new();
            for d in remaining {
                if failed_incidents.contains(&d.payload.incident_id) {
                    let f = Failure::retryable(
                        "held back: an earlier version of this incident failed on this sink",
                    );
                    self.count_failure(&mut stats, name, &d, &f);
                    out.push(Outcome {
                        index: d.index,
                        result: Err(f),
                    });
                } else if seen.insert(d.payload.incident_id.clone()) {
                    round.push(d);
                } else {
                    rest.push(d);
                }
            }
            if round.is_empty() {
                break;
            }
            let parked = slot.parked().is_some();
            if parked || deadline.is_some_and(|dl| Instant::now() + DEADLINE_MARGIN >= dl) {
                // Parked by an earlier round, or no time left in this invocation: fail the
                // rest so Lambda retries them, rather than call a misconfigured sink again or
                // time out and retry the whole batch.
                for d in round.into_iter().chain(rest) {
                    let f = if parked {
                        Failure::config("sink parked after a configuration error")
                    } else {
                        Failure::retryable("invocation deadline reached before sending")
                    };
                    self.count_failure(&mut stats, name, &d, &f);
                    out.push(Outcome {
                        index: d.index,
                        result: Err(f),
                    });
                }
                break;
            }
            let results = self
                .send_with_retries(slot, &round, deadline, &mut stats)
                .await;
            let mut ok = Vec::new();
            for (d, r) in round.iter().zip(results) {
                match r {
                    Ok(()) => ok.push(d.clone()),
                    Err(f) => {
                        failed_incidents.insert(d.payload.incident_id.clone());
                        self.count_failure(&mut stats, name, d, &f);
                        out.push(Outcome {
                            index: d.index,
                            result: Err(f),
                        });
                    }
                }
            }
            let recorded: Vec<_> = stream::iter(ok.iter())
                .map(|d| async move {
                    (
                        d,
                        self.ledger
                            .record(&d.payload.incident_id, name, d.payload.version)
                            .await,
                    )
                })
                .buffered(LEDGER_CONCURRENCY)
                .collect()
                .await;
            for (d, r) in recorded {
                match r {
                    Ok(()) => {
                        stats.delivered += 1;
                        tracing::info!(sink = name, incident_id = %d.payload.incident_id,
                            version = d.payload.version, key = %d.payload.idempotency_key,
                            severity = %d.payload.severity, "incident delivered");
                        out.push(Outcome {
                            index: d.index,
                            result: Ok(()),
                        });
                    }
                    Err(e) => {
                        // Delivered but not recorded: the retry re-sends it (same key).
                        failed_incidents.insert(d.payload.incident_id.clone());
                        let f = Failure::retryable(e.to_string());
                        self.count_failure(&mut stats, name, d, &f);
                        out.push(Outcome {
                            index: d.index,
                            result: Err(f),
                        });
                    }
                }
            }
            remaining = rest;
        }
        (out, stats)
    }

    fn count_failure(&self, stats: &mut SinkStats, sink: &str, d: &Delivery, f: &Failure) {
        stats.failed += 1;
        match f.class {
            FailureClass::Retryable => stats.failed_retryable += 1,
            FailureClass::Config => stats.failed_config += 1,
            FailureClass::Data => stats.failed_data += 1,
        }
        tracing::warn!(sink, incident_id = %d.payload.incident_id, version = d.payload.version,
            sequence_number = ?d.sequence_number, error_class = f.class.as_str(), error = %f.message,
            "incident not delivered to this sink");
    }

    /// Sends with retries: backoff with jitter for retryable failures, one credential refresh
    /// for configuration failures, then the sink is parked.
    async fn send_with_retries(
        &self,
        slot: &SinkSlot,
        round: &[Arc<Delivery>],
        deadline: Option<Instant>,
        stats: &mut SinkStats,
    ) -> Vec<Result<(), Failure>> {
        let mut results: Vec<Option<Result<(), Failure>>> = vec![None; round.len()];
        let mut todo: Vec<usize> = (0..round.len()).collect();
        let mut attempt: u32 = 1;
        let mut refreshed = false;
        loop {
            let batch: Vec<Arc<Delivery>> = todo.iter().map(|&i| round[i].clone()).collect();
            let sent = slot.sink.send(&batch).await;
            let mut again = Vec::new();
            let mut last: HashMap<usize, Failure> = HashMap::new();
            let mut delay = Duration::ZERO;
            let mut refresh = false;
            for (&i, r) in todo.iter().zip(sent) {
                let f = match r {
                    Ok(()) => {
                        results[i] = Some(Ok(()));
                        continue;
                    }
                    Err(f) => f,
                };
                if f.class == FailureClass::Config && !refreshed {
                    refresh = true;
                    again.push(i);
                    last.insert(i, f);
                    continue;
                }
                match next_attempt(&self.retry, attempt, &f, fastrand::f64()) {
                    Next::RetryAfter(d)
                        if deadline.is_none_or(|dl| Instant::now() + d + DEADLINE_MARGIN < dl) =>
                    {
                        delay = delay.max(d);
                        again.push(i);
                        last.insert(i, f);
                    }
                    _ => results[i] = Some(Err(f)),
                }
            }
            if again.is_empty() || attempt > self.retry.attempts {
                for i in again {
                    results[i] = last.remove(&i).map(Err);
                }
                break;
            }
            if refresh {
                tracing::warn!(sink = slot.sink.name(), "configuration or authentication error; refreshing credentials and trying once more");
                slot.sink.refresh_credentials();
                refreshed = true;
            }
            stats.retries += again.len() as u64;
            tokio::time::sleep(delay).await;
            attempt += 1;
            todo = again;
        }
        let out: Vec<Result<(), Failure>> = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(Failure::retryable("not attempted"))))
            .collect();
        if out
            .iter()
            .any(|r| matches!(r, Err(f) if f.class == FailureClass::Config))
        {
            tracing::error!(sink = slot.sink.name(), park_secs = self.retry.park_secs,
                "sink configuration error: parking the sink (fix the configuration or secret; the records are retried by Lambda and then go to the on-failure queue)");
            slot.park(self.retry.park());
        }
        out
    }
}
