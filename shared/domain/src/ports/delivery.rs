//! The forwarder's ports: which version of each incident each destination already has, and the
//! incident's recent findings.
//!
//! A destination is sent a version only when its recorded version is lower, so a retried
//! stream batch re-sends only to the destinations that failed.

use std::collections::HashMap;

use futures::future::BoxFuture;

use crate::error::StoreError;
use crate::finding::FindingRecord;

/// Delivered versions: incident id -> destination name -> version.
pub type Delivered = HashMap<String, HashMap<String, u64>>;

/// Per-destination delivery state. Errors are store errors, with the store's retry semantics.
pub trait DeliveryLedger: Send + Sync {
    fn delivered<'a>(
        &'a self,
        incident_ids: &'a [String],
    ) -> BoxFuture<'a, Result<Delivered, StoreError>>;

    /// Records that `destination` has `version` of the incident; never lowers a recorded
    /// version.
    fn record<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The incident's most recent findings, for the payload's `top_findings` and HEC raw findings.
pub trait FindingSource: Send + Sync {
    fn recent<'a>(
        &'a self,
        incident_id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<FindingRecord>, StoreError>>;
}
