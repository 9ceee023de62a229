//! The DynamoDB incident store: one table, three item kinds (see `docs/architecture.md`).
//!
//! | item | pk | sk | GSIs |
//! |---|---|---|---|
//! | finding record | `F#<finding key>` | `F` | gsi1: `INC#<incident id>` / `<event time>#<finding key>` |
//! | correlation head | `C#<correlation key>` | `C` | - |
//! | incident | `I#<incident id>` | `I` | gsi2: `STATUS#<status>` / `<last seen>#<incident id>` |
//!
//! Every item carries `entity_type` (`finding`, `head`, `incident`), `version` and `ttl`
//! (epoch seconds). A commit is one `TransactWriteItems` whose puts are conditioned on
//! `attribute_not_exists(pk)` for new items and `version = :v` for existing ones; a commit of a
//! single item is a conditional `PutItem`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use vigil_domain::incident::{CorrelationHead, FindingRecord, Incident};
use vigil_domain::ports::{ChangeSet, Expect, IncidentReader, IncidentStore};
use vigil_domain::StoreError;

type Item = HashMap<String, AttributeValue>;

pub const GSI_BY_INCIDENT: &str = "gsi1";
pub const GSI_BY_STATUS: &str = "gsi2";

/// Keys of the three item kinds.
pub fn finding_pk(key: &str) -> String {
    format!("F#{key}")
}
pub fn head_pk(key: &str) -> String {
    format!("C#{key}")
}
pub fn incident_pk(id: &str) -> String {
    format!("I#{id}")
}

/// DynamoDB adapter for the store ports. Counts the requests it makes, for benchmarks.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    writes: AtomicU64,
    reads: AtomicU64,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Write requests sent (PutItem and TransactWriteItems), including ones that lost a race.
    pub fn write_requests(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Read requests sent (BatchGetItem, Query, Scan pages).
    pub fn read_requests(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    async fn batch_get<T: DeserializeOwned>(
        &self,
        pks: Vec<String>,
        sk: &str,
    ) -> Result<Vec<T>, StoreError> {
        let (items, requests) = batch_get_items(&self.client, &self.table, pks, sk).await?;
        self.reads.fetch_add(requests, Ordering::Relaxed);
        items.into_iter().map(decode).collect()
    }

    fn put(&self, item: Item, expect: Expect) -> Result<Put, StoreError> {
        let mut b = Put::builder().table_name(&self.table).set_item(Some(item));
        b = match expect {
            Expect::Absent => b.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => b
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", "version")
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        b.build().map_err(|e| rejected("Put", e))
    }

    /// Items scanned by kind (strongly consistent). For tests and small local tables.
    pub async fn scan_kind<T: DeserializeOwned>(
        &self,
        entity_type: &str,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .filter_expression("entity_type = :t")
            .expression_attribute_values(":t", AttributeValue::S(entity_type.to_owned()))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| classify("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
        }
        Ok(out)
    }

    async fn query_index<T: DeserializeOwned>(
        &self,
        index: &str,
        key_attr: &str,
        key: &str,
        newest_first: bool,
    ) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", key_attr)
            .expression_attribute_values(":k", AttributeValue::S(key.to_owned()))
            .scan_index_forward(!newest_first)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| classify("Query", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(decode(item)?);
            }
        }
        Ok(out)
    }
}

/// Strongly consistent `BatchGetItem` of items `(pk, sk)` for every pk (deduplicated), in
/// requests of 100, re-asking for unprocessed keys with backoff. Returns the items and the
/// number of requests made.
pub(crate) async fn batch_get_items(
    client: &Client,
    table: &str,
    mut pks: Vec<String>,
    sk: &str,
) -> Result<(Vec<Item>, u64), StoreError> {
    let mut out = Vec::with_capacity(pks.len());
    let mut requests = 0u64;
    pks.sort();
    pks.dedup();
    for chunk in pks.chunks(100) {
        let keys: Vec<Item> = chunk
            .iter()
            .map(|pk| {
                HashMap::from([
                    ("pk".to_owned(), AttributeValue::S(pk.clone())),
                    ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
                ])
            })
            .collect();
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| rejected("BatchGetItem request", e))?,
        );
        let mut round = 0u32;
        while let Some(req) = request.take() {
            requests += 1;
            let resp = client
                .batch_get_item()
                .request_items(table, req)
                .send()
                .await
                .map_err(|e| classify("BatchGetItem", e))?;
            if let Some(items) = resp.responses.and_then(|mut r| r.remove(table)) {
                out.extend(items);
            }
            request = resp
                .unprocessed_keys
                .and_then(|mut u| u.remove(table))
                .filter(|k| !k.keys.is_empty());
            if request.is_some() {
                round += 1;
                if round > 10 {
                    return Err(StoreError::Unavailable {
                        message: "BatchGetItem left keys unprocessed after 10 rounds".into(),
                        source: None,
                    });
                }
                backoff(round).await;
            }
        }
    }
    Ok((out, requests))
}

/// Exponential backoff with full jitter, capped: 5 ms .. 400 ms.
async fn backoff(attempt: u32) {
    let cap = (5u64 << attempt.min(7)).min(400);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0);
    let ms = 1 + nanos % cap.max(1);
    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
}

fn rejected(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    StoreError::Rejected {
        message: format!("{what}: {e}"),
        source: Some(Box::new(e)),
    }
}

/// Maps an SDK error to the store's retry semantics.
pub(crate) fn classify<E>(op: &str, e: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown").to_owned();
            let message = format!("{op}: {code}: {}", se.err().message().unwrap_or_default());
            let retryable = matches!(
                code.as_str(),
                "ProvisionedThroughputExceededException"
                    | "ThrottlingException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "LimitExceededException"
            );
            if code == "ConditionalCheckFailedException" || code == "TransactionConflictException" {
                return StoreError::Conflict { what: message };
            }
            let server_error = se.raw().status().is_server_error();
            if retryable || server_error {
                StoreError::Unavailable {
                    message,
                    source: Some(Box::new(e)),
                }
            } else {
                StoreError::Rejected {
                    message,
                    source: Some(Box::new(e)),
                }
            }
        }
        SdkError::ConstructionFailure(_) => StoreError::Rejected {
            message: format!("{op}: cannot build request: {e}"),
            source: Some(Box::new(e)),
        },
        _ => StoreError::Unavailable {
            message: format!("{op}: {e}"),
            source: Some(Box::new(e)),
        },
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Rejected {
        message: format!("cannot encode item: {e}"),
        source: Some(Box::new(e)),
    })
}

fn decode<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    let key = match item.get("pk") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => "<no pk>".into(),
    };
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        key,
        message: e.to_string(),
    })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// The encoded item with the attributes every kind carries: keys, `entity_type` and `ttl`.
fn base_item<T: Serialize>(
    value: &T,
    pk: String,
    sk: &str,
    entity_type: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<Item, StoreError> {
    let mut item = encode(value)?;
    item.insert("pk".into(), s(pk));
    item.insert("sk".into(), s(sk));
    item.insert("entity_type".into(), s(entity_type));
    item.insert(
        "ttl".into(),
        AttributeValue::N(expires_at.timestamp().to_string()),
    );
    Ok(item)
}

fn finding_item(r: &FindingRecord) -> Result<Item, StoreError> {
    let mut item = base_item(r, finding_pk(&r.key), "F", "finding", r.expires_at)?;
    if let Some(id) = &r.incident_id {
        item.insert("gsi1pk".into(), s(format!("INC#{id}")));
        item.insert(
            "gsi1sk".into(),
            s(format!("{}#{}", r.event_time.to_rfc3339(), r.key)),
        );
    }
    Ok(item)
}

fn incident_item(i: &Incident) -> Result<Item, StoreError> {
    let mut item = base_item(i, incident_pk(&i.id), "I", "incident", i.expires_at)?;
    item.insert("gsi2pk".into(), s(format!("STATUS#{}", i.status.as_str())));
    item.insert(
        "gsi2sk".into(),
        s(format!("{}#{}", i.last_seen.to_rfc3339(), i.id)),
    );
    Ok(item)
}

fn head_item(h: &CorrelationHead) -> Result<Item, StoreError> {
    base_item(h, head_pk(&h.key), "C", "head", h.expires_at)
}

fn conflict_from_cancellation(reasons: &[aws_sdk_dynamodb::types::CancellationReason]) -> bool {
    reasons.iter().any(|r| {
        matches!(
            r.code(),
            Some("ConditionalCheckFailed") | Some("TransactionConflict")
        )
    })
}

fn throttled_cancellation(reasons: &[aws_sdk_dynamodb::types::CancellationReason]) -> bool {
    reasons.iter().any(|r| {
        matches!(
            r.code(),
            Some("ThrottlingError") | Some("ProvisionedThroughputExceeded")
        )
    })
}

impl IncidentStore for DynamoStore {
    async fn get_findings(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, FindingRecord>, StoreError> {
        let recs: Vec<FindingRecord> = self
            .batch_get(keys.iter().map(|k| finding_pk(k)).collect(), "F")
            .await?;
        Ok(recs.into_iter().map(|r| (r.key.clone(), r)).collect())
    }

    async fn get_heads(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, CorrelationHead>, StoreError> {
        let heads: Vec<CorrelationHead> = self
            .batch_get(keys.iter().map(|k| head_pk(k)).collect(), "C")
            .await?;
        Ok(heads.into_iter().map(|h| (h.key.clone(), h)).collect())
    }

    async fn get_incidents(&self, ids: &[String]) -> Result<HashMap<String, Incident>, StoreError> {
        let incs: Vec<Incident> = self
            .batch_get(ids.iter().map(|k| incident_pk(k)).collect(), "I")
            .await?;
        Ok(incs.into_iter().map(|i| (i.id.clone(), i)).collect())
    }

    async fn commit(&self, c: &ChangeSet) -> Result<(), StoreError> {
        let mut puts = Vec::with_capacity(c.len());
        for p in &c.findings {
            puts.push(self.put(finding_item(&p.item)?, p.expect)?);
        }
        for p in &c.incidents {
            puts.push(self.put(incident_item(&p.item)?, p.expect)?);
        }
        for p in &c.heads {
            puts.push(self.put(head_item(&p.item)?, p.expect)?);
        }
        if puts.len() > 100 {
            return Err(StoreError::Rejected {
                message: format!("{} items exceed one transaction (100)", puts.len()),
                source: None,
            });
        }
        self.writes.fetch_add(1, Ordering::Relaxed);
        if puts.len() == 1 {
            let Some(p) = puts.pop() else { return Ok(()) };
            let mut req = self
                .client
                .put_item()
                .table_name(p.table_name)
                .set_item(Some(p.item))
                .set_condition_expression(p.condition_expression)
                .set_expression_attribute_names(p.expression_attribute_names)
                .set_expression_attribute_values(p.expression_attribute_values);
            req = req.return_values_on_condition_check_failure(
                aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::None,
            );
            return req
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("PutItem", e));
        }
        let items: Vec<TransactWriteItem> = puts
            .into_iter()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .collect();
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                if let SdkError::ServiceError(se) = &e {
                    if let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) = se.err() {
                        let reasons = tc.cancellation_reasons();
                        if reasons.iter().any(|r| r.code() == Some("ValidationError")) {
                            let detail: Vec<&str> = reasons.iter().filter_map(|r| r.message()).collect();
                            return Err(StoreError::Rejected {
                                message: format!("transaction rejected: {detail:?}"),
                                source: Some(Box::new(e)),
                            });
                        }
                        if throttled_cancellation(reasons) {
                            return Err(StoreError::Unavailable {
                                message: "transaction cancelled: throttled".into(),
                                source: Some(Box::new(e)),
                            });
                        }
                        if conflict_from_cancellation(tc.cancellation_reasons()) {
                            return Err(StoreError::Conflict {
                                what: format!("transaction cancelled: {:?}", tc.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect::<Vec<_>>()),
                            });
                        }
                    }
                }
                Err(classify("TransactWriteItems", e))
            }
        }
    }

    async fn backoff(&self, attempt: u32) {
        backoff(attempt).await
    }
}

impl IncidentReader for DynamoStore {
    async fn list_incidents(&self, open_only: bool) -> Result<Vec<Incident>, StoreError> {
        let mut out: Vec<Incident> = self
            .query_index(GSI_BY_STATUS, "gsi2pk", "STATUS#OPEN", true)
            .await?;
        if !open_only {
            out.extend(
                self.query_index::<Incident>(GSI_BY_STATUS, "gsi2pk", "STATUS#RESOLVED", true)
                    .await?,
            );
        }
        Ok(out)
    }

    async fn findings_of(&self, incident_id: &str) -> Result<Vec<FindingRecord>, StoreError> {
        self.query_index(
            GSI_BY_INCIDENT,
            "gsi1pk",
            &format!("INC#{incident_id}"),
            false,
        )
        .await
    }
}

/// Creates the table as `infra/template.yaml` defines it (for local use and tests), and enables
/// TTL. Succeeds if it already exists.
pub async fn ensure_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let s_attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| rejected("AttributeDefinition", e))
    };
    let key = |name: &str, kt: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kt)
            .build()
            .map_err(|e| rejected("KeySchemaElement", e))
    };
    let gsi = |name: &str, pk: &str, sk: &str| -> Result<GlobalSecondaryIndex, StoreError> {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .key_schema(key(pk, KeyType::Hash)?)
            .key_schema(key(sk, KeyType::Range)?)
            .projection(
                Projection::builder()
                    .projection_type(ProjectionType::All)
                    .build(),
            )
            .build()
            .map_err(|e| rejected("GlobalSecondaryIndex", e))
    };
    let result = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(s_attr("pk")?)
        .attribute_definitions(s_attr("sk")?)
        .attribute_definitions(s_attr("gsi1pk")?)
        .attribute_definitions(s_attr("gsi1sk")?)
        .attribute_definitions(s_attr("gsi2pk")?)
        .attribute_definitions(s_attr("gsi2sk")?)
        .key_schema(key("pk", KeyType::Hash)?)
        .key_schema(key("sk", KeyType::Range)?)
        .global_secondary_indexes(gsi(GSI_BY_INCIDENT, "gsi1pk", "gsi1sk")?)
        .global_secondary_indexes(gsi(GSI_BY_STATUS, "gsi2pk", "gsi2sk")?)
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| rejected("StreamSpecification", e))?,
        )
        .send()
        .await;
    match result {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(classify("CreateTable", e)),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| rejected("TimeToLiveSpecification", e))?,
        )
        .send()
        .await
        .map_err(|e| classify("UpdateTimeToLive", e))?;
    Ok(())
}

/// Deletes a table (tests use a fresh table each).
pub async fn delete_table(client: &Client, table: &str) -> Result<(), StoreError> {
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| classify("DeleteTable", e))
}
