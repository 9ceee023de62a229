//! Reading the incident table's DynamoDB stream the way Lambda's event source mapping does
//! (shards, iterators, `GetRecords`), producing the same `aws_lambda_events` records the
//! forward function receives. Used by `vigil forward` (local runs), `vigil redrive` and the
//! end-to-end tests; no function links it.
//!
//! A parent shard is drained before its children, as the event source mapping does, so the
//! records of one item arrive in the order they were written.

use std::collections::{BTreeMap, HashMap, HashSet};

use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodbstreams::config::http::HttpResponse;
use aws_sdk_dynamodbstreams::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use serde_json::{json, Value};
use thiserror::Error;
use vigil_aws::{classify, AwsError};

#[derive(Debug, Error)]
pub enum StreamError {
    #[error("table {0} has no stream")]
    NoStream(String),
    /// A call to DynamoDB or DynamoDB Streams failed; `is_retryable` says whether to try again.
    #[error(transparent)]
    Api(#[from] AwsError),
    #[error("stream record {id} does not convert")]
    Convert {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("stream record {id} has no dynamodb section")]
    NoChange { id: String },
    /// Reading stopped before the end of a sequence range (retry later).
    #[error("sequence range {start}..={end} of shard {shard} not fully read ({read} records so far); retry later")]
    Incomplete {
        shard: String,
        start: String,
        end: String,
        read: usize,
    },
}

impl StreamError {
    pub fn is_retryable(&self) -> bool {
        match self {
            StreamError::Api(e) => e.is_retryable(),
            StreamError::Incomplete { .. } => true,
            _ => false,
        }
    }
}

fn api<E>(op: &'static str) -> impl Fn(SdkError<E, HttpResponse>) -> StreamError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |e| StreamError::Api(classify(op, e, &[]))
}

/// The table's current stream ARN.
pub async fn stream_arn(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<String, StreamError> {
    let t = ddb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| StreamError::Api(classify("DescribeTable", e, &[])))?;
    t.table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| StreamError::NoStream(table.to_owned()))
}

/// Converts an SDK stream record into the record Lambda delivers.
pub fn to_event_record(r: &Record, stream_arn: &str) -> Result<EventRecord, StreamError> {
    let id = r.event_id.clone().unwrap_or_default();
    let sr = r
        .dynamodb
        .as_ref()
        .ok_or_else(|| StreamError::NoChange { id: id.clone() })?;
    let image = |m: &Option<
        std::collections::HashMap<String, aws_sdk_dynamodbstreams::types::AttributeValue>,
    >|
     -> Result<Option<Value>, StreamError> {
        match m {
            None => Ok(None),
            Some(m) => {
                let item: serde_dynamo::Item = m.clone().into();
                serde_json::to_value(&item)
                    .map(Some)
                    .map_err(|source| StreamError::Convert {
                        id: id.clone(),
                        source,
                    })
            }
        }
    };
    let mut d = json!({
        "SequenceNumber": sr.sequence_number,
        "SizeBytes": sr.size_bytes.unwrap_or_default(),
        "StreamViewType": sr.stream_view_type.as_ref().map(|v| v.as_str().to_owned()),
        "ApproximateCreationDateTime": sr.approximate_creation_date_time.map(|t| t.secs() as f64),
        "Keys": image(&sr.keys)?.unwrap_or_else(|| json!({})),
    });
    if let Some(n) = image(&sr.new_image)? {
        d["NewImage"] = n;
    }
    if let Some(o) = image(&sr.old_image)? {
        d["OldImage"] = o;
    }
    let v = json!({
        "eventID": id,
        "eventName": r.event_name.as_ref().map(|n| n.as_str().to_owned()),
        "eventVersion": r.event_version,
        "eventSource": "aws:dynamodb",
        "awsRegion": r.aws_region,
        "eventSourceARN": stream_arn,
        "dynamodb": d,
    });
    serde_json::from_value(v).map_err(|source| StreamError::Convert { id, source })
}

/// Polls every shard of a stream from its oldest record, in shard order (parents first), as
/// the event source mapping does with `StartingPosition: TRIM_HORIZON`.
#[derive(Debug)]
pub struct StreamPoller {
    client: Client,
    arn: String,
    /// shard id -> next iterator (None once the shard is closed and drained).
    iterators: BTreeMap<String, Option<String>>,
    finished: HashSet<String>,
    /// shard id -> its parent shard, as `DescribeStream` reports it.
    parents: HashMap<String, String>,
}

/// Whether `shard` may be read now: not while its parent is still being read. A shard splits
/// into children when it closes; the same item's later writes are in a child, so reading a
/// child before its parent is drained would deliver an item's versions out of order. (A parent
/// that is no longer in the stream, trimmed after 24 hours, does not hold its children back.)
pub fn may_read(
    shard: &str,
    parents: &HashMap<String, String>,
    reading: &BTreeMap<String, Option<String>>,
) -> bool {
    match parents.get(shard) {
        Some(parent) => !reading.contains_key(parent),
        None => true,
    }
}

impl StreamPoller {
    pub fn new(client: Client, arn: impl Into<String>) -> Self {
        Self {
            client,
            arn: arn.into(),
            iterators: BTreeMap::new(),
            finished: HashSet::new(),
            parents: HashMap::new(),
        }
    }

    pub fn arn(&self) -> &str {
        &self.arn
    }

    async fn discover(&mut self) -> Result<(), StreamError> {
        let mut start: Option<String> = None;
        loop {
            let d = self
                .client
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(api("DescribeStream"))?;
            let Some(desc) = d.stream_description else {
                break;
            };
            for s in desc.shards.unwrap_or_default() {
                let Some(id) = s.shard_id else { continue };
                if let Some(parent) = s.parent_shard_id {
                    self.parents.insert(id.clone(), parent);
                }
                if self.iterators.contains_key(&id) || self.finished.contains(&id) {
                    continue;
                }
                let it = self
                    .client
                    .get_shard_iterator()
                    .stream_arn(&self.arn)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(api("GetShardIterator"))?;
                self.iterators.insert(id, it.shard_iterator);
            }
            start = desc.last_evaluated_shard_id;
            if start.is_none() {
                break;
            }
        }
        Ok(())
    }

    /// The records that arrived since the last poll (at most `limit` per shard), oldest first.
    pub async fn poll(&mut self, limit: i32) -> Result<Vec<EventRecord>, StreamError> {
        self.discover().await?;
        let mut out = Vec::new();
        let shards: Vec<String> = self.iterators.keys().cloned().collect();
        for shard in shards {
            if !may_read(&shard, &self.parents, &self.iterators) {
                continue;
            }
            let Some(Some(it)) = self.iterators.get(&shard).cloned() else {
                self.iterators.remove(&shard);
                self.finished.insert(shard);
                continue;
            };
            let r = self
                .client
                .get_records()
                .shard_iterator(it)
                .limit(limit)
                .send()
                .await
                .map_err(api("GetRecords"))?;
            for rec in r.records.unwrap_or_default() {
                out.push(to_event_record(&rec, &self.arn)?);
            }
            match r.next_shard_iterator {
                Some(next) => {
                    self.iterators.insert(shard, Some(next));
                }
                // Closed and drained: its children may be read from now on.
                None => {
                    self.iterators.remove(&shard);
                    self.finished.insert(shard);
                }
            }
        }
        Ok(out)
    }
}

/// The records of one shard from `start` to `end` (inclusive) sequence numbers: what an
/// on-failure message of the event source mapping points at (`DDBStreamBatchInfo`).
pub async fn read_range(
    client: &Client,
    arn: &str,
    shard_id: &str,
    start: &str,
    end: &str,
) -> Result<Vec<EventRecord>, StreamError> {
    let end_n: u128 = end.parse().unwrap_or(u128::MAX);
    let mut it = client
        .get_shard_iterator()
        .stream_arn(arn)
        .shard_id(shard_id)
        .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
        .sequence_number(start)
        .send()
        .await
        .map_err(api("GetShardIterator"))?
        .shard_iterator;
    let mut out = Vec::new();
    let mut empty = 0;
    while let Some(i) = it.take() {
        let r = client
            .get_records()
            .shard_iterator(i)
            .limit(1000)
            .send()
            .await
            .map_err(api("GetRecords"))?;
        let records = r.records.unwrap_or_default();
        if records.is_empty() {
            empty += 1;
            if empty > 3 {
                break;
            }
        }
        for rec in &records {
            let seq: u128 = rec
                .dynamodb
                .as_ref()
                .and_then(|d| d.sequence_number.as_deref())
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if seq > end_n {
                return Ok(out);
            }
            out.push(to_event_record(rec, arn)?);
            if seq == end_n {
                return Ok(out);
            }
        }
        match r.next_shard_iterator {
            // A closed shard ends here: the range cannot extend further.
            None => return Ok(out),
            next => it = next,
        }
    }
    // Stopped before the end of the range: processing a part and reporting success would
    // drop the rest silently.
    Err(StreamError::Incomplete {
        shard: shard_id.to_owned(),
        start: start.to_owned(),
        end: end.to_owned(),
        read: out.len(),
    })
}

/// The client for the stream API, from the standard AWS environment
/// (`AWS_ENDPOINT_URL_DYNAMODB_STREAMS` or `AWS_ENDPOINT_URL` point it at DynamoDB Local).
pub async fn streams_client() -> Client {
    Client::new(&vigil_aws::sdk_config().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Defect: the reader polled every shard at once, so a child shard's records (an item's
    /// later writes) could come before its parent's.
    #[test]
    fn a_child_shard_waits_until_its_parent_is_drained() {
        let parents = HashMap::from([
            ("shard-2".to_owned(), "shard-1".to_owned()),
            ("shard-3".to_owned(), "shard-gone".to_owned()),
        ]);
        let mut reading = BTreeMap::from([
            ("shard-1".to_owned(), Some("it-1".to_owned())),
            ("shard-2".to_owned(), Some("it-2".to_owned())),
            ("shard-3".to_owned(), Some("it-3".to_owned())),
        ]);
        assert!(may_read("shard-1", &parents, &reading));
        assert!(!may_read("shard-2", &parents, &reading));
        assert!(
            may_read("shard-3", &parents, &reading),
            "a trimmed parent holds nothing back"
        );
        reading.remove("shard-1");
        assert!(may_read("shard-2", &parents, &reading));
    }
}
