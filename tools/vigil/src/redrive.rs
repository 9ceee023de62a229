//! Operator tools for the rare cases the outbox cannot cover on its own.
//!
//! A sink that is down never needs these: its versions wait in the outbox and are retried
//! until it is back. They are for the forwarder itself being unable to run (the table
//! unavailable to it for longer than the stream's retry budget), and for new sinks.
//!
//! - [`redrive_message`]: an on-failure record of the stream event source mapping (the shard
//!   and sequence-number range, not the records) is resolved to the stream records, which go
//!   through the forwarder again with the usual rules: a version a sink has settled past is
//!   skipped (an older version is never sent after a newer one). Stream records are kept 24
//!   hours.
//! - [`catch_up`]: the current version of every incident is sent to every sink whose settled
//!   version is lower (a new sink; intermediate versions are not re-created: the table keeps
//!   only the current state).

use aws_lambda_events::event::dynamodb::Event as DynamoDbEvent;
use forward::{process, Deps};
use serde::Deserialize;
use thiserror::Error;
use vigil_aws_dynamodb::DynamoStore;
use vigil_aws_streams::{read_range, StreamError};
use vigil_delivery::BatchReport;
use vigil_domain::ports::DeliveryLedger;
use vigil_domain::{IncidentReader, StoreError};
use vigil_wire::payload::{Change, ChangeKind, IncidentPayload};

#[derive(Debug, Error)]
pub enum RedriveError {
    #[error("not an on-failure record of a DynamoDB stream event source mapping")]
    NotAnOnFailureRecord(#[source] serde_json::Error),
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("reading incidents or delivery state")]
    Store(#[from] StoreError),
}

/// `DDBStreamBatchInfo` of an on-failure record.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchInfo {
    pub shard_id: String,
    pub start_sequence_number: String,
    pub end_sequence_number: String,
    pub stream_arn: String,
    #[serde(default)]
    pub batch_size: Option<u64>,
}

#[derive(Debug, Deserialize)]
struct OnFailure {
    #[serde(rename = "DDBStreamBatchInfo")]
    batch: BatchInfo,
}

pub fn parse_on_failure(text: &str) -> Result<BatchInfo, RedriveError> {
    serde_json::from_str::<OnFailure>(text)
        .map(|o| o.batch)
        .map_err(RedriveError::NotAnOnFailureRecord)
}

/// Re-forwards the records an on-failure message points at.
pub async fn redrive_message(
    deps: &Deps,
    streams: &aws_sdk_dynamodbstreams::Client,
    message: &str,
) -> Result<BatchReport, RedriveError> {
    let b = parse_on_failure(message)?;
    let records = read_range(
        streams,
        &b.stream_arn,
        &b.shard_id,
        &b.start_sequence_number,
        &b.end_sequence_number,
    )
    .await?;
    tracing::info!(shard = %b.shard_id, start = %b.start_sequence_number, end = %b.end_sequence_number,
        records = records.len(), "redriving stream records");
    let mut event = DynamoDbEvent::default();
    event.records = records;
    Ok(process(deps, &event, None).await)
}

/// Sends each incident's current version to the sinks that lack it.
pub async fn catch_up(
    deps: &Deps,
    store: &DynamoStore,
    ledger: &dyn DeliveryLedger,
    open_only: bool,
) -> Result<BatchReport, RedriveError> {
    use vigil_domain::ports::QueueStore;
    let incidents = store.list_incidents(open_only).await?;
    // The live campaigns and digests too: their latest versions, like the incidents'.
    let queue = store.live_queue().await?;
    let ids: Vec<String> = incidents
        .iter()
        .map(|i| i.id.clone())
        .chain(queue.iter().map(|q| q.item.id.clone()))
        .collect();
    let states = ledger.states(&ids).await?;
    let sinks = deps.dispatcher.sink_names();
    let lacks = |id: &str, version: u64| {
        sinks.iter().any(|s| {
            states
                .get(id)
                .and_then(|m| m.get(*s))
                .is_none_or(|st| st.settled < version)
        })
    };
    let resync = || Change {
        kind: ChangeKind::Resync,
        changed: Vec::new(),
    };
    let mut behind: Vec<IncidentPayload> = incidents
        .iter()
        .filter(|i| lacks(&i.id, i.version))
        .map(|i| IncidentPayload::new(i, resync()))
        .collect();
    behind.extend(
        queue
            .iter()
            .filter(|q| lacks(&q.item.id, q.version))
            .map(|q| IncidentPayload::from_queue(q, resync())),
    );
    tracing::info!(
        incidents = incidents.len(),
        campaigns_and_digests = queue.len(),
        behind = behind.len(),
        "catching up sinks"
    );
    Ok(deps.dispatcher.forward_payloads(behind, None).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_failure_records_parse() {
        let msg = r#"{"requestContext":{"requestId":"r","functionArn":"arn:aws:lambda:us-east-1:1:function:f","condition":"RetryAttemptsExhausted","approximateInvokeCount":4},
            "responseContext":{"statusCode":200,"executedVersion":"$LATEST","functionError":"Unhandled"},
            "version":"1.0","timestamp":"2026-11-27T10:00:00.000Z",
            "DDBStreamBatchInfo":{"shardId":"shardId-0001","startSequenceNumber":"100","endSequenceNumber":"120",
            "approximateArrivalOfFirstRecord":"2026-11-27T09:59:00Z","approximateArrivalOfLastRecord":"2026-11-27T09:59:01Z",
            "batchSize":3,"streamArn":"arn:aws:dynamodb:us-east-1:1:table/t/stream/2026"}}"#;
        let b = parse_on_failure(msg).unwrap();
        assert_eq!(
            (
                b.shard_id.as_str(),
                b.start_sequence_number.as_str(),
                b.end_sequence_number.as_str()
            ),
            ("shardId-0001", "100", "120")
        );
        assert!(parse_on_failure("{}").is_err());
    }
}
