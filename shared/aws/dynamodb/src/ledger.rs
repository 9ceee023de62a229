//! The forwarder's ports on DynamoDB: per-destination delivery state and the outbox in the
//! incident table ([`DynamoLedger`]), and an incident's findings, by key or through the
//! by-incident index ([`DynamoFindings`]). The semantics are the port's (`vigil_domain::ports::delivery`).
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | delivery state | `D#<incident>` | `D` | `s_<destination>` settled, `q_<destination>` queued |
//! | outbox entry | `O#<incident>` | `<destination>#<version, 20 digits>` | `payload` (B), `attempts`, `queued_at`, `next_at`, `last_error`; gsi3: `OUTBOX` / `<next_at>#<queued_at>#<incident>#<destination>#<version>` |
//! | dead letter | `X#<incident>` | `<destination>#<version>` | `payload`, `reason`, `attempts`, `at`; gsi3: `DEAD` / `<at>#...` |
//! | drain lease | `L#<destination>` | `L` | `owner`, `until` |
//!
//! `s_` and `q_` only ever go up (`SET #a = :v` conditioned on `attribute_not_exists(#a) OR
//! #a < :v`). An entry and its `q_` are written in one transaction. gsi3 is sparse (outbox
//! entries and dead letters only) and projects keys only: its sort key carries what the drain
//! needs. The stream sees all these writes; the event source mapping's filter drops them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use vigil_domain::ports::{
    DeadLetter, DeliveryLedger, DeliveryState, DeliveryStates, DueEntry, FindingSource, OutboxEntry,
};
use vigil_domain::{FindingRecord, StoreError};

use crate::errors::{classify, rejected, transaction_error};
use crate::items::{
    delivery_pk, Item, GSI_OUTBOX, KIND_DEAD_LETTER, KIND_DELIVERY, KIND_LEASE, KIND_OUTBOX,
};
use crate::store::{batch_get_items, DynamoStore};
use vigil_domain::ports::{IncidentReader, IncidentStore};

/// Attribute holding a destination's settled version.
pub fn settled_attr(destination: &str) -> String {
    format!("s_{destination}")
}

/// Attribute holding a destination's highest queued version.
pub fn queued_attr(destination: &str) -> String {
    format!("q_{destination}")
}

pub fn outbox_pk(incident_id: &str) -> String {
    format!("O#{incident_id}")
}

pub fn dead_letter_pk(incident_id: &str) -> String {
    format!("X#{incident_id}")
}

pub fn lease_pk(destination: &str) -> String {
    format!("L#{destination}")
}

fn entry_sk(destination: &str, version: u64) -> String {
    format!("{destination}#{version:020}")
}

/// gsi3 partition of due outbox entries, and of dead letters.
pub const OUTBOX_PARTITION: &str = "OUTBOX";
pub const DEAD_PARTITION: &str = "DEAD";

fn due_sk(e: &OutboxEntry) -> String {
    format!(
        "{:015}#{:015}#{}#{}#{:020}",
        e.next_attempt_at.timestamp_millis().max(0),
        e.queued_at.timestamp_millis().max(0),
        e.incident_id,
        e.destination,
        e.version
    )
}

fn parse_due_sk(sk: &str) -> Option<DueEntry> {
    let mut parts = sk.splitn(5, '#');
    let next: i64 = parts.next()?.parse().ok()?;
    let queued: i64 = parts.next()?.parse().ok()?;
    let incident_id = parts.next()?.to_owned();
    let destination = parts.next()?.to_owned();
    let version: u64 = parts.next()?.parse().ok()?;
    Some(DueEntry {
        incident_id,
        destination,
        version,
        next_attempt_at: DateTime::from_timestamp_millis(next)?,
        queued_at: DateTime::from_timestamp_millis(queued)?,
    })
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_n(item: &Item, k: &str) -> Option<i64> {
    match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

fn get_s(item: &Item, k: &str) -> Option<String> {
    match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn corrupt(item: &Item, what: &str) -> StoreError {
    StoreError::Corrupt {
        key: get_s(item, "pk").unwrap_or_else(|| "<no pk>".into()),
        message: format!("{what} is missing or malformed"),
    }
}

fn entry_of(item: &Item) -> Result<OutboxEntry, StoreError> {
    let incident_id = get_s(item, "incident_id").ok_or_else(|| corrupt(item, "incident_id"))?;
    let destination = get_s(item, "destination").ok_or_else(|| corrupt(item, "destination"))?;
    let version = get_n(item, "version").ok_or_else(|| corrupt(item, "version"))?;
    let payload = match item.get("payload") {
        Some(AttributeValue::B(b)) => b.clone().into_inner(),
        _ => return Err(corrupt(item, "payload")),
    };
    let ms = |k: &str| {
        get_n(item, k)
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| corrupt(item, k))
    };
    Ok(OutboxEntry {
        incident_id,
        destination,
        version: u64::try_from(version).map_err(|_| corrupt(item, "version"))?,
        payload,
        attempts: get_n(item, "attempts")
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        queued_at: ms("queued_at")?,
        next_attempt_at: ms("next_at")?,
        last_error: get_s(item, "last_error"),
    })
}

fn letter_of(item: &Item) -> Result<DeadLetter, StoreError> {
    let payload = match item.get("payload") {
        Some(AttributeValue::B(b)) => b.clone().into_inner(),
        _ => return Err(corrupt(item, "payload")),
    };
    Ok(DeadLetter {
        incident_id: get_s(item, "incident_id").ok_or_else(|| corrupt(item, "incident_id"))?,
        destination: get_s(item, "destination").ok_or_else(|| corrupt(item, "destination"))?,
        version: get_n(item, "version")
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt(item, "version"))?,
        payload,
        reason: get_s(item, "reason").unwrap_or_default(),
        attempts: get_n(item, "attempts")
            .and_then(|a| u32::try_from(a).ok())
            .unwrap_or(0),
        at: get_n(item, "at")
            .and_then(DateTime::from_timestamp_millis)
            .ok_or_else(|| corrupt(item, "at"))?,
    })
}

#[derive(Debug, Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
    /// How long delivery state, outbox entries and dead letters are kept (TTL), like
    /// incidents.
    retention: chrono::Duration,
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>, retention: chrono::Duration) -> Self {
        Self {
            client,
            table: table.into(),
            retention,
        }
    }

    fn ttl(&self) -> AttributeValue {
        n((Utc::now() + self.retention).timestamp())
    }

    /// `settled` or `queued` := max(current, version), as an UpdateItem on the state item.
    fn raise(&self, incident_id: &str, attr: String, version: u64) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .key("pk", s(delivery_pk(incident_id)))
            .key("sk", s("D"))
            .update_expression("SET #a = :v, entity_type = :t, #ttl = :ttl")
            .condition_expression("attribute_not_exists(#a) OR #a < :v")
            .expression_attribute_names("#a", attr)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":v", n(version))
            .expression_attribute_values(":t", s(KIND_DELIVERY))
            .expression_attribute_values(":ttl", self.ttl())
            .build()
            .map_err(|e| rejected("Update", e))
    }

    async fn settle_version(
        &self,
        incident_id: &str,
        destination: &str,
        version: u64,
    ) -> Result<(), StoreError> {
        let u = self.raise(incident_id, settled_attr(destination), version)?;
        let r = self
            .client
            .update_item()
            .table_name(u.table_name)
            .set_key(Some(u.key))
            .update_expression(u.update_expression)
            .set_condition_expression(u.condition_expression)
            .set_expression_attribute_names(u.expression_attribute_names)
            .set_expression_attribute_values(u.expression_attribute_values)
            .send()
            .await;
        match r {
            Ok(_) => Ok(()),
            // Already settled at this version or later.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("UpdateItem", e)),
        }
    }

    async fn delete(&self, pk: String, sk: String) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("DeleteItem", e))
    }
}

fn parse_states(items: Vec<Item>) -> DeliveryStates {
    let mut out = DeliveryStates::new();
    for item in items {
        let Some(id) = get_s(&item, "pk").and_then(|pk| pk.strip_prefix("D#").map(str::to_owned))
        else {
            continue;
        };
        let mut m: HashMap<String, DeliveryState> = HashMap::new();
        for (k, v) in &item {
            let AttributeValue::N(num) = v else { continue };
            let Ok(num) = num.parse::<u64>() else {
                continue;
            };
            if let Some(dest) = k.strip_prefix("s_") {
                m.entry(dest.to_owned()).or_default().settled = num;
            } else if let Some(dest) = k.strip_prefix("q_") {
                m.entry(dest.to_owned()).or_default().queued = num;
            }
        }
        out.insert(id, m);
    }
    out
}

impl DeliveryLedger for DynamoLedger {
    fn states<'a>(
        &'a self,
        incident_ids: &'a [String],
    ) -> BoxFuture<'a, Result<DeliveryStates, StoreError>> {
        Box::pin(async move {
            let pks = incident_ids.iter().map(|id| delivery_pk(id)).collect();
            let (items, _) = batch_get_items(&self.client, &self.table, pks, "D").await?;
            Ok(parse_states(items))
        })
    }

    fn settle<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
        version: u64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.settle_version(incident_id, destination, version))
    }

    fn enqueue<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut item: Item = HashMap::from([
                ("pk".to_owned(), s(outbox_pk(&e.incident_id))),
                ("sk".to_owned(), s(entry_sk(&e.destination, e.version))),
                ("entity_type".to_owned(), s(KIND_OUTBOX)),
                ("incident_id".to_owned(), s(&e.incident_id)),
                ("destination".to_owned(), s(&e.destination)),
                ("version".to_owned(), n(e.version)),
                (
                    "payload".to_owned(),
                    AttributeValue::B(e.payload.clone().into()),
                ),
                ("attempts".to_owned(), n(e.attempts)),
                ("queued_at".to_owned(), n(e.queued_at.timestamp_millis())),
                (
                    "next_at".to_owned(),
                    n(e.next_attempt_at.timestamp_millis()),
                ),
                ("gsi3pk".to_owned(), s(OUTBOX_PARTITION)),
                ("gsi3sk".to_owned(), s(due_sk(e))),
                ("ttl".to_owned(), self.ttl()),
            ]);
            if let Some(err) = &e.last_error {
                item.insert("last_error".to_owned(), s(err));
            }
            let put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(|err| rejected("Put", err))?;
            let queued = self.raise(&e.incident_id, queued_attr(&e.destination), e.version)?;
            let r = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().put(put.clone()).build())
                .transact_items(TransactWriteItem::builder().update(queued).build())
                .send()
                .await;
            let Err(err) = r else { return Ok(()) };
            // Which condition failed: the entry's (it is there already: a retried batch) or
            // `queued`'s (a later version is queued already, so only the entry is missing).
            let reasons: Vec<Option<String>> = match &err {
                aws_sdk_dynamodb::error::SdkError::ServiceError(se) => match se.err() {
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(tc) => {
                        tc.cancellation_reasons().iter().map(|r| r.code().map(str::to_owned)).collect()
                    }
                    _ => Vec::new(),
                },
                _ => Vec::new(),
            };
            let failed = |i: usize| {
                reasons.get(i).and_then(|c| c.as_deref()) == Some("ConditionalCheckFailed")
            };
            if failed(0) {
                return Ok(());
            }
            if failed(1) {
                let r = self
                    .client
                    .put_item()
                    .table_name(put.table_name)
                    .set_item(Some(put.item))
                    .set_condition_expression(put.condition_expression)
                    .send()
                    .await;
                return match r {
                    Ok(_) => Ok(()),
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                    {
                        Ok(())
                    }
                    Err(e) => Err(classify("PutItem", e)),
                };
            }
            Err(transaction_error(err))
        })
    }

    fn pending<'a>(
        &'a self,
        incident_id: &'a str,
        destination: &'a str,
    ) -> BoxFuture<'a, Result<Vec<OutboxEntry>, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :p AND begins_with(sk, :d)")
                .expression_attribute_values(":p", s(outbox_pk(incident_id)))
                .expression_attribute_values(":d", s(format!("{destination}#")))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("Query", e))?;
                for item in page.items.unwrap_or_default() {
                    out.push(entry_of(&item)?);
                }
            }
            Ok(out)
        })
    }

    fn due<'a>(
        &'a self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<DueEntry>, StoreError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let upper = format!("{:015}#~", now.timestamp_millis().max(0));
            let mut pages = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_OUTBOX)
                .key_condition_expression("gsi3pk = :p AND gsi3sk <= :u")
                .expression_attribute_values(":p", s(OUTBOX_PARTITION))
                .expression_attribute_values(":u", s(upper))
                .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| classify("Query", e))?;
                for item in page.items.unwrap_or_default() {
                    if let Some(d) = get_s(&item, "gsi3sk").as_deref().and_then(parse_due_sk) {
                        out.push(d);
                    }
                }
                if out.len() >= limit {
                    break;
                }
            }
            out.truncate(limit);
            Ok(out)
        })
    }

    fn complete<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // Settle first: if the delete then fails, the next drain finds the entry at or
            // below the settled version and removes it.
            self.settle_version(&e.incident_id, &e.destination, e.version)
                .await?;
            self.delete(
                outbox_pk(&e.incident_id),
                entry_sk(&e.destination, e.version),
            )
            .await
        })
    }

    fn reschedule<'a>(&'a self, e: &'a OutboxEntry) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(outbox_pk(&e.incident_id)))
                .key("sk", s(entry_sk(&e.destination, e.version)))
                .update_expression("SET attempts = :a, next_at = :n, gsi3sk = :g, last_error = :e")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":a", n(e.attempts))
                .expression_attribute_values(":n", n(e.next_attempt_at.timestamp_millis()))
                .expression_attribute_values(":g", s(due_sk(e)))
                .expression_attribute_values(":e", s(e.last_error.clone().unwrap_or_default()))
                .send()
                .await;
            match r {
                Ok(_) => Ok(()),
                // Delivered and removed meanwhile.
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(err) => Err(classify("UpdateItem", err)),
            }
        })
    }

    fn dead_letter<'a>(&'a self, d: &'a DeadLetter) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            // Keep the letter first, then settle (so later versions go on), then drop the
            // entry; every step is idempotent, so a retry after a failure redoes the rest.
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(dead_letter_pk(&d.incident_id)))
                .item("sk", s(entry_sk(&d.destination, d.version)))
                .item("entity_type", s(KIND_DEAD_LETTER))
                .item("incident_id", s(&d.incident_id))
                .item("destination", s(&d.destination))
                .item("version", n(d.version))
                .item("payload", AttributeValue::B(d.payload.clone().into()))
                .item("reason", s(&d.reason))
                .item("attempts", n(d.attempts))
                .item("at", n(d.at.timestamp_millis()))
                .item("gsi3pk", s(DEAD_PARTITION))
                .item(
                    "gsi3sk",
                    s(format!(
                        "{:015}#{}#{}#{:020}",
                        d.at.timestamp_millis().max(0),
                        d.incident_id,
                        d.destination,
                        d.version
                    )),
                )
                .item("ttl", self.ttl())
                .send()
                .await
                .map_err(|e| classify("PutItem", e))?;
            self.settle_version(&d.incident_id, &d.destination, d.version)
                .await?;
            self.delete(
                outbox_pk(&d.incident_id),
                entry_sk(&d.destination, d.version),
            )
            .await
        })
    }

    fn lease<'a>(
        &'a self,
        destination: &'a str,
        owner: &'a str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let r = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(lease_pk(destination)))
                .key("sk", s("L"))
                .update_expression("SET #o = :o, #u = :u, entity_type = :t, #ttl = :ttl")
                .condition_expression("attribute_not_exists(pk) OR #u <= :now OR #o = :o")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_names("#u", "until")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":o", s(owner))
                .expression_attribute_values(":u", n(until.timestamp_millis()))
                .expression_attribute_values(":now", n(now.timestamp_millis()))
                .expression_attribute_values(":t", s(KIND_LEASE))
                .expression_attribute_values(
                    ":ttl",
                    n((until + chrono::Duration::days(1)).timestamp()),
                )
                .send()
                .await;
            match r {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(classify("UpdateItem", e)),
            }
        })
    }

    fn dead_letters<'a>(
        &'a self,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<DeadLetter>, StoreError>> {
        Box::pin(async move {
            let resp = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI_OUTBOX)
                .key_condition_expression("gsi3pk = :p")
                .expression_attribute_values(":p", s(DEAD_PARTITION))
                .scan_index_forward(false)
                .limit(i32::try_from(limit.clamp(1, 1000)).unwrap_or(1000))
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            // The index holds keys only: read the letters themselves.
            let keys: Vec<(String, String)> = resp
                .items
                .unwrap_or_default()
                .iter()
                .filter_map(|i| Some((get_s(i, "pk")?, get_s(i, "sk")?)))
                .collect();
            let mut out = Vec::new();
            for (pk, sk) in keys {
                let r = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .key("pk", s(pk))
                    .key("sk", s(sk))
                    .send()
                    .await
                    .map_err(|e| classify("GetItem", e))?;
                if let Some(item) = r.item {
                    out.push(letter_of(&item)?);
                }
            }
            Ok(out)
        })
    }
}

/// An incident's findings: by key (what the incident names, one `BatchGetItem` for many
/// incidents), or all its members through the by-incident index.
#[derive(Debug)]
pub struct DynamoFindings {
    store: DynamoStore,
}

impl DynamoFindings {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            store: DynamoStore::new(client, table),
        }
    }

    /// Read requests sent, for benchmarks.
    pub fn read_requests(&self) -> u64 {
        self.store.read_requests()
    }
}

impl FindingSource for DynamoFindings {
    fn recent<'a>(
        &'a self,
        incident_id: &'a str,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<FindingRecord>, StoreError>> {
        Box::pin(async move {
            let mut all = self.store.findings_of(incident_id).await?;
            all.truncate(limit);
            Ok(all)
        })
    }

    fn by_keys<'a>(
        &'a self,
        keys: &'a [String],
    ) -> BoxFuture<'a, Result<HashMap<String, FindingRecord>, StoreError>> {
        Box::pin(async move { self.store.get_findings(keys).await })
    }
}
