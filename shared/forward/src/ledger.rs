//! Per-sink delivery state: which version of each incident each sink already has. A sink is
//! sent a version only when its recorded version is lower, so a retried stream batch re-sends
//! only to the sinks that failed.

use std::collections::HashMap;
use std::sync::Mutex;

use futures::future::BoxFuture;
use thiserror::Error;
use vigil_domain::incident::FindingRecord;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[error("delivery state: {message}")]
pub struct LedgerError {
    pub message: String,
    /// Whether retrying the batch can help (throttling, network) or not (permissions, schema).
    pub retryable: bool,
}

/// Delivered versions: incident id -> sink name -> version.
pub type Delivered = HashMap<String, HashMap<String, u64>>;

pub trait DeliveryLedger: Send + Sync {
    fn delivered<'a>(
        &'a self,
        incident_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Delivered, LedgerError>>;

    /// Records that `sink` has `version` of the incident; never lowers a recorded version.
    fn record<'a>(
        &'a self,
        incident_id: &'a str,
        sink: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), LedgerError>>;
}

/// The incident's most recent findings, for the payload's `top_findings` and HEC raw findings.
pub trait FindingSource: Send + Sync {
    fn recent<'a>(
        &'a self,
        incident_id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<FindingRecord>, LedgerError>>;
}

/// In-memory ledger with the same never-lower semantics (unit tests, local runs).
#[derive(Debug, Default)]
pub struct MemoryLedger {
    state: Mutex<Delivered>,
}

impl MemoryLedger {
    pub fn get(&self, incident_id: &str, sink: &str) -> Option<u64> {
        self.state
            .lock()
            .ok()
            .and_then(|s| s.get(incident_id).and_then(|m| m.get(sink)).copied())
    }
}

impl DeliveryLedger for MemoryLedger {
    fn delivered<'a>(
        &'a self,
        incident_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Delivered, LedgerError>> {
        Box::pin(async move {
            let s = self.state.lock().map_err(|_| LedgerError {
                message: "poisoned".into(),
                retryable: false,
            })?;
            Ok(incident_ids
                .iter()
                .filter_map(|id| s.get(id).map(|m| (id.clone(), m.clone())))
                .collect())
        })
    }

    fn record<'a>(
        &'a self,
        incident_id: &'a str,
        sink: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), LedgerError>> {
        Box::pin(async move {
            let mut s = self.state.lock().map_err(|_| LedgerError {
                message: "poisoned".into(),
                retryable: false,
            })?;
            let v = s
                .entry(incident_id.to_owned())
                .or_default()
                .entry(sink.to_owned())
                .or_insert(0);
            *v = (*v).max(version);
            Ok(())
        })
    }
}
