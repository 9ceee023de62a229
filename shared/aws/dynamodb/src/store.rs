//! [`DynamoStore`]: the domain's incident store on one DynamoDB table (layout in [`crate::items`]).
//!
//! Reads are strongly consistent `BatchGetItem`s. A commit is one conditional `PutItem` per
//! item (`attribute_not_exists(pk)` for new items, `v = :v` for existing ones), heads first,
//! then incidents, then finding records, each group sent concurrently; the first failed
//! condition stops it. No transactions: a transactional write costs twice the write units,
//! and the engine's plans are correct from any prefix of their writes (see
//! `vigil_domain::engine::plan`). Every item is encoded and checked against DynamoDB's limits
//! before the first write, so a commit is never refused halfway for an item's size.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::types::{
    AttributeValue, ConsumedCapacity, DeleteRequest, KeysAndAttributes, ReturnConsumedCapacity,
    ReturnValuesOnConditionCheckFailure, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::future::BoxFuture;
use vigil_domain::incident::Incident;
use vigil_domain::ports::{ChangeSet, Expect, FindingCleanup, IncidentReader, IncidentStore};
use vigil_domain::{CorrelationHead, FindingRecord, StoreError};

use crate::errors::{classify, rejected};
use crate::items::{
    billed_size, finding_item, finding_pk, head_item, head_pk, incident_item, incident_pk,
    prefix_of, Item, Stored, ATTR_INCIDENT, ATTR_STATUS, ATTR_VERSION, GSI_BY_INCIDENT,
    GSI_BY_STATUS,
};

/// DynamoDB's item size limit.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
/// DynamoDB's partition key limit.
pub const MAX_PARTITION_KEY_BYTES: usize = 2048;

/// DynamoDB adapter for the store ports. Counts the requests it makes and the write units
/// they consume, for benchmarks.
#[derive(Debug)]
pub struct DynamoStore {
    client: Client,
    table: String,
    writes: AtomicU64,
    reads: AtomicU64,
    wcu_tenths: AtomicU64,
    /// Write units by item kind (`F`, `C`, `I`) and where they went (`table` or an index).
    wcu_by: std::sync::Mutex<std::collections::BTreeMap<(char, String), f64>>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            wcu_tenths: AtomicU64::new(0),
            wcu_by: std::sync::Mutex::default(),
        }
    }

    /// Write units consumed so far by item kind (`F`, `C`, `I`) and destination (`table` or
    /// the index name), for benchmarks.
    pub fn consumed_wcu_by(&self) -> std::collections::BTreeMap<(char, String), f64> {
        self.wcu_by.lock().map(|m| m.clone()).unwrap_or_default()
    }

    fn count_by(&self, kind: char, c: &ConsumedCapacity) {
        let Ok(mut m) = self.wcu_by.lock() else {
            return;
        };
        if let Some(t) = c.table.as_ref().and_then(|t| t.capacity_units) {
            *m.entry((kind, "table".into())).or_default() += t;
        }
        for (name, cap) in c.global_secondary_indexes.iter().flatten() {
            *m.entry((kind, name.clone())).or_default() += cap.capacity_units.unwrap_or(0.0);
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Write requests sent (PutItem, BatchWriteItem), including ones that lost a race.
    pub fn write_requests(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Read requests sent (BatchGetItem, Query, Scan pages).
    pub fn read_requests(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Write capacity units the table reported consuming for this store's writes, indexes
    /// included (DynamoDB and DynamoDB Local return them with `ReturnConsumedCapacity`), for
    /// benchmarks.
    /// Counts one write request made outside [`IncidentStore::commit`].
    pub(crate) fn count_write(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    pub fn consumed_wcu(&self) -> f64 {
        self.wcu_tenths.load(Ordering::Relaxed) as f64 / 10.0
    }

    fn count_capacity<'a>(&self, c: impl Iterator<Item = &'a ConsumedCapacity>) {
        let total: f64 = c.filter_map(|c| c.capacity_units).sum();
        self.wcu_tenths
            .fetch_add((total * 10.0).round() as u64, Ordering::Relaxed);
    }

    async fn batch_get<T: Stored>(&self, pks: Vec<String>, sk: &str) -> Result<Vec<T>, StoreError> {
        let (items, requests) = batch_get_items(&self.client, &self.table, pks, sk).await?;
        self.reads.fetch_add(requests, Ordering::Relaxed);
        items.into_iter().map(T::from_item).collect()
    }

    /// One conditional put; a failed condition is a [`StoreError::Conflict`].
    async fn put(&self, item: Item, expect: Expect) -> Result<(), StoreError> {
        let kind = match item.get("pk") {
            Some(AttributeValue::S(pk)) => pk.chars().next().unwrap_or('?'),
            _ => '?',
        };
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .return_consumed_capacity(ReturnConsumedCapacity::Indexes);
        req = match expect {
            Expect::Absent => req.condition_expression("attribute_not_exists(pk)"),
            Expect::Version(v) => req
                .condition_expression("#v = :v")
                .expression_attribute_names("#v", ATTR_VERSION)
                .expression_attribute_values(":v", AttributeValue::N(v.to_string())),
        };
        self.writes.fetch_add(1, Ordering::Relaxed);
        let out = req.send().await.map_err(|e| classify("PutItem", e))?;
        self.count_capacity(out.consumed_capacity.iter());
        if let Some(c) = &out.consumed_capacity {
            self.count_by(kind, c);
        }
        Ok(())
    }

    /// Puts one group concurrently; the first error (a conflict first) is returned after all
    /// of them finished.
    async fn put_all(&self, items: Vec<(Item, Expect)>) -> Result<(), StoreError> {
        let results =
            futures::future::join_all(items.into_iter().map(|(i, e)| self.put(i, e))).await;
        let mut first: Option<StoreError> = None;
        for r in results {
            if let Err(e) = r {
                let conflict = matches!(e, StoreError::Conflict { .. });
                if first.is_none()
                    || (conflict && !matches!(first, Some(StoreError::Conflict { .. })))
                {
                    first = Some(e);
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// Items of a kind (`finding`, `head`, `incident`), scanned strongly consistently. For
    /// tests and small local tables.
    pub async fn scan_kind<T: Stored>(&self, kind: &str) -> Result<Vec<T>, StoreError> {
        let mut out = Vec::new();
        let mut scan = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true);
        scan = match prefix_of(kind) {
            Some(p) => scan
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", AttributeValue::S(p.to_owned())),
            None => scan
                .filter_expression("entity_type = :t")
                .expression_attribute_values(":t", AttributeValue::S(kind.to_owned())),
        };
        let mut pages = scan.into_paginator().send();
        while let Some(page) = pages.next().await {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| classify("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(T::from_item(item)?);
            }
        }
        Ok(out)
    }

    /// The table keys (`pk`, `sk`) of the items a keys-only index holds under `value`.
    pub(crate) async fn index_keys(
        &self,
        index: &str,
        attr: &str,
        value: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#k = :k")
            .expression_attribute_names("#k", attr)
            .expression_attribute_values(":k", AttributeValue::S(value.to_owned()))
            .projection_expression("pk, sk")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| classify("Query", e))?;
            out.extend(page.items.unwrap_or_default());
        }
        Ok(out)
    }

    /// The partition keys a keys-only index holds under `value`, then their items.
    async fn via_index<T: Stored>(
        &self,
        index: &str,
        attr: &str,
        value: &str,
        sk: &str,
    ) -> Result<Vec<T>, StoreError> {
        let pks: Vec<String> = self
            .index_keys(index, attr, value)
            .await?
            .into_iter()
            .filter_map(|k| match k.get("pk") {
                Some(AttributeValue::S(pk)) => Some(pk.clone()),
                _ => None,
            })
            .collect();
        self.batch_get(pks, sk).await
    }
}

/// Encodes one put, checked against DynamoDB's limits the way the table would refuse it.
fn checked(what: &str, item: Item) -> Result<Item, StoreError> {
    let pk_len = match item.get("pk") {
        Some(AttributeValue::S(pk)) => pk.len(),
        _ => 0,
    };
    if pk_len > MAX_PARTITION_KEY_BYTES {
        return Err(StoreError::Rejected {
            message: format!(
                "{what}: partition key of {pk_len} bytes exceeds {MAX_PARTITION_KEY_BYTES}"
            ),
            source: None,
        });
    }
    let size = billed_size(&item);
    if size > MAX_ITEM_BYTES {
        return Err(StoreError::Rejected {
            message: format!("{what}: item of {size} bytes exceeds {MAX_ITEM_BYTES}"),
            source: None,
        });
    }
    Ok(item)
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
    async fn record_rule_hits(
        &self,
        hits: &vigil_domain::triage::RuleHits,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.add_rule_hits(hits, at).await
    }

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
        let mut heads = Vec::with_capacity(c.heads.len());
        for p in &c.heads {
            let what = format!("correlation head {}", p.item.key);
            heads.push((checked(&what, head_item(&p.item)?)?, p.expect));
        }
        let mut incidents = Vec::with_capacity(c.incidents.len());
        for p in &c.incidents {
            let what = format!("incident {}", p.item.id);
            incidents.push((checked(&what, incident_item(&p.item)?)?, p.expect));
        }
        let mut findings = Vec::with_capacity(c.findings.len());
        for p in &c.findings {
            let what = format!("finding {}", p.item.finding_id);
            findings.push((checked(&what, finding_item(&p.item)?)?, p.expect));
        }
        self.put_all(heads).await?;
        self.put_all(incidents).await?;
        self.put_all(findings).await
    }

    async fn backoff(&self, attempt: u32) {
        vigil_aws::backoff(attempt).await
    }
}

impl vigil_domain::ports::QueueStore for DynamoStore {
    /// Queries the queue partition of the sparse index (keys only), then reads the items.
    async fn live_queue(&self) -> Result<Vec<vigil_domain::queue_store::QueueRecord>, StoreError> {
        let pks = self
            .gsi3_keys(crate::items::QUEUE_PARTITION, None, usize::MAX)
            .await?;
        let recs: Vec<vigil_domain::queue_store::QueueRecord> = self.batch_get(pks, "Q").await?;
        // The index is eventually consistent: an item closed since is not live.
        Ok(recs.into_iter().filter(|r| r.is_live()).collect())
    }

    async fn get_queue(
        &self,
        ids: &[String],
    ) -> Result<Vec<vigil_domain::queue_store::QueueRecord>, StoreError> {
        self.batch_get(ids.iter().map(|i| crate::items::queue_pk(i)).collect(), "Q")
            .await
    }

    async fn put_queue(
        &self,
        p: &vigil_domain::ports::Put<vigil_domain::queue_store::QueueRecord>,
    ) -> Result<(), StoreError> {
        let what = format!("queue item {}", p.item.item.id);
        let item = checked(&what, crate::items::queue_item(&p.item)?)?;
        self.put(item, p.expect).await.map_err(|e| match e {
            StoreError::Conflict { .. } => StoreError::Conflict { what },
            e => e,
        })
    }
}

impl vigil_domain::ports::EscalationIndex for DynamoStore {
    /// Queries the escalation partition of the sparse index for next checks up to `now`,
    /// earliest first (keys only; the runner reads each incident strongly before acting).
    async fn due_escalations(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let upto = format!("{}#~", now.format("%Y-%m-%dT%H:%M:%SZ"));
        let pks = self
            .gsi3_keys(crate::items::ESCALATE_PARTITION, Some(upto), limit)
            .await?;
        Ok(pks
            .iter()
            .filter_map(|pk| pk.strip_prefix("I#").map(str::to_owned))
            .collect())
    }
}

impl DynamoStore {
    /// The keys (`pk`) in one partition of the sparse index, up to `upto` on its sort key,
    /// in its order, at most `limit`.
    async fn gsi3_keys(
        &self,
        partition: &str,
        upto: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, StoreError> {
        let mut q = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(crate::items::GSI_OUTBOX)
            .expression_attribute_values(":p", AttributeValue::S(partition.to_owned()))
            .projection_expression("pk");
        q = match upto {
            Some(u) => q
                .key_condition_expression("gsi3pk = :p AND gsi3sk <= :u")
                .expression_attribute_values(":u", AttributeValue::S(u)),
            None => q.key_condition_expression("gsi3pk = :p"),
        };
        let mut out = Vec::new();
        let mut pages = q.into_paginator().send();
        while let Some(page) = pages.next().await {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let page = page.map_err(|e| classify("Query", e))?;
            for item in page.items.unwrap_or_default() {
                if let Some(AttributeValue::S(pk)) = item.get("pk") {
                    out.push(pk.clone());
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

impl FindingCleanup for DynamoStore {
    /// Queries the by-incident index for the incident's finding records (keys only) and
    /// deletes them with `BatchWriteItem`, 25 at a time, asking again for unprocessed items
    /// with backoff.
    fn remove_findings_of<'a>(
        &'a self,
        incident_id: &'a str,
        listed: &'a [String],
    ) -> BoxFuture<'a, Result<usize, StoreError>> {
        Box::pin(async move {
            let mut keys = self
                .index_keys(GSI_BY_INCIDENT, ATTR_INCIDENT, incident_id)
                .await?;
            keys.extend(listed.iter().map(|k| {
                Item::from([
                    ("pk".to_owned(), AttributeValue::S(finding_pk(k))),
                    ("sk".to_owned(), AttributeValue::S("F".to_owned())),
                ])
            }));
            let n = keys.len();
            for chunk in keys.chunks(25) {
                let mut requests: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|k| {
                        let key: Item = ["pk", "sk"]
                            .iter()
                            .filter_map(|a| k.get(*a).map(|v| ((*a).to_owned(), v.clone())))
                            .collect();
                        DeleteRequest::builder()
                            .set_key(Some(key))
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
    async fn rule_stats(&self) -> Result<Vec<vigil_domain::triage::RuleStat>, StoreError> {
        DynamoStore::rule_stats(self).await
    }

    /// Open incidents (and resolved ones unless `open_only`), most recently seen first.
    async fn list_incidents(&self, open_only: bool) -> Result<Vec<Incident>, StoreError> {
        use vigil_domain::IncidentStatus;
        let mut out: Vec<Incident> = Vec::new();
        for status in IncidentStatus::ALL {
            let live = matches!(status, IncidentStatus::Open | IncidentStatus::Acknowledged);
            if open_only && !live {
                continue;
            }
            out.extend(
                self.via_index::<Incident>(GSI_BY_STATUS, ATTR_STATUS, status.as_str(), "I")
                    .await?,
            );
        }
        out.sort_by(|a, b| {
            (!a.is_live())
                .cmp(&!b.is_live())
                .then(b.last_seen.cmp(&a.last_seen))
                .then(a.id.cmp(&b.id))
        });
        Ok(out)
    }

    /// The incident's finding records (those it lists and those indexed), most recent event
    /// first.
    async fn findings_of(&self, incident_id: &str) -> Result<Vec<FindingRecord>, StoreError> {
        let listed: Vec<String> = self
            .get_incidents(&[incident_id.to_owned()])
            .await?
            .remove(incident_id)
            .map(|i| i.members.0)
            .unwrap_or_default();
        let mut out: Vec<FindingRecord> = self
            .via_index(GSI_BY_INCIDENT, ATTR_INCIDENT, incident_id, "F")
            .await?;
        let indexed: std::collections::HashSet<String> =
            out.iter().map(|r| r.key.clone()).collect();
        let rest: Vec<String> = listed
            .into_iter()
            .filter(|k| !indexed.contains(k))
            .collect();
        out.extend(
            self.get_findings(&rest)
                .await?
                .into_values()
                .filter(|r| r.incident_id.as_deref() == Some(incident_id)),
        );
        out.sort_by(|a, b| b.event_time.cmp(&a.event_time).then(a.key.cmp(&b.key)));
        Ok(out)
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

    /// A change set of two items: an incident, then its finding record.
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
            let e = block(transact(&client)).unwrap_err();
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
        let e = block(transact(&client)).unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
    }

    /// A transaction of one put, as the delivery ledger sends them.
    async fn transact(client: &Client) -> Result<(), StoreError> {
        let put = aws_sdk_dynamodb::types::Put::builder()
            .table_name("t")
            .set_item(Some(incident_item(&incident("a", "t", 1)).unwrap()))
            .build()
            .unwrap();
        client
            .transact_write_items()
            .transact_items(
                aws_sdk_dynamodb::types::TransactWriteItem::builder()
                    .put(put)
                    .build(),
            )
            .send()
            .await
            .map(|_| ())
            .map_err(crate::errors::transaction_error)
    }

    #[test]
    fn a_commit_is_ordered_puts_that_stop_at_the_first_lost_race() {
        // The incident's put loses: its finding record is not written.
        let rule = mock!(Client::put_item)
            .sequence()
            .http_response(|| error(400, "ConditionalCheckFailedException"))
            .build();
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&rule], one_attempt);
        let store = DynamoStore::new(client, "t");
        let e = block(store.commit(&two_items())).unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
        assert_eq!((rule.num_calls(), store.write_requests()), (1, 1));
        // Both go through: two puts, the incident first.
        let first = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let seen = first.clone();
        let rule = mock!(Client::put_item)
            .match_requests(move |r| {
                if let Some(AttributeValue::S(pk)) = r.item().and_then(|i| i.get("pk")) {
                    seen.lock().unwrap().push(pk.clone());
                }
                true
            })
            .then_output(|| {
                aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build()
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], one_attempt);
        block(DynamoStore::new(client, "t").commit(&two_items())).unwrap();
        let order = first.lock().unwrap().clone();
        assert_eq!(order.len(), 2);
        assert!(
            order[0].starts_with("I#") && order[1].starts_with("F#"),
            "{order:?}"
        );
    }

    #[test]
    fn an_item_over_the_limits_is_refused_before_anything_is_written() {
        let mut c = two_items();
        // Incompressible text: the limit applies to the stored (compressed) item.
        let mut x: u64 = 1;
        let noise: String = (0..900_000)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                char::from(b'a' + ((x >> 59) as u8 % 26))
            })
            .collect();
        c.findings[0].item.raw = format!("\"{noise}\"").into();
        let rule = mock!(Client::put_item).then_output(|| {
            aws_sdk_dynamodb::operation::put_item::PutItemOutput::builder().build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&rule], one_attempt);
        let e = block(DynamoStore::new(client, "t").commit(&c)).unwrap_err();
        assert!(matches!(e, StoreError::Rejected { .. }), "{e}");
        assert_eq!(rule.num_calls(), 0);
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
