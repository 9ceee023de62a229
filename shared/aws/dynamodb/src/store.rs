//! [`DynamoStore`]: the domain's incident store on one DynamoDB table (layout in [`crate::items`]).
//!
//! Reads are strongly consistent `BatchGetItem`s. A commit is one `TransactWriteItems` whose
//! puts are conditioned on `attribute_not_exists(pk)` for new items and `version = :v` for
//! existing ones; a commit of a single item is a conditional `PutItem`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, DeleteRequest, KeysAndAttributes, Put,
    ReturnConsumedCapacity, TransactWriteItem, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use vigil_domain::incident::Incident;
use vigil_domain::ports::{ChangeSet, Expect, FindingCleanup, IncidentReader, IncidentStore};
use vigil_domain::{CorrelationHead, FindingRecord, StoreError};

use crate::errors::{classify, rejected, transaction_error};
use crate::items::{
    decode, finding_item, finding_pk, head_item, head_pk, incident_findings_pk, incident_item,
    incident_pk, Item, GSI_BY_INCIDENT, GSI_BY_STATUS,
};

/// DynamoDB adapter for the store ports. Counts the requests it makes, for benchmarks.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    writes: AtomicU64,
    reads: AtomicU64,
    wcu_tenths: AtomicU64,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            wcu_tenths: AtomicU64::new(0),
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

    /// Write capacity units the table reported consuming for this store's commits (DynamoDB
    /// and DynamoDB Local return it with `ReturnConsumedCapacity`), for benchmarks.
    pub fn consumed_wcu(&self) -> f64 {
        self.wcu_tenths.load(Ordering::Relaxed) as f64 / 10.0
    }

    fn count_capacity<'a>(&self, c: impl Iterator<Item = &'a ConsumedCapacity>) {
        let total: f64 = c.filter_map(|c| c.capacity_units).sum();
        self.wcu_tenths
            .fetch_add((total * 10.0).round() as u64, Ordering::Relaxed);
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
pub async fn batch_get_items(
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
                vigil_aws::backoff(round).await;
            }
        }
    }
    Ok((out, requests))
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
            req = req
                .return_values_on_condition_check_failure(
                    aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::None,
                )
                .return_consumed_capacity(ReturnConsumedCapacity::Total);
            let out = req.send().await.map_err(|e| classify("PutItem", e))?;
            self.count_capacity(out.consumed_capacity.iter());
            return Ok(());
        }
        let items: Vec<TransactWriteItem> = puts
            .into_iter()
            .map(|p| TransactWriteItem::builder().put(p).build())
            .collect();
        let out = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .return_consumed_capacity(ReturnConsumedCapacity::Total)
            .send()
            .await
            .map_err(transaction_error)?;
        self.count_capacity(out.consumed_capacity.iter().flatten());
        Ok(())
    }

    async fn backoff(&self, attempt: u32) {
        vigil_aws::backoff(attempt).await
    }
}

impl FindingCleanup for DynamoStore {
    /// Queries gsi1 for the incident's finding records (keys only) and deletes them with
    /// `BatchWriteItem`, 25 at a time, asking again for unprocessed items with backoff.
    fn remove_findings_of<'a>(
        &'a self,
        incident_id: &'a str,
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let mut keys: Vec<Item> = Vec::new();
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_BY_INCIDENT)
                .key_condition_expression("gsi1pk = :p")
                .expression_attribute_values(
                    ":p",
                    AttributeValue::S(incident_findings_pk(incident_id)),
                )
                .projection_expression("pk, sk")
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                self.reads.fetch_add(1, Ordering::Relaxed);
                let page = page.map_err(|e| classify("Query", e))?;
                keys.extend(page.items.unwrap_or_default());
            }
            let n = keys.len();
            for chunk in keys.chunks(25) {
                let mut requests: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|k| {
                        DeleteRequest::builder()
                            .set_key(Some(k.clone()))
                            .build()
                            .map(|d| WriteRequest::builder().delete_request(d).build())
                            .map_err(|e| rejected("DeleteRequest", e))
                    })
                    .collect::<Result<_, _>>()?;
                let mut round = 0u32;
                while !requests.is_empty() {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                    let resp = self
                        .client
                        .batch_write_item()
                        .request_items(&self.table, requests)
                        .send()
                        .await
                        .map_err(|e| classify("BatchWriteItem", e))?;
                    requests = resp
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                    if !requests.is_empty() {
                        round += 1;
                        if round > 10 {
                            return Err(StoreError::Unavailable {
                                message: "BatchWriteItem left items unprocessed after 10 rounds"
                                    .into(),
                                source: None,
                            });
                        }
                        vigil_aws::backoff(round).await;
                    }
                }
            }
            Ok(n)
        })
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
            &incident_findings_pk(incident_id),
            false,
        )
        .await
    }
}

/// SDK error classification, at the wire: every response below is what DynamoDB sends
/// (awsJson1.0 error bodies), decoded by the real client and classified by this adapter.
/// DynamoDB Local never throttles, so these cases are only reachable here.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::config::http::HttpResponse;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_smithy_mocks::{mock, mock_client, RuleMode};
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use vigil_domain::ports::{Expect, Put};
    use vigil_domain::testing::{incident, Asff};

    fn block<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    fn response(status: u16, body: String) -> HttpResponse {
        HttpResponse::new(StatusCode::try_from(status).unwrap(), SdkBody::from(body))
    }

    fn error(status: u16, code: &str) -> HttpResponse {
        response(
            status,
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{code}","message":"from the mock"}}"#
            ),
        )
    }

    fn cancelled(reasons: &[&str]) -> HttpResponse {
        let reasons: Vec<String> = reasons
            .iter()
            .map(|c| format!(r#"{{"Code":"{c}","Message":"{c} from the mock"}}"#))
            .collect();
        response(
            400,
            format!(
                r#"{{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","Message":"Transaction cancelled","CancellationReasons":[{}]}}"#,
                reasons.join(",")
            ),
        )
    }

    fn one_attempt(b: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
        b.retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())
    }

    /// A change set of two items, so the store sends a transaction.
    fn two_items() -> ChangeSet {
        let inc = incident("a", "t", 1);
        let f = vigil_domain::testing::normalized(&Asff::guardduty("a").json());
        let rec = FindingRecord::of(
            &f,
            None,
            Some(inc.id.clone()),
            chrono::Utc::now(),
            chrono::Duration::days(1),
        );
        ChangeSet {
            findings: vec![Put {
                item: rec,
                expect: Expect::Absent,
            }],
            incidents: vec![Put {
                item: inc,
                expect: Expect::Absent,
            }],
            heads: Vec::new(),
        }
    }

    fn one_item() -> ChangeSet {
        let mut c = two_items();
        c.findings.clear();
        c
    }

    #[test]
    fn put_item_errors_are_conflicts_retryable_or_rejections() {
        let cases = [
            (400, "ConditionalCheckFailedException", "conflict"),
            (400, "ProvisionedThroughputExceededException", "retryable"),
            (400, "ThrottlingException", "retryable"),
            (400, "RequestLimitExceeded", "retryable"),
            (500, "InternalServerError", "retryable"),
            (503, "ServiceUnavailable", "retryable"),
            (400, "ValidationException", "rejected"),
            (400, "ResourceNotFoundException", "unusable"),
            (400, "AccessDeniedException", "unusable"),
        ];
        for (status, code, want) in cases {
            let rule = mock!(Client::put_item).then_http_response(move || error(status, code));
            let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], one_attempt);
            let e = block(DynamoStore::new(client, "t").commit(&one_item())).unwrap_err();
            let got = match &e {
                StoreError::Conflict { .. } => "conflict",
                StoreError::Unavailable { .. } => "retryable",
                StoreError::Rejected { .. } => "rejected",
                StoreError::Unusable { .. } => "unusable",
                StoreError::Corrupt { .. } => "corrupt",
            };
            assert_eq!(got, want, "{code}: {e}");
            assert_eq!(
                e.is_retryable(),
                want == "conflict" || want == "retryable",
                "{code}"
            );
            if want != "conflict" {
                assert!(
                    std::error::Error::source(&e).is_some(),
                    "{code}: cause kept"
                );
            }
        }
    }

    #[test]
    fn transaction_cancellation_reasons_decide_between_conflict_throttling_and_rejection() {
        let cases: [(&[&str], &str); 5] = [
            (&["None", "ConditionalCheckFailed"], "conflict"),
            (&["TransactionConflict", "None"], "conflict"),
            (&["ThrottlingError", "None"], "retryable"),
            (&["None", "ProvisionedThroughputExceeded"], "retryable"),
            (&["ValidationError", "ConditionalCheckFailed"], "rejected"),
        ];
        for (reasons, want) in cases {
            let r: Vec<String> = reasons.iter().map(|s| s.to_string()).collect();
            let rule = mock!(Client::transact_write_items).then_http_response(move || {
                cancelled(&r.iter().map(String::as_str).collect::<Vec<_>>())
            });
            let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], one_attempt);
            let e = block(DynamoStore::new(client, "t").commit(&two_items())).unwrap_err();
            let got = match &e {
                StoreError::Conflict { .. } => "conflict",
                StoreError::Unavailable { .. } => "retryable",
                StoreError::Rejected { .. } => "rejected",
                StoreError::Unusable { .. } => "unusable",
                StoreError::Corrupt { .. } => "corrupt",
            };
            assert_eq!(got, want, "{reasons:?}: {e}");
        }
        // A conflicting concurrent transaction (not a cancellation) is a conflict too.
        let rule = mock!(Client::transact_write_items)
            .then_http_response(|| error(400, "TransactionConflictException"));
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], one_attempt);
        let e = block(DynamoStore::new(client, "t").commit(&two_items())).unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    }

    fn key(pk: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
            ("sk".to_owned(), AttributeValue::S("I".to_owned())),
        ])
    }

    #[test]
    fn unprocessed_keys_are_asked_again_until_answered() {
        let inc = incident("a", "t", 1);
        let pk = incident_pk(&inc.id);
        let item = incident_item(&inc).unwrap();
        let pk2 = pk.clone();
        let rule = mock!(Client::batch_get_item)
            .sequence()
            .output(move || {
                BatchGetItemOutput::builder()
                    .unprocessed_keys(
                        "t",
                        KeysAndAttributes::builder()
                            .keys(key(&pk2))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .times(2)
            .output(move || {
                BatchGetItemOutput::builder()
                    .responses("t", vec![item.clone()])
                    .build()
            })
            .build();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule]);
        let store = DynamoStore::new(client, "t");
        let got = block(store.get_incidents(std::slice::from_ref(&inc.id))).unwrap();
        assert_eq!(got.get(&inc.id), Some(&inc));
        assert_eq!((rule.num_calls(), store.read_requests()), (3, 3));
    }

    #[test]
    fn keys_left_unprocessed_for_good_are_a_retryable_error_not_a_silent_gap() {
        let inc = incident("a", "t", 1);
        let pk = incident_pk(&inc.id);
        let rule = mock!(Client::batch_get_item).then_output(move || {
            BatchGetItemOutput::builder()
                .unprocessed_keys(
                    "t",
                    KeysAndAttributes::builder().keys(key(&pk)).build().unwrap(),
                )
                .build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule]);
        let e = block(DynamoStore::new(client, "t").get_incidents(&[inc.id])).unwrap_err();
        assert!(e.is_retryable(), "{e}");
        assert_eq!(rule.num_calls(), 11);
    }
}
