//! The dispatcher: incident versions in, each delivered to every sink that does not have it
//! yet, in version order, through a durable outbox when a sink cannot take it now.
//!
//! Two paths, one rule set (see `vigil_domain::ports::delivery` for the state they share):
//! - [`Dispatcher::forward`], for a batch of the table's stream: per sink, a version the sink
//!   already has is skipped; a version behind others waiting in the outbox joins the queue;
//!   anything else is sent now (with a few quick retries). What fails goes to the outbox (and
//!   later versions of that incident queue behind it); what the sink rejects as bad data is
//!   dead-lettered alone. The batch succeeds once every version is delivered, queued or
//!   dead-lettered *durably*; only a store failure makes the stream retry a record.
//! - [`Dispatcher::drain`], on a schedule (and after each stream batch while time is left):
//!   due outbox entries, lowest version first per incident, under a per-sink lease so that two
//!   drainers never race; a failure reschedules the entry with backoff and holds that
//!   incident's later versions; a version queued longer than `give_up_after_hours` is
//!   dead-lettered.
//!
//! Sinks run concurrently and never wait for, block or duplicate each other.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt};
use serde::Serialize;
use vigil_domain::ports::{
    DeadLetter, DeliveryLedger, DeliveryState, DeliveryStates, FindingSource, OutboxEntry,
};
use vigil_domain::StoreError;
use vigil_wire::payload::{top_findings, IncidentPayload};
use vigil_wire::retry::{next_attempt, Failure, FailureClass, Next, OutboxConfig, RetryConfig};
use vigil_wire::sinks::SinksConfig;

use crate::message::Delivery;
use crate::secrets::Secrets;
use crate::sink::Sink;
use crate::tls::TlsError;

/// Ledger writes in flight at once.
const LEDGER_CONCURRENCY: usize = 16;
/// Time kept back from the invocation deadline when deciding whether a send still fits.
const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
/// How long a drain lease outlives the drainer's own deadline.
const LEASE_MARGIN: chrono::Duration = chrono::Duration::seconds(30);

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

/// Counters of one sink in one batch or drain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SinkStats {
    pub delivered: u64,
    /// Versions the sink already had (a retried batch).
    pub already_delivered: u64,
    /// Versions put in the outbox (the sink failed, or earlier versions wait there).
    pub queued: u64,
    /// Versions the sink rejected as bad data, set aside alone.
    pub dead_lettered: u64,
    /// Failed attempts (each then queued, rescheduled or dead-lettered).
    pub failed: u64,
    pub failed_retryable: u64,
    pub failed_config: u64,
    pub failed_data: u64,
    /// Requests retried inside the invocation.
    pub retries: u64,
    /// Outbox entries whose next attempt was moved later (drain).
    pub rescheduled: u64,
    /// Delivery-state or outbox writes that failed (the stream retries those records).
    pub store_errors: u64,
}

/// The outcome of one stream batch.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BatchReport {
    pub records: u64,
    pub forwardable: u64,
    pub skipped: u64,
    pub malformed: u64,
    /// Incidents that left the table and whose finding records were deleted.
    pub incidents_removed: u64,
    pub per_sink: BTreeMap<String, SinkStats>,
    /// Sequence number of the first record whose delivery, queueing or dead-lettering is not
    /// durable on some sink (a store write failed): the stream retries from it.
    pub first_failed: Option<String>,
    /// Forwardable incident versions by severity (for metrics).
    pub by_severity: BTreeMap<String, u64>,
}

/// The outcome of one drain run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DrainReport {
    /// Entries the due index listed.
    pub due: u64,
    /// Sinks this run drained (it held their lease), and those another drainer held.
    pub drained_sinks: Vec<String>,
    pub leased_elsewhere: Vec<String>,
    pub per_sink: BTreeMap<String, SinkStats>,
    /// Versions waiting in the outbox after this run (due or not; counted up to 1,000).
    pub pending: u64,
    /// Age of the oldest of them, in seconds (0: none).
    pub oldest_age_secs: u64,
    /// Whether the run stopped early (deadline, store error) and left due work for the next.
    pub incomplete: bool,
}

/// What happened to one version on one sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settled {
    Already,
    Delivered,
    Queued,
    DeadLettered,
    /// A store write failed: the version's fate is not durable.
    NotDurable,
}

pub struct Dispatcher {
    slots: Vec<SinkSlot>,
    ledger: Arc<dyn DeliveryLedger>,
    findings: Option<Arc<dyn FindingSource>>,
    retry: RetryConfig,
    outbox: OutboxConfig,
    top_findings: usize,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("sinks", &self.sink_names())
            .finish()
    }
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
        let mut slots = slots;
        if let Some(f) = &findings {
            for slot in &mut slots {
                if let Sink::SecurityHub(s) = &mut slot.sink {
                    s.set_findings(f.clone());
                }
            }
        }
        Ok(Self {
            slots,
            ledger,
            findings,
            retry: config.retry.clone(),
            outbox: config.outbox.clone(),
            top_findings: config.top_findings,
        })
    }

    /// Where the SNS sinks publish (the SNS adapter in the forwarder).
    pub fn with_publisher(
        mut self,
        publisher: Arc<dyn vigil_domain::ports::TopicPublisher>,
    ) -> Self {
        for slot in &mut self.slots {
            if let Sink::Sns(s) = &mut slot.sink {
                s.set_publisher(publisher.clone());
            }
        }
        self
    }

    /// Where the Security Hub sinks write (the Security Hub adapter in the forwarder).
    pub fn with_finding_writer(
        mut self,
        writer: Arc<dyn vigil_domain::ports::FindingWriter>,
    ) -> Self {
        for slot in &mut self.slots {
            if let Sink::SecurityHub(s) = &mut slot.sink {
                s.set_writer(writer.clone());
            }
        }
        self
    }

    /// Sets `SUPPRESSED` in Security Hub on findings a runbook rule suppressed, through every
    /// Security Hub sink. `Err(i)`: the first record (by index) whose write failed in a way
    /// worth retrying; configuration and data failures are logged and not retried here.
    pub async fn write_back_suppressed(
        &self,
        records: &[&vigil_domain::FindingRecord],
    ) -> Result<(), usize> {
        let mut first_failed: Option<usize> = None;
        for slot in &self.slots {
            if let Sink::SecurityHub(s) = &slot.sink {
                if let Err(i) = s.suppress(records).await {
                    first_failed = Some(first_failed.map_or(i, |f| f.min(i)));
                }
            }
        }
        first_failed.map_or(Ok(()), Err)
    }

    /// Whether a sink writes back to Security Hub (the forwarder then builds a client).
    pub fn has_securityhub(&self) -> bool {
        self.slots
            .iter()
            .any(|s| matches!(s.sink, Sink::SecurityHub(_)))
    }

    /// Whether a sink publishes to SNS (the forwarder then builds an SNS client).
    pub fn has_sns(&self) -> bool {
        self.slots.iter().any(|s| matches!(s.sink, Sink::Sns(_)))
    }

    pub fn sink_names(&self) -> Vec<&str> {
        self.slots.iter().map(|s| s.sink.name()).collect()
    }

    /// Delivers incident payloads that do not come from stream records (an operator's
    /// catch-up), through the same rules as a stream batch.
    pub async fn forward_payloads(
        &self,
        payloads: Vec<IncidentPayload>,
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
        self.forward(deliveries, deadline, report).await
    }

    /// Delivers each delivery to every sink whose settled version is lower, in stream order,
    /// queueing in the outbox what cannot be delivered now. `report` carries the caller's
    /// counts of the input (records, skipped, malformed).
    pub async fn forward(
        &self,
        mut deliveries: Vec<Delivery>,
        deadline: Option<Instant>,
        mut report: BatchReport,
    ) -> BatchReport {
        report.forwardable = deliveries.len() as u64;
        if deliveries.is_empty() || self.slots.is_empty() {
            return report;
        }
        self.add_findings(&mut deliveries, true).await;
        let deliveries: Vec<Arc<Delivery>> = deliveries.into_iter().map(Arc::new).collect();

        let ids = incident_ids(&deliveries);
        let states = match self.ledger.states(&ids).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, retryable = e.is_retryable(),
                    "reading the delivery state failed; the batch will be retried");
                report.first_failed = deliveries[0].sequence_number.clone();
                return report;
            }
        };
        let now = Utc::now();
        let per_sink = futures::future::join_all(
            self.slots
                .iter()
                .map(|slot| self.forward_to(slot, &deliveries, &states, deadline, now)),
        )
        .await;

        let mut not_durable: Option<usize> = None;
        for (slot, (outcomes, stats)) in self.slots.iter().zip(per_sink) {
            for (index, settled) in outcomes {
                if settled == Settled::NotDurable {
                    not_durable = Some(not_durable.map_or(index, |f| f.min(index)));
                }
            }
            report.per_sink.insert(slot.sink.name().to_owned(), stats);
        }
        report.first_failed = not_durable.and_then(|i| {
            deliveries
                .iter()
                .find(|d| d.index == i)
                .and_then(|d| d.sequence_number.clone())
        });
        report
    }

    /// One sink's part of a stream batch.
    async fn forward_to(
        &self,
        slot: &SinkSlot,
        deliveries: &[Arc<Delivery>],
        states: &DeliveryStates,
        deadline: Option<Instant>,
        now: DateTime<Utc>,
    ) -> (Vec<(usize, Settled)>, SinkStats) {
        let name = slot.sink.name();
        let mut stats = SinkStats::default();
        let mut out: Vec<(usize, Settled)> = Vec::new();
        let state = |id: &str| -> DeliveryState {
            states
                .get(id)
                .and_then(|m| m.get(name))
                .copied()
                .unwrap_or_default()
        };
        // Incidents whose next version must queue (earlier versions wait in the outbox, or
        // failed in this batch), and those whose versions cannot be handled at all in this
        // batch (a store write failed: later versions must wait for the stream's retry).
        let mut queue_behind: HashSet<String> = HashSet::new();
        let mut broken: HashSet<String> = HashSet::new();
        let mut remaining: Vec<Arc<Delivery>> = Vec::new();
        for d in deliveries {
            let s = state(&d.payload.incident_id);
            if d.payload.version <= s.settled {
                stats.already_delivered += 1;
                out.push((d.index, Settled::Already));
                continue;
            }
            if s.has_pending() {
                queue_behind.insert(d.payload.incident_id.clone());
            }
            remaining.push(d.clone());
        }
        let parked = slot.parked();
        while !remaining.is_empty() {
            // One version per incident per round, in stream order.
            let mut round: Vec<Arc<Delivery>> = Vec::new();
            let mut to_queue: Vec<(Arc<Delivery>, Option<Failure>)> = Vec::new();
            let mut rest = Vec::new();
            let mut seen = HashSet::new();
            for d in remaining {
                let id = &d.payload.incident_id;
                if broken.contains(id) {
                    stats.store_errors += 1;
                    out.push((d.index, Settled::NotDurable));
                } else if !seen.insert(id.clone()) {
                    rest.push(d);
                } else if queue_behind.contains(id) || parked.is_some() || no_time(deadline) {
                    to_queue.push((d, None));
                } else {
                    round.push(d);
                }
            }
            let results = if round.is_empty() {
                Vec::new()
            } else {
                self.send_with_retries(slot, &round, deadline, &mut stats)
                    .await
            };
            let mut to_settle = Vec::new();
            let mut to_dead = Vec::new();
            for (d, r) in round.into_iter().zip(results) {
                match r {
                    Ok(()) => to_settle.push(d),
                    Err(f) => {
                        count_failure(&mut stats, name, &d, &f);
                        if f.class == FailureClass::Data {
                            to_dead.push((d, f));
                        } else {
                            queue_behind.insert(d.payload.incident_id.clone());
                            to_queue.push((d, Some(f)));
                        }
                    }
                }
            }
            // The durable bookkeeping of this round, concurrently.
            let settled: Vec<_> = stream::iter(to_settle)
                .map(|d| async move {
                    let r = self
                        .ledger
                        .settle(&d.payload.incident_id, name, d.payload.version)
                        .await;
                    (d, r)
                })
                .buffered(LEDGER_CONCURRENCY)
                .collect()
                .await;
            for (d, r) in settled {
                match r {
                    Ok(()) => {
                        stats.delivered += 1;
                        tracing::info!(sink = name, incident_id = %d.payload.incident_id,
                            version = d.payload.version, key = %d.payload.idempotency_key,
                            severity = %d.payload.severity, "incident delivered");
                        out.push((d.index, Settled::Delivered));
                    }
                    Err(e) => {
                        // Delivered but not recorded: the stream's retry re-sends it (same
                        // key), and nothing later of this incident goes out before it.
                        store_error(&mut stats, name, &d, &e, "recording a delivery");
                        broken.insert(d.payload.incident_id.clone());
                        out.push((d.index, Settled::NotDurable));
                    }
                }
            }
            for (d, f) in to_dead {
                let letter = dead_letter(name, &d.payload, 1, &f.message, now);
                match self.ledger.dead_letter(&letter).await {
                    Ok(()) => {
                        stats.dead_lettered += 1;
                        tracing::error!(sink = name, incident_id = %d.payload.incident_id,
                            version = d.payload.version, error = %f.message,
                            "the sink rejected this version as bad data: dead-lettered (later versions go on)");
                        out.push((d.index, Settled::DeadLettered));
                    }
                    Err(e) => {
                        store_error(&mut stats, name, &d, &e, "dead-lettering");
                        broken.insert(d.payload.incident_id.clone());
                        out.push((d.index, Settled::NotDurable));
                    }
                }
            }
            let queued: Vec<_> = stream::iter(to_queue)
                .map(|(d, f)| async move {
                    let entry = self.entry(name, &d.payload, f.as_ref(), now);
                    let r = match entry {
                        Ok(e) => self.ledger.enqueue(&e).await,
                        Err(e) => Err(e),
                    };
                    (d, r)
                })
                .buffered(LEDGER_CONCURRENCY)
                .collect()
                .await;
            for (d, r) in queued {
                match r {
                    Ok(()) => {
                        stats.queued += 1;
                        queue_behind.insert(d.payload.incident_id.clone());
                        tracing::info!(sink = name, incident_id = %d.payload.incident_id,
                            version = d.payload.version, "queued in the outbox");
                        out.push((d.index, Settled::Queued));
                    }
                    Err(e) => {
                        store_error(&mut stats, name, &d, &e, "queueing in the outbox");
                        broken.insert(d.payload.incident_id.clone());
                        out.push((d.index, Settled::NotDurable));
                    }
                }
            }
            remaining = rest;
        }
        (out, stats)
    }

    /// The outbox entry of a version that could not be delivered now: first attempt after a
    /// short, jittered delay (or the receiver's `Retry-After`).
    fn entry(
        &self,
        destination: &str,
        payload: &IncidentPayload,
        failure: Option<&Failure>,
        now: DateTime<Utc>,
    ) -> Result<OutboxEntry, StoreError> {
        let bytes = serde_json::to_vec(payload).map_err(|e| StoreError::Rejected {
            message: format!("payload of {}: {e}", payload.idempotency_key),
            source: Some(Box::new(e)),
        })?;
        let attempts = u32::from(failure.is_some());
        let delay = match failure {
            Some(f) => self.outbox.delay(1, f.retry_after, fastrand::f64()),
            // Queued behind earlier versions: due at once, drained right after them.
            None => Duration::ZERO,
        };
        Ok(OutboxEntry {
            incident_id: payload.incident_id.clone(),
            destination: destination.to_owned(),
            version: payload.version,
            payload: bytes,
            attempts,
            queued_at: now,
            next_attempt_at: now + chrono::Duration::from_std(delay).unwrap_or_default(),
            last_error: failure.map(|f| f.to_string()),
        })
    }

    /// Drains due outbox entries: for each sink this run can lease, the lowest waiting version
    /// of each incident first. `owner` identifies this run in the leases.
    pub async fn drain(
        &self,
        now: DateTime<Utc>,
        deadline: Option<Instant>,
        owner: &str,
    ) -> DrainReport {
        let mut report = DrainReport::default();
        let due = match self.ledger.due(now, self.outbox.drain_batch).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "reading the outbox failed; the next run retries");
                report.incomplete = true;
                return report;
            }
        };
        report.due = due.len() as u64;
        let mut by_sink: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for d in &due {
            let ids = by_sink.entry(d.destination.clone()).or_default();
            if !ids.contains(&d.incident_id) {
                ids.push(d.incident_id.clone());
            }
        }
        let lease_until = match deadline {
            Some(dl) => {
                now + chrono::Duration::from_std(dl.saturating_duration_since(Instant::now()))
                    .unwrap_or_default()
                    + LEASE_MARGIN
            }
            None => now + chrono::Duration::minutes(5),
        };
        let mut runs = Vec::new();
        for (sink, ids) in by_sink {
            let Some(slot) = self.slots.iter().find(|s| s.sink.name() == sink) else {
                tracing::warn!(
                    sink,
                    entries = ids.len(),
                    "outbox entries for a sink that is not configured; left in place"
                );
                continue;
            };
            match self.ledger.lease(&sink, owner, now, lease_until).await {
                Ok(true) => runs.push((slot, ids)),
                Ok(false) => report.leased_elsewhere.push(sink),
                Err(e) => {
                    tracing::error!(sink, error = %e, "taking the drain lease failed");
                    report.incomplete = true;
                }
            }
        }
        let results = futures::future::join_all(
            runs.iter()
                .map(|(slot, ids)| self.drain_sink(slot, ids, now, deadline)),
        )
        .await;
        for ((slot, _), (stats, incomplete)) in runs.iter().zip(results) {
            report.drained_sinks.push(slot.sink.name().to_owned());
            report.per_sink.insert(slot.sink.name().to_owned(), stats);
            report.incomplete |= incomplete;
        }
        // What still waits, due or not (for the outbox-age alarm).
        let far = now + chrono::Duration::days(3650);
        match self.ledger.due(far, 1000).await {
            Ok(left) => {
                report.pending = left.len() as u64;
                report.oldest_age_secs = left
                    .iter()
                    .map(|d| (Utc::now() - d.queued_at).num_seconds().max(0) as u64)
                    .max()
                    .unwrap_or(0);
            }
            Err(e) => tracing::warn!(error = %e, "counting the outbox failed"),
        }
        report
    }

    /// Drains one sink's due incidents; returns its counters and whether work was left.
    async fn drain_sink(
        &self,
        slot: &SinkSlot,
        incident_ids: &[String],
        now: DateTime<Utc>,
        deadline: Option<Instant>,
    ) -> (SinkStats, bool) {
        let name = slot.sink.name();
        let mut stats = SinkStats::default();
        let mut incomplete = false;
        let states = match self.ledger.states(incident_ids).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(sink = name, error = %e, "reading the delivery state failed");
                return (stats, true);
            }
        };
        // Each incident's waiting entries, lowest version first (strongly consistent).
        let mut queues: Vec<std::collections::VecDeque<OutboxEntry>> = Vec::new();
        for id in incident_ids {
            let settled = states
                .get(id)
                .and_then(|m| m.get(name))
                .map_or(0, |s| s.settled);
            let entries = match self.ledger.pending(id, name).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(sink = name, incident_id = %id, error = %e, "reading the outbox failed");
                    incomplete = true;
                    continue;
                }
            };
            let mut q = std::collections::VecDeque::new();
            for e in entries {
                if e.version <= settled {
                    // Delivered earlier (a run that stopped between send and cleanup).
                    if self.ledger.complete(&e).await.is_err() {
                        incomplete = true;
                    }
                    stats.already_delivered += 1;
                } else {
                    q.push_back(e);
                }
            }
            // The incident waits until its lowest version is due.
            if q.front().is_some_and(|e| e.next_attempt_at <= now) {
                queues.push(q);
            }
        }
        if slot.parked().is_some() {
            tracing::warn!(
                sink = name,
                "sink parked after a configuration error; not drained this run"
            );
            return (stats, true);
        }
        let give_up = chrono::Duration::from_std(self.outbox.give_up_after()).unwrap_or_default();
        loop {
            if no_time(deadline) {
                incomplete |= queues.iter().any(|q| !q.is_empty());
                break;
            }
            // The lowest waiting version of every incident still going.
            let mut round: Vec<(usize, OutboxEntry)> = Vec::new();
            for (i, q) in queues.iter_mut().enumerate() {
                if let Some(e) = q.front() {
                    if now - e.queued_at > give_up {
                        let Some(e) = q.pop_front() else { continue };
                        let reason = format!(
                            "undelivered {} hours after it was queued (last error: {})",
                            self.outbox.give_up_after_hours,
                            e.last_error.as_deref().unwrap_or("none")
                        );
                        self.dead_letter_entry(&e, &reason, now, &mut stats, &mut incomplete)
                            .await;
                        continue;
                    }
                    round.push((i, e.clone()));
                }
            }
            if round.is_empty() {
                break;
            }
            // Decode the stored payloads; one that does not decode cannot ever be sent.
            let mut entries: Vec<(usize, OutboxEntry)> = Vec::with_capacity(round.len());
            let mut deliveries = Vec::with_capacity(round.len());
            for (i, e) in round {
                match serde_json::from_slice::<IncidentPayload>(&e.payload) {
                    Ok(payload) => {
                        deliveries.push(Delivery {
                            index: entries.len(),
                            sequence_number: None,
                            payload,
                            raw_findings: Vec::new(),
                        });
                        entries.push((i, e));
                    }
                    Err(err) => {
                        queues[i].pop_front();
                        let reason = format!("stored payload does not decode: {err}");
                        self.dead_letter_entry(&e, &reason, now, &mut stats, &mut incomplete)
                            .await;
                    }
                }
            }
            if deliveries.is_empty() {
                continue;
            }
            self.add_findings(&mut deliveries, false).await;
            let batch: Vec<Arc<Delivery>> = deliveries.into_iter().map(Arc::new).collect();
            let results = self
                .send_with_retries(slot, &batch, deadline, &mut stats)
                .await;
            let mut sink_failed = false;
            for ((i, mut e), (d, r)) in entries.into_iter().zip(batch.iter().zip(results)) {
                match r {
                    Ok(()) => match self.ledger.complete(&e).await {
                        Ok(()) => {
                            stats.delivered += 1;
                            tracing::info!(sink = name, incident_id = %e.incident_id,
                                version = e.version, attempts = e.attempts,
                                waited_secs = (now - e.queued_at).num_seconds(),
                                "queued incident version delivered");
                            queues[i].pop_front();
                        }
                        Err(err) => {
                            // Sent but not recorded: the next run re-sends it (same key).
                            store_error(&mut stats, name, d, &err, "recording a delivery");
                            queues[i].clear();
                            incomplete = true;
                        }
                    },
                    Err(f) if f.class == FailureClass::Data => {
                        count_failure(&mut stats, name, d, &f);
                        queues[i].pop_front();
                        e.attempts += 1;
                        self.dead_letter_entry(&e, &f.message, now, &mut stats, &mut incomplete)
                            .await;
                    }
                    Err(f) => {
                        count_failure(&mut stats, name, d, &f);
                        sink_failed = true;
                        e.attempts += 1;
                        e.next_attempt_at = now
                            + chrono::Duration::from_std(self.outbox.delay(
                                e.attempts,
                                f.retry_after,
                                fastrand::f64(),
                            ))
                            .unwrap_or_default();
                        e.last_error = Some(f.to_string());
                        match self.ledger.reschedule(&e).await {
                            Ok(()) => stats.rescheduled += 1,
                            Err(err) => {
                                store_error(&mut stats, name, d, &err, "rescheduling");
                                incomplete = true;
                            }
                        }
                        // Its later versions wait for it.
                        queues[i].clear();
                    }
                }
            }
            if sink_failed && slot.parked().is_some() {
                // A configuration error: nothing else goes to this sink in this run.
                break;
            }
        }
        (stats, incomplete)
    }

    async fn dead_letter_entry(
        &self,
        e: &OutboxEntry,
        reason: &str,
        now: DateTime<Utc>,
        stats: &mut SinkStats,
        incomplete: &mut bool,
    ) {
        let letter = DeadLetter {
            incident_id: e.incident_id.clone(),
            destination: e.destination.clone(),
            version: e.version,
            payload: e.payload.clone(),
            reason: reason.to_owned(),
            attempts: e.attempts,
            at: now,
        };
        match self.ledger.dead_letter(&letter).await {
            Ok(()) => {
                stats.dead_lettered += 1;
                tracing::error!(sink = %e.destination, incident_id = %e.incident_id,
                    version = e.version, reason, "version dead-lettered (later versions go on)");
            }
            Err(err) => {
                stats.store_errors += 1;
                tracing::error!(sink = %e.destination, incident_id = %e.incident_id,
                    version = e.version, error = %err, "dead-lettering failed; the next run retries");
                *incomplete = true;
            }
        }
    }

    /// Fills `top_findings` (when `summaries`) and, for sinks that want them, the raw findings.
    async fn add_findings(&self, deliveries: &mut [Delivery], summaries: bool) {
        let Some(src) = &self.findings else { return };
        let raw = self.slots.iter().any(|s| s.sink.wants_raw_findings());
        if self.top_findings == 0 || (!summaries && !raw) {
            return;
        }
        let n = self.top_findings;
        // Incidents name their most recent findings: one batched read for all of them. Only
        // an incident that names fewer than it holds and than a sink wants (or a payload from
        // the outbox, which does not keep the names) is read through the index.
        let named = |d: &Delivery| {
            let k = d.payload.recent_keys.len();
            k > 0 && (k >= n || k as u64 >= d.payload.finding_count)
        };
        let mut keys: Vec<String> = deliveries
            .iter()
            .filter(|d| named(d))
            .flat_map(|d| d.payload.recent_keys.iter().take(n).cloned())
            .collect();
        keys.sort();
        keys.dedup();
        let batch = if keys.is_empty() {
            Ok(std::collections::HashMap::new())
        } else {
            src.by_keys(&keys).await
        };
        let fetched: Vec<_> = stream::iter(deliveries.iter())
            .map(|d| {
                let batch = &batch;
                async move {
                    // A campaign's or digest's findings are its members': none are read.
                    if d.payload.is_group() {
                        return Ok(Vec::new());
                    }
                    if !named(d) {
                        return src.recent(&d.payload.incident_id, n).await;
                    }
                    match batch {
                        Ok(found) => Ok(d
                            .payload
                            .recent_keys
                            .iter()
                            .take(n)
                            .filter_map(|k| found.get(k).cloned())
                            .collect()),
                        Err(e) => Err(StoreError::Unavailable {
                            message: format!("reading the incidents' findings: {e}"),
                            source: None,
                        }),
                    }
                }
            })
            .buffered(LEDGER_CONCURRENCY)
            .collect()
            .await;
        for (d, f) in deliveries.iter_mut().zip(fetched) {
            match f {
                Ok(mut records) => {
                    // Findings that joined after this version (a retried or replayed record)
                    // are not part of it.
                    records.retain(|r| r.event_time <= d.payload.last_seen);
                    if summaries {
                        d.payload.top_findings = top_findings(&records, n);
                    }
                    if raw {
                        d.raw_findings = records
                            .iter()
                            .filter_map(|r| serde_json::from_str(&r.raw).ok())
                            .collect();
                    }
                }
                Err(e) => tracing::warn!(incident_id = %d.payload.incident_id, error = %e,
                    "could not read the incident's findings; forwarding without them"),
            }
        }
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
                "sink configuration error: parking the sink (fix the configuration or secret; its versions wait in the outbox and are retried with backoff)");
            slot.park(self.retry.park());
        }
        out
    }
}

fn incident_ids(deliveries: &[Arc<Delivery>]) -> Vec<String> {
    let mut ids: Vec<String> = deliveries
        .iter()
        .map(|d| d.payload.incident_id.clone())
        .collect();
    ids.sort();
    ids.dedup();
    ids
}

fn no_time(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|dl| Instant::now() + DEADLINE_MARGIN >= dl)
}

fn dead_letter(
    destination: &str,
    payload: &IncidentPayload,
    attempts: u32,
    reason: &str,
    now: DateTime<Utc>,
) -> DeadLetter {
    DeadLetter {
        incident_id: payload.incident_id.clone(),
        destination: destination.to_owned(),
        version: payload.version,
        payload: serde_json::to_vec(payload).unwrap_or_default(),
        reason: reason.to_owned(),
        attempts,
        at: now,
    }
}

fn count_failure(stats: &mut SinkStats, sink: &str, d: &Delivery, f: &Failure) {
    stats.failed += 1;
    match f.class {
        FailureClass::Retryable => stats.failed_retryable += 1,
        FailureClass::Config => stats.failed_config += 1,
        FailureClass::Data => stats.failed_data += 1,
    }
    tracing::warn!(sink, incident_id = %d.payload.incident_id, version = d.payload.version,
        sequence_number = ?d.sequence_number, error_class = f.class.as_str(), error = %f.message,
        "incident version not delivered to this sink");
}

fn store_error(stats: &mut SinkStats, sink: &str, d: &Delivery, e: &StoreError, doing: &str) {
    stats.store_errors += 1;
    tracing::error!(sink, incident_id = %d.payload.incident_id, version = d.payload.version,
        sequence_number = ?d.sequence_number, error = %e, retryable = e.is_retryable(),
        "{doing} failed; the stream retries this record");
}
